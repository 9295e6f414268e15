from CyberSource import *
import json
import os
from importlib.machinery import SourceFileLoader

common = SourceFileLoader("common", os.path.join(os.getcwd(), "samples", "common.py")).load_module()
configuration = common.load("data/Configuration.py")
authorization = common.load("samples/Payments/Payments/simple-authorizationinternet.py")


def capture_payment(total_amount="102.21"):
    api_payment_response = authorization.simple_authorizationinternet(False)
    client_reference = Ptsv2paymentsClientReferenceInformation(code="TC50171_3")
    amount = Ptsv2paymentsidcapturesOrderInformationAmountDetails(total_amount=total_amount, currency="USD")
    order = Ptsv2paymentsidcapturesOrderInformation(amount_details=amount.__dict__)
    request = CapturePaymentRequest(
        client_reference_information=client_reference.__dict__, order_information=order.__dict__)
    request = json.dumps(common.del_none(request.__dict__))
    client_config = configuration.Configuration().get_configuration()
    return_data, status, body = CaptureApi(client_config).capture_payment(request, api_payment_response.id)
    print("\nAPI RESPONSE CODE : ", status)
    return return_data
