from __future__ import annotations

import json
import socket
import time
import types
from typing import Any, Dict, Iterator, Tuple

import pytest
from cryptography.hazmat.primitives import serialization
from flexkit import (
    SIGNING_KID,
    FlexServer,
    capture_context_claims,
    foreign_key,
    mint_capture_context,
    mint_jwt,
    public_jwk,
    rsa_key,
    serve,
    signing_key,
)

from flex_ext.compat import (
    CaptureContextExpiredException,
    FlexSecurityException,
    InvalidJwkException,
    InvalidJwtException,
    JwtSignatureValidationException,
    PublicKeyFetchException,
    fetch_public_key,
    get_rsa_public_key_from_jwk,
    parse,
    parse_capture_context_response,
    verify_jwt,
)
from flex_ext.errors import FlexError, InvalidKidError, JWKValidationError, JWTValidationError


@pytest.fixture
def flex_server() -> Iterator[FlexServer]:
    yield from serve()

JWK = public_jwk(signing_key(), SIGNING_KID, "enc")


def _cfg(server: FlexServer) -> Any:
    return types.SimpleNamespace(run_environment=server.base_url)


# --------------------------------------------------------------------------- exceptions


@pytest.mark.parametrize(
    ("cls", "base"),
    [
        (InvalidJwtException, JWTValidationError),
        (InvalidJwkException, JWKValidationError),
        (JwtSignatureValidationException, JWTValidationError),
    ],
)
def test_exception_shape(cls: type, base: type) -> None:
    cause = KeyError("x")
    exc = cls("boom", cause)
    assert str(exc) == "boom" and exc.message == "boom" and exc.cause is cause and exc.__cause__ is cause
    assert isinstance(exc, base) and isinstance(exc, FlexError)
    plain = cls("only message")
    assert plain.cause is None and plain.__cause__ is None


def test_flex_security_exception() -> None:
    exc = FlexSecurityException("bad signature")
    assert str(exc) == "bad signature" and exc.reason == "bad signature"


# ------------------------------------------------------------------------------- parse


def test_parse_returns_the_five_key_dict() -> None:
    token = mint_jwt({"kid": "k", "alg": "RS256"}, {"a": 1}, signing_key())
    h, p, s = token.split(".")
    assert parse(token) == {
        "header": {"kid": "k", "alg": "RS256"},
        "payload": {"a": 1},
        "signature": s,
        "raw_header": h,
        "raw_payload": p,
    }


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "JWT token is null or undefined"),
        (b"a.b.c", "JWT token must be a string"),
        ("a.b", "Invalid JWT token format: expected 3 parts separated by dots"),
        ("a..c", "Invalid JWT token: one or more parts are empty"),
        ("e30.!!!.c", "Failed to decode JWT payload from base64url"),
        ("bm90IGpzb24.e30.c", "Invalid JSON in JWT header"),
    ],
)
def test_parse_errors_keep_official_messages(token: Any, message: str) -> None:
    with pytest.raises(InvalidJwtException) as info:
        parse(token)
    assert str(info.value) == message


# -------------------------------------------------------------------------- verify_jwt


def test_verify_jwt_accepts_a_capture_context_with_dict_or_json() -> None:
    token = mint_capture_context("https://testflex.cybersource.com")
    assert verify_jwt(token, JWK) is None
    assert verify_jwt(token, json.dumps(JWK)) is None


def test_verify_jwt_applies_the_claim_policy() -> None:
    # The official SDK judges no claim; the compat path refuses an expired context.
    token = mint_capture_context("https://testflex.cybersource.com", now=1000)
    with pytest.raises(JwtSignatureValidationException, match=r"^JWT signature verification failed$") as info:
        verify_jwt(token, JWK)
    assert "expired" in str(info.value.cause)


@pytest.mark.parametrize("alg", ["none", "HS256", "PS256", "RS384", "RS512"])
def test_verify_jwt_rejects_other_algorithms_with_official_message(alg: str) -> None:
    pem = signing_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = mint_jwt({"kid": "k", "alg": alg}, {}, signing_key(), hmac_secret=pem)
    if alg == "none":
        token += "AA"  # an empty signature is a malformed JWT, as in the official SDK
    with pytest.raises(JwtSignatureValidationException) as info:
        verify_jwt(token, JWK)
    assert str(info.value) == f"Unsupported JWT algorithm: {alg}. Supported algorithms: RS256"


def test_verify_jwt_signature_failures() -> None:
    token = mint_jwt({"alg": "RS256"}, {}, foreign_key())
    with pytest.raises(JwtSignatureValidationException, match=r"^JWT signature verification failed$"):
        verify_jwt(token, JWK)
    with pytest.raises(JwtSignatureValidationException, match=r"^No public key found$"):
        verify_jwt(token, None)


@pytest.mark.parametrize(
    ("key", "cls", "message"),
    [
        ("{not json", InvalidJwkException, "Invalid public key JSON format"),
        ({"n": "x"}, InvalidJwkException, "Invalid public key format. Expected JWK object or JSON string."),
        ({"kty": "EC"}, InvalidJwkException, "Public key must be an RSA key (kty: RSA)"),
        ({"kty": "RSA", "e": "AQAB"}, InvalidJwkException, "Invalid RSA JWK: missing required parameters (n, e)"),
    ],
)
def test_verify_jwt_jwk_errors(key: Any, cls: type, message: str) -> None:
    with pytest.raises(cls) as info:
        verify_jwt(mint_jwt({"alg": "RS256"}, {}, signing_key()), key)
    assert str(info.value) == message


def test_get_rsa_public_key_from_jwk() -> None:
    assert get_rsa_public_key_from_jwk(json.dumps(JWK)) == JWK
    with pytest.raises(InvalidJwkException, match=r"^JWK Algorithm mismatch. Expected algorithm : RSA$"):
        get_rsa_public_key_from_jwk('{"kty": "EC"}')
    with pytest.raises(InvalidJwkException, match=r"^Failed to parse JWK or extract RSA public key$"):
        get_rsa_public_key_from_jwk("nope")
    with pytest.raises(InvalidJwkException, match=r"^Failed to parse JWK or extract RSA public key$") as info:
        get_rsa_public_key_from_jwk(json.dumps(public_jwk(rsa_key("small", 1024), "small")))
    assert "1024 bits" in str(info.value.cause)


# --------------------------------------------------------------------- fetch_public_key


def test_fetch_public_key_returns_the_jwk(flex_server: FlexServer) -> None:
    assert fetch_public_key(SIGNING_KID, flex_server.base_url) == JWK
    assert flex_server.key_requests()[0].headers["Accept"] == "application/json"


@pytest.mark.parametrize(
    ("kid", "env", "message"),
    [
        ("", "h", "kid parameter is required"),
        ("k", "", "runEnvironment parameter is required"),
        ("../x", "h", "Invalid kid parameter: '../x'"),
        ("a?b", "h", "Invalid kid parameter: 'a?b'"),
        ("a%2f", "h", "Invalid kid parameter: 'a%2f'"),
        ("a/b", "h", "Invalid kid parameter: 'a/b'"),
    ],
)
def test_fetch_public_key_value_errors(kid: str, env: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        fetch_public_key(kid, env)
    assert str(info.value) == message


def test_fetch_public_key_http_error_message(flex_server: FlexServer) -> None:
    with pytest.raises(Exception) as info:
        fetch_public_key("nokey", flex_server.base_url)
    assert str(info.value) == "HTTP 404: Not Found - Failed to fetch public key for kid: nokey"
    assert info.value.status == 404  # type: ignore[attr-defined]


def test_fetch_public_key_network_error_message() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(PublicKeyFetchException) as info:
        fetch_public_key("k", f"http://127.0.0.1:{port}")
    assert str(info.value) == "HTTP error - Failed to fetch public key for kid: k"
    assert info.value.original_error is not None


# ------------------------------------------------------- parse_capture_context_response


def test_valid_capture_context_returns_the_payload(flex_server: FlexServer) -> None:
    now = int(time.time())
    jwt = mint_capture_context(flex_server.base_url, now=now)
    payload = parse_capture_context_response(jwt, _cfg(flex_server))
    assert payload == capture_context_claims(flex_server.base_url, now=now)


def test_merchant_config_with_get_run_environment_and_our_merchant_config(flex_server: FlexServer) -> None:
    class Legacy:
        def getRunEnvironment(self) -> str:
            return flex_server.base_url

    jwt = mint_capture_context(flex_server.base_url)
    assert parse_capture_context_response(jwt, Legacy())["iss"] == "Flex API"
    from flex_ext.config import MerchantConfig

    config = MerchantConfig.from_dict(
        {
            "authentication_type": "http_signature",
            "merchantid": "m",
            "run_environment": flex_server.base_url,
            "merchant_keyid": "k",
            "merchant_secretkey": "c2VjcmV0",
        }
    )
    assert parse_capture_context_response(jwt, config)["iss"] == "Flex API"


@pytest.mark.parametrize(
    ("jwt", "config", "cls", "message"),
    [
        (None, object(), InvalidJwtException, "JWT value is null or undefined"),
        ("", object(), InvalidJwtException, "JWT value is null or undefined"),
        ("x.y.z", None, ValueError, "merchantConfig is required"),
        ("x.y", object(), InvalidJwtException, "Invalid JWT token format: expected 3 parts separated by dots"),
    ],
)
def test_argument_errors(jwt: Any, config: Any, cls: type, message: str) -> None:
    with pytest.raises(cls) as info:
        parse_capture_context_response(jwt, config)
    assert str(info.value) == message


def test_config_without_run_environment(flex_server: FlexServer) -> None:
    jwt = mint_capture_context(flex_server.base_url)
    for config in ({"run_environment": flex_server.base_url}, types.SimpleNamespace(run_environment="")):
        with pytest.raises(ValueError) as info:
            parse_capture_context_response(jwt, config)
        assert str(info.value) == "Run environment not found in merchant config"


def test_missing_kid(flex_server: FlexServer) -> None:
    with pytest.raises(JwtSignatureValidationException) as info:
        parse_capture_context_response(mint_capture_context(flex_server.base_url, kid=None), _cfg(flex_server))
    assert str(info.value) == "JWT header missing key ID (kid) field"


@pytest.mark.parametrize("alg", ["none", "HS256", "PS256"])
def test_unsupported_alg_fails_validation(flex_server: FlexServer, alg: str) -> None:
    claims = capture_context_claims(flex_server.base_url)
    pem = signing_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = mint_jwt({"kid": SIGNING_KID, "alg": alg}, claims, signing_key(), hmac_secret=pem)
    if alg == "none":
        token += "AA"
    with pytest.raises(JwtSignatureValidationException) as info:
        parse_capture_context_response(token, _cfg(flex_server))
    assert str(info.value) == "JWT validation failed"


def test_rs512_is_refused_before_any_request(flex_server: FlexServer) -> None:
    jwt = mint_capture_context(flex_server.base_url, alg="RS512")
    with pytest.raises(JwtSignatureValidationException, match=r"^JWT validation failed$"):
        parse_capture_context_response(jwt, _cfg(flex_server))
    assert flex_server.requests == []


def test_bad_signature_and_exactly_one_refetch(flex_server: FlexServer) -> None:
    config = _cfg(flex_server)
    parse_capture_context_response(mint_capture_context(flex_server.base_url), config)
    assert len(flex_server.key_requests()) == 1
    parse_capture_context_response(mint_capture_context(flex_server.base_url), config)
    assert len(flex_server.key_requests()) == 1  # cached
    with pytest.raises(JwtSignatureValidationException) as info:
        parse_capture_context_response(mint_capture_context(flex_server.base_url, signer=foreign_key()), config)
    assert str(info.value) == "JWT validation failed"
    assert len(flex_server.key_requests()) == 2  # exactly one re-fetch


def test_rotation_is_picked_up_by_the_single_refetch(flex_server: FlexServer) -> None:
    config = _cfg(flex_server)
    parse_capture_context_response(mint_capture_context(flex_server.base_url), config)
    flex_server.public_keys[SIGNING_KID] = public_jwk(rsa_key("rotated"), SIGNING_KID, "enc")
    jwt = mint_capture_context(flex_server.base_url, signer=rsa_key("rotated"))
    assert parse_capture_context_response(jwt, config)["iss"] == "Flex API"
    assert len(flex_server.key_requests()) == 2


def test_fresh_key_failure_does_not_refetch(flex_server: FlexServer) -> None:
    with pytest.raises(JwtSignatureValidationException, match=r"^JWT validation failed$"):
        parse_capture_context_response(
            mint_capture_context(flex_server.base_url, signer=foreign_key()), _cfg(flex_server)
        )
    assert len(flex_server.key_requests()) == 1


def test_unsafe_kid_is_refused_without_a_request(flex_server: FlexServer) -> None:
    for kid in ("../../x", "a/b", "a?b", "a%2e"):
        with pytest.raises(ValueError, match=r"^Invalid kid parameter: ") as info:
            parse_capture_context_response(mint_capture_context(flex_server.base_url, kid=kid), _cfg(flex_server))
        assert isinstance(info.value, InvalidKidError)
    assert flex_server.requests == []


def test_fetch_errors_keep_the_controller_messages(flex_server: FlexServer) -> None:
    with pytest.raises(Exception) as info:
        parse_capture_context_response(mint_capture_context(flex_server.base_url, kid="unknown"), _cfg(flex_server))
    assert str(info.value) == "HTTP 404: Not Found - Failed to fetch public key for kid: unknown"
    flex_server.public_keys["weird"] = b"{not json"
    with pytest.raises(InvalidJwkException) as jwk_info:
        parse_capture_context_response(mint_capture_context(flex_server.base_url, kid="weird"), _cfg(flex_server))
    assert str(jwk_info.value) == "JWK received from server cannot be parsed correctly"


def test_expired_context_is_rejected_by_default_with_opt_out(flex_server: FlexServer) -> None:
    jwt = mint_capture_context(flex_server.base_url, now=time.time() - 3600)
    with pytest.raises(CaptureContextExpiredException) as info:
        parse_capture_context_response(jwt, _cfg(flex_server))
    assert isinstance(info.value, JwtSignatureValidationException)
    assert parse_capture_context_response(jwt, _cfg(flex_server), allow_expired=True)["iss"] == "Flex API"


def test_verify_false_returns_payload_without_any_request(flex_server: FlexServer) -> None:
    jwt = mint_capture_context(flex_server.base_url, signer=foreign_key(), now=time.time() - 3600)
    assert parse_capture_context_response(jwt, _cfg(flex_server), False)["iss"] == "Flex API"
    assert flex_server.requests == []


def test_official_leniencies_are_not_kept(flex_server: FlexServer) -> None:
    # The official SDK accepts a 1024-bit signing key, no exp claim and no flx; we do not.
    small = rsa_key("small", 1024)
    flex_server.public_keys["small"] = public_jwk(small, "small", "enc")
    claims: Dict[str, Any] = {"flx": {"x": 1}, "anything": [1, 2]}
    token = mint_jwt({"kid": "small", "alg": "RS256"}, claims, small)
    with pytest.raises(JwtSignatureValidationException, match=r"^JWT validation failed$"):
        parse_capture_context_response(token, _cfg(flex_server))


# ------------------------------------------- one policy: the attack matrix on every path

ORIGIN = "https://testflex.cybersource.com"


def _attack(name: str) -> Tuple[Dict[str, Any], Dict[str, Any], Any]:
    """(header, claims, signing key) of one forged or unacceptable capture context."""
    header: Dict[str, Any] = {"kid": SIGNING_KID, "alg": "RS256"}
    claims = capture_context_claims(ORIGIN)
    key = signing_key()
    now = int(time.time())
    if name == "rs512":
        header["alg"] = "RS512"
    elif name == "iat in the future":
        claims["iat"], claims["exp"] = now + 3600, now + 4500
    elif name == "flx.jwk use sig":
        claims["flx"]["jwk"]["use"] = "sig"
    elif name == "flx.jwk 1024 bits":
        claims["flx"]["jwk"] = public_jwk(rsa_key("small", 1024), "s", "enc")
    elif name in ("exp numeric string", "exp true", "exp null", "exp NaN"):
        claims["exp"] = {"exp numeric string": str(now + 900), "exp true": True, "exp null": None,
                         "exp NaN": float("nan")}[name]
    elif name == "no exp":
        del claims["exp"]
    elif name == "nbf in the future":
        claims["nbf"] = now + 3600
    elif name == "exp before iat":
        claims["exp"] = claims["iat"] - 10
    elif name == "expired":
        claims["iat"], claims["exp"] = now - 3600, now - 2700
    elif name == "crit":
        header["crit"] = ["exp"]
    elif name == "jwk in header":
        header["jwk"] = public_jwk(foreign_key(), SIGNING_KID)
        key = foreign_key()
    elif name == "foreign signature":
        key = foreign_key()
    return header, claims, key


ATTACKS = [
    "rs512", "iat in the future", "flx.jwk use sig", "flx.jwk 1024 bits", "exp numeric string", "exp true",
    "exp null", "exp NaN", "no exp", "nbf in the future", "exp before iat", "expired", "crit", "jwk in header",
    "foreign signature",
]


@pytest.mark.parametrize("name", ATTACKS)
def test_the_attack_matrix_is_refused_by_flexclient_and_by_the_compat_path(flex_server: FlexServer, name: str) -> None:
    from authenticationsdk.util.jwt import JWTUtility
    from CyberSource.utilities.flex import CaptureContextParsingUtility

    from flex_ext.capture_context import verify_capture_context
    from flex_ext.public_keys import InMemoryKeyStore, PublicKeyResolver

    header, claims, key = _attack(name)
    token = mint_jwt(header, claims, key)
    accepted = []
    resolver = PublicKeyResolver(flex_server.base_url, store=InMemoryKeyStore())
    for path, call in [
        ("verify_capture_context", lambda: verify_capture_context(token, resolver=resolver)),
        ("parse_capture_context_response", lambda: parse_capture_context_response(token, _cfg(flex_server))),
        ("verify_jwt", lambda: verify_jwt(token, JWK)),
        # the import paths drop-in users call
        ("CaptureContextParsingUtility", lambda: CaptureContextParsingUtility.parse_capture_context_response(
            token, _cfg(flex_server))),
        ("JWTUtility.verify_jwt", lambda: JWTUtility.verify_jwt(token, JWK)),
    ]:
        try:
            call()
        except JWTValidationError:
            continue
        accepted.append(path)
    assert accepted == []


def test_the_unforged_context_of_the_matrix_is_accepted_on_every_path(flex_server: FlexServer) -> None:
    # The control for the matrix above: only the attack makes a path refuse.
    from flex_ext.capture_context import verify_capture_context
    from flex_ext.public_keys import InMemoryKeyStore, PublicKeyResolver

    header, claims, key = _attack("none")
    token = mint_jwt(header, claims, key)
    resolver = PublicKeyResolver(flex_server.base_url, store=InMemoryKeyStore())
    assert verify_capture_context(token, resolver=resolver).verified
    assert parse_capture_context_response(token, _cfg(flex_server)) == claims
    assert verify_jwt(token, JWK) is None


def test_the_compat_path_never_stores_a_weak_key_that_flexclient_would_trust(flex_server: FlexServer) -> None:
    from flex_ext.capture_context import verify_capture_context
    from flex_ext.public_keys import PublicKeyResolver, default_key_store

    small = rsa_key("small", 1024)
    flex_server.public_keys["weak"] = public_jwk(small, "weak", "enc")
    token = mint_jwt({"kid": "weak", "alg": "RS256"}, capture_context_claims(ORIGIN), small)
    with pytest.raises(JwtSignatureValidationException, match=r"^JWT validation failed$"):
        parse_capture_context_response(token, _cfg(flex_server))
    assert default_key_store().get(flex_server.base_url, "weak") is None
    with pytest.raises(JWTValidationError):
        verify_capture_context(token, resolver=PublicKeyResolver(flex_server.base_url))
    assert default_key_store().get(flex_server.base_url, "weak") is None
