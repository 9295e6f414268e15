from CyberSource import *
import json
import os
from importlib.machinery import SourceFileLoader

common = SourceFileLoader("common", os.path.join(os.getcwd(), "samples", "common.py")).load_module()
configuration = common.load("data/Configuration.py")
capture = common.load("samples/Payments/Capture/capture-payment.py")


def void_capture():
    api_capture_response = capture.capture_payment()
    client_reference = Ptsv2paymentsidreversalsClientReferenceInformation(code="test_void")
    request = VoidCaptureRequest(client_reference_information=client_reference.__dict__)
    request = json.dumps(common.del_none(request.__dict__))
    client_config = configuration.Configuration().get_configuration()
    return_data, status, body = VoidApi(client_config).void_capture(request, api_capture_response.id)
    print("\nAPI RESPONSE CODE : ", status)
    return return_data
