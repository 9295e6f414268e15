"""Merchant authentication of ``POST /flex/v2/sessions``: HTTP Signature and JWT.

The canonicalisation here is written from the protocol description (compat notes §4.1
and §4.2), not taken from the client, so a client that signs the wrong string is caught.
Every failure raises :class:`AuthFailure` whose ``reason`` is short and holds no secret,
no signature and no expected value; the server puts it in ``x-emulator-reason``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Mapping, Optional

from cryptography.hazmat.primitives.asymmetric import rsa

from .jose import JoseError, split_jws, verify_hs256, verify_rs256
from .merchants import Merchant, MerchantRegistry

__all__ = ["MAX_CLOCK_SKEW", "AuthFailure", "SignedRequest", "authenticate"]

#: Seconds a Date header or a JWT ``iat`` may differ from the emulator clock.
MAX_CLOCK_SKEW = 300

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_PARAM = r'[A-Za-z]+="[^"]*"'
_SIGNATURE_RE = re.compile(rf"^\s*{_PARAM}(\s*,\s*{_PARAM})*\s*$")
_PARAM_RE = re.compile(r'([A-Za-z]+)="([^"]*)"')


class AuthFailure(Exception):
    """Authentication failed; ``reason`` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SignedRequest:
    """What authentication looks at. ``headers`` keys are lower-case; ``target`` is the
    raw request target (path and query) exactly as on the request line."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes


def _b64_sha256(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def _signing_names(method: str) -> str:
    if method in _BODY_METHODS:
        return "host date request-target digest v-c-merchant-id"
    return "host date request-target v-c-merchant-id"


def _parse_signature_header(value: str) -> dict[str, str]:
    if not _SIGNATURE_RE.match(value):
        raise AuthFailure("Signature header is malformed")
    params: dict[str, str] = {}
    for name, param in _PARAM_RE.findall(value):
        key = name.lower()
        if key in params:
            raise AuthFailure("Signature header repeats a parameter")
        params[key] = param
    for needed in ("keyid", "algorithm", "headers", "signature"):
        if needed not in params:
            raise AuthFailure(f"Signature header lacks {needed}")
    return params


def _identity_lines(merchant: Merchant) -> list[str]:
    """The values the last signing-string line may hold: the merchant id, or the portfolio
    id of a meta key registered for this merchant."""
    values = [merchant.merchant_id]
    if merchant.portfolio_id is not None:
        values.append(merchant.portfolio_id)
    return values


def _check_http_signature(request: SignedRequest, registry: MerchantRegistry, now: float) -> Merchant:
    headers = request.headers
    params = _parse_signature_header(headers["signature"])
    if params["algorithm"] != "HmacSHA256":
        raise AuthFailure("Signature algorithm must be HmacSHA256")
    expected_names = _signing_names(request.method)
    if params["headers"] != expected_names:
        raise AuthFailure(f'signed header list must be "{expected_names}"')
    for name in expected_names.split(" "):
        if name != "request-target" and not headers.get(name):
            raise AuthFailure(f"{name} header is missing")
    merchant = registry.get(headers["v-c-merchant-id"])
    if merchant is None or not _equal(merchant.key_id, params["keyid"]):
        raise AuthFailure("unknown merchant id or key id")

    date_value = headers["date"]
    try:
        sent_at = parsedate_to_datetime(date_value)
    except (TypeError, ValueError, IndexError):
        raise AuthFailure("Date header is not an HTTP date") from None
    if sent_at.tzinfo is None or not date_value.rstrip().endswith("GMT"):
        raise AuthFailure("Date header must be in GMT")
    if abs(sent_at.timestamp() - now) > MAX_CLOCK_SKEW:
        raise AuthFailure("Date header is more than 5 minutes from the server clock")

    if request.method in _BODY_METHODS:
        digest = headers["digest"]
        if not digest.startswith("SHA-256=") or not _equal(digest[len("SHA-256=") :], _b64_sha256(request.body)):
            raise AuthFailure("Digest header does not match the body")

    try:
        presented = base64.b64decode(params["signature"], validate=True)
    except (binascii.Error, ValueError):
        raise AuthFailure("signature is not base64") from None
    prefix_lines = [
        f"host: {headers['host']}",
        f"date: {date_value}",
        f"request-target: {request.method.lower()} {request.target}",
    ]
    if request.method in _BODY_METHODS:
        prefix_lines.append(f"digest: {headers['digest']}")
    key = merchant.secret_bytes
    matched = False
    for identity in _identity_lines(merchant):
        signing_string = "\n".join([*prefix_lines, f"v-c-merchant-id: {identity}"])
        computed = hmac.new(key, signing_string.encode("utf-8"), hashlib.sha256).digest()
        matched = hmac.compare_digest(computed, presented) or matched
    if not matched:
        raise AuthFailure("signature does not match")
    return merchant


def _int_claim(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise AuthFailure(f"JWT {name} claim must be an integer")
    return value


def _check_jwt(request: SignedRequest, token: str, registry: MerchantRegistry, now: float) -> Merchant:
    try:
        header, claims, signing_input, signature = split_jws(token)
    except JoseError:
        raise AuthFailure("bearer token is not a JWS") from None
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ("RS256", "HS256"):
        raise AuthFailure("JWT alg must be RS256 or HS256")
    if not isinstance(kid, str):
        raise AuthFailure("JWT header has no kid")
    merchant_id = claims.get("v-c-merchant-id")
    merchant = registry.get(merchant_id) if isinstance(merchant_id, str) else None
    if merchant is None:
        raise AuthFailure("unknown merchant id")
    header_mid = request.headers.get("v-c-merchant-id")
    if header_mid is not None and header_mid != merchant_id:
        raise AuthFailure("v-c-merchant-id header differs from the JWT claim")
    try:
        if alg == "HS256":
            if not _equal(merchant.key_id, kid):
                raise AuthFailure("unknown key id")
            verify_hs256(signing_input, signature, merchant.secret_bytes)
        else:
            serial = merchant.certificate_serial_number
            if merchant.certificate is None or serial is None or not _equal(serial, kid):
                raise AuthFailure("unknown certificate")
            public_key = merchant.certificate.public_key()
            if not isinstance(public_key, rsa.RSAPublicKey):  # pragma: no cover - we only issue RSA
                raise AuthFailure("unknown certificate")
            verify_rs256(signing_input, signature, public_key)
    except JoseError:
        raise AuthFailure("JWT signature does not verify") from None

    iat = _int_claim(claims, "iat")
    exp = _int_claim(claims, "exp")
    if abs(iat - now) > MAX_CLOCK_SKEW:
        raise AuthFailure("JWT iat is more than 5 minutes from the server clock")
    if now >= exp:
        raise AuthFailure("JWT has expired")
    # Official clients disagree on case (Python "POST", Node "post"); the service takes both.
    method_claim = claims.get("request-method")
    if not isinstance(method_claim, str) or method_claim.upper() != request.method:
        raise AuthFailure("JWT request-method does not match")
    if claims.get("request-resource-path") != request.target:
        raise AuthFailure("JWT request-resource-path does not match")
    issuer = claims.get("iss")
    if issuer is not None and issuer not in _identity_lines(merchant):
        raise AuthFailure("JWT iss is not this merchant")
    if request.method in _BODY_METHODS:
        digest = claims.get("digest")
        if not isinstance(digest, str) or not _equal(digest, _b64_sha256(request.body)):
            raise AuthFailure("JWT digest claim does not match the body")
        algorithm = claims.get("digestAlgorithm")
        if algorithm is not None and algorithm != "SHA-256":
            raise AuthFailure("JWT digestAlgorithm must be SHA-256")
    return merchant


def authenticate(request: SignedRequest, registry: MerchantRegistry, now: float) -> Merchant:
    """The merchant that signed ``request``, or :class:`AuthFailure`.

    ``Authorization: Bearer`` selects JWT auth; otherwise a ``Signature`` header selects
    HTTP Signature.
    """
    authorization: Optional[str] = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthFailure("Authorization must be Bearer <JWT>")
        return _check_jwt(request, token.strip(), registry, now)
    if request.headers.get("signature") is not None:
        return _check_http_signature(request, registry, now)
    raise AuthFailure("no Signature or Authorization header")
