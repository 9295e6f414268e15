from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from typing import Iterator

import pytest
from flexkit import (
    CARD_NUMBER,
    DOC_CAPTURE_CONTEXT,
    MASKED_CONTENT,
    SECURITY_CODE,
    SESSION_KID,
    FlexServer,
    foreign_key,
    mint_capture_context,
    mint_jwt,
    mint_transient_token,
    serve,
    session_key,
    signing_key,
)

from flex_ext.capture_context import CaptureContext, parse_capture_context_unverified, verify_capture_context
from flex_ext.errors import HTTPError, JWTValidationError, TokenExpiredError
from flex_ext.transient_token import check_digest, post_jwe, tokenize, verify_transient_token
from flex_ext.transport import TransportSettings


@pytest.fixture
def flex_server() -> Iterator[FlexServer]:
    yield from serve()

FAST = TransportSettings(connect_timeout=2, read_timeout=2)
DATA = {"paymentInformation": {"card": {"number": CARD_NUMBER, "securityCode": SECURITY_CODE}}}


def _ctx(origin: str = "https://testflex.cybersource.com", **kwargs: object) -> CaptureContext:
    return verify_capture_context(
        mint_capture_context(origin, **kwargs),  # type: ignore[arg-type]
        public_key=signing_key().public_key(),
        allow_expired=True,
    )


def test_valid_token_verifies() -> None:
    now = int(time.time())
    token = verify_transient_token(mint_transient_token(now=now), _ctx())
    assert token.jti == "1D0V31P1KLE3W7SVJBYTM8UG1XM2KIOEHIVWAIDOJHK62IHT1QQ5603FC760609C"
    assert token.issuer == "Flex/00" and token.token_type == "api-0.1.0"
    assert token.expires_at is not None and token.issued_at is not None
    assert (token.expires_at - token.issued_at).total_seconds() == 900
    assert token.content is None and token.masked_card_number is None


def test_masked_content_is_exposed() -> None:
    token = verify_transient_token(mint_transient_token(content=MASKED_CONTENT), _ctx())
    assert token.masked_card_number == "XXXXXXXXXXXX1111"
    assert token.content is not None and token.content["paymentInformation"]["card"]["number"]["bin"] == "411111"


def test_repr_does_not_reveal_the_token_or_jti() -> None:
    token = verify_transient_token(mint_transient_token(), _ctx())
    for text in (repr(token), str(token)):
        assert token.jti not in text and token.jwt[:30] not in text
        assert text.startswith("TransientToken(jti='1D0V31...'")


def test_token_signed_by_a_foreign_key_is_rejected() -> None:
    with pytest.raises(JWTValidationError, match="signature verification failed"):
        verify_transient_token(mint_transient_token(key=foreign_key()), _ctx())


def test_token_with_another_kid_is_rejected() -> None:
    with pytest.raises(JWTValidationError, match="kid differs"):
        verify_transient_token(mint_transient_token(kid="other"), _ctx())


def test_expired_token_is_rejected() -> None:
    with pytest.raises(TokenExpiredError):
        verify_transient_token(mint_transient_token(now=time.time() - 2000), _ctx())


def test_alg_none_and_missing_jti_are_rejected() -> None:
    with pytest.raises(JWTValidationError, match="'none'"):
        verify_transient_token(mint_jwt({"kid": SESSION_KID, "alg": "none"}, {"exp": 2e9}), _ctx())
    no_jti = mint_jwt({"kid": SESSION_KID, "alg": "RS256"}, {"exp": time.time() + 60}, session_key())
    with pytest.raises(JWTValidationError, match="jti"):
        verify_transient_token(no_jti, _ctx())


def test_check_digest() -> None:
    body = b"token"
    good = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    check_digest(good, body)
    check_digest("MD5=xyz, " + good, body)
    with pytest.raises(HTTPError, match="does not match"):
        check_digest(good, body + b"!")
    with pytest.raises(HTTPError, match="no supported algorithm"):
        check_digest("MD5=abc", body)


def test_tokenize_end_to_end(flex_server: FlexServer) -> None:
    flex_server.token_content = MASKED_CONTENT
    ctx = _ctx(flex_server.base_url)
    token = tokenize(ctx, DATA, transport=FAST)
    assert token.masked_card_number == "XXXXXXXXXXXX1111"
    (request,) = [r for r in flex_server.requests if r.path == "/flex/v2/tokens"]
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/jwt"
    assert "Authorization" not in request.headers and "Signature" not in request.headers
    header, payload = flex_server.decrypted[0]
    assert header == {"kid": SESSION_KID, "alg": "RSA-OAEP-256", "enc": "A256GCM"}
    assert payload == {"data": DATA, "context": ctx.jwt, "index": 0}


def test_tokenize_with_rsa_oaep(flex_server: FlexServer) -> None:
    tokenize(_ctx(flex_server.base_url), DATA, transport=FAST, alg="RSA-OAEP")
    assert flex_server.decrypted[0][0]["alg"] == "RSA-OAEP"


def test_missing_digest_is_accepted(flex_server: FlexServer) -> None:
    flex_server.send_digest = False
    assert tokenize(_ctx(flex_server.base_url), DATA, transport=FAST).jti


def test_wrong_digest_is_rejected(flex_server: FlexServer) -> None:
    flex_server.bad_digest = True
    with pytest.raises(HTTPError, match="Digest does not match") as info:
        tokenize(_ctx(flex_server.base_url), DATA, transport=FAST)
    assert info.value.status == 201


def test_token_signed_by_foreign_key_from_the_server_is_rejected(flex_server: FlexServer) -> None:
    flex_server.token_signer = foreign_key()
    with pytest.raises(JWTValidationError, match="signature verification failed"):
        tokenize(_ctx(flex_server.base_url), DATA, transport=FAST)


def test_error_response_raises_http_error_with_details(flex_server: FlexServer) -> None:
    body = {"responseStatus": {"status": 400, "reason": "VALIDATION_ERROR", "message": "bad"}}
    flex_server.tokens_response = (400, {"Content-Type": "application/json"}, json.dumps(body).encode())
    with pytest.raises(HTTPError) as info:
        tokenize(_ctx(flex_server.base_url), DATA, transport=FAST)
    assert info.value.status == 400
    assert info.value.body is not None and "VALIDATION_ERROR" in info.value.body
    assert CARD_NUMBER not in str(info.value)


def test_expired_capture_context_is_refused_before_posting(flex_server: FlexServer) -> None:
    ctx = _ctx(flex_server.base_url, now=time.time() - 2000)
    with pytest.raises(TokenExpiredError):
        tokenize(ctx, DATA, transport=FAST)
    assert flex_server.requests == []


def test_unverified_context_is_never_posted_to() -> None:
    ctx = parse_capture_context_unverified(DOC_CAPTURE_CONTEXT)
    with pytest.raises(JWTValidationError, match="unverified"):
        post_jwe(ctx, "a.b.c.d.e", transport=FAST)


def test_missing_required_field_is_refused_before_posting(flex_server: FlexServer) -> None:
    from flex_ext.errors import FieldValidationError

    with pytest.raises(FieldValidationError):
        tokenize(_ctx(flex_server.base_url), {"paymentInformation": {"card": {"securityCode": "1"}}}, transport=FAST)
    assert flex_server.requests == []


def test_no_card_data_in_logs(flex_server: FlexServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tokenize(_ctx(flex_server.base_url), DATA, transport=FAST)
    assert CARD_NUMBER not in caplog.text and SECURITY_CODE not in caplog.text


def test_an_unverified_capture_context_is_refused_unless_allowed() -> None:
    unverified = parse_capture_context_unverified(mint_capture_context("https://testflex.cybersource.com"))
    token = mint_transient_token()
    with pytest.raises(JWTValidationError, match="unverified capture context"):
        verify_transient_token(token, unverified)
    assert verify_transient_token(token, unverified, allow_unverified=True).jti
