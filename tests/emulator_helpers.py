"""Independent test-side crypto for the emulator tests: signing, JWS, JWE and a tiny client.

Written from the protocol notes on purpose, sharing nothing with ``flex_ext`` (neither the
client's signer/JOSE code nor the emulator's), so a bug on either side shows up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from email.utils import formatdate
from typing import Any, Mapping, Optional

import urllib3
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import pkcs12

# -- compat §4.1 / §4.2 test vectors ---------------------------------------------------------

VECTOR_MERCHANT = "test_merchant"
VECTOR_KEY_ID = "00000000-1111-2222-3333-444444444444"
VECTOR_SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
VECTOR_HOST = "apitest.cybersource.com"
VECTOR_DATE = "Thu, 01 Jan 2026 00:00:00 GMT"
VECTOR_EPOCH = 1767225600  # 2026-01-01T00:00:00Z
VECTOR_BODY = (
    b'{"fields": {"orderInformation": {"amountDetails": {"totalAmount": {"required": true}, '
    b'"currency": {"required": true}}}, "paymentInformation": {"card": {"number": {"required": true}, '
    b'"securityCode": {"required": false}, "expirationMonth": {"required": true}, '
    b'"expirationYear": {"required": true}}}}}'
)
VECTOR_DIGEST = "SHA-256=1USYJJV+MJTzNMfyXIPiOtNslf9VUoL1FnYyhi/6f/U="
VECTOR_SIGNATURE = (
    'keyid="00000000-1111-2222-3333-444444444444", algorithm="HmacSHA256", '
    'headers="host date request-target digest v-c-merchant-id", '
    'signature="7KE9GBR9tJjDRmQUqa27/aRFrZtJ177BGZOcvL551dA="'
)
VECTOR_HS256_JWT = (
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAwMDAwMDAwLTExMTEtMjIyMi0zMzMzLTQ0NDQ0NDQ0NDQ0NCIsInR5cCI6IkpXVCJ9."
    "eyJkaWdlc3QiOiIxVVNZSkpWK01KVHpOTWZ5WElQaU90TnNsZjlWVW9MMUZuWXloaS82Zi9VPSIsImRpZ2VzdEFsZ29yaXRobSI6"
    "IlNIQS0yNTYiLCJleHAiOjE3NjcyMjU3MjAsImlhdCI6MTc2NzIyNTYwMCwiaXNzIjoidGVzdF9tZXJjaGFudCIsImp0aSI6IjEx"
    "MTExMTExLTIyMjItNDMzMy04NDQ0LTU1NTU1NTU1NTU1NSIsInJlcXVlc3QtaG9zdCI6ImFwaXRlc3QuY3liZXJzb3VyY2UuY29t"
    "IiwicmVxdWVzdC1tZXRob2QiOiJQT1NUIiwicmVxdWVzdC1yZXNvdXJjZS1wYXRoIjoiL2ZsZXgvdjIvc2Vzc2lvbnMiLCJ2LWMt"
    "and0LXZlcnNpb24iOiIyIiwidi1jLW1lcmNoYW50LWlkIjoidGVzdF9tZXJjaGFudCJ9.ayPARpyYJgVi0SV3dukYbRw8aOhCXX-PaE6iGAaAR0k"
)

SESSIONS_PATH = "/flex/v2/sessions"
CARD_FIELDS = {
    "paymentInformation": {
        "card": {
            "number": {},
            "expirationMonth": {},
            "expirationYear": {},
            "securityCode": {"required": False},
            "type": {"required": False},
        }
    }
}
GOOD_CARD = {"number": "4111111111111111", "expirationMonth": "12", "expirationYear": "2099"}


def card_data(**overrides: str) -> dict[str, Any]:
    card = dict(GOOD_CARD)
    card.update(overrides)
    return {"paymentInformation": {"card": card}}


# -- encoding ----------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, payload) of a compact JWS, unverified."""
    head, body, _ = token.split(".")
    return json.loads(unb64url(head)), json.loads(unb64url(body))


def body_digest(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


# -- merchant auth (compat §4.1, §4.2) ---------------------------------------------------------


def signature_headers(
    merchant_id: str,
    key_id: str,
    secret: str,
    body: bytes,
    host: str,
    date: Optional[str] = None,
    target: str = SESSIONS_PATH,
    signed_names: str = "host date request-target digest v-c-merchant-id",
    identity: Optional[str] = None,
) -> dict[str, str]:
    """HTTP Signature headers for a POST, signing exactly ``signed_names``."""
    date = date or formatdate(time.time(), usegmt=True)
    digest = "SHA-256=" + body_digest(body)
    values = {
        "host": host,
        "date": date,
        "request-target": f"post {target}",
        "digest": digest,
        "v-c-merchant-id": identity or merchant_id,
        "content-type": "application/json;charset=utf-8",
    }
    signing_string = "\n".join(f"{name}: {values[name]}" for name in signed_names.split(" "))
    mac = hmac.new(base64.b64decode(secret), signing_string.encode(), hashlib.sha256).digest()
    signature = (
        f'keyid="{key_id}", algorithm="HmacSHA256", headers="{signed_names}", '
        f'signature="{base64.b64encode(mac).decode()}"'
    )
    return {
        "Host": host,
        "Date": date,
        "Digest": digest,
        "v-c-merchant-id": merchant_id,
        "Signature": signature,
        "Content-Type": "application/json;charset=utf-8",
    }


def jws(header: Mapping[str, Any], payload: Mapping[str, Any], key: Any) -> str:
    """Compact JWS: HS256 when ``key`` is bytes, RS256 when it is an RSA private key."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}".encode()
    if isinstance(key, bytes):
        signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    else:
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode()}.{b64url(signature)}"


def jwt_claims(
    merchant_id: str, body: bytes, now: Optional[float] = None, path: str = SESSIONS_PATH, **overrides: Any
) -> dict[str, Any]:
    iat = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "digest": body_digest(body),
        "digestAlgorithm": "SHA-256",
        "exp": iat + 120,
        "iat": iat,
        "iss": merchant_id,
        "jti": str(uuid.uuid4()),
        "request-host": "127.0.0.1",
        "request-method": "POST",
        "request-resource-path": path,
        "v-c-jwt-version": "2",
        "v-c-merchant-id": merchant_id,
    }
    claims.update(overrides)
    return claims


def hs256_bearer(kid: str, secret: str, claims: Mapping[str, Any]) -> dict[str, str]:
    token = jws({"alg": "HS256", "kid": kid, "typ": "JWT"}, claims, base64.b64decode(secret))
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json;charset=utf-8"}


def rs256_bearer(p12_path: str, password: str, claims: Mapping[str, Any], kid: Optional[str] = None) -> dict[str, str]:
    """Bearer headers signed with the P12's key; kid defaults to the cert subject serialNumber."""
    with open(p12_path, "rb") as handle:
        key, cert, _ = pkcs12.load_key_and_certificates(handle.read(), password.encode())
    assert isinstance(key, rsa.RSAPrivateKey) and cert is not None
    if kid is None:
        from cryptography.x509.oid import NameOID

        kid = str(cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value)
    token = jws({"alg": "RS256", "kid": kid, "typ": "JWT"}, claims, key)
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json;charset=utf-8"}


# -- JWE (RSA-OAEP / RSA-OAEP-256 + A256GCM), JWK ------------------------------------------------


def jwk_public_key(jwk: Mapping[str, str]) -> rsa.RSAPublicKey:
    n = int.from_bytes(unb64url(jwk["n"]), "big")
    e = int.from_bytes(unb64url(jwk["e"]), "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


def verify_rs256(token: str, jwk: Mapping[str, str]) -> dict[str, Any]:
    """Payload of ``token`` after checking its RS256 signature with ``jwk`` (raises otherwise)."""
    head, body, signature = token.split(".")
    jwk_public_key(jwk).verify(unb64url(signature), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    payload: dict[str, Any] = json.loads(unb64url(body))
    return payload


def encrypt_jwe(plaintext: bytes, jwk: Mapping[str, str], alg: str = "RSA-OAEP-256", kid: Optional[str] = None) -> str:
    hash_alg: hashes.HashAlgorithm = hashes.SHA256() if alg == "RSA-OAEP-256" else hashes.SHA1()
    header = b64url(json.dumps({"kid": kid or jwk["kid"], "alg": alg, "enc": "A256GCM"}).encode())
    cek, iv = os.urandom(32), os.urandom(12)
    encrypted_key = jwk_public_key(jwk).encrypt(
        cek, padding.OAEP(mgf=padding.MGF1(hash_alg), algorithm=hash_alg, label=None)
    )
    sealed = AESGCM(cek).encrypt(iv, plaintext, header.encode())
    return ".".join([header, b64url(encrypted_key), b64url(iv), b64url(sealed[:-16]), b64url(sealed[-16:])])


def token_request_jwe(
    capture_context: str, data: Mapping[str, Any], alg: str = "RSA-OAEP-256", **payload_overrides: Any
) -> str:
    """The JWE a client posts to /flex/v2/tokens for ``data``."""
    _, claims = jwt_parts(capture_context)
    payload: dict[str, Any] = {"data": data, "context": capture_context, "index": 0}
    payload.update(payload_overrides)
    return encrypt_jwe(json.dumps(payload).encode(), claims["flx"]["jwk"], alg)


# -- a tiny HTTP client --------------------------------------------------------------------------


class Client:
    """urllib3 without retries; TLS trusts only the emulator's CA when given."""

    def __init__(self, ca_cert_path: Optional[str] = None, timeout: float = 10.0) -> None:
        kwargs: dict[str, Any] = {"retries": False, "timeout": urllib3.Timeout(total=timeout), "maxsize": 16}
        if ca_cert_path:
            kwargs.update(cert_reqs="CERT_REQUIRED", ca_certs=ca_cert_path)
        self.pool = urllib3.PoolManager(**kwargs)

    def request(
        self, method: str, url: str, body: Optional[bytes] = None, headers: Optional[Mapping[str, str]] = None
    ) -> urllib3.BaseHTTPResponse:
        return self.pool.request(method, url, body=body, headers=dict(headers or {}), redirect=False)

    def create_session(
        self, base_url: str, merchant: Any, fields: Optional[Mapping[str, Any]] = None
    ) -> urllib3.BaseHTTPResponse:
        body = json.dumps({"fields": fields or CARD_FIELDS}).encode()
        host = base_url.split("://", 1)[1]
        headers = signature_headers(merchant.merchant_id, merchant.key_id, merchant.shared_secret, body, host)
        return self.request("POST", base_url + SESSIONS_PATH, body, headers)

    def capture_context(self, base_url: str, merchant: Any, fields: Optional[Mapping[str, Any]] = None) -> str:
        response = self.create_session(base_url, merchant, fields)
        assert response.status == 201, (response.status, response.headers.get("x-emulator-reason"))
        return response.data.decode()

    def tokenize(self, capture_context: str, jwe: str) -> urllib3.BaseHTTPResponse:
        _, claims = jwt_parts(capture_context)
        url = claims["flx"]["origin"] + claims["flx"]["path"]
        return self.request("POST", url, jwe.encode(), {"Content-Type": "application/jwt"})


def error_reason(response: urllib3.BaseHTTPResponse) -> str:
    """``responseStatus.reason`` of a tokens error."""
    return str(json.loads(response.data)["responseStatus"]["reason"])


def error_text_without_ids(response: urllib3.BaseHTTPResponse) -> str:
    """A tokens error body as JSON text, with the random ``correlationId`` removed.

    A leak check on the raw body would be flaky: a random UUID contains any given
    four hex digits (say ``4111``) about once in 2,000 responses.
    """
    body = json.loads(response.data)
    status = body["responseStatus"]
    assert isinstance(status.pop("correlationId"), str)
    return json.dumps(body)
