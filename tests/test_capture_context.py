from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
from flexkit import (
    DOC_CAPTURE_CONTEXT,
    OPTIONAL,
    REQUIRED,
    SESSION_KID,
    SIGNING_KID,
    FlexServer,
    capture_context_claims,
    foreign_key,
    mint_capture_context,
    mint_jwt,
    public_jwk,
    rsa_key,
    serve,
    session_key,
    signing_key,
)

from flex_ext.capture_context import (
    CaptureContext,
    parse_capture_context_unverified,
    verify_capture_context,
)
from flex_ext.errors import HTTPError, InvalidKidError, JWKValidationError, JWTValidationError, TokenExpiredError
from flex_ext.jose import b64url_encode
from flex_ext.public_keys import InMemoryKeyStore, PublicKeyEntry, PublicKeyResolver
from flex_ext.transport import TransportSettings


@pytest.fixture
def flex_server() -> Iterator[FlexServer]:
    yield from serve()

ORIGIN = "https://testflex.cybersource.com"
FAST = TransportSettings(connect_timeout=2, read_timeout=2)


_KEY_SOURCE = {"mode": "public_key"}


@pytest.fixture(autouse=True, params=["public_key", "cached_resolver"])
def key_source(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test here runs twice: with the key given directly (the step-by-step path) and
    through a resolver whose store already holds the key (the one-pass hot path, which
    must hand every error case to the step-by-step path)."""
    _KEY_SOURCE["mode"] = request.param
    yield request.param
    _KEY_SOURCE["mode"] = "public_key"


def _key_server(base_url: str, kid: str) -> dict[str, str]:
    if kid != SIGNING_KID:
        raise HTTPError(f"no key {kid}", status=404)
    return public_jwk(signing_key(), SIGNING_KID)


def cached_resolver() -> PublicKeyResolver:
    store = InMemoryKeyStore()
    resolver = PublicKeyResolver("https://keys.example", store=store, fetcher=_key_server)
    store.put(resolver.environment, SIGNING_KID, PublicKeyEntry.from_jwk(public_jwk(signing_key(), SIGNING_KID)))
    return resolver


def _verify(jwt: str, **kwargs: Any) -> CaptureContext:
    if not {"public_key", "resolver", "merchant_config"} & kwargs.keys():
        if _KEY_SOURCE["mode"] == "public_key":
            kwargs["public_key"] = signing_key().public_key()
        else:
            kwargs["resolver"] = cached_resolver()
    return verify_capture_context(jwt, **kwargs)


def _public_view(ctx: CaptureContext) -> tuple[Any, ...]:
    return (
        ctx.jwt, dict(ctx.header), ctx.claims, ctx.origin, ctx.path, ctx.jwk, ctx.kid, ctx.required_fields,
        ctx.optional_fields, ctx.verified, ctx.encryption_key.public_numbers(), repr(ctx),
    )


def test_the_resolver_and_an_explicit_key_give_the_same_context() -> None:
    jwt = mint_capture_context(ORIGIN)
    via_resolver = verify_capture_context(jwt, resolver=cached_resolver())
    via_key = verify_capture_context(jwt, public_key=signing_key().public_key())
    assert _public_view(via_resolver) == _public_view(via_key)
    assert via_resolver == via_key
    assert via_resolver.verified is True


@pytest.mark.parametrize(
    "change",
    [
        "extra_header",  # a header member other than alg/kid/typ
        "leading_zero_n",  # n with a leading zero octet (accepted, not canonical)
        "uncommon_e",  # an exponent other than AQAB/Aw
        "two_ctx_entries",
        "nbf",
    ],
)
def test_uncommon_valid_shapes_verify(change: str) -> None:
    header: dict[str, Any] = {"kid": SIGNING_KID, "alg": "RS256"}
    claims = capture_context_claims(ORIGIN)
    jwk = claims["flx"]["jwk"]
    if change == "extra_header":
        header["x5t"] = "abc"
    elif change == "leading_zero_n":
        n = session_key().public_key().public_numbers().n
        jwk["n"] = b64url_encode(b"\x00" + n.to_bytes(256, "big"))
    elif change == "uncommon_e":
        jwk["e"] = b64url_encode((65539).to_bytes(3, "big"))  # valid (odd, >= 3), just unusual
    elif change == "two_ctx_entries":
        claims["ctx"].append({"data": {"optionalFields": ["orderInformation.billTo.email"]}, "type": "x"})
    elif change == "nbf":
        claims["nbf"] = claims["iat"]
    jwt = mint_jwt(header, claims, signing_key())
    via_resolver = verify_capture_context(jwt, resolver=cached_resolver())
    via_key = verify_capture_context(jwt, public_key=signing_key().public_key())
    assert _public_view(via_resolver) == _public_view(via_key)


def test_valid_capture_context_verifies_with_a_key() -> None:
    now = time.time()
    ctx = _verify(mint_capture_context(ORIGIN, now=now))
    assert ctx.verified
    assert ctx.origin == ORIGIN
    assert ctx.path == "/flex/v2/tokens"
    assert ctx.tokens_url == ORIGIN + "/flex/v2/tokens"
    assert ctx.kid == SESSION_KID
    assert ctx.signing_kid == SIGNING_KID
    assert ctx.required_fields == REQUIRED
    assert ctx.optional_fields == OPTIONAL
    assert ctx.encryption_key.public_numbers() == session_key().public_key().public_numbers()
    assert ctx.expires_at == datetime.fromtimestamp(int(now) + 900, tz=timezone.utc)
    assert ctx.issued_at == datetime.fromtimestamp(int(now), tz=timezone.utc)
    assert not ctx.is_expired()
    assert ctx.context_type == "api-0.1.0"


def test_jwk_dict_is_accepted_as_public_key() -> None:
    assert _verify(mint_capture_context(ORIGIN), public_key=public_jwk(signing_key(), SIGNING_KID)).verified


def test_valid_chain_through_the_public_keys_endpoint(flex_server: FlexServer) -> None:
    resolver = PublicKeyResolver(flex_server.base_url, transport=FAST, store=InMemoryKeyStore())
    jwt = mint_capture_context(flex_server.base_url)
    ctx = verify_capture_context(jwt, resolver=resolver)
    assert ctx.origin == flex_server.base_url  # http allowed on loopback
    assert ctx.jwt == jwt
    verify_capture_context(jwt, resolver=resolver)
    assert len(flex_server.key_requests(SIGNING_KID)) == 1


def test_merchant_config_dict_builds_the_resolver(flex_server: FlexServer) -> None:
    config = {
        "authentication_type": "http_signature",
        "merchantid": "testrest",
        "run_environment": flex_server.base_url,
        "merchant_keyid": "key",
        "merchant_secretkey": "c2VjcmV0",
    }
    ctx = verify_capture_context(
        mint_capture_context(flex_server.base_url), merchant_config=config, key_store=InMemoryKeyStore()
    )
    assert ctx.verified
    assert len(flex_server.key_requests()) == 1


def test_exactly_one_key_source_is_required() -> None:
    with pytest.raises(TypeError):
        verify_capture_context(mint_capture_context(ORIGIN))
    with pytest.raises(TypeError):
        verify_capture_context(
            mint_capture_context(ORIGIN), public_key=signing_key().public_key(), merchant_config={}
        )


def test_alg_none_is_rejected() -> None:
    claims = capture_context_claims(ORIGIN)
    with pytest.raises(JWTValidationError, match="'none'"):
        _verify(mint_jwt({"kid": SIGNING_KID, "alg": "none"}, claims))


def test_hs256_keyed_with_public_key_bytes_is_rejected() -> None:
    from cryptography.hazmat.primitives import serialization

    for encoding in (serialization.Encoding.PEM, serialization.Encoding.DER):
        secret = signing_key().public_key().public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)
        token = mint_jwt({"kid": SIGNING_KID, "alg": "HS256"}, capture_context_claims(ORIGIN), hmac_secret=secret)
        with pytest.raises(JWTValidationError, match="'HS256'"):
            _verify(token)


@pytest.mark.parametrize("alg", ["PS256", "RS384", "RS512"])
def test_other_algorithms_are_rejected(alg: str) -> None:
    with pytest.raises(JWTValidationError, match="not accepted"):
        _verify(mint_capture_context(ORIGIN, alg=alg))


def test_foreign_key_is_rejected() -> None:
    with pytest.raises(JWTValidationError, match="signature verification failed"):
        _verify(mint_capture_context(ORIGIN, signer=foreign_key()))


def test_tampered_payload_is_rejected() -> None:
    header, _, signature = mint_capture_context(ORIGIN).split(".")
    evil = capture_context_claims("https://evil.example")
    import json

    payload = b64url_encode(json.dumps(evil).encode())
    with pytest.raises(JWTValidationError, match="signature verification failed"):
        _verify(f"{header}.{payload}.{signature}")


def test_expired_is_rejected_by_default_and_opt_out_works() -> None:
    old = time.time() - 2000
    jwt = mint_capture_context(ORIGIN, now=old)
    with pytest.raises(TokenExpiredError, match="capture context has expired"):
        _verify(jwt)
    ctx = _verify(jwt, allow_expired=True)
    assert ctx.is_expired()


def test_expiry_leeway() -> None:
    now = 1_700_000_000
    jwt = mint_capture_context(ORIGIN, now=now - 900 - 30)  # expired 30 s ago
    _verify(jwt, now=now)  # within the 60 s default leeway
    with pytest.raises(TokenExpiredError):
        _verify(jwt, now=now, leeway=10)


def test_iat_in_the_future_beyond_leeway_is_rejected() -> None:
    now = 1_700_000_000
    with pytest.raises(JWTValidationError, match="'iat' is in the future"):
        _verify(mint_capture_context(ORIGIN, now=now + 120), now=now)
    assert _verify(mint_capture_context(ORIGIN, now=now + 30), now=now).verified


def test_missing_kid_is_rejected(flex_server: FlexServer) -> None:
    resolver = PublicKeyResolver(flex_server.base_url, transport=FAST, store=InMemoryKeyStore())
    with pytest.raises(JWTValidationError, match="no 'kid'"):
        verify_capture_context(mint_capture_context(flex_server.base_url, kid=None), resolver=resolver)
    assert flex_server.key_requests() == []


@pytest.mark.parametrize("kid", ["a/b", "../../etc", "x?y", "a%2e%2e", "..", "a\\b"])
def test_unsafe_kid_is_rejected_without_a_request(flex_server: FlexServer, kid: str) -> None:
    resolver = PublicKeyResolver(flex_server.base_url, transport=FAST, store=InMemoryKeyStore())
    with pytest.raises(InvalidKidError):
        verify_capture_context(mint_capture_context(flex_server.base_url, kid=kid), resolver=resolver)
    assert flex_server.requests == []


def test_encryption_jwk_with_use_sig_is_rejected() -> None:
    with pytest.raises(JWKValidationError, match="'use' must be 'enc'"):
        _verify(mint_capture_context(ORIGIN, jwk_use="sig"))


def test_encryption_jwk_with_1024_bit_modulus_is_rejected() -> None:
    with pytest.raises(JWKValidationError, match="1024 bits"):
        _verify(mint_capture_context(ORIGIN, session=rsa_key("small", 1024)))


def test_encryption_jwk_without_kid_is_rejected() -> None:
    claims = capture_context_claims(ORIGIN)
    del claims["flx"]["jwk"]["kid"]
    with pytest.raises(JWKValidationError, match="kid"):
        _verify(mint_jwt({"kid": SIGNING_KID, "alg": "RS256"}, claims, signing_key()))


def test_origin_allow_list() -> None:
    jwt = mint_capture_context(ORIGIN)
    assert _verify(jwt, allowed_origins=["https://TESTFLEX.cybersource.com/"]).origin == ORIGIN
    with pytest.raises(JWTValidationError, match="not in the allowed origins"):
        _verify(jwt, allowed_origins=["https://flex.cybersource.com"])


def test_plain_http_origin_needs_loopback_or_allow_list() -> None:
    jwt = mint_capture_context("http://flex.example.com")
    with pytest.raises(JWTValidationError, match="https"):
        _verify(jwt)
    assert _verify(jwt, allowed_origins=["http://flex.example.com"]).origin == "http://flex.example.com"


@pytest.mark.parametrize(
    ("origin", "path"),
    [
        ("https://x.example/path", "/flex/v2/tokens"),
        ("https://user:pw@x.example", "/flex/v2/tokens"),
        ("ftp://x.example", "/flex/v2/tokens"),
        ("https://x.example", "flex/v2/tokens"),
        ("https://x.example", "//evil.example/x"),
        ("https://x.example", "/flex/../admin"),
        ("https://x.example", "/flex?x=1"),
    ],
)
def test_bad_origin_or_path_is_rejected(origin: str, path: str) -> None:
    with pytest.raises(JWTValidationError):
        _verify(mint_capture_context(origin, path=path))


def test_bad_ctx_is_rejected() -> None:
    claims = capture_context_claims(ORIGIN)
    claims["ctx"] = [{"data": {"requiredFields": ["paymentInformation.card.number", "bad path!"]}}]
    with pytest.raises(JWTValidationError, match="invalid field path"):
        _verify(mint_jwt({"kid": SIGNING_KID, "alg": "RS256"}, claims, signing_key()))
    claims["ctx"] = "nope"
    with pytest.raises(JWTValidationError, match="'ctx'"):
        _verify(mint_jwt({"kid": SIGNING_KID, "alg": "RS256"}, claims, signing_key()))


def test_unknown_claims_are_ignored() -> None:
    claims = capture_context_claims(ORIGIN)
    claims["newClaim"] = {"anything": [1, 2]}
    claims["flx"]["extra"] = True
    assert _verify(mint_jwt({"kid": SIGNING_KID, "alg": "RS256"}, claims, signing_key())).claims["newClaim"]


def test_repr_is_short_and_has_no_key_material() -> None:
    ctx = _verify(mint_capture_context(ORIGIN))
    text = repr(ctx)
    assert ctx.jwk["n"][:20] not in text
    assert ctx.jwt[:40] not in text
    assert "kid='" + SESSION_KID in text
    assert str(ctx) == text


def test_documentation_capture_context_parses_unverified() -> None:
    ctx = parse_capture_context_unverified(DOC_CAPTURE_CONTEXT)
    assert ctx.verified is False
    assert ctx.header == {"kid": "sn", "alg": "RS256"}
    assert list(ctx.claims) == ["flx", "ctx", "iss", "exp", "iat", "jti"]
    assert ctx.origin == "https://sl73flxapq002.visa.com:8443"
    assert ctx.path == "/flex/v2/tokens"
    assert ctx.claims["flx"]["data"] == (
        "NTaTH27qZUlODxRUBEKIrhAAEFAAlrh8y17ghNZnyYVQb8vzBGNPWSmlznzPqC93XfuMJb+s7DTykZ5Q+yjPoF03Blczt5VviIGUcKh60cSgsHI="
    )
    assert ctx.kid == "00SvIaGIfyaw897rDeG9eFdODKaCKc1q"
    assert ctx.jwk["use"] == "enc" and ctx.jwk["e"] == "AQAB"
    assert ctx.jwk["n"].startswith("pFrA5Lsl22p3gNL5iPjBOYEuXs7z9P-dv7AICTGzlgNyNvyfF_tWGaLqS")
    assert ctx.encryption_key.key_size == 2048
    assert ctx.required_fields == ("paymentInformation.card.number",)
    assert ctx.optional_fields == (
        "paymentInformation.card.expirationYear",
        "paymentInformation.card.expirationMonth",
        "paymentInformation.card.type",
        "paymentInformation.card.securityCode",
    )
    assert ctx.context_type == "api-0.1.0"
    assert ctx.claims["iss"] == "Flex API"
    assert ctx.jti == "rOAksGcp8Bgg6WLj"
    assert ctx.issued_at == datetime.fromtimestamp(1614791368, tz=timezone.utc)
    assert ctx.expires_at == datetime.fromtimestamp(1614792268, tz=timezone.utc)
    assert (ctx.expires_at - ctx.issued_at).total_seconds() == 900
    assert ctx.is_expired()


def test_documentation_capture_context_does_not_verify() -> None:
    # Its signing key (kid "sn") is not public: with any key we have, verification fails,
    # and it is expired anyway.
    with pytest.raises(JWTValidationError):
        _verify(DOC_CAPTURE_CONTEXT, allow_expired=True, public_key=signing_key().public_key())


def test_trailing_whitespace_after_the_claims_still_verifies() -> None:
    import json

    claims = capture_context_claims(ORIGIN)
    header = b64url_encode(json.dumps({"kid": SIGNING_KID, "alg": "RS256"}).encode())
    payload = b64url_encode((json.dumps(claims) + " \n").encode())
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signature = signing_key().sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    jwt = f"{header}.{payload}.{b64url_encode(signature)}"
    assert verify_capture_context(jwt, resolver=cached_resolver()).claims == claims


def test_an_allow_list_given_as_a_generator_is_honoured() -> None:
    jwt = mint_jwt({"kid": SIGNING_KID, "alg": "RS256", "x5t": "abc"}, capture_context_claims(ORIGIN), signing_key())
    ctx = _verify(jwt, allowed_origins=(o for o in ["https://testflex.cybersource.com"]))
    assert ctx.origin == ORIGIN


@pytest.mark.parametrize(
    "change",
    [
        {"origin": "https://attacker.example"},
        {"path": "/steal"},
        {"jwk": {"kty": "RSA"}, "kid": "attacker"},
        {"jwt": "a.b.c"},
        {},
    ],
)
def test_a_verified_context_cannot_be_copied_into_another_verified_one(change: dict[str, Any]) -> None:
    import dataclasses

    ctx = _verify(mint_capture_context(ORIGIN))
    assert ctx.verified
    with pytest.raises(JWTValidationError, match="verified=False"):
        dataclasses.replace(ctx, **change)
    copy = dataclasses.replace(ctx, **change, verified=False)
    assert copy.verified is False
    assert ctx.verified is True and ctx.origin == ORIGIN


def test_a_hand_built_context_cannot_claim_to_be_verified() -> None:
    ctx = parse_capture_context_unverified(mint_capture_context(ORIGIN))
    with pytest.raises(JWTValidationError, match="verify_capture_context"):
        CaptureContext(
            ctx.jwt, ctx.header, ctx.claims, ctx.origin, ctx.path, ctx.jwk, ctx.kid,
            ctx.required_fields, ctx.optional_fields, verified=True,
        )


@pytest.mark.parametrize("name", ["jwk", "jku", "x5u", "x5c", "crit"])
def test_header_borne_keys_and_crit_are_refused_before_any_fetch(name: str) -> None:
    calls: list[str] = []

    def fetcher(base_url: str, kid: str) -> Any:
        calls.append(kid)
        return public_jwk(signing_key(), SIGNING_KID)

    resolver = PublicKeyResolver("https://keys.example", store=InMemoryKeyStore(), fetcher=fetcher)
    header = {"kid": SIGNING_KID, "alg": "RS256", name: ["x"]}
    jwt = mint_jwt(header, capture_context_claims(ORIGIN), signing_key())
    with pytest.raises(JWTValidationError, match=name):
        verify_capture_context(jwt, resolver=resolver)
    assert calls == []
