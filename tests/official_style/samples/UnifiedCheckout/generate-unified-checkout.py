from CyberSource import *
from CyberSource.utilities.flex.CaptureContextParsingUtility import parse_capture_context_response
import json
import os
from importlib.machinery import SourceFileLoader

common = SourceFileLoader("common", os.path.join(os.getcwd(), "samples", "common.py")).load_module()
configuration = common.load("data/Configuration.py")


def generate_unified_checkout_capture_context():
    mandate = Upv1capturecontextsCaptureMandate(
        billing_type="FULL", request_email=True, request_phone=True, request_shipping=True,
        ship_to_countries=["US", "GB"], show_accepted_network_icons=True)
    amount = Upv1capturecontextsOrderInformationAmountDetails(total_amount="21.00", currency="USD")
    order = Upv1capturecontextsOrderInformation(amount_details=amount.__dict__)
    request = GenerateUnifiedCheckoutCaptureContextRequest(
        client_version="0.23",
        target_origins=["https://yourCheckoutPage.com"],
        allowed_card_networks=["VISA", "MASTERCARD", "AMEX"],
        allowed_payment_types=["PANENTRY", "SRC"],
        country="US", locale="en_US",
        capture_mandate=mandate.__dict__,
        order_information=order.__dict__)
    request = json.dumps(common.del_none(request.__dict__))
    client_config = configuration.Configuration().get_configuration()
    api_instance = UnifiedCheckoutCaptureContextApi(client_config)
    return_data, status, body = api_instance.generate_unified_checkout_capture_context(request)
    print("\nAPI RESPONSE CODE : ", status)
    parsed = parse_capture_context_response(jwt_value=return_data, merchant_config=api_instance.api_client.mconfig)
    return return_data, parsed
