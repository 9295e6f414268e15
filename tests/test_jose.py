from __future__ import annotations

import base64
import time

import pytest
from cryptography.hazmat.primitives import serialization
from flexkit import (
    foreign_key,
    mint_jwt,
    public_jwk,
    rsa_key,
    signing_key,
)
from hypothesis import given
from hypothesis import strategies as st

from flex_ext.errors import JWKValidationError, JWTValidationError, TokenExpiredError
from flex_ext.jose import (
    b64url_decode,
    b64url_encode,
    check_time_claims,
    parse_compact_jwt,
    rsa_public_key_from_jwk,
    rsa_public_key_to_jwk,
    verify_signature,
)

CLAIMS = {"sub": "x", "exp": 2_000_000_000, "iat": 1_000_000_000}


@given(st.binary(max_size=300))
def test_b64url_round_trip_matches_stdlib(data: bytes) -> None:
    encoded = b64url_encode(data)
    assert encoded == base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    assert b64url_decode(encoded) == data


@pytest.mark.parametrize(
    "bad",
    ["QQ==", "QQ=", "Q", "QR", "a+b/", "ab+c", "ab/c", "QUI=", "QUJD=", "=QUJ", "ab c", "ab\n", "ab!!**", "é", "QUJD\u00e9"],
)
def test_b64url_decode_is_strict(bad: str) -> None:
    with pytest.raises(JWTValidationError):
        b64url_decode(bad)


def test_b64url_decode_rejects_non_canonical_trailing_bits() -> None:
    assert b64url_decode("QQ") == b"A"
    with pytest.raises(JWTValidationError, match="non-canonical"):
        b64url_decode("QR")  # same byte, non-zero unused bits


def _token(alg: str = "RS256", key=None) -> str:  # type: ignore[no-untyped-def]
    return mint_jwt({"kid": "k", "alg": alg}, CLAIMS, key or signing_key())


def test_valid_rs256_verifies_and_claims_come_out() -> None:
    parsed = parse_compact_jwt(_token())
    verify_signature(parsed, signing_key().public_key())
    assert parsed.claims == CLAIMS
    assert parsed.header == {"kid": "k", "alg": "RS256"}


@pytest.mark.parametrize("parts", ["a.b", "a.b.c.d", ".e30.", "e30..x"])
def test_parse_rejects_wrong_shapes(parts: str) -> None:
    with pytest.raises(JWTValidationError):
        parse_compact_jwt(parts)


def test_parse_rejects_non_object_json_and_non_str() -> None:
    with pytest.raises(JWTValidationError, match="not a JSON object"):
        parse_compact_jwt(b64url_encode(b"[1]") + "." + b64url_encode(b"{}") + ".")
    with pytest.raises(JWTValidationError, match="must be a str"):
        parse_compact_jwt(b"a.b.c")  # type: ignore[arg-type]


def test_alg_none_is_rejected() -> None:
    token = mint_jwt({"kid": "k", "alg": "none"}, CLAIMS)
    with pytest.raises(JWTValidationError, match="'none' is not accepted"):
        verify_signature(parse_compact_jwt(token), signing_key().public_key())


def test_hs256_keyed_with_the_public_key_bytes_is_rejected() -> None:
    pem = signing_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = mint_jwt({"kid": "k", "alg": "HS256"}, CLAIMS, hmac_secret=pem)
    with pytest.raises(JWTValidationError, match="'HS256' is not accepted"):
        verify_signature(parse_compact_jwt(token), signing_key().public_key())


def test_ps256_and_rs512_are_rejected_by_default() -> None:
    for alg in ("PS256", "RS512"):
        with pytest.raises(JWTValidationError, match="not accepted"):
            verify_signature(parse_compact_jwt(_token(alg)), signing_key().public_key())
    # RS256 is the one algorithm: a caller allowing RS512 too does not make it accepted
    with pytest.raises(JWTValidationError, match="'RS512' is not accepted"):
        verify_signature(parse_compact_jwt(_token("RS512")), signing_key().public_key(), ("RS256", "RS512"))


@pytest.mark.parametrize("name", ["jwk", "jku", "x5u", "x5c"])
def test_header_borne_keys_are_rejected(name: str) -> None:
    token = mint_jwt({"kid": "k", "alg": "RS256", name: "https://attacker.example/key"}, CLAIMS, signing_key())
    with pytest.raises(JWTValidationError, match=f"'{name}'"):
        verify_signature(parse_compact_jwt(token), signing_key().public_key())


def test_a_verification_key_under_2048_bits_is_rejected() -> None:
    weak = rsa_key("weak", 1024)
    with pytest.raises(JWKValidationError, match="1024 bits"):
        verify_signature(parse_compact_jwt(_token(key=weak)), weak.public_key())


def test_pyjwt_is_imported_by_the_first_verification_or_jwt_signature_not_by_import() -> None:
    import subprocess
    import sys

    code = """if True:
        import sys
        import CyberSource, flex_ext, flex_ext.capture_context, flex_ext.auth
        from CyberSource import FlexAPIApi
        print("jwt" in sys.modules)
        from cryptography.hazmat.primitives.asymmetric import rsa
        from flex_ext.jose import parse_compact_jwt, verify_signature, b64url_encode
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        try:
            verify_signature(parse_compact_jwt("eyJhbGciOiJSUzI1NiJ9.e30." + b64url_encode(bytes(256))),
                             key.public_key())
        except Exception:
            pass
        print("jwt" in sys.modules)
    """
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "True"]


def test_crit_header_is_rejected() -> None:
    token = mint_jwt({"kid": "k", "alg": "RS256", "crit": ["x"], "x": 1}, CLAIMS, signing_key())
    with pytest.raises(JWTValidationError, match="crit"):
        verify_signature(parse_compact_jwt(token), signing_key().public_key())


def test_foreign_key_signature_is_rejected() -> None:
    with pytest.raises(JWTValidationError, match="signature verification failed"):
        verify_signature(parse_compact_jwt(_token(key=foreign_key())), signing_key().public_key())


def test_tampered_payload_is_rejected() -> None:
    header, _, sig = _token().split(".")
    forged = b64url_encode(b'{"sub":"admin","exp":2000000000,"iat":1000000000}')
    with pytest.raises(JWTValidationError, match="signature verification failed"):
        verify_signature(parse_compact_jwt(f"{header}.{forged}.{sig}"), signing_key().public_key())


def test_signature_with_junk_characters_is_rejected() -> None:
    # The official SDK decodes non-strictly and accepts this; we do not.
    header, payload, sig = _token().split(".")
    with pytest.raises(JWTValidationError, match="base64url"):
        parse_compact_jwt(f"{header}.{payload}.{sig[:10]}!!**{sig[10:]}")


def test_jwk_round_trip_and_validation() -> None:
    key = signing_key().public_key()
    jwk = rsa_public_key_to_jwk(key, kid="k", use="enc")
    assert rsa_public_key_from_jwk(jwk, require_use="enc", require_kid=True).public_numbers() == key.public_numbers()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda j: j.update(kty="EC"), "kty"),
        (lambda j: j.pop("n"), "'n'"),
        (lambda j: j.pop("e"), "'e'"),
        (lambda j: j.update(e="AAE"), "not valid base64url|exponent"),
        (lambda j: j.update(n=j["n"] + "!"), "base64url"),
        (lambda j: j.update(use="sig"), "use"),
        (lambda j: j.pop("kid"), "kid"),
    ],
)
def test_jwk_rejections(mutate, message) -> None:  # type: ignore[no-untyped-def]
    jwk = public_jwk(signing_key(), "k", "enc")
    mutate(jwk)
    with pytest.raises(JWKValidationError, match=message):
        rsa_public_key_from_jwk(jwk, require_use="enc", require_kid=True)


def test_jwk_with_1024_bit_modulus_is_rejected() -> None:
    jwk = public_jwk(rsa_key("small", 1024), "k", "enc")
    with pytest.raises(JWKValidationError, match="1024 bits"):
        rsa_public_key_from_jwk(jwk)
    assert rsa_public_key_from_jwk(jwk, min_bits=None).key_size == 1024


def test_time_claims() -> None:
    now = 1_700_000_000.0
    check_time_claims({"exp": now + 10, "iat": now}, now=now)
    check_time_claims({"exp": now - 59, "iat": now - 900}, now=now)  # within the 60 s leeway
    with pytest.raises(TokenExpiredError):
        check_time_claims({"exp": now - 61, "iat": now - 900}, now=now)
    check_time_claims({"exp": now - 61}, now=now, allow_expired=True)
    with pytest.raises(JWTValidationError, match="'iat' is in the future"):
        check_time_claims({"exp": now + 900, "iat": now + 61}, now=now)
    check_time_claims({"exp": now + 900, "iat": now + 59}, now=now)
    with pytest.raises(JWTValidationError, match="no 'exp'"):
        check_time_claims({"iat": now}, now=now)
    with pytest.raises(JWTValidationError, match="not a number"):
        check_time_claims({"exp": "soon"}, now=now)
    with pytest.raises(JWTValidationError, match="nbf"):
        check_time_claims({"exp": now + 900, "nbf": now + 300}, now=now)
    check_time_claims({"exp": time.time() + 5})
