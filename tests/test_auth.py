"""Signers: byte-exact HTTP Signature and HS256 vectors, RS256 from a P12, and the others."""

from __future__ import annotations

import base64
import calendar
import dataclasses
import datetime
import hashlib
import hmac
import json
import os
import threading
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from flex_ext import auth
from flex_ext._version import __version__
from flex_ext.auth import (
    CLIENT_ID,
    CertificateNotFoundError,
    HttpSignatureSigner,
    JwtP12Signer,
    JwtSharedSecretSigner,
    MutualAuthSigner,
    NoAuthSigner,
    OAuthSigner,
    signer_for,
)
from flex_ext.config import MerchantConfig
from flex_ext.errors import AuthenticationError, KeyPasswordError

MID = "test_merchant"
KEY_ID = "00000000-1111-2222-3333-444444444444"
SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
HOST = "apitest.cybersource.com"
JAN_1_2026 = float(calendar.timegm((2026, 1, 1, 0, 0, 0)))
VECTOR_BODY = (
    b'{"fields": {"orderInformation": {"amountDetails": {"totalAmount": {"required": true}, '
    b'"currency": {"required": true}}}, "paymentInformation": {"card": {"number": {"required": true}, '
    b'"securityCode": {"required": false}, "expirationMonth": {"required": true}, '
    b'"expirationYear": {"required": true}}}}}'
)
VECTOR_DIGEST = "SHA-256=1USYJJV+MJTzNMfyXIPiOtNslf9VUoL1FnYyhi/6f/U="
HS256_VECTOR = (
    "Bearer eyJhbGciOiJIUzI1NiIsImtpZCI6IjAwMDAwMDAwLTExMTEtMjIyMi0zMzMzLTQ0NDQ0NDQ0NDQ0NCIsInR5cCI6IkpXVCJ9"
    ".eyJkaWdlc3QiOiIxVVNZSkpWK01KVHpOTWZ5WElQaU90TnNsZjlWVW9MMUZuWXloaS82Zi9VPSIsImRpZ2VzdEFsZ29yaXRobSI6"
    "IlNIQS0yNTYiLCJleHAiOjE3NjcyMjU3MjAsImlhdCI6MTc2NzIyNTYwMCwiaXNzIjoidGVzdF9tZXJjaGFudCIsImp0aSI6IjExMTEx"
    "MTExLTIyMjItNDMzMy04NDQ0LTU1NTU1NTU1NTU1NSIsInJlcXVlc3QtaG9zdCI6ImFwaXRlc3QuY3liZXJzb3VyY2UuY29tIiwicmVx"
    "dWVzdC1tZXRob2QiOiJQT1NUIiwicmVxdWVzdC1yZXNvdXJjZS1wYXRoIjoiL2ZsZXgvdjIvc2Vzc2lvbnMiLCJ2LWMtand0LXZlcnNp"
    "b24iOiIyIiwidi1jLW1lcmNoYW50LWlkIjoidGVzdF9tZXJjaGFudCJ9.ayPARpyYJgVi0SV3dukYbRw8aOhCXX-PaE6iGAaAR0k"
)
JTI = "11111111-2222-4333-8444-555555555555"


def _cfg(**overrides: Any) -> MerchantConfig:
    d: dict[str, Any] = {
        "authentication_type": "http_signature",
        "merchantid": MID,
        "merchant_keyid": KEY_ID,
        "merchant_secretkey": SECRET,
        "run_environment": HOST,
    }
    d.update(overrides)
    return MerchantConfig.from_dict(d)


def _pinned() -> float:
    return JAN_1_2026


def _b64url_json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# --------------------------------------------------------------------------------------------
# HTTP Signature


def test_http_signature_post_vector_is_byte_exact() -> None:
    signer = signer_for(_cfg(), clock=_pinned)
    assert isinstance(signer, HttpSignatureSigner)
    headers = signer.sign("POST", "/flex/v2/sessions", VECTOR_BODY)
    assert headers == {
        "v-c-client-id": "cybs-rest-sdk-python-" + __version__,
        "Accept-Encoding": "*",
        "v-c-merchant-id": MID,
        "Date": "Thu, 01 Jan 2026 00:00:00 GMT",
        "Host": HOST,
        "Digest": VECTOR_DIGEST,
        "Signature": 'keyid="00000000-1111-2222-3333-444444444444", algorithm="HmacSHA256", '
        'headers="host date request-target digest v-c-merchant-id", '
        'signature="7KE9GBR9tJjDRmQUqa27/aRFrZtJ177BGZOcvL551dA="',
        "v-c-sdk-telemetry-merchant-id": MID,
    }


def test_http_signature_signing_string_is_exact() -> None:
    signer = HttpSignatureSigner(_cfg(), clock=_pinned)
    text = signer.signing_string("POST", "/flex/v2/sessions", "Thu, 01 Jan 2026 00:00:00 GMT", VECTOR_DIGEST)
    assert text == (
        "host: apitest.cybersource.com\n"
        "date: Thu, 01 Jan 2026 00:00:00 GMT\n"
        "request-target: post /flex/v2/sessions\n"
        "digest: SHA-256=1USYJJV+MJTzNMfyXIPiOtNslf9VUoL1FnYyhi/6f/U=\n"
        "v-c-merchant-id: test_merchant"
    )
    mac = hmac.new(base64.b64decode(SECRET), text.encode(), hashlib.sha256).digest()
    assert base64.b64encode(mac).decode() == "7KE9GBR9tJjDRmQUqa27/aRFrZtJ177BGZOcvL551dA="


def test_http_signature_get_vector_has_no_digest() -> None:
    headers = signer_for(_cfg(), clock=_pinned).sign("GET", "/flex/v2/public-keys/abc123", None)
    assert "Digest" not in headers
    assert headers["Signature"] == (
        'keyid="00000000-1111-2222-3333-444444444444", algorithm="HmacSHA256", '
        'headers="host date request-target v-c-merchant-id", '
        'signature="yTbD8kunAbHcnDXL6W/R6QcdrYj6RkmNGbNFVViaIPQ="'
    )
    text = HttpSignatureSigner(_cfg()).signing_string(
        "GET", "/flex/v2/public-keys/abc123", "Thu, 01 Jan 2026 00:00:00 GMT", None
    )
    assert text == (
        "host: apitest.cybersource.com\ndate: Thu, 01 Jan 2026 00:00:00 GMT\n"
        "request-target: get /flex/v2/public-keys/abc123\nv-c-merchant-id: test_merchant"
    )


def test_query_string_is_part_of_request_target() -> None:
    signer = HttpSignatureSigner(_cfg(), clock=_pinned)
    headers = signer.sign("GET", "/flex/v2/x?a=1&b=two", None)
    text = signer.signing_string("GET", "/flex/v2/x?a=1&b=two", headers["Date"], None)
    assert "request-target: get /flex/v2/x?a=1&b=two\n" in text
    expected = base64.b64encode(hmac.new(base64.b64decode(SECRET), text.encode(), hashlib.sha256).digest())
    assert headers["Signature"].endswith(f'signature="{expected.decode()}"')


@pytest.mark.parametrize("method", ["PUT", "PATCH", "post"])
def test_body_methods_carry_digest(method: str) -> None:
    headers = signer_for(_cfg(), clock=_pinned).sign(method, "/p", b"abc")
    assert headers["Digest"] == "SHA-256=" + base64.b64encode(hashlib.sha256(b"abc").digest()).decode()
    assert 'headers="host date request-target digest v-c-merchant-id"' in headers["Signature"]


def test_delete_has_no_digest_and_unknown_method_is_refused() -> None:
    signer = signer_for(_cfg(), clock=_pinned)
    assert "Digest" not in signer.sign("DELETE", "/p", None)
    with pytest.raises(AuthenticationError, match=r"Entered Request Type should be \(GET/POST/PUT/PATCH\)"):
        signer.sign("TRACE", "/p", None)


def test_date_follows_the_clock() -> None:
    when = calendar.timegm((2027, 3, 9, 13, 5, 7)) + 0.9
    headers = signer_for(_cfg(), clock=lambda: when).sign("GET", "/p", None)
    assert headers["Date"] == "Tue, 09 Mar 2027 13:05:07 GMT"


def test_scheme_in_run_environment_does_not_leak_into_host_or_signature() -> None:
    headers = signer_for(_cfg(run_environment="https://apitest.cybersource.com/"), clock=_pinned).sign(
        "POST", "/flex/v2/sessions", VECTOR_BODY
    )
    assert headers["Host"] == HOST
    assert headers["Signature"].endswith('signature="7KE9GBR9tJjDRmQUqa27/aRFrZtJ177BGZOcvL551dA="')


def test_intermediate_host_does_not_change_host_or_signature() -> None:
    cfg = _cfg(IntermediateHost="https://gateway.example.test")
    headers = signer_for(cfg, clock=_pinned).sign("POST", "/flex/v2/sessions", VECTOR_BODY)
    assert headers["Host"] == HOST
    assert headers["Signature"].endswith('signature="7KE9GBR9tJjDRmQUqa27/aRFrZtJ177BGZOcvL551dA="')


def test_meta_key_signs_portfolio_but_header_keeps_merchant() -> None:
    cfg = _cfg(use_metakey=True, portfolio_id="the_portfolio")
    signer = HttpSignatureSigner(cfg, clock=_pinned)
    headers = signer.sign("POST", "/flex/v2/sessions", VECTOR_BODY)
    assert headers["v-c-merchant-id"] == MID
    assert headers["v-c-sdk-telemetry-merchant-id"] == MID
    assert headers["Signature"].startswith(f'keyid="{KEY_ID}"')
    text = signer.signing_string("POST", "/flex/v2/sessions", headers["Date"], headers["Digest"])
    assert text.endswith("\nv-c-merchant-id: the_portfolio")
    mac = base64.b64encode(hmac.new(base64.b64decode(SECRET), text.encode(), hashlib.sha256).digest()).decode()
    assert headers["Signature"].endswith(f'signature="{mac}"')
    assert mac != "7KE9GBR9tJjDRmQUqa27/aRFrZtJ177BGZOcvL551dA="


def test_is_sdk_adds_telemetry_mcp_header() -> None:
    assert signer_for(_cfg(isSDK="true")).sign("GET", "/p", None)["v-c-sdk-telemetry-mcp"] == "true"
    assert "v-c-sdk-telemetry-mcp" not in signer_for(_cfg()).sign("GET", "/p", None)


@pytest.mark.parametrize("bad_secret", ["AAEC!!AwQF", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "abc$"])
def test_secret_must_be_strict_base64_and_is_never_shown(bad_secret: str) -> None:
    with pytest.raises(AuthenticationError) as info:
        signer_for(_cfg(merchant_secretkey=bad_secret))
    assert "not valid base64" in str(info.value)
    assert bad_secret not in str(info.value)
    assert bad_secret not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_path_must_be_a_path() -> None:
    with pytest.raises(AuthenticationError, match="must start with '/'"):
        signer_for(_cfg()).sign("GET", "https://apitest.cybersource.com/p", None)


# --------------------------------------------------------------------------------------------
# JWT with a shared secret


def _hs_cfg(**overrides: Any) -> MerchantConfig:
    return _cfg(authentication_type="JWT", jwt_key_type="shared_secret", **overrides)


def test_jwt_signing_goes_through_pyjwt(monkeypatch: pytest.MonkeyPatch) -> None:
    # PyJWT makes the token: with its encoder replaced, the signer's output is the replacement's.
    seen: list[Any] = []

    def encode(payload: Any, key: Any, algorithm: Any = None, headers: Any = None, **kw: Any) -> str:
        seen.append((list(payload), algorithm, headers))
        return "made.by.pyjwt"

    monkeypatch.setattr(pyjwt, "encode", encode)
    signer = signer_for(_hs_cfg(), clock=lambda: 1767225600.7, new_jti=lambda: JTI)
    assert signer.sign("POST", "/flex/v2/sessions", VECTOR_BODY)["Authorization"] == "Bearer made.by.pyjwt"
    keys, algorithm, headers = seen[0]
    assert algorithm == "HS256" and headers == {"kid": "00000000-1111-2222-3333-444444444444", "typ": "JWT"}
    assert keys == sorted(keys)  # claims handed over in sorted order: PyJWT keeps a dict's order


def test_hs256_vector_is_byte_exact() -> None:
    signer = signer_for(_hs_cfg(), clock=lambda: 1767225600.7, new_jti=lambda: JTI)
    assert isinstance(signer, JwtSharedSecretSigner)
    headers = signer.sign("POST", "/flex/v2/sessions", VECTOR_BODY)
    assert headers == {
        "Authorization": HS256_VECTOR,
        "v-c-client-id": CLIENT_ID,
        "v-c-sdk-telemetry-merchant-id": MID,
    }
    header_b64, _payload, _sig = HS256_VECTOR[len("Bearer ") :].split(".")
    assert base64.urlsafe_b64decode(header_b64 + "==") == (
        b'{"alg":"HS256","kid":"00000000-1111-2222-3333-444444444444","typ":"JWT"}'
    )


def test_hs256_get_has_no_digest_claims_and_new_jti_each_time() -> None:
    jtis = iter(["a", "b"])
    signer = signer_for(_hs_cfg(), clock=_pinned, new_jti=lambda: next(jtis))
    first = signer.sign("GET", "/flex/v2/public-keys/k?x=1", None)["Authorization"][7:]
    second = signer.sign("GET", "/flex/v2/public-keys/k?x=1", None)["Authorization"][7:]
    claims = pyjwt.decode(first, base64.b64decode(SECRET), algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {
        "exp": int(JAN_1_2026) + 120,
        "iat": int(JAN_1_2026),
        "iss": MID,
        "jti": "a",
        "request-host": HOST,
        "request-method": "GET",
        "request-resource-path": "/flex/v2/public-keys/k?x=1",
        "v-c-jwt-version": "2",
        "v-c-merchant-id": MID,
    }
    assert _b64url_json(second.split(".")[1])["jti"] == "b"


def test_hs256_default_jti_is_a_fresh_uuid4() -> None:
    signer = signer_for(_hs_cfg())
    tokens = [signer.sign("GET", "/p", None)["Authorization"][7:] for _ in range(2)]
    jtis = [_b64url_json(t.split(".")[1])["jti"] for t in tokens]
    assert jtis[0] != jtis[1]
    assert all(len(j) == 36 and j[14] == "4" for j in jtis)


def test_hs256_meta_key_issuer_is_portfolio() -> None:
    signer = signer_for(_hs_cfg(use_metakey=True, portfolio_id="pf"), clock=_pinned)
    claims = _b64url_json(signer.sign("GET", "/p", None)["Authorization"][7:].split(".")[1])
    assert claims["iss"] == "pf"
    assert claims["v-c-merchant-id"] == MID


# --------------------------------------------------------------------------------------------
# JWT with a P12 key


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert(key: rsa.RSAPrivateKey, cn: str, serial_attr: str | None) -> x509.Certificate:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if serial_attr is not None:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_attr))
    name = x509.Name(attrs)
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(987654321)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )


def _write_p12(
    directory: Path,
    key: rsa.RSAPrivateKey,
    cert: x509.Certificate,
    password: str,
    name: str = MID,
    extra: list[x509.Certificate] | None = None,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    data = pkcs12.serialize_key_and_certificates(
        b"alias",
        key,
        cert,
        extra,
        serialization.BestAvailableEncryption(password.encode()),
    )
    path = directory / f"{name}.p12"
    path.write_bytes(data)
    return path


def _p12_cfg(directory: Path, password: str, **overrides: Any) -> MerchantConfig:
    d: dict[str, Any] = {
        "authentication_type": "jwt",
        "merchantid": MID,
        "run_environment": HOST,
        "keys_directory": str(directory),
        "key_password": password,
    }
    d.update(overrides)
    return MerchantConfig.from_dict(d)


@pytest.fixture(autouse=True)
def _fresh_p12_cache() -> None:
    auth.clear_p12_cache()


def test_rs256_token_verifies_with_the_certificate_and_has_exact_claims(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    cert = _cert(rsa_key, "TEST_MERCHANT", "SN-0042")  # CN match is case-insensitive
    _write_p12(tmp_path, rsa_key, cert, "p12-pass")
    signer = signer_for(_p12_cfg(tmp_path, "p12-pass"), clock=_pinned, new_jti=lambda: JTI)
    assert isinstance(signer, JwtP12Signer)
    headers = signer.sign("POST", "/flex/v2/sessions", VECTOR_BODY)
    assert set(headers) == {"Authorization", "v-c-client-id", "v-c-sdk-telemetry-merchant-id"}
    token = headers["Authorization"][len("Bearer ") :]
    assert base64.urlsafe_b64decode(token.split(".")[0] + "==") == b'{"alg":"RS256","kid":"SN-0042","typ":"JWT"}'
    claims = pyjwt.decode(token, cert.public_key(), algorithms=["RS256"], options={"verify_exp": False})
    assert claims == {
        "digest": VECTOR_DIGEST[len("SHA-256=") :],
        "digestAlgorithm": "SHA-256",
        "exp": int(JAN_1_2026) + 120,
        "iat": int(JAN_1_2026),
        "iss": MID,
        "jti": JTI,
        "request-host": HOST,
        "request-method": "POST",
        "request-resource-path": "/flex/v2/sessions",
        "v-c-jwt-version": "2",
        "v-c-merchant-id": MID,
    }
    # Serialized like the official SDK: sorted keys, compact separators.
    raw_payload = base64.urlsafe_b64decode(token.split(".")[1] + "==")
    assert raw_payload == json.dumps(claims, sort_keys=True, separators=(",", ":")).encode()


def test_rs256_picks_certificate_by_alias_and_meta_key(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    merchant_cert = _cert(rsa_key, MID, "SN-MERCHANT")
    portfolio_cert = _cert(other, "the_portfolio", "SN-PORTFOLIO")
    _write_p12(tmp_path, rsa_key, merchant_cert, "pw", name="keys", extra=[portfolio_cert])
    plain = signer_for(_p12_cfg(tmp_path, "pw", key_file_name="keys"), clock=_pinned)
    meta = signer_for(
        _p12_cfg(tmp_path, "pw", key_file_name="keys", use_metakey=True, portfolio_id="the_portfolio"),
        clock=_pinned,
    )
    plain_token = plain.sign("GET", "/p", None)["Authorization"][7:]
    meta_token = meta.sign("GET", "/p", None)["Authorization"][7:]
    assert pyjwt.get_unverified_header(plain_token)["kid"] == "SN-MERCHANT"
    assert pyjwt.get_unverified_header(meta_token)["kid"] == "SN-PORTFOLIO"
    assert _b64url_json(meta_token.split(".")[1])["iss"] == "the_portfolio"
    assert _b64url_json(meta_token.split(".")[1])["v-c-merchant-id"] == MID


def test_key_alias_from_config_is_forced_to_merchant_id(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    _write_p12(tmp_path, rsa_key, _cert(rsa_key, MID, "SN-1"), "pw")
    signer = signer_for(_p12_cfg(tmp_path, "pw", key_alias="someone_else"), clock=_pinned)
    assert pyjwt.get_unverified_header(signer.sign("GET", "/p", None)["Authorization"][7:])["kid"] == "SN-1"


def test_wrong_password_never_shows_the_password(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    _write_p12(tmp_path, rsa_key, _cert(rsa_key, MID, "SN-1"), "right-password")
    distinctive = "Wr0ng-P4ss-7f3a9c!"
    with pytest.raises(KeyPasswordError) as info:
        signer_for(_p12_cfg(tmp_path, distinctive))
    err = info.value
    assert isinstance(err, AuthenticationError)
    assert "password may be incorrect" in str(err)
    for text in (str(err), repr(err), repr(err.args), str(err.__cause__), str(err.__context__)):
        assert distinctive not in text


def test_default_password_is_the_merchant_id(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    _write_p12(tmp_path, rsa_key, _cert(rsa_key, MID, "SN-1"), MID)
    cfg = MerchantConfig.from_dict(
        {"authentication_type": "jwt", "merchantid": MID, "run_environment": HOST, "keys_directory": str(tmp_path)}
    )
    assert signer_for(cfg).sign("GET", "/p", None)["Authorization"].startswith("Bearer ey")


def test_missing_subject_serial_number_is_an_error(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    _write_p12(tmp_path, rsa_key, _cert(rsa_key, MID, None), "pw")
    with pytest.raises(CertificateNotFoundError, match="Serial number not found in certificate") as info:
        signer_for(_p12_cfg(tmp_path, "pw"))
    assert isinstance(info.value, ValueError)


def test_no_certificate_for_alias_is_an_error(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    _write_p12(tmp_path, rsa_key, _cert(rsa_key, "another_merchant", "SN-1"), "pw")
    with pytest.raises(CertificateNotFoundError, match="no certificate whose subject CN is 'test_merchant'"):
        signer_for(_p12_cfg(tmp_path, "pw"))


def test_p12_cache_is_per_path_not_per_base_name(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_p12(tmp_path / "a", rsa_key, _cert(rsa_key, MID, "SN-A"), "pw")
    _write_p12(tmp_path / "b", other, _cert(other, MID, "SN-B"), "pw")
    kid_a = pyjwt.get_unverified_header(
        signer_for(_p12_cfg(tmp_path / "a", "pw")).sign("GET", "/p", None)["Authorization"][7:]
    )["kid"]
    kid_b = pyjwt.get_unverified_header(
        signer_for(_p12_cfg(tmp_path / "b", "pw")).sign("GET", "/p", None)["Authorization"][7:]
    )["kid"]
    assert (kid_a, kid_b) == ("SN-A", "SN-B")


def test_p12_is_reloaded_when_the_file_changes(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    path = _write_p12(tmp_path, rsa_key, _cert(rsa_key, MID, "SN-OLD"), "pw")
    signer = signer_for(_p12_cfg(tmp_path, "pw"))
    assert pyjwt.get_unverified_header(signer.sign("GET", "/p", None)["Authorization"][7:])["kid"] == "SN-OLD"
    _write_p12(tmp_path, rsa_key, _cert(rsa_key, MID, "SN-NEW-LONGER"), "pw")
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 5_000_000_000))
    assert pyjwt.get_unverified_header(signer.sign("GET", "/p", None)["Authorization"][7:])["kid"] == "SN-NEW-LONGER"


def test_p12_cache_does_not_skip_the_password_check(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    _write_p12(tmp_path, rsa_key, _cert(rsa_key, MID, "SN-1"), "pw")
    signer_for(_p12_cfg(tmp_path, "pw"))
    with pytest.raises(KeyPasswordError):
        signer_for(_p12_cfg(tmp_path, "not-the-password"))


def test_p12_cache_is_bounded_and_thread_safe(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    _write_p12(tmp_path, rsa_key, _cert(rsa_key, MID, "SN-1"), "pw")
    cache = auth._P12Cache(max_entries=2)
    results: list[Any] = []
    path = str(tmp_path / f"{MID}.p12")

    def work() -> None:
        results.append(cache.get(path, "pw"))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.loads == 1
    assert all(r is results[0] for r in results)
    for i in range(3):
        p = _write_p12(tmp_path / f"d{i}", rsa_key, _cert(rsa_key, MID, f"SN-{i}"), "pw")
        cache.get(str(p), "pw")
    assert len(cache) == 2


def test_p12_file_removed_after_configuration(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    path = _write_p12(tmp_path, rsa_key, _cert(rsa_key, MID, "SN-1"), "pw")
    signer = signer_for(_p12_cfg(tmp_path, "pw"))
    auth.clear_p12_cache()
    path.unlink()
    with pytest.raises(AuthenticationError, match="Error finding or accessing the Key Directory or Key File"):
        signer.sign("GET", "/p", None)


# --------------------------------------------------------------------------------------------
# OAuth, mutual auth, no auth, dispatch and reprs


def test_oauth_sends_the_access_token() -> None:
    cfg = MerchantConfig.from_dict(
        {
            "authentication_type": "OAuth",
            "merchantid": MID,
            "run_environment": HOST,
            "access_token": "at-123",
            "ssl_client_cert": "c.pem",
            "isSDK": True,
        }
    )
    signer = signer_for(cfg)
    assert isinstance(signer, OAuthSigner)
    assert signer.sign("POST", "/flex/v2/sessions", b"{}") == {
        "Authorization": "Bearer at-123",
        "v-c-client-id": CLIENT_ID,
        "v-c-sdk-telemetry-merchant-id": MID,
        "v-c-sdk-telemetry-mcp": "true",
    }


def test_mutual_auth_and_no_auth_add_nothing() -> None:
    cfg = MerchantConfig.from_dict(
        {
            "authentication_type": "MUTUAL_AUTH",
            "merchantid": MID,
            "run_environment": HOST,
            "client_id": "cid",
            "client_secret": "cs",
        }
    )
    signer = signer_for(cfg)
    assert isinstance(signer, MutualAuthSigner)
    assert signer.sign("POST", "/flex/v2/sessions", b"{}") == {}
    assert NoAuthSigner().sign("GET", "/flex/v2/public-keys/k", None) == {}


def test_unknown_authentication_type_fails_with_official_text() -> None:
    cfg = MerchantConfig.from_dict({"authentication_type": "kerberos", "run_environment": HOST})
    with pytest.raises(AuthenticationError) as info:
        signer_for(cfg)
    assert str(info.value) == "Check Authentication Type (HTTP_Signature/JWT) in cybs.json."


def test_reprs_of_signers_show_no_secret(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    _write_p12(tmp_path, rsa_key, _cert(rsa_key, MID, "SN-1"), "p12-secret-pw")
    oauth_cfg = MerchantConfig.from_dict(
        {
            "authentication_type": "oauth",
            "merchantid": MID,
            "run_environment": HOST,
            "access_token": "access-token-secret",
            "ssl_client_cert": "c.pem",
        }
    )
    signers = [
        signer_for(_cfg()),
        signer_for(_hs_cfg()),
        signer_for(_p12_cfg(tmp_path, "p12-secret-pw")),
        signer_for(oauth_cfg),
    ]
    for signer in signers:
        text = repr(signer) + str(signer)
        for secret in (SECRET, "p12-secret-pw", "access-token-secret"):
            assert secret not in text
    assert MID in repr(signers[0])


def test_replace_keeps_signers_consistent() -> None:
    cfg = dataclasses.replace(_cfg(), authentication_type="jwt", jwt_key_type="SHARED_SECRET")
    assert isinstance(signer_for(cfg), JwtSharedSecretSigner)


def test_jwt_ids_are_random_version_4_uuids() -> None:
    import uuid

    from flex_ext.auth import _new_jti

    ids = {_new_jti() for _ in range(200)}
    assert len(ids) == 200
    for jti in ids:
        parsed = uuid.UUID(jti)
        assert str(parsed) == jti and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_http_date_matches_formatdate_across_seconds() -> None:
    from email.utils import formatdate

    from flex_ext.auth import _http_date

    for now in (1_700_000_000.0, 1_700_000_000.999, 1_700_000_001.0, 1_699_999_999.5, 1_700_000_000.2):
        assert _http_date(now) == formatdate(now, usegmt=True)
