from CyberSource import *
from CyberSource.rest import ApiException
from CyberSource.utilities.flex.CaptureContextParsingUtility import parse_capture_context_response
import json
import os
from importlib.machinery import SourceFileLoader

common = SourceFileLoader("common", os.path.join(os.getcwd(), "samples", "common.py")).load_module()
configuration = common.load("data/Configuration.py")


def generate_capture_context_accept_card():
    request = GenerateCaptureContextRequest(
        client_version="v2",
        target_origins=["https://www.test.com"],
        allowed_card_networks=["VISA", "MASTERCARD", "AMEX"],
        allowed_payment_types=["CARD"])
    request = json.dumps(common.del_none(request.__dict__))
    client_config = configuration.Configuration().get_configuration()
    api_instance = MicroformIntegrationApi(client_config)
    return_data, status, body = api_instance.generate_capture_context(request)
    print("\nAPI RESPONSE CODE : ", status)
    parsed = parse_capture_context_response(jwt_value=return_data, merchant_config=api_instance.api_client.mconfig)
    return return_data, parsed
