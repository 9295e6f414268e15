from CyberSource import *
import os
from importlib.machinery import SourceFileLoader

common = SourceFileLoader("common", os.path.join(os.getcwd(), "samples", "common.py")).load_module()
configuration = common.load("data/Configuration.py")
authorization = common.load("samples/Payments/Payments/simple-authorizationinternet.py")


def retrieve_transaction():
    api_payment_response = authorization.simple_authorizationinternet(False)
    client_config = configuration.Configuration().get_configuration()
    return_data, status, body = TransactionDetailsApi(client_config).get_transaction(api_payment_response.id)
    print("\nAPI RESPONSE CODE : ", status)
    return return_data
