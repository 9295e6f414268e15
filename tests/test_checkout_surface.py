"""The checkout surface of the generated `CyberSource` package (checkout.md §1-§4): every API
class and method in the official SDK's names and positional order, what each call sends
(method, path, Accept, Content-Type, body bytes) and what it returns, against a loopback
server that answers with real-shaped bodies."""

from __future__ import annotations

import inspect
import json
from typing import Any, Optional

import CyberSource
import pytest
from CyberSource import (
    CapturePaymentRequest,
    CreatePaymentRequest,
    Ptsv2paymentsClientReferenceInformation,
    Ptsv2paymentsidcapturesOrderInformation,
    Ptsv2paymentsidcapturesOrderInformationAmountDetails,
    Ptsv2paymentsOrderInformation,
    Ptsv2paymentsOrderInformationAmountDetails,
    Ptsv2paymentsOrderInformationBillTo,
    Ptsv2paymentsOrderInformationLineItems,
    Ptsv2paymentsProcessingInformation,
    Ptsv2paymentsTokenInformation,
)
from CyberSource.rest import ApiException
from wire import CaptureServer, Reply

from flex_ext.body import request_body

HAL, JSON, JSON_UTF8, JWT = (
    "application/hal+json",
    "application/json",
    "application/json;charset=utf-8",
    "application/jwt",
)
PAY_ID = "6969442631946000001234"
CAPTURE_CONTEXT = "eyJraWQiOiJ6dSIsImFsZyI6IlJTMjU2In0.eyJpc3MiOiJGbGV4IEFQSSJ9.c2lnbmF0dXJl"

# (class, method, positional parameters, HTTP method, path, Accept, Content-Type, return type)
SURFACE = [
    (
        "MicroformIntegrationApi",
        "generate_capture_context",
        ["generate_capture_context_request"],
        "POST",
        "/microform/v2/sessions",
        JWT,
        JSON_UTF8,
        "str",
    ),
    (
        "UnifiedCheckoutCaptureContextApi",
        "generate_unified_checkout_capture_context",
        ["generate_unified_checkout_capture_context_request"],
        "POST",
        "/up/v1/capture-contexts",
        JWT,
        JSON_UTF8,
        "str",
    ),
    (
        "TransientTokenDataV2Api",
        "get_transaction_for_transient_token",
        ["transient_token"],
        "GET",
        "/up/v1/payment-details/{0}",
        JSON,
        JSON_UTF8,
        None,
    ),
    (
        "TransientTokenDataV2Api",
        "get_transaction_for_transient_token_jti",
        ["jti"],
        "GET",
        "/flex/v2/payment-details/{0}",
        JSON,
        JSON_UTF8,
        None,
    ),
    (
        "TransientTokenDataV2Api",
        "get_payment_credentials_for_transient_token",
        ["payment_credentials_reference"],
        "GET",
        "/flex/v2/payment-credentials/{0}",
        JWT,
        JSON_UTF8,
        "str",
    ),
    (
        "PaymentsApi",
        "create_payment",
        ["create_payment_request"],
        "POST",
        "/pts/v2/payments",
        HAL,
        JSON,
        "PtsV2PaymentsPost201Response",
    ),
    (
        "PaymentsApi",
        "increment_auth",
        ["id", "increment_auth_request"],
        "PATCH",
        "/pts/v2/payments/{0}",
        HAL,
        JSON,
        "PtsV2IncrementalAuthorizationPatch201Response",
    ),
    (
        "CaptureApi",
        "capture_payment",
        ["capture_payment_request", "id"],
        "POST",
        "/pts/v2/payments/{0}/captures",
        HAL,
        JSON,
        "PtsV2PaymentsCapturesPost201Response",
    ),
    (
        "ReversalApi",
        "auth_reversal",
        ["id", "auth_reversal_request"],
        "POST",
        "/pts/v2/payments/{0}/reversals",
        HAL,
        JSON,
        "PtsV2PaymentsReversalsPost201Response",
    ),
    (
        "ReversalApi",
        "mit_reversal",
        ["mit_reversal_request"],
        "POST",
        "/pts/v2/reversals",
        HAL,
        JSON,
        "PtsV2PaymentsReversalsPost201Response",
    ),
    (
        "RefundApi",
        "refund_payment",
        ["refund_payment_request", "id"],
        "POST",
        "/pts/v2/payments/{0}/refunds",
        HAL,
        JSON,
        "PtsV2PaymentsRefundPost201Response",
    ),
    (
        "RefundApi",
        "refund_capture",
        ["refund_capture_request", "id"],
        "POST",
        "/pts/v2/captures/{0}/refunds",
        HAL,
        JSON,
        "PtsV2PaymentsRefundPost201Response",
    ),
    (
        "VoidApi",
        "void_payment",
        ["void_payment_request", "id"],
        "POST",
        "/pts/v2/payments/{0}/voids",
        HAL,
        JSON,
        "PtsV2PaymentsVoidsPost201Response",
    ),
    (
        "VoidApi",
        "void_capture",
        ["void_capture_request", "id"],
        "POST",
        "/pts/v2/captures/{0}/voids",
        HAL,
        JSON,
        "PtsV2PaymentsVoidsPost201Response",
    ),
    (
        "VoidApi",
        "void_refund",
        ["void_refund_request", "id"],
        "POST",
        "/pts/v2/refunds/{0}/voids",
        HAL,
        JSON,
        "PtsV2PaymentsVoidsPost201Response",
    ),
    (
        "VoidApi",
        "void_credit",
        ["void_credit_request", "id"],
        "POST",
        "/pts/v2/credits/{0}/voids",
        HAL,
        JSON,
        "PtsV2PaymentsVoidsPost201Response",
    ),
    (
        "VoidApi",
        "mit_void",
        ["mit_void_request"],
        "POST",
        "/pts/v2/voids",
        HAL,
        JSON,
        "PtsV2PaymentsVoidsPost201Response",
    ),
    (
        "CreditApi",
        "create_credit",
        ["create_credit_request"],
        "POST",
        "/pts/v2/credits",
        HAL,
        JSON,
        "PtsV2CreditsPost201Response",
    ),
    (
        "TransactionDetailsApi",
        "get_transaction",
        ["id"],
        "GET",
        "/tss/v2/transactions/{0}",
        "application/hal+json;charset=utf-8",
        JSON_UTF8,
        "TssV2TransactionsGet200Response",
    ),
]
SURFACE_IDS = [f"{row[0]}.{row[1]}" for row in SURFACE]


def links(**names: str) -> dict:
    return {name: {"href": href, "method": "GET" if name == "self" else "POST"} for name, href in names.items()}


# Real-shaped bodies (checkout.md §4.5: sandbox merchant `testrest`; top-level keys in alphabetical order).
AUTH_201 = {
    "_links": links(
        authReversal=f"/pts/v2/payments/{PAY_ID}/reversals",
        self=f"/pts/v2/payments/{PAY_ID}",
        capture=f"/pts/v2/payments/{PAY_ID}/captures",
    ),
    "clientReferenceInformation": {"code": "TC50171_3"},
    "id": PAY_ID,
    "orderInformation": {"amountDetails": {"authorizedAmount": "102.21", "currency": "USD"}},
    "paymentAccountInformation": {"card": {"type": "001"}},
    "paymentInformation": {"card": {"type": "001"}, "tokenizedCard": {"type": "001"}},
    "pointOfSaleInformation": {"terminalId": "111111"},
    "processorInformation": {
        "approvalCode": "888888",
        "avs": {"code": "X", "codeRaw": "I1"},
        "networkTransactionId": "123456789619999",
        "responseCode": "100",
        "transactionId": "123456789619999",
    },
    "reconciliationId": "622711457N966CUC",
    "status": "AUTHORIZED",
    "submitTimeUtc": "2023-10-10T13:24:23Z",
}
SALE_201 = dict(
    AUTH_201,
    _links=links(void=f"/pts/v2/payments/{PAY_ID}/voids", self=f"/pts/v2/payments/{PAY_ID}"),
    orderInformation={"amountDetails": {"totalAmount": "102.21", "authorizedAmount": "102.21", "currency": "USD"}},
)
PARTIAL_201 = dict(
    AUTH_201,
    _links=links(self=f"/pts/v2/payments/{PAY_ID}"),
    status="PARTIAL_AUTHORIZED",
    orderInformation={"amountDetails": {"totalAmount": "7012.00", "authorizedAmount": "500.00", "currency": "USD"}},
    paymentInformation={"accountFeatures": {"currency": "usd", "balanceAmount": "100.00"}},
)
TOKEN_CREATE_201 = dict(
    AUTH_201,
    tokenInformation={
        "instrumentidentifierNew": False,
        "instrumentIdentifier": {"state": "ACTIVE", "id": "7010000000016241111"},
        "shippingAddress": {"id": "0F35F0D99AD088B5E063AF598E0A7F3D"},
        "paymentInstrument": {"id": "0F35F0D99AD188B5E063AF598E0A7F3D"},
        "customer": {"id": "0F35EDE7F1A0C46EE063AF598E0A8D4B"},
    },
)
DECLINED_201 = {
    "clientReferenceInformation": {"code": "TC50171_3"},
    "errorInformation": {
        "message": "Decline - Expired card. You might also receive this if the expiration date you provided "
        "does not match the date the issuing bank has on file.",
        "reason": "EXPIRED_CARD",
    },
    "id": PAY_ID,
    "status": "DECLINED",
}
INCREMENT_201 = {
    "_links": links(self=f"/pts/v2/payments/{PAY_ID}"),
    "clientReferenceInformation": {"code": "TC50171_3"},
    "id": PAY_ID,
    "orderInformation": {"amountDetails": {"authorizedAmount": "22.49", "currency": "USD", "totalAmount": "42.49"}},
    "processorInformation": {"approvalCode": "888888", "responseCode": "100"},
    "reconciliationId": PAY_ID,
    "status": "AUTHORIZED",
    "submitTimeUtc": "2023-10-10T13:24:33Z",
}
CAPTURE_201 = {
    "_links": links(
        void="/pts/v2/captures/6969442700000000005678/voids", self="/pts/v2/captures/6969442700000000005678"
    ),
    "clientReferenceInformation": {"code": "TC50171_3"},
    "id": "6969442700000000005678",
    "orderInformation": {"amountDetails": {"currency": "USD", "totalAmount": "102.21"}},
    "reconciliationId": "622711457N966CUC",
    "status": "PENDING",
    "submitTimeUtc": "2023-10-10T13:24:30Z",
}
REFUND_201 = {
    "_links": links(void="/pts/v2/refunds/6969442800000000009012/voids", self="/pts/v2/refunds/6969442800000000009012"),
    "clientReferenceInformation": {"code": "TC50171_3"},
    "id": "6969442800000000009012",
    "orderInformation": {"amountDetails": {"currency": "USD"}},
    "processorInformation": {"approvalCode": "888888", "responseCode": "100"},
    "reconciliationId": "622711457N966CUC",
    "refundAmountDetails": {"currency": "USD", "refundAmount": "10.00"},
    "status": "PENDING",
    "submitTimeUtc": "2023-10-10T13:24:40Z",
}
REVERSAL_201 = {
    "_links": links(self="/pts/v2/reversals/6969442900000000003456"),
    "clientReferenceInformation": {"code": "TC50171_3"},
    "id": "6969442900000000003456",
    "processorInformation": {"responseCode": "100"},
    "reversalAmountDetails": {"currency": "USD", "reversedAmount": "102.21"},
    "status": "REVERSED",
    "submitTimeUtc": "2023-10-10T13:24:45Z",
}
VOID_201 = {
    "_links": links(self="/pts/v2/voids/6969443000000000007890"),
    "clientReferenceInformation": {"code": "TC50171_3"},
    "id": "6969443000000000007890",
    "status": "VOIDED",
    "submitTimeUtc": "2023-10-10T13:24:50Z",
    "voidAmountDetails": {"currency": "usd", "voidAmount": "102.21"},
}
CREDIT_201 = {
    "_links": links(void="/pts/v2/credits/6969443100000000001111/voids", self="/pts/v2/credits/6969443100000000001111"),
    "clientReferenceInformation": {"code": "12345678"},
    "creditAmountDetails": {"creditAmount": "200.00", "currency": "usd"},
    "id": "6969443100000000001111",
    "orderInformation": {"amountDetails": {"currency": "usd"}},
    "processorInformation": {"approvalCode": "888888", "responseCode": "100"},
    "reconciliationId": "6969443100000000001111",
    "status": "PENDING",
    "submitTimeUtc": "2023-10-10T13:24:55Z",
}
TSS_200 = {
    "_links": {
        "self": {"href": f"https://apitest.cybersource.com/tss/v2/transactions/{PAY_ID}", "method": "GET"},
        "relatedTransactions": [
            {"href": "https://apitest.cybersource.com/tss/v2/transactions/6969442700000000005678", "method": "GET"}
        ],
    },
    "applicationInformation": {
        "applications": [
            {
                "name": "ics_auth",
                "rCode": "1",
                "rFlag": "SOK",
                "reasonCode": "100",
                "reconciliationId": "622711457N966CUC",
                "returnCode": 1010000,
            }
        ],
        "reasonCode": "100",
        "rCode": "1",
        "rFlag": "SOK",
    },
    "clientReferenceInformation": {"applicationName": "REST API", "code": "TC50171_3"},
    "id": PAY_ID,
    "merchantId": "testrest",
    "orderInformation": {
        "amountDetails": {"authorizedAmount": "102.21", "currency": "USD", "totalAmount": "102.21"},
        "billTo": {"firstName": "John", "lastName": "Doe", "country": "US"},
    },
    "paymentInformation": {
        "card": {
            "expirationMonth": "12",
            "expirationYear": "2031",
            "prefix": "411111",
            "suffix": "1111",
            "type": "001",
        },
        "paymentType": {"name": "CARD"},
    },
    "processorInformation": {"approvalCode": "888888", "processor": {"name": "smartpay"}, "responseCode": "100"},
    "reconciliationId": "622711457N966CUC",
    "rootId": PAY_ID,
    "submitTimeUTC": "2023-10-10T13:24:23Z",
    "somethingNew": {"the SDK": "drops unknown keys"},
}
PAYMENT_DETAILS_200 = {
    "paymentInformation": {
        "card": {"expirationYear": "2031", "number": "411111XXXXXX1111", "expirationMonth": "12", "type": "001"}
    },
    "orderInformation": {"amountDetails": {"totalAmount": "21.00", "currency": "USD"}},
}
INVALID_TOKEN_400 = {
    "id": "6969442631946000009999",
    "submitTimeUtc": "2023-10-10T13:24:23Z",
    "status": "INVALID_REQUEST",
    "reason": "INVALID_DATA",
    "message": "Declined - One or more fields in the request contains invalid data",
    "details": [{"field": "tokenInformation.jti", "reason": "INVALID_DATA"}],
}
SYSTEM_ERROR_502 = {
    "id": "6969442631946000008888",
    "submitTimeUtc": "2023-10-10T13:24:23Z",
    "status": "SERVER_ERROR",
    "reason": "SYSTEM_ERROR",
    "message": "Error - General system failure.",
}

CANNED = {
    "generate_capture_context": (201, CAPTURE_CONTEXT, "application/jwt;charset=UTF-8"),
    "generate_unified_checkout_capture_context": (201, CAPTURE_CONTEXT, "application/jwt"),
    "get_transaction_for_transient_token": (200, PAYMENT_DETAILS_200, JSON),
    "get_transaction_for_transient_token_jti": (200, PAYMENT_DETAILS_200, JSON),
    "get_payment_credentials_for_transient_token": (200, "eyJhbGciOiJSU0EtT0FFUC0yNTYifQ.a.b.c.d", JWT),
    "create_payment": (201, AUTH_201, HAL),
    "increment_auth": (201, INCREMENT_201, HAL),
    "capture_payment": (201, CAPTURE_201, HAL),
    "auth_reversal": (201, REVERSAL_201, HAL),
    "mit_reversal": (201, REVERSAL_201, HAL),
    "refund_payment": (201, REFUND_201, HAL),
    "refund_capture": (201, REFUND_201, HAL),
    "void_payment": (201, VOID_201, HAL),
    "void_capture": (201, VOID_201, HAL),
    "void_refund": (201, VOID_201, HAL),
    "void_credit": (201, VOID_201, HAL),
    "mit_void": (201, VOID_201, HAL),
    "create_credit": (201, CREDIT_201, HAL),
    "get_transaction": (200, TSS_200, "application/hal+json;charset=utf-8"),
}


def reply(status: int, body: Any, content_type: str) -> Reply:
    raw = body if isinstance(body, str) else json.dumps(body)
    return Reply(
        status=status, body=raw.encode(), headers={"Content-Type": content_type, "v-c-correlation-id": "c0ffee"}
    )


@pytest.fixture(scope="module")
def shared_server():
    with CaptureServer() as srv:
        yield srv


@pytest.fixture
def server(shared_server: CaptureServer) -> CaptureServer:
    """One loopback server for the module (stopping one takes half a second), reset per test."""
    shared_server.requests.clear()
    shared_server.reply = Reply()
    return shared_server


def merchant_config(srv: Optional[CaptureServer] = None) -> dict:
    return {
        "authentication_type": "http_signature",
        "merchantid": "testrest",
        "run_environment": "apitest.cybersource.com",
        "IntermediateHost": srv.url if srv else "http://127.0.0.1:9",
        "merchant_keyid": "08c94330-f618-42a3-b09d-e1e43be5efda",
        "merchant_secretkey": "yBJxy6LjM2TmcPGu+GaJrHtkke25fPpUX+UY6/L/1tE=",
    }


def args_for(params: list[str]) -> list[Any]:
    return [
        PAY_ID if name in ("id", "jti", "transient_token", "payment_credentials_reference") else {} for name in params
    ]


# ---- the surface ----


@pytest.mark.parametrize("row", SURFACE, ids=SURFACE_IDS)
def test_method_exists_with_the_official_positional_order(row: tuple) -> None:
    cls_name, method, params = row[:3]
    cls = getattr(CyberSource, cls_name)
    assert cls.__module__ == "CyberSource.api." + getattr(CyberSource.api, cls_name).__module__.rsplit(".", 1)[1]
    for name in (method, method + "_with_http_info"):
        signature = inspect.signature(getattr(cls, name))
        assert list(signature.parameters) == ["self", *params, "kwargs"], name


@pytest.mark.parametrize("row", SURFACE, ids=SURFACE_IDS)
def test_unknown_kwarg_is_a_type_error_and_a_none_parameter_a_value_error(row: tuple) -> None:
    cls_name, method, params = row[:3]
    api = getattr(CyberSource, cls_name)(merchant_config())
    call = getattr(api, method)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        call(*args_for(params), bogus=1)
    for index, name in enumerate(params):
        arguments = args_for(params)
        arguments[index] = None
        with pytest.raises(ValueError, match=f"Missing the required parameter `{name}` when calling `{method}`"):
            call(*arguments)


# Every model class the official checkout samples (checkout.md §9) construct.
SAMPLE_MODELS = """
    CreatePaymentRequest Ptsv2paymentsClientReferenceInformation Ptsv2paymentsProcessingInformation
    Ptsv2paymentsPaymentInformation Ptsv2paymentsPaymentInformationCard Ptsv2paymentsPaymentInformationTokenizedCard
    Ptsv2paymentsPaymentInformationCustomer Ptsv2paymentsPaymentInformationPaymentInstrument
    Ptsv2paymentsPaymentInformationShippingAddress Ptsv2paymentsOrderInformation
    Ptsv2paymentsOrderInformationAmountDetails Ptsv2paymentsOrderInformationBillTo
    Ptsv2paymentsOrderInformationShipTo Ptsv2paymentsTokenInformation Ptsv2paymentsPointOfSaleInformation
    Ptsv2paymentsPointOfSaleInformationEmv Ptsv2paymentsMerchantInformation
    Ptsv2paymentsMerchantInformationMerchantDescriptor Ptsv2paymentsConsumerAuthenticationInformation
    Ptsv2paymentsInstallmentInformation Ptsv2paymentsTravelInformation Ptsv2paymentsTravelInformationLodging
    Ptsv2paymentsTravelInformationLodgingRoom Ptsv2paymentsPromotionInformation IncrementAuthRequest
    Ptsv2paymentsidClientReferenceInformation Ptsv2paymentsidProcessingInformation
    Ptsv2paymentsidProcessingInformationAuthorizationOptions
    Ptsv2paymentsidProcessingInformationAuthorizationOptionsInitiator Ptsv2paymentsidOrderInformation
    Ptsv2paymentsidOrderInformationAmountDetails Ptsv2paymentsidMerchantInformation Ptsv2paymentsidTravelInformation
    CapturePaymentRequest Ptsv2paymentsidcapturesOrderInformation
    Ptsv2paymentsidcapturesOrderInformationAmountDetails Ptsv2paymentsidcapturesOrderInformationBillTo
    RefundPaymentRequest RefundCaptureRequest Ptsv2paymentsidrefundsClientReferenceInformation
    Ptsv2paymentsidrefundsOrderInformation Ptsv2paymentsidrefundsPaymentInformation
    Ptsv2paymentsidrefundsPaymentInformationCard AuthReversalRequest MitReversalRequest
    Ptsv2paymentsidreversalsClientReferenceInformation Ptsv2paymentsidreversalsReversalInformation
    Ptsv2paymentsidreversalsReversalInformationAmountDetails VoidPaymentRequest VoidCaptureRequest VoidRefundRequest
    VoidCreditRequest MitVoidRequest CreateCreditRequest GenerateCaptureContextRequest
    Microformv2sessionsTransientTokenResponseOptions GenerateUnifiedCheckoutCaptureContextRequest
    Upv1capturecontextsCaptureMandate Upv1capturecontextsCompleteMandate Upv1capturecontextsOrderInformation
    Upv1capturecontextsOrderInformationAmountDetails Upv1capturecontextsDataOrderInformationBillTo
    Upv1capturecontextsDataOrderInformationBillToCompany Upv1capturecontextsDataOrderInformationShipTo
""".split()  # noqa: SIM905


def test_star_import_provides_what_the_official_samples_use() -> None:
    namespace: dict[str, Any] = {}
    exec("from CyberSource import *", namespace)  # the samples' first line
    names = {row[0] for row in SURFACE} | {row[7] for row in SURFACE if row[7] not in (None, "str")}
    names |= set(SAMPLE_MODELS) | {"PtsV2PaymentsPost400Response", "PtsV2PaymentsPost502Response"}
    assert sorted(names - set(namespace)) == []
    assert "TransientTokenDataApi" not in namespace  # renamed to ...V2Api in the official 0.0.75


# ---- what goes on the wire and what comes back ----


@pytest.mark.parametrize("row", SURFACE, ids=SURFACE_IDS)
def test_each_call_sends_the_official_request_and_returns_the_3_tuple(server: CaptureServer, row: tuple) -> None:
    cls_name, method, params, http_method, path, accept, content_type, return_type = row
    server.reply = reply(*CANNED[method])
    api = getattr(CyberSource, cls_name)(merchant_config(server))
    data, status, body = getattr(api, method)(*args_for(params))

    sent = server.last
    assert (sent.method, sent.target) == (http_method, path.format(PAY_ID))
    assert sent.header("Accept") == accept
    assert sent.header("Content-Type") == content_type
    assert sent.body == (b"{}" if http_method != "GET" else b"")
    assert sent.header("v-c-merchant-id") == "testrest" and "signature=" in sent.header("Signature")
    assert status == CANNED[method][0]
    assert body == server.reply.body.decode()
    if return_type is None:
        assert data is None  # official: the payment details come back in the raw body only
        assert json.loads(body) == PAYMENT_DETAILS_200
    elif return_type == "str":
        assert data == server.reply.body.decode()
    else:
        assert type(data).__name__ == return_type and data.id == CANNED[method][1]["id"]

    data2, status2, headers = getattr(api, method + "_with_http_info")(*args_for(params))
    assert status2 == status and headers["v-c-correlation-id"] == "c0ffee"
    assert (data2 is None) if return_type is None else (data2 == data)


def test_auth_response_reads_like_the_official_models(server: CaptureServer) -> None:
    server.reply = reply(201, AUTH_201, HAL)
    data, _, body = CyberSource.PaymentsApi(merchant_config(server)).create_payment({})
    assert (data.id, data.status, data.reconciliation_id) == (PAY_ID, "AUTHORIZED", "622711457N966CUC")
    assert data.submit_time_utc == "2023-10-10T13:24:23Z"
    assert data.links.capture.href == f"/pts/v2/payments/{PAY_ID}/captures"
    assert (data.links._self.href, data.links._self.method) == (f"/pts/v2/payments/{PAY_ID}", "GET")
    # The official model has no `authReversal` link (it knows `reversal`): the link is
    # dropped from the model and stays in the raw body.
    assert data.links.reversal is None and "authReversal" in json.loads(body)["_links"]
    processor = data.processor_information
    assert (processor.approval_code, processor.response_code) == ("888888", "100")
    assert (processor.avs.code, processor.avs.code_raw) == ("X", "I1")
    assert processor.network_transaction_id == processor.transaction_id == "123456789619999"
    assert data.order_information.amount_details.authorized_amount == "102.21"
    assert data.order_information.amount_details.total_amount is None
    assert data.payment_account_information.card.type == "001"
    assert data.payment_information.tokenized_card.type == "001"
    assert data.point_of_sale_information.terminal_id == "111111"
    assert data.client_reference_information.code == "TC50171_3"
    assert data.error_information is None
    assert data.to_dict()["links"]["_self"]["href"] == f"/pts/v2/payments/{PAY_ID}"


@pytest.mark.parametrize(
    ("canned", "check"),
    [
        (
            SALE_201,
            lambda d: (
                d.links.capture is None
                and d.links._self.href.endswith(PAY_ID)  # `void` is dropped
                and d.order_information.amount_details.total_amount == "102.21"
            ),
        ),
        (
            PARTIAL_201,
            lambda d: (
                d.status == "PARTIAL_AUTHORIZED"
                and d.order_information.amount_details.authorized_amount == "500.00"
                and d.payment_information.account_features.balance_amount == "100.00"
                and d.payment_information.account_features.currency == "usd"
            ),
        ),
        (
            TOKEN_CREATE_201,
            lambda d: (
                d.token_information.instrumentidentifier_new is False
                and d.token_information.instrument_identifier.id == "7010000000016241111"
                and d.token_information.instrument_identifier.state == "ACTIVE"
                and d.token_information.customer.id == "0F35EDE7F1A0C46EE063AF598E0A8D4B"
                and d.token_information.payment_instrument.id == "0F35F0D99AD188B5E063AF598E0A7F3D"
            ),
        ),
        (
            DECLINED_201,
            lambda d: (
                d.status == "DECLINED"
                and d.error_information.reason == "EXPIRED_CARD"
                and d.error_information.message.startswith("Decline - Expired card.")
                and d.links is None
                and d.submit_time_utc is None
            ),
        ),
    ],
    ids=["sale", "partial", "token-create", "declined"],
)
def test_payment_201_variants_deserialize(server: CaptureServer, canned: dict, check: Any) -> None:
    server.reply = reply(201, canned, HAL)
    data, status, _ = CyberSource.PaymentsApi(merchant_config(server)).create_payment({})
    assert status == 201 and check(data)


def test_follow_on_responses_deserialize(server: CaptureServer) -> None:
    cfg = merchant_config(server)
    server.reply = reply(201, CAPTURE_201, HAL)
    capture, _, _ = CyberSource.CaptureApi(cfg).capture_payment({}, PAY_ID)
    assert capture.status == "PENDING" and capture.links.void.href.endswith("/voids") and capture.links.refund is None
    assert capture.order_information.amount_details.total_amount == "102.21"

    server.reply = reply(201, REFUND_201, HAL)
    refund, _, _ = CyberSource.RefundApi(cfg).refund_capture({}, capture.id)
    assert server.last.target == "/pts/v2/captures/6969442700000000005678/refunds"
    assert (
        refund.refund_amount_details.refund_amount == "10.00" and refund.processor_information.approval_code == "888888"
    )
    assert refund.links.void.href == "/pts/v2/refunds/6969442800000000009012/voids"

    server.reply = reply(201, REVERSAL_201, HAL)
    reversal, _, _ = CyberSource.ReversalApi(cfg).auth_reversal(PAY_ID, {})
    assert reversal.status == "REVERSED" and reversal.reversal_amount_details.reversed_amount == "102.21"
    assert reversal.links._self.href.startswith("/pts/v2/reversals/") and reversal.reconciliation_id is None

    server.reply = reply(201, VOID_201, HAL)
    void, _, _ = CyberSource.VoidApi(cfg).void_refund({}, refund.id)
    assert void.status == "VOIDED" and void.void_amount_details.void_amount == "102.21"
    assert void.void_amount_details.currency == "usd"

    server.reply = reply(201, CREDIT_201, HAL)
    credit, _, _ = CyberSource.CreditApi(cfg).create_credit({})
    assert credit.credit_amount_details.credit_amount == "200.00" and credit.links.void.href.endswith("/voids")

    server.reply = reply(201, INCREMENT_201, HAL)
    increment, _, _ = CyberSource.PaymentsApi(cfg).increment_auth(PAY_ID, {})
    assert increment.order_information.amount_details.total_amount == "42.49"


def test_transaction_details_deserialize_and_unknown_keys_are_dropped(server: CaptureServer) -> None:
    server.reply = reply(200, TSS_200, "application/hal+json;charset=utf-8")
    data, status, _ = CyberSource.TransactionDetailsApi(merchant_config(server)).get_transaction(PAY_ID)
    assert status == 200
    assert (data.id, data.root_id, data.merchant_id) == (PAY_ID, PAY_ID, "testrest")
    assert data.submit_time_utc == "2023-10-10T13:24:23Z"  # JSON `submitTimeUTC`
    application = data.application_information.applications[0]
    assert (application.name, application.r_flag, application.r_code, application.return_code) == (
        "ics_auth",
        "SOK",
        "1",
        1010000,
    )
    assert data.processor_information.processor.name == "smartpay"
    assert data.payment_information.card.suffix == "1111" and data.payment_information.payment_type.name == "CARD"
    assert data.order_information.bill_to.first_name == "John"
    assert data.links.related_transactions[0].href.endswith("6969442700000000005678")
    assert "somethingNew" not in json.dumps(data.to_dict())


@pytest.mark.parametrize(("status", "canned"), [(400, INVALID_TOKEN_400), (502, SYSTEM_ERROR_502)])
def test_error_statuses_raise_api_exception_with_the_raw_body(server: CaptureServer, status: int, canned: dict) -> None:
    server.reply = reply(status, canned, JSON)
    with pytest.raises(ApiException) as info:
        CyberSource.PaymentsApi(merchant_config(server)).create_payment({})
    error = info.value
    assert error.status == status
    assert error.body == json.dumps(canned)  # the raw text, as the official SDK gives it
    assert json.loads(error.body)["reason"] == canned["reason"]
    assert error.headers["Content-Type"] == JSON
    # Our addition: the body as the error model the spec declares for the status.
    assert type(error.data).__name__ == f"PtsV2PaymentsPost{status}Response"
    assert (error.data.status, error.data.reason, error.data.message) == (
        canned["status"],
        canned["reason"],
        canned["message"],
    )
    if status == 400:
        assert [(d.field, d.reason) for d in error.data.details] == [("tokenInformation.jti", "INVALID_DATA")]


def test_error_model_is_per_operation_and_absent_when_the_body_is_not_json(server: CaptureServer) -> None:
    missing_auth = {
        "id": "6969442631946000007777",
        "submitTimeUtc": "2023-10-10T13:24:23Z",
        "status": "INVALID_REQUEST",
        "reason": "MISSING_AUTH",
        "message": "Decline - The request ID is invalid.",
    }
    server.reply = reply(400, missing_auth, JSON)
    with pytest.raises(ApiException) as info:
        CyberSource.CaptureApi(merchant_config(server)).capture_payment({}, PAY_ID)
    assert type(info.value.data).__name__ == "PtsV2PaymentsCapturesPost400Response"
    assert info.value.data.reason == "MISSING_AUTH" and info.value.data.details is None

    server.reply = Reply(status=400, body=b'{"response":{"rmsg":"missing', headers={"Content-Type": JSON})
    with pytest.raises(ApiException) as info:
        CyberSource.CaptureApi(merchant_config(server)).capture_payment({}, PAY_ID)
    assert info.value.data is None and info.value.body == '{"response":{"rmsg":"missing'

    server.reply = reply(404, {"message": "The requested resource does not exist"}, HAL)
    with pytest.raises(ApiException) as info:
        CyberSource.TransactionDetailsApi(merchant_config(server)).get_transaction(PAY_ID)
    assert info.value.status == 404 and info.value.data is None  # no model declared for it


# ---- request bodies: the three styles send the same bytes ----


def del_none(d: dict) -> dict:
    """The official samples' helper: it does not look inside lists."""
    for key, value in list(d.items()):
        if value is None:
            del d[key]
        elif isinstance(value, dict):
            del_none(value)
    return d


def drop_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: drop_nones(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [drop_nones(item) for item in value]
    return value


def payment_model(nest: Any) -> CreatePaymentRequest:
    """The samples' authorization with a transient token and line items; `nest` is `lambda m: m`
    for model objects or `lambda m: m.__dict__` for the samples' style."""
    items = [
        nest(
            Ptsv2paymentsOrderInformationLineItems(
                product_sku="SKU-1", product_name="mug", quantity=2, unit_price="5.00"
            )
        ),
        nest(Ptsv2paymentsOrderInformationLineItems(product_code="default", quantity=1, unit_price="10.00")),
    ]
    return CreatePaymentRequest(
        client_reference_information=nest(Ptsv2paymentsClientReferenceInformation(code="TC50171_3")),
        processing_information=nest(
            Ptsv2paymentsProcessingInformation(
                capture=False, commerce_indicator="internet", action_list=["TOKEN_CREATE"]
            )
        ),
        order_information=nest(
            Ptsv2paymentsOrderInformation(
                amount_details=nest(Ptsv2paymentsOrderInformationAmountDetails(total_amount="20.00", currency="USD")),
                bill_to=nest(Ptsv2paymentsOrderInformationBillTo(first_name="John", last_name="Doe", country="US")),
                line_items=items,
            )
        ),
        token_information=nest(Ptsv2paymentsTokenInformation(transient_token_jwt=CAPTURE_CONTEXT)),
    )


EXPECTED_PAYMENT = {
    "clientReferenceInformation": {"code": "TC50171_3"},
    "processingInformation": {"actionList": ["TOKEN_CREATE"], "capture": False, "commerceIndicator": "internet"},
    "orderInformation": {
        "amountDetails": {"totalAmount": "20.00", "currency": "USD"},
        "billTo": {"firstName": "John", "lastName": "Doe", "country": "US"},
        "lineItems": [
            {"productName": "mug", "productSKU": "SKU-1", "quantity": 2, "unitPrice": "5.00"},
            {"productCode": "default", "quantity": 1, "unitPrice": "10.00"},
        ],
    },
    "tokenInformation": {"transientTokenJwt": CAPTURE_CONTEXT},
}


def test_payment_model_dict_and_camel_dict_send_the_same_bytes() -> None:
    model_bytes = request_body(payment_model(lambda m: m), JSON)
    assert json.loads(model_bytes) == EXPECTED_PAYMENT  # productSku goes out as productSKU, like the official SDK
    # A dict is sent as written (a None is a null), so the snake_case dict loses its Nones first.
    assert request_body(drop_nones(payment_model(lambda m: m).to_dict()), JSON) == model_bytes
    assert request_body(json.loads(model_bytes), JSON) == model_bytes  # camelCase dict
    assert request_body(model_bytes.decode(), JSON) == model_bytes  # camelCase JSON string


def test_sample_style_string_sends_what_the_official_sdk_sends() -> None:
    sample = json.dumps(del_none(payment_model(lambda m: m.__dict__).__dict__))
    wire = json.loads(request_body(sample, JSON))
    # The samples' del_none does not enter lists, so line items keep their None attributes
    # and the official SDK sends them as explicit nulls; so do we, for a JSON string.
    first_item = wire["orderInformation"]["lineItems"][0]
    assert first_item["productSKU"] == "SKU-1" and first_item["unitOfMeasure"] is None
    assert list(first_item)[:5] == ["productCode", "productName", "productSKU", "quantity", "unitPrice"]
    # Apart from those nulls it is the same request as the model's.
    for item in wire["orderInformation"]["lineItems"]:
        del_none(item)
    assert wire == EXPECTED_PAYMENT
    # A model holding the samples' `__dict__` pieces drops the Nones everywhere, lists included.
    assert request_body(payment_model(lambda m: m.__dict__), JSON) == request_body(payment_model(lambda m: m), JSON)


@pytest.mark.parametrize("style", ["model", "camel dict", "camel string", "snake string"])
def test_no_developer_id_is_added_and_the_merchant_code_survives(server: CaptureServer, style: str) -> None:
    # The official SdkTracker adds clientReferenceInformation.partner.developerId and, for a
    # camelCase body, loses the merchant's `code`. We add no tracking id and keep the body.
    model = CapturePaymentRequest(
        client_reference_information=Ptsv2paymentsClientReferenceInformation(code="ORDER-1"),
        order_information=Ptsv2paymentsidcapturesOrderInformation(
            amount_details=Ptsv2paymentsidcapturesOrderInformationAmountDetails(total_amount="102.21", currency="USD")
        ),
    )
    camel = {
        "clientReferenceInformation": {"code": "ORDER-1"},
        "orderInformation": {"amountDetails": {"totalAmount": "102.21", "currency": "USD"}},
    }
    body = {
        "model": model,
        "camel dict": camel,
        "camel string": json.dumps(camel),
        "snake string": json.dumps(del_none(model.to_dict())),
    }[style]
    server.reply = reply(*CANNED["capture_payment"])
    CyberSource.CaptureApi(merchant_config(server)).capture_payment(body, PAY_ID)
    assert json.loads(server.last.body) == camel
    assert b"developerId" not in server.last.body
