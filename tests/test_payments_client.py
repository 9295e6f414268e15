"""PaymentsClient / FlexClient payment calls against a loopback stub answering the real shapes
(checkout.md §4.5 and §5.3): the bytes sent, the typed results, the typed errors, the retry
rules, and that no token or card data shows in reprs, messages or traceback locals."""

from __future__ import annotations

import json
import socket
from decimal import Decimal
from typing import Any, Callable, Iterator

import pytest
from wire import Captured, CaptureServer, Reply

import flex_ext.payments
from flex_ext import FlexClient
from flex_ext.errors import (
    BadRequestError,
    ConnectError,
    FieldValidationError,
    InvalidAmountError,
    NotFoundError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    UnauthorizedError,
)
from flex_ext.payments import Card, PaymentResult, PaymentsClient
from flex_ext.transient_token import TransientToken

PAN = "4929381572640039"  # Luhn-valid, not a published test number
CVV = "917"
JWT = "eyJraWQiOiJzZXNzaW9uLWtleSIsImFsZyI6IlJTMjU2In0.eyJqdGkiOiIxRTBXQzFHTzg3In0.c2lnbmF0dXJlLXNlY3JldA"
TOKEN = TransientToken(jwt=JWT, header={}, claims={}, jti="1E0WC1GO87", issued_at=None, expires_at=None,
                       issuer=None, token_type=None)
HAL = {"Content-Type": "application/hal+json"}
JSON = {"Content-Type": "application/json"}

AUTHORIZED = {
    "_links": {"authReversal": {"method": "POST", "href": "/pts/v2/payments/6969442631946543104953/reversals"},
               "self": {"method": "GET", "href": "/pts/v2/payments/6969442631946543104953"},
               "capture": {"method": "POST", "href": "/pts/v2/payments/6969442631946543104953/captures"}},
    "clientReferenceInformation": {"code": "ORDER-1"},
    "id": "6969442631946543104953",
    "orderInformation": {"amountDetails": {"authorizedAmount": "10.00", "currency": "USD"}},
    "processorInformation": {"approvalCode": "888888", "responseCode": "100"},
    "reconciliationId": "622711457N966CUC",
    "status": "AUTHORIZED",
    "submitTimeUtc": "2023-10-10T13:24:23Z",
}
DECLINED = {
    "clientReferenceInformation": {"code": "ORDER-2"},
    "errorInformation": {"reason": "EXPIRED_CARD",
                         "message": "Decline - Expired card. You might also receive this if the expiration date "
                                    "you provided does not match the date the issuing bank has on file."},
    "id": "6969442631946543104954",
    "status": "DECLINED",
}
TOKEN_400 = {
    "id": "6969442631946543104955", "submitTimeUtc": "2023-10-10T13:24:23Z", "status": "INVALID_REQUEST",
    "reason": "INVALID_DATA", "message": "Declined - One or more fields in the request contains invalid data",
    "details": [{"field": "tokenInformation.jti", "reason": "INVALID_DATA"}],
}
SYSTEM_502 = {"id": "6969442631946543104956", "submitTimeUtc": "2023-10-10T13:24:23Z", "status": "SERVER_ERROR",
              "reason": "SYSTEM_ERROR", "message": "Error - General system failure."}


def reply(status: int, doc: Any, headers: dict[str, str] = HAL) -> Reply:
    return Reply(status=status, body=json.dumps(doc).encode(), headers=headers)


def config(url: str) -> dict[str, Any]:
    return {
        "authentication_type": "http_signature",
        "merchantid": "testrest",
        "run_environment": url,
        "merchant_keyid": "08c94330-f618-42a3-b09d-e1e43be5efda",
        "merchant_secretkey": "yBJxy6LjM2TmcPGu+GaJrHtkke25fPpUX+UY6/L/1tE=",
    }


@pytest.fixture(scope="module")
def _stub() -> Iterator[CaptureServer]:
    with CaptureServer() as stub:  # one per module: each shutdown waits for a 0.5 s poll
        yield stub


@pytest.fixture()
def server(_stub: CaptureServer) -> CaptureServer:
    _stub.requests.clear()
    _stub.responder = None
    _stub.reply = reply(201, AUTHORIZED)
    return _stub


def client(server: CaptureServer, **options: Any) -> PaymentsClient:
    options.setdefault("retry_backoff", 0.01)
    return PaymentsClient(config(server.url), **options)


def sent(captured: Captured) -> Any:
    return json.loads(captured.body)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


# ------------------------------------------------------------------------------------- bodies


def test_authorize_with_a_transient_token_sends_the_token_and_reads_the_result(server: CaptureServer) -> None:
    result = client(server).authorize(TOKEN, "10", "usd", reference="ORDER-1",
                                      bill_to={"first_name": "Ada", "postal_code": "94105", "country": "US"})
    request = server.last
    assert (request.method, request.target) == ("POST", "/pts/v2/payments")
    assert sent(request) == {
        "clientReferenceInformation": {"code": "ORDER-1"},
        "tokenInformation": {"transientTokenJwt": JWT},
        "orderInformation": {"amountDetails": {"totalAmount": "10.00", "currency": "USD"},
                             "billTo": {"firstName": "Ada", "postalCode": "94105", "country": "US"}},
    }
    # Signed like the generated client signs: HTTP Signature over the body digest.
    assert request.header("v-c-merchant-id") == "testrest"
    assert request.header("Digest") and 'keyid="08c94330' in (request.header("Signature") or "")
    assert (request.header("Accept"), request.header("Content-Type")) == ("application/hal+json", "application/json")
    assert result.id == "6969442631946543104953" and result.status == "AUTHORIZED" and result.approved
    assert (result.amount, result.currency, result.approval_code) == ("10.00", "USD", "888888")
    assert result.reconciliation_id == "622711457N966CUC" and result.http_status == 201
    assert result.links["capture"] == "/pts/v2/payments/6969442631946543104953/captures"
    assert result.links["authReversal"].endswith("/reversals")
    assert result.raw["submitTimeUtc"] == "2023-10-10T13:24:23Z"
    assert "submitTimeUtc" not in repr(result)


def test_sale_with_a_card_mapping_and_the_jwt_string(server: CaptureServer) -> None:
    payments = client(server)
    payments.authorize({"number": PAN, "expiration_month": "1", "expiration_year": "2031", "security_code": CVV},
                       Decimal("25.5"), "GBP", capture=True)
    assert sent(server.last) == {
        "processingInformation": {"capture": True},
        "paymentInformation": {"card": {"number": PAN, "expirationMonth": "01", "expirationYear": "2031",
                                        "securityCode": CVV}},
        "orderInformation": {"amountDetails": {"totalAmount": "25.50", "currency": "GBP"}},
    }
    payments.authorize(TOKEN.jwt, 1000, "JPY")
    assert sent(server.last)["tokenInformation"] == {"transientTokenJwt": JWT}
    assert sent(server.last)["orderInformation"]["amountDetails"] == {"totalAmount": "1000", "currency": "JPY"}


def test_a_decline_is_a_result_not_an_error(server: CaptureServer) -> None:
    server.reply = reply(201, DECLINED)
    result = client(server).authorize(TOKEN, "10.00", "USD")
    assert (result.status, result.approved, result.reason) == ("DECLINED", False, "EXPIRED_CARD")
    assert result.message and result.message.startswith("Decline - Expired card.")
    assert result.amount is None and result.links == {}


@pytest.mark.parametrize(
    ("call", "path", "body", "answer"),
    [
        (lambda c: c.capture("6969442631946543104953", "10.00", "USD", reference="C-1"),
         "/pts/v2/payments/6969442631946543104953/captures",
         {"clientReferenceInformation": {"code": "C-1"},
          "orderInformation": {"amountDetails": {"totalAmount": "10.00", "currency": "USD"}}},
         {"id": "7", "status": "PENDING",
          "orderInformation": {"amountDetails": {"totalAmount": "10.00", "currency": "USD"}},
          "_links": {"void": {"href": "/pts/v2/captures/7/voids"}, "self": {"href": "/pts/v2/captures/7"}}}),
        (lambda c: c.reverse("6969442631946543104953", "10", "USD", reason="34"),
         "/pts/v2/payments/6969442631946543104953/reversals",
         {"reversalInformation": {"amountDetails": {"totalAmount": "10.00", "currency": "USD"}, "reason": "34"}},
         {"id": "8", "status": "REVERSED", "reversalAmountDetails": {"reversedAmount": "10.00", "currency": "USD"}}),
        (lambda c: c.refund("7", "4.00", "USD", of_capture=True), "/pts/v2/captures/7/refunds",
         {"orderInformation": {"amountDetails": {"totalAmount": "4.00", "currency": "USD"}}},
         {"id": "9", "status": "PENDING", "refundAmountDetails": {"refundAmount": "4.00", "currency": "USD"}}),
        (lambda c: c.refund("6969442631946543104953", "4.00", "USD"), "/pts/v2/payments/6969442631946543104953/refunds",
         {"orderInformation": {"amountDetails": {"totalAmount": "4.00", "currency": "USD"}}},
         {"id": "9", "status": "PENDING", "refundAmountDetails": {"refundAmount": "4.00", "currency": "USD"}}),
        (lambda c: c.void("9", "refund"), "/pts/v2/refunds/9/voids", {},
         {"id": "10", "status": "VOIDED", "voidAmountDetails": {"voidAmount": "4.00", "currency": "usd"}}),
        (lambda c: c.void("11", kind="credit", reference="V-1"), "/pts/v2/credits/11/voids",
         {"clientReferenceInformation": {"code": "V-1"}},
         {"id": "12", "status": "VOIDED", "voidAmountDetails": {"voidAmount": "1.00", "currency": "USD"}}),
    ],
)
def test_follow_ons_send_the_documented_bodies(
    server: CaptureServer, call: Callable[[PaymentsClient], PaymentResult], path: str, body: Any, answer: Any
) -> None:
    server.reply = reply(201, answer)
    result = call(client(server))
    assert (server.last.method, server.last.target) == ("POST", path)
    assert sent(server.last) == body
    assert result.id == answer["id"] and result.status == answer["status"] and result.approved
    assert result.amount is not None and result.currency is not None


def test_get_transaction(server: CaptureServer) -> None:
    server.reply = reply(200, {"id": "6969442631946543104953", "rootId": "6969442631946543104953",
                               "applicationInformation": {"status": "AUTHORIZED", "reasonCode": "100"},
                               "orderInformation": {"amountDetails": {"totalAmount": "10.00", "currency": "USD",
                                                                      "authorizedAmount": "10.00"}}})
    result = client(server).get_transaction("6969442631946543104953")
    assert (server.last.method, server.last.target, server.last.body) == (
        "GET", "/tss/v2/transactions/6969442631946543104953", b"")
    assert result.status == "AUTHORIZED" and result.amount == "10.00" and result.http_status == 200
    assert server.last.header("Accept") == "application/hal+json;charset=utf-8"


def test_flex_client_is_a_payments_client(server: CaptureServer) -> None:
    flex = FlexClient(config(server.url))
    assert isinstance(flex, PaymentsClient)
    assert flex.authorize(TOKEN, "1.00", "EUR").approved


# ------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("amount", "currency", "match"),
    [
        (10.5, "USD", "never a float"),
        (True, "USD", "never a float"),
        ("1.005", "USD", "more than 2 decimal places"),
        ("10.5", "JPY", "more than 0 decimal places"),
        ("-1", "USD", "zero or more"),
        ("NaN", "USD", "finite"),
        ("ten", "USD", "decimal number"),
        ("1e40", "USD", "at most 28 digits"),
        (10**30, "USD", "at most 28 digits"),
        ("10", "US", "three-letter"),
        ("10", "U$D", "three-letter"),
    ],
)
def test_bad_amounts_are_typed_errors_before_sending(
    server: CaptureServer, amount: Any, currency: str, match: str
) -> None:
    with pytest.raises(InvalidAmountError, match=match):
        client(server).authorize(TOKEN, amount, currency)
    with pytest.raises(InvalidAmountError):
        client(server).capture("1", amount, currency)
    assert server.requests == []


def test_odd_answers_are_read_without_crashing() -> None:
    result = PaymentResult.from_json({"id": 5, "status": ["x"], "orderInformation": {"amountDetails": [1]},
                                      "_links": {"self": "not-a-mapping", "void": {"href": 3}}})
    assert (result.id, result.status, result.approved, result.amount, result.links) == (None, None, False, None, {})


def test_amount_scales() -> None:
    assert flex_ext.payments.format_amount("1.234", "kwd") == ("1.234", "KWD")
    assert flex_ext.payments.format_amount(Decimal("1E+3"), "USD") == ("1000.00", "USD")
    assert flex_ext.payments.format_amount(" 7 ", "EUR") == ("7.00", "EUR")


@pytest.mark.parametrize("bad_id", ["", "../admin", "a/b", "x" * 65, "id?x=1"])
def test_ids_that_would_change_the_path_are_refused(server: CaptureServer, bad_id: str) -> None:
    with pytest.raises(FieldValidationError, match="id must be"):
        client(server).capture(bad_id, "1.00", "USD")
    with pytest.raises(FieldValidationError):
        client(server).get_transaction(bad_id)
    assert server.requests == []


def test_unknown_void_kind_and_payment_source(server: CaptureServer) -> None:
    with pytest.raises(FieldValidationError, match="void kind"):
        client(server).void("1", "authorization")
    with pytest.raises(FieldValidationError, match="TransientToken"):
        client(server).authorize("not-a-jwt", "1.00", "USD")
    assert server.requests == []


# ------------------------------------------------------------------------------ typed errors


def test_expired_token_400_names_reason_and_field(server: CaptureServer) -> None:
    server.reply = reply(400, TOKEN_400, JSON)
    with pytest.raises(BadRequestError) as info:
        client(server).authorize(TOKEN, "10.00", "USD")
    error = info.value
    assert (error.status, error.reason) == (400, "INVALID_DATA")
    assert error.details == (("tokenInformation.jti", "INVALID_DATA"),)
    assert error.message == "Declined - One or more fields in the request contains invalid data"
    assert "INVALID_DATA" in str(error) and "tokenInformation.jti" in str(error)
    assert error.body and json.loads(error.body) == TOKEN_400
    assert len(server.requests) == 1


def test_missing_auth_capture_and_gateway_401(server: CaptureServer) -> None:
    server.reply = reply(400, {"id": "1", "status": "INVALID_REQUEST", "reason": "MISSING_AUTH",
                               "message": "Decline - The request ID is invalid."}, JSON)
    with pytest.raises(BadRequestError, match="MISSING_AUTH") as info:
        client(server).capture("1", "1.00", "USD")
    assert info.value.details == ()
    rmsg = json.dumps({"error": "UNAUTHORIZED_USER", "error_description": "UNAUTHORIZED USER"})
    server.reply = reply(401, {"response": {"rmsg": rmsg}}, JSON)
    with pytest.raises(UnauthorizedError) as unauthorized:
        client(server).capture("1", "1.00", "USD")
    assert unauthorized.value.reason == "UNAUTHORIZED_USER" and unauthorized.value.message == "UNAUTHORIZED USER"


def test_502_is_a_server_error_and_a_post_is_not_repeated(server: CaptureServer) -> None:
    server.reply = reply(502, SYSTEM_502, JSON)
    with pytest.raises(ServerError) as info:
        client(server, max_retries=3).authorize(TOKEN, "10.00", "USD")
    assert info.value.reason == "SYSTEM_ERROR" and info.value.status == 502
    assert len(server.requests) == 1  # the customer may have been charged: never sent twice


def test_unknown_transaction_is_not_found_and_not_retried(server: CaptureServer) -> None:
    server.reply = reply(404, {"_links": {"self": {"href": "/tss/v2/transactions/1"}}, "invalidFields": None,
                               "message": "The requested resource does not exist", "messageKey": None,
                               "missingFields": None})
    with pytest.raises(NotFoundError) as info:
        client(server).get_transaction("1")
    assert info.value.message == "The requested resource does not exist"
    assert len(server.requests) == 1


def test_get_is_retried_on_502_then_answers(server: CaptureServer) -> None:
    answers = [reply(502, SYSTEM_502, JSON), reply(503, {}, JSON), reply(200, {"id": "1", "status": "PENDING"})]
    server.responder = lambda captured: answers[len(server.requests) - 1]
    assert client(server).get_transaction("1").status == "PENDING"
    assert len(server.requests) == 3


def test_get_retries_stop_at_max_retries(server: CaptureServer) -> None:
    server.reply = reply(503, {}, JSON)
    with pytest.raises(ServerError):
        client(server, max_retries=1).get_transaction("1")
    assert len(server.requests) == 2


def test_post_is_retried_only_when_nothing_was_sent(server: CaptureServer, monkeypatch: pytest.MonkeyPatch) -> None:
    real_send = flex_ext.payments.send
    failures = [ConnectError("POST x: could not connect (NewConnectionError); nothing was sent")]

    def flaky_send(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return real_send(*args, **kwargs)

    monkeypatch.setattr(flex_ext.payments, "send", flaky_send)
    assert client(server).authorize(TOKEN, "10.00", "USD").approved
    assert len(server.requests) == 1
    failures.append(TransportError("POST x: connection failed (ProtocolError)"))
    with pytest.raises(TransportError):
        client(server).authorize(TOKEN, "10.00", "USD")
    assert len(server.requests) == 1  # a reset after sending is not retried


def test_connection_refused_is_not_a_timeout() -> None:
    payments = PaymentsClient(config(closed_port_url()), retry_backoff=0.01)
    with pytest.raises(ConnectError) as info:
        payments.authorize(TOKEN, "10.00", "USD")
    assert not isinstance(info.value, TimeoutError)
    assert isinstance(info.value, ConnectionError) and "nothing was sent" in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_a_read_timeout_is_a_timeout_and_the_post_is_not_repeated(server: CaptureServer) -> None:
    server.reply = Reply(status=201, body=json.dumps(AUTHORIZED).encode(), headers=HAL, delay=1.0)
    with pytest.raises(RequestTimeoutError) as info:
        client(server, timeout=(1.0, 0.2)).authorize(TOKEN, "10.00", "USD")
    assert isinstance(info.value, TimeoutError)
    assert len(server.requests) == 1


def test_non_json_answer_is_a_typed_error(server: CaptureServer) -> None:
    server.reply = Reply(status=201, body=b"<html>ok</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(flex_ext.errors.HTTPError, match="not a JSON object"):
        client(server).authorize(TOKEN, "10.00", "USD")


# --------------------------------------------------------------------------------- redaction


def _frames_locals(error: BaseException) -> list[str]:
    texts = []
    seen: BaseException | None = error
    while seen is not None:
        tb = seen.__traceback__
        while tb is not None:
            texts += [f"{tb.tb_frame.f_code.co_name}:{name}={value!r}" for name, value in tb.tb_frame.f_locals.items()]
            tb = tb.tb_next
        seen = seen.__cause__ or seen.__context__
    return texts


SECRETS = (JWT, "c2lnbmF0dXJlLXNlY3JldA", PAN, CVV)


def _assert_clean(error: BaseException) -> None:
    texts = [str(error), repr(error), repr(error.args), *_frames_locals(error)]
    leaks = [text for text in texts for secret in SECRETS if secret in text]
    assert not leaks, leaks


@pytest.mark.parametrize(
    "source",
    [lambda: TOKEN, lambda: TOKEN.jwt, lambda: Card(PAN, "12", "2031", security_code=CVV),
     lambda: {"number": PAN, "expirationMonth": "12", "expirationYear": "2031", "securityCode": CVV}],
    ids=["token", "jwt-string", "card", "card-mapping"],
)
def test_no_token_or_card_data_in_errors_or_traceback_locals(source: Callable[[], Any]) -> None:
    payments = PaymentsClient(config(closed_port_url()), retry_backoff=0.01)
    with pytest.raises(ConnectError) as info:
        payments.authorize(source(), "10.00", "USD")
    _assert_clean(info.value)


def test_no_token_in_a_400_error_or_a_result(server: CaptureServer) -> None:
    server.reply = reply(400, TOKEN_400, JSON)
    with pytest.raises(BadRequestError) as info:
        client(server).authorize(TOKEN.jwt, "10.00", "USD")
    _assert_clean(info.value)
    server.reply = reply(201, AUTHORIZED)
    result = client(server).authorize(TOKEN, "10.00", "USD")
    assert not any(secret in repr(result) or secret in str(result) for secret in SECRETS)


@pytest.mark.parametrize("auth", ["http_signature", "jwt_shared_secret"])
def test_payment_requests_carry_a_signature_the_emulator_accepts(server: CaptureServer, auth: str) -> None:
    import time

    from flex_ext.emulator import FlexEmulator
    from flex_ext.emulator.auth import SignedRequest, authenticate
    from flex_ext.emulator.merchants import MerchantRegistry

    with FlexEmulator() as emu:
        merchant_config = dict(emu.merchant_config(authentication_type=auth), run_environment=server.url)
        registry = MerchantRegistry()
        for merchant in emu.merchants:
            registry.add(merchant)
    PaymentsClient(merchant_config).authorize(TOKEN, "10.00", "USD", reference="ORDER-9")
    PaymentsClient(merchant_config).get_transaction("6969442631946543104953")
    for request in server.requests:
        signed = SignedRequest(request.method, request.target, {k.lower(): v for k, v in request.headers},
                               request.body)
        assert authenticate(signed, registry, time.time()).merchant_id == merchant_config["merchantid"]


def test_debug_logging_of_a_payment_shows_no_token_or_card(
    server: CaptureServer, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import pickle

    with caplog.at_level(logging.DEBUG):
        client(server).authorize(TOKEN, "10.00", "USD")
        client(server).authorize(Card(PAN, "12", "2031", security_code=CVV), "10.00", "USD", capture=True)
        server.reply = reply(400, TOKEN_400, JSON)
        with pytest.raises(BadRequestError):
            client(server).authorize(TOKEN.jwt, "10.00", "USD")
    assert caplog.records, "nothing was logged: the check would prove nothing"
    assert not [secret for secret in SECRETS if secret in caplog.text]
    sealed = flex_ext.payments._sealed({"tokenInformation": {"transientTokenJwt": JWT}})
    assert JWT not in repr(sealed) and JWT not in str(sealed)
    with pytest.raises(TypeError):
        pickle.dumps(sealed)
