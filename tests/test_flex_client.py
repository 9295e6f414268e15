from __future__ import annotations

import json
import logging
import pickle
from decimal import Decimal
from typing import Any, Dict, Iterator

import pytest
from flexkit import (
    CARD_NUMBER,
    SECURITY_CODE,
    SESSION_KID,
    FlexServer,
    foreign_key,
    mint_capture_context,
    mint_transient_token,
    serve,
)

from flex_ext.client import DEFAULT_CARD_FIELDS, Card, FlexClient, build_sessions_body
from flex_ext.errors import BadRequestError, FieldValidationError, HTTPError, InvalidAmountError, JWTValidationError
from flex_ext.public_keys import InMemoryKeyStore


@pytest.fixture
def flex_server() -> Iterator[FlexServer]:
    yield from serve()

SECRET = "yBJxy6LjM2TmcPGu+GaJrHtkke25fPpUX+UY6/L/1tE="
BILLING = (
    "orderInformation.billTo.firstName",
    "orderInformation.billTo.country",
    "orderInformation.amountDetails.totalAmount",
    "orderInformation.amountDetails.currency",
)


def _config(server: FlexServer) -> Dict[str, Any]:
    return {
        "authentication_type": "http_signature",
        "merchantid": "testrest",
        "run_environment": server.base_url,
        "merchant_keyid": "08c94330-f618-42a3-b09d-e1e43be5efda",
        "merchant_secretkey": SECRET,
    }


def _client(server: FlexServer, **kwargs: Any) -> FlexClient:
    kwargs.setdefault("key_store", InMemoryKeyStore())
    optional = (
        "paymentInformation.card.expirationMonth",
        "paymentInformation.card.expirationYear",
        "paymentInformation.card.securityCode",
        "paymentInformation.card.type",
        *BILLING,
    )
    server.session_factory = lambda: mint_capture_context(server.base_url, optional=optional)
    return FlexClient(_config(server), **kwargs)


# ----------------------------------------------------------------------------- Card


def test_card_normalises_and_hides_its_data() -> None:
    card = Card("4111 1111-1111 1111", 1, 31, security_code=737, type="001")
    assert (card.number, card.expiration_month, card.expiration_year, card.security_code) == (
        CARD_NUMBER, "01", "2031", "737",
    )
    for text in (repr(card), str(card), f"{card}", f"{card!r}"):
        assert CARD_NUMBER not in text and "737" not in text and "2031" not in text
        assert "1111" in text
    assert repr(card) == "Card(number='************1111', expiration=<set>, security_code=<set>, type='001')"
    with pytest.raises(TypeError):
        pickle.dumps(card)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"number": "4111-abcd-1111-1111"}, "12 to 19 digits"),
        ({"number": "4111"}, "12 to 19 digits"),
        ({"number": CARD_NUMBER, "expiration_month": "13"}, "month"),
        ({"number": CARD_NUMBER, "expiration_year": "202"}, "year"),
        ({"number": CARD_NUMBER, "security_code": "12"}, "security code"),
    ],
)
def test_card_validation_errors_name_fields_not_values(kwargs: Dict[str, Any], message: str) -> None:
    with pytest.raises(FieldValidationError, match=message) as info:
        Card(**kwargs)
    for value in kwargs.values():
        assert str(value) not in str(info.value)


# ------------------------------------------------------------------ sessions body


def test_sessions_body_from_dotted_paths() -> None:
    body = build_sessions_body(
        {"paymentInformation.card.number": True, "paymentInformation.card.securityCode": False}
    )
    assert body == {"fields": {"paymentInformation": {"card": {"number": {}, "securityCode": {"required": False}}}}}
    assert build_sessions_body(["orderInformation.billTo.email"]) == {
        "fields": {"orderInformation": {"billTo": {"email": {}}}}
    }
    nested = {"fields": {"paymentInformation": {"card": {"number": {}}}}}
    assert build_sessions_body(nested) == nested
    assert build_sessions_body(nested["fields"]) == nested
    assert build_sessions_body()["fields"]["paymentInformation"]["card"]["type"] == {"required": False}
    assert len(DEFAULT_CARD_FIELDS) == 5


def test_sessions_body_rejects_unknown_paths() -> None:
    with pytest.raises(FieldValidationError) as info:
        build_sessions_body({"orderInformation.shipTo.email": False, "paymentInformation.card.number": True})
    assert info.value.extra == ("orderInformation.shipTo.email",)
    with pytest.raises(FieldValidationError):
        build_sessions_body([])


# ------------------------------------------------------------------------ the flow


def test_create_capture_context_goes_through_the_generated_api(flex_server: FlexServer) -> None:
    client = _client(flex_server)
    ctx = client.create_capture_context({"paymentInformation.card.number": True})
    assert ctx.verified and ctx.origin == flex_server.base_url and ctx.kid == SESSION_KID
    (session,) = [r for r in flex_server.requests if r.path == "/flex/v2/sessions"]
    assert json.loads(session.body) == {"fields": {"paymentInformation": {"card": {"number": {}}}}}
    headers = {k.lower(): v for k, v in session.headers.items()}
    assert "signature" in headers and headers["v-c-merchant-id"] == "testrest"
    assert SECRET not in json.dumps(headers)
    assert len(flex_server.key_requests()) == 1


def test_client_accepts_a_merchant_config_object(flex_server: FlexServer) -> None:
    from flex_ext.config import MerchantConfig

    client = FlexClient(MerchantConfig.from_dict(_config(flex_server)), key_store=InMemoryKeyStore())
    flex_server.session_factory = lambda: mint_capture_context(flex_server.base_url)
    assert client.create_capture_context().verified
    assert SECRET not in repr(client)


def test_tokenize_with_card_address_and_amount(flex_server: FlexServer) -> None:
    client = _client(flex_server)
    ctx = client.create_capture_context()
    token = client.tokenize(
        ctx,
        Card(CARD_NUMBER, "12", "2031", security_code=SECURITY_CODE),
        bill_to={"first_name": "Ada", "country": "GB"},
        amount=Decimal("10.00"),
        currency="GBP",
    )
    assert token.jti and token.expires_at is not None
    header, payload = flex_server.decrypted[0]
    assert header["kid"] == SESSION_KID and header["alg"] == "RSA-OAEP-256"
    assert payload == {
        "data": {
            "paymentInformation": {
                "card": {
                    "number": CARD_NUMBER,
                    "expirationMonth": "12",
                    "expirationYear": "2031",
                    "securityCode": SECURITY_CODE,
                }
            },
            "orderInformation": {
                "amountDetails": {"totalAmount": "10.00", "currency": "GBP"},
                "billTo": {"firstName": "Ada", "country": "GB"},
            },
        },
        "context": ctx.jwt,
        "index": 0,
    }


def test_tokenize_accepts_a_card_mapping_and_a_jwt_string(flex_server: FlexServer) -> None:
    client = _client(flex_server, jwe_alg="RSA-OAEP")
    jwt = client.create_capture_context().jwt
    client.tokenize(jwt, {"number": CARD_NUMBER, "expirationMonth": "1", "expiration_year": "31"})
    header, payload = flex_server.decrypted[0]
    assert header["alg"] == "RSA-OAEP"
    assert payload["data"]["paymentInformation"]["card"] == {
        "number": CARD_NUMBER, "expirationMonth": "01", "expirationYear": "2031",
    }


def test_undeclared_data_is_refused_before_posting(flex_server: FlexServer) -> None:
    client = _client(flex_server)
    ctx = client.create_capture_context()
    with pytest.raises(FieldValidationError) as info:
        client.tokenize(ctx, Card(CARD_NUMBER), ship_to={"first_name": "Ada"})
    assert info.value.extra == ("orderInformation.shipTo.firstName",)
    assert "Ada" not in str(info.value)
    with pytest.raises(InvalidAmountError, match="float"):
        client.tokenize(ctx, Card(CARD_NUMBER), amount=10.5)
    assert not [r for r in flex_server.requests if r.path == "/flex/v2/tokens"]


def test_missing_required_field_is_refused(flex_server: FlexServer) -> None:
    client = _client(flex_server)
    ctx = client.create_capture_context()
    with pytest.raises(FieldValidationError) as info:
        client.tokenize(ctx, {"securityCode": SECURITY_CODE})
    assert info.value.missing == ("paymentInformation.card.number",)
    assert SECURITY_CODE not in str(info.value)


def test_sessions_error_raises_typed_error_with_reason(flex_server: FlexServer) -> None:
    client = _client(flex_server)
    error = {"reason": "INVALID_APIKEY", "message": "Merchant APIKEY is invalid"}
    flex_server.sessions_response = (400, {"Content-Type": "application/json"}, json.dumps(error).encode())
    with pytest.raises(BadRequestError) as info:
        client.create_capture_context()
    assert isinstance(info.value, HTTPError) and info.value.status == 400
    assert info.value.reason == "INVALID_APIKEY" and info.value.message == "Merchant APIKEY is invalid"
    assert "INVALID_APIKEY" in str(info.value) and "INVALID_APIKEY" in (info.value.body or "")


def test_capture_context_signed_by_foreign_key_is_refused(flex_server: FlexServer) -> None:
    client = _client(flex_server)
    flex_server.session_factory = lambda: mint_capture_context(flex_server.base_url, signer=foreign_key())
    with pytest.raises(JWTValidationError, match="signature verification failed"):
        client.create_capture_context()


def test_origin_allow_list(flex_server: FlexServer) -> None:
    client = _client(flex_server, allowed_origins=["https://testflex.cybersource.com"])
    with pytest.raises(JWTValidationError, match="allowed origins"):
        client.create_capture_context()
    ok = _client(flex_server, allowed_origins=[flex_server.base_url])
    assert ok.create_capture_context().origin == flex_server.base_url


def test_verify_transient_token_with_the_context_key(flex_server: FlexServer) -> None:
    client = _client(flex_server)
    ctx = client.create_capture_context()
    assert client.verify_transient_token(mint_transient_token(), ctx).jti
    with pytest.raises(JWTValidationError):
        client.verify_transient_token(mint_transient_token(key=foreign_key()), ctx)


def test_no_card_data_or_secret_in_logs(flex_server: FlexServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = _client(flex_server)
    ctx = client.create_capture_context()
    client.tokenize(ctx, Card(CARD_NUMBER, "12", "2031", security_code=SECURITY_CODE))
    assert CARD_NUMBER not in caplog.text and SECURITY_CODE not in caplog.text and SECRET not in caplog.text


# ------------------------------------------------------------- typed errors, masked locals


def test_tokens_error_in_the_response_status_shape_is_typed(flex_server: FlexServer) -> None:
    client = _client(flex_server)
    ctx = client.create_capture_context()
    body = {"responseStatus": {"status": 400, "reason": "VALIDATION_ERROR", "message": "Field validation error",
                               "correlationId": "c-1", "details": [{"location": "data.paymentInformation.card.number",
                                                                    "message": "Invalid card number"}]}}
    flex_server.tokens_response = (400, {"Content-Type": "application/json"}, json.dumps(body).encode())
    with pytest.raises(BadRequestError) as info:
        client.tokenize(ctx, Card(CARD_NUMBER, "12", "2031"))
    assert info.value.reason == "VALIDATION_ERROR"
    assert info.value.details == (("data.paymentInformation.card.number", "Invalid card number"),)
    assert "VALIDATION_ERROR" in str(info.value) and "data.paymentInformation.card.number" in str(info.value)


def _library_locals_reprs(error: BaseException) -> list[str]:
    out = []
    tb = error.__traceback__
    assert tb is not None
    tb = tb.tb_next  # the first frame is this test's, which holds the caller's own data
    while tb is not None:
        out += [repr(value) for value in tb.tb_frame.f_locals.values()]
        tb = tb.tb_next
    return out


@pytest.mark.parametrize("as_mapping", [False, True])
def test_failed_tokenize_leaves_no_card_data_in_traceback_locals(flex_server: FlexServer, as_mapping: bool) -> None:
    client = _client(flex_server)
    ctx = client.create_capture_context()
    flex_server.tokens_response = (500, {"Content-Type": "application/json"}, b"{}")
    card: Any = Card(CARD_NUMBER, "12", "2031", security_code=SECURITY_CODE)
    if as_mapping:  # the caller's own dict stays the caller's; ours must not copy it in the clear
        card = Card(CARD_NUMBER, "12", "2031", security_code=SECURITY_CODE).to_fields()["paymentInformation"]["card"]
    with pytest.raises(HTTPError) as info:
        client.tokenize(ctx, card, bill_to={"first_name": "Ada"})
    assert info.value.status == 500
    reprs = _library_locals_reprs(info.value)
    assert any("<card data: " in text for text in reprs), "the JWE data tree should be a local of tokenize"
    assert not [r for r in reprs if CARD_NUMBER in r or f"'{SECURITY_CODE}'" in r]
