from CyberSource import *
import json
import os
from importlib.machinery import SourceFileLoader

common = SourceFileLoader("common", os.path.join(os.getcwd(), "samples", "common.py")).load_module()
configuration = common.load("data/Configuration.py")
authorization = common.load("samples/Payments/Payments/simple-authorizationinternet.py")


def process_authorization_reversal():
    api_payment_response = authorization.simple_authorizationinternet(False)
    client_reference = Ptsv2paymentsidreversalsClientReferenceInformation(code="TC50171_3")
    amount = Ptsv2paymentsidreversalsReversalInformationAmountDetails(total_amount="102.21")
    reversal = Ptsv2paymentsidreversalsReversalInformation(amount_details=amount.__dict__, reason="testing")
    request = AuthReversalRequest(
        client_reference_information=client_reference.__dict__, reversal_information=reversal.__dict__)
    request = json.dumps(common.del_none(request.__dict__))
    client_config = configuration.Configuration().get_configuration()
    return_data, status, body = ReversalApi(client_config).auth_reversal(api_payment_response.id, request)
    print("\nAPI RESPONSE CODE : ", status)
    return return_data
