from CyberSource import *
import json
import os
from importlib.machinery import SourceFileLoader

common = SourceFileLoader("common", os.path.join(os.getcwd(), "samples", "common.py")).load_module()
configuration = common.load("data/Configuration.py")


def simple_authorizationinternet(flag, total_amount="102.21", card_number="4111111111111111"):
    client_reference = Ptsv2paymentsClientReferenceInformation(code="TC50171_3")
    processing = Ptsv2paymentsProcessingInformation(capture=flag)
    card = Ptsv2paymentsPaymentInformationCard(
        number=card_number, expiration_month="12", expiration_year="2031")
    payment = Ptsv2paymentsPaymentInformation(card=card.__dict__)
    amount = Ptsv2paymentsOrderInformationAmountDetails(total_amount=total_amount, currency="USD")
    bill_to = Ptsv2paymentsOrderInformationBillTo(
        first_name="John", last_name="Doe", address1="1 Market St", locality="san francisco",
        administrative_area="CA", postal_code="94105", country="US",
        email="test@cybs.com", phone_number="4158880000")
    order = Ptsv2paymentsOrderInformation(amount_details=amount.__dict__, bill_to=bill_to.__dict__)
    request = CreatePaymentRequest(
        client_reference_information=client_reference.__dict__,
        processing_information=processing.__dict__,
        payment_information=payment.__dict__,
        order_information=order.__dict__)
    request = json.dumps(common.del_none(request.__dict__))
    try:
        client_config = configuration.Configuration().get_configuration()
        api_instance = PaymentsApi(client_config)
        return_data, status, body = api_instance.create_payment(request)
        print("\nAPI RESPONSE CODE : ", status)
        print("\nAPI RESPONSE BODY : ", body)
        return return_data
    except Exception as e:
        print("\nException when calling PaymentsApi->create_payment: %s\n" % e)
        raise


if __name__ == "__main__":
    simple_authorizationinternet(False)
