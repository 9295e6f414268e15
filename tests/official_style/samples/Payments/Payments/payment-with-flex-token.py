from CyberSource import *
import json
import os
from importlib.machinery import SourceFileLoader

common = SourceFileLoader("common", os.path.join(os.getcwd(), "samples", "common.py")).load_module()
configuration = common.load("data/Configuration.py")


def payment_with_flex_token(transient_token_jwt):
    client_reference = Ptsv2paymentsClientReferenceInformation(code="TC50171_3")
    processing = Ptsv2paymentsProcessingInformation(commerce_indicator="internet")
    amount = Ptsv2paymentsOrderInformationAmountDetails(total_amount="102.21", currency="USD")
    bill_to = Ptsv2paymentsOrderInformationBillTo(
        first_name="John", last_name="Doe", address1="1 Market St", locality="san francisco",
        administrative_area="CA", postal_code="94105", country="US", email="test@cybs.com")
    order = Ptsv2paymentsOrderInformation(amount_details=amount.__dict__, bill_to=bill_to.__dict__)
    token = Ptsv2paymentsTokenInformation(transient_token_jwt=transient_token_jwt)
    request = CreatePaymentRequest(
        client_reference_information=client_reference.__dict__,
        processing_information=processing.__dict__,
        order_information=order.__dict__,
        token_information=token.__dict__)
    request = json.dumps(common.del_none(request.__dict__))
    client_config = configuration.Configuration().get_configuration()
    return_data, status, body = PaymentsApi(client_config).create_payment(request)
    print("\nAPI RESPONSE CODE : ", status)
    return return_data
