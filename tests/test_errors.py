"""The error taxonomy: typed HTTP errors from the three real error shapes, connection
failures that are not timeouts, real timeouts that are, and the generated ApiException
keeping the official attributes while gaining the parsed ones."""

from __future__ import annotations

import json
import socket
from typing import Any, Iterator

import CyberSource
import pytest
from CyberSource.rest import ApiException, ApiTimeoutError, ApiTransportError
from wire import CaptureServer, Reply

from flex_ext.errors import (
    BadRequestError,
    ConflictError,
    ConnectError,
    FlexError,
    HTTPError,
    NotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    UnauthorizedError,
    http_error,
    parse_error_body,
)
from flex_ext.transport import TransportSettings, send

SESSIONS_BODY = {"fields": {"paymentInformation": {"card": {"number": {}}}}}
FLEX_400 = {"responseStatus": {"status": 400, "reason": "VALIDATION_ERROR", "message": "Field validation error",
                               "correlationId": "8a7d3c0e", "details": [
                                   {"location": "fields.paymentInformation.card.number", "message": "Invalid field"}]}}
PAYMENT_400 = {"id": "1", "status": "INVALID_REQUEST", "reason": "MISSING_FIELD", "message": "Declined - missing",
               "details": [{"field": "orderInformation.amountDetails.currency", "reason": "MISSING_FIELD"},
                           {"field": "orderInformation.billTo.country", "reason": "MISSING_FIELD"}]}
GATEWAY_400 = {"response": {"rmsg": "missing http required header : date,v-c-merchant-id,signature,"}}
GATEWAY_401 = {"response": {"rmsg": json.dumps({"error": "UNAUTHORIZED_USER",
                                                "error_description": "UNAUTHORIZED USER"})}}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[CaptureServer]:
    with CaptureServer() as stub:
        yield stub


def config(url: str) -> dict[str, Any]:
    return {"authentication_type": "http_signature", "merchantid": "testrest", "run_environment": url,
            "merchant_keyid": "08c94330-f618-42a3-b09d-e1e43be5efda",
            "merchant_secretkey": "yBJxy6LjM2TmcPGu+GaJrHtkke25fPpUX+UY6/L/1tE="}


# ---------------------------------------------------------------------------- body shapes


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (FLEX_400, ("VALIDATION_ERROR", "Field validation error",
                    (("fields.paymentInformation.card.number", "Invalid field"),))),
        (PAYMENT_400, ("MISSING_FIELD", "Declined - missing",
                       (("orderInformation.amountDetails.currency", "MISSING_FIELD"),
                        ("orderInformation.billTo.country", "MISSING_FIELD")))),
        (GATEWAY_400, (None, "missing http required header : date,v-c-merchant-id,signature,", ())),
        (GATEWAY_401, ("UNAUTHORIZED_USER", "UNAUTHORIZED USER", ())),
        ({"message": "The requested resource does not exist", "messageKey": None}, (
            None, "The requested resource does not exist", ())),
        ("<html>Bad gateway</html>", (None, None, ())),
        ([1, 2], (None, None, ())),
        (None, (None, None, ())),
        ({"details": "not a list", "reason": 7}, ("7", None, ())),
    ],
)
def test_parse_error_body_reads_every_shape(body: Any, expected: Any) -> None:
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    assert parse_error_body(text) == expected
    if isinstance(text, str):
        assert parse_error_body(text.encode()) == expected


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequestError), (401, UnauthorizedError), (404, NotFoundError), (409, ConflictError),
     (429, RateLimitedError), (500, ServerError), (502, ServerError), (503, ServerError), (403, HTTPError)],
)
def test_http_error_picks_the_class_by_status(status: int, cls: type[HTTPError]) -> None:
    error = http_error("POST /x failed", status, "Phrase", json.dumps(PAYMENT_400), {"v-c-correlation-id": "c"})
    assert type(error) is cls and isinstance(error, FlexError)
    assert (error.status, error.reason, error.headers) == (status, "MISSING_FIELD", {"v-c-correlation-id": "c"})
    assert str(error) == ("POST /x failed (MISSING_FIELD) (Declined - missing) "
                          "(orderInformation.amountDetails.currency: MISSING_FIELD; "
                          "orderInformation.billTo.country: MISSING_FIELD)")


def test_without_a_known_body_the_reason_is_the_http_phrase() -> None:
    error = http_error("GET /x failed with HTTP 404", 404, "Not Found", "nothing", None)
    assert isinstance(error, NotFoundError) and error.reason == "Not Found" and error.message is None
    assert str(error) == "GET /x failed with HTTP 404"


def test_card_numbers_and_control_characters_in_server_text_are_cut_out() -> None:
    body = {"reason": "INVALID_DATA", "message": "card 4111 1111 1111 1111 refused\r\nInjected: header" + "x" * 400,
            "details": [{"field": "paymentInformation.card.number", "reason": "4111111111111111"}]}
    error = http_error("POST /pts/v2/payments failed", 400, "Bad Request", json.dumps(body))
    for text in (str(error), repr(error), repr(error.args), error.message or "", repr(error.details)):
        assert "4111" not in text and "\r" not in text and "\n" not in text
    assert error.message is not None and len(error.message) <= 300


# ---------------------------------------------------------------------- transport taxonomy


def test_connection_refused_is_a_connect_error_not_a_timeout() -> None:
    with pytest.raises(ConnectError) as info:
        send(TransportSettings(connect_timeout=2, read_timeout=2), "POST", f"http://127.0.0.1:{closed_port()}/p",
             body=b"{}")
    error = info.value
    assert isinstance(error, TransportError) and isinstance(error, ConnectionError)
    assert not isinstance(error, TimeoutError)
    assert "nothing was sent" in str(error) and "127.0.0.1:" in str(error)
    assert error.__cause__ is None and error.__context__ is None  # urllib3 frames hold the body


def test_a_read_timeout_stays_a_timeout(server: CaptureServer) -> None:
    server.reply = Reply(status=200, body=b"late", delay=1.0)
    with pytest.raises(RequestTimeoutError) as info:
        send(TransportSettings(connect_timeout=2, read_timeout=0.2), "GET", server.url + "/slow")
    assert isinstance(info.value, TimeoutError) and not isinstance(info.value, ConnectError)


def test_generated_api_keeps_api_exception_and_its_official_attributes(server: CaptureServer) -> None:
    server.reply = Reply(status=400, body=json.dumps(FLEX_400).encode(), headers={"Content-Type": "application/json"})
    api = CyberSource.FlexAPIApi(config(server.url))
    with pytest.raises(ApiException) as info:
        api.generate_flex_api_capture_context(SESSIONS_BODY)
    error = info.value
    assert isinstance(error, HTTPError) and error.args == ()
    assert (error.status, error.reason) == (400, "Bad Request")
    assert json.loads(error.body) == FLEX_400 and error.headers["Content-Type"] == "application/json"
    assert str(error).startswith("(400)\nReason: Bad Request\nHTTP response headers: ")
    # and the parsed parts, without reading .body
    assert error.message == "Field validation error"
    assert error.details == (("fields.paymentInformation.card.number", "Invalid field"),)


@pytest.mark.parametrize(("status", "typed"), [
    (400, BadRequestError), (401, UnauthorizedError), (404, NotFoundError), (409, ConflictError),
    (429, RateLimitedError), (502, ServerError), (503, ServerError),
])
def test_generated_api_errors_are_also_the_typed_errors(server: CaptureServer, status: int, typed: type) -> None:
    # Official code catches ApiException; new code can catch the typed class of the status.
    server.reply = Reply(status=status, body=json.dumps(FLEX_400).encode(), headers={"Content-Type": "application/json"})
    with pytest.raises(typed) as info:
        CyberSource.FlexAPIApi(config(server.url)).generate_flex_api_capture_context(SESSIONS_BODY)
    error = info.value
    assert isinstance(error, ApiException) and type(error).__name__ == "ApiException"
    assert error.status == status and error.args == ()
    assert error.details == (("fields.paymentInformation.card.number", "Invalid field"),)


def test_generated_api_status_without_a_typed_class_is_a_plain_api_exception(server: CaptureServer) -> None:
    server.reply = Reply(status=418, body=b"{}", headers={"Content-Type": "application/json"})
    with pytest.raises(ApiException) as info:
        CyberSource.FlexAPIApi(config(server.url)).generate_flex_api_capture_context(SESSIONS_BODY)
    assert type(info.value) is ApiException


def test_generated_api_refused_connection_is_not_a_timeout() -> None:
    api = CyberSource.FlexAPIApi(config(f"http://127.0.0.1:{closed_port()}"))
    with pytest.raises(ApiTransportError) as info:
        api.generate_flex_api_capture_context(SESSIONS_BODY)
    assert not isinstance(info.value, TimeoutError) and info.value.status == 0


def test_generated_api_read_timeout_is_a_timeout(server: CaptureServer) -> None:
    server.reply = Reply(status=201, delay=1.0)
    api = CyberSource.FlexAPIApi(config(server.url))
    with pytest.raises(ApiTimeoutError) as info:
        api.generate_flex_api_capture_context(SESSIONS_BODY, _request_timeout=(2, 0.2))
    assert isinstance(info.value, TimeoutError)
