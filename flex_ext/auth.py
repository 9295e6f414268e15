"""The signers: the headers that authenticate one request, per authentication type.

A signer gets the method, the path (with ``?query``) and the exact body bytes that will be
sent, and returns the headers to add; it never sends anything. :func:`signer_for` picks
the one for a configuration. Reprs name the merchant and key id, never a secret, a password
or a token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

from ._version import __version__
from .config import _MSG_KEY_FILE, MerchantConfig
from .errors import AuthenticationError, KeyPasswordError

if TYPE_CHECKING:  # pragma: no cover
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

# cryptography (x509, PKCS#12, RSA) is imported where P12 keys are used, not here: HTTP
# Signature and JWT with a shared secret need only the standard library, and importing
# cryptography.x509 costs a fresh process more than everything else in this module.

__all__ = [
    "CLIENT_ID", "CertificateNotFoundError", "HttpSignatureSigner", "JwtP12Signer", "JwtSharedSecretSigner",
    "MutualAuthSigner", "NoAuthSigner", "OAuthSigner", "Signer", "clear_p12_cache", "decode_shared_secret",
    "signer_for",
]

#: The ``v-c-client-id`` header value.
CLIENT_ID = "cybs-rest-sdk-python-" + __version__

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_ALLOWED_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH"})
_MSG_BAD_METHOD = "Entered Request Type should be (GET/POST/PUT/PATCH)"
_MSG_AUTH_TYPE = "Check Authentication Type (HTTP_Signature/JWT) in cybs.json."
_JWT_LIFETIME_SECONDS = 120


class Signer(Protocol):
    """Produces the authentication headers of one request."""

    def sign(self, method: str, path: str, body: bytes | None) -> dict[str, str]:
        """Headers to add to ``method path`` carrying exactly ``body``."""
        ...


class CertificateNotFoundError(AuthenticationError, ValueError):
    """The P12 has no usable certificate (no CN match, or no subject serialNumber).

    Also a :class:`ValueError`, as the official SDK raised for a missing serial number.
    """


def _new_jti() -> str:
    # A random (version 4) UUID, as the official SDK sends; built from os.urandom directly
    # rather than importing uuid (which pulls in platform detection at import time).
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_LAST_DATE: tuple[int, str] = (-1, "")


def _http_date(now: float) -> str:
    """``formatdate(now, usegmt=True)``, formatted once per second (requests share it)."""
    global _LAST_DATE
    second = int(now)
    last = _LAST_DATE  # one read of an immutable pair: safe across threads
    if last[0] != second:
        last = (second, formatdate(second, usegmt=True))
        _LAST_DATE = last
    return last[1]


def decode_shared_secret(secret: str) -> bytes:
    """Decode ``merchant_secretkey`` strictly (standard base64 alphabet, correct padding).

    The official SDK decodes non-strictly and silently drops stray characters; a secret
    that is not exactly base64 here is an :class:`~flex_ext.errors.AuthenticationError`
    whose message does not show the secret. Surrounding whitespace is ignored.
    """
    try:
        key = base64.b64decode(secret.strip().encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise AuthenticationError(
            "merchant_secretkey is not valid base64: check that the shared secret was copied completely"
        ) from None
    if not key:
        raise AuthenticationError("merchant_secretkey decodes to an empty key")
    return key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _body_digest(body: bytes | None) -> str:
    return _b64(hashlib.sha256(body or b"").digest())


def _check_request(method: str, path: str) -> str:
    upper = method.upper()
    if upper not in _ALLOWED_METHODS:
        raise AuthenticationError(_MSG_BAD_METHOD)
    if not path.startswith("/"):
        raise AuthenticationError("the path to sign must start with '/' (path and query, not a full URL)")
    return upper


def _telemetry(config: MerchantConfig) -> dict[str, str]:
    headers = {"v-c-sdk-telemetry-merchant-id": config.merchant_id}
    if config.is_sdk:
        headers["v-c-sdk-telemetry-mcp"] = "true"
    return headers


class HttpSignatureSigner:
    """``http_signature``: ``Signature`` over host, date, request-target, digest, merchant id.

    With a meta key, the signed ``v-c-merchant-id`` line carries ``portfolio_id`` while the
    header of that name keeps the merchant id; ``keyid`` is ``merchant_keyid`` in both cases.
    """

    def __init__(self, config: MerchantConfig, *, clock: Callable[[], float] = time.time) -> None:
        if not config.merchant_key_id or not config.merchant_secret_key:
            raise AuthenticationError("http_signature needs merchant_keyid and merchant_secretkey")
        self._merchant_id = config.merchant_id
        self._signed_merchant_id = (config.portfolio_id or "") if config.use_metakey else config.merchant_id
        self._key_id = config.merchant_key_id
        self._key = decode_shared_secret(config.merchant_secret_key)
        self._host = config.request_host
        self._telemetry = _telemetry(config)
        self._clock = clock

    def signing_string(self, method: str, path: str, date: str, digest: Optional[str]) -> str:
        """The exact text that is HMAC-ed (``digest`` is the full ``SHA-256=...`` value or None)."""
        lines = [f"host: {self._host}", f"date: {date}", f"request-target: {method.lower()} {path}"]
        if digest is not None:
            lines.append(f"digest: {digest}")
        lines.append(f"v-c-merchant-id: {self._signed_merchant_id}")
        return "\n".join(lines)

    def sign(self, method: str, path: str, body: bytes | None) -> dict[str, str]:
        upper = _check_request(method, path)
        date = _http_date(self._clock())
        digest = "SHA-256=" + _body_digest(body) if upper in _BODY_METHODS else None
        text = self.signing_string(upper, path, date, digest)
        signature = _b64(hmac.digest(self._key, text.encode("utf-8"), "sha256"))
        signed_names = "host date request-target " + ("digest " if digest is not None else "") + "v-c-merchant-id"
        headers = {
            "v-c-client-id": CLIENT_ID,
            "Accept-Encoding": "*",
            "v-c-merchant-id": self._merchant_id,
            "Date": date,
            "Host": self._host,
        }
        if digest is not None:
            headers["Digest"] = digest
        headers["Signature"] = (
            f'keyid="{self._key_id}", algorithm="HmacSHA256", headers="{signed_names}", signature="{signature}"'
        )
        headers.update(self._telemetry)
        return headers

    def __repr__(self) -> str:
        return f"HttpSignatureSigner(merchant_id={self._merchant_id!r}, key_id={self._key_id!r})"


class _JwtSigner:
    """Claims and headers common to both JWT variants."""

    _alg = ""

    def __init__(
        self, config: MerchantConfig, *, clock: Callable[[], float] = time.time, new_jti: Callable[[], str] = _new_jti,
    ) -> None:
        self._merchant_id = config.merchant_id
        self._issuer = (config.portfolio_id or "") if config.use_metakey else config.merchant_id
        self._host = config.request_host
        self._telemetry = _telemetry(config)
        self._clock = clock
        self._new_jti = new_jti
        self._setup(config)

    def _setup(self, config: MerchantConfig) -> None:
        """Load the variant's key (at construction, so a bad key fails early)."""
        raise NotImplementedError

    def claims(self, method: str, path: str, body: bytes | None) -> dict[str, Any]:
        """The JWT payload for one request (``exp = iat + 120``)."""
        upper = _check_request(method, path)
        issued_at = int(self._clock())
        claims: dict[str, Any] = {
            "iat": issued_at,
            "exp": issued_at + _JWT_LIFETIME_SECONDS,
            "iss": self._issuer,
            "jti": self._new_jti(),
            "request-host": self._host,
            "request-method": upper,
            "request-resource-path": path,
            "v-c-jwt-version": "2",
            "v-c-merchant-id": self._merchant_id,
        }
        if upper in _BODY_METHODS:
            claims["digest"] = _body_digest(body)
            claims["digestAlgorithm"] = "SHA-256"
        return claims

    def _key_and_kid(self) -> tuple[Any, str]:
        raise NotImplementedError

    def token(self, method: str, path: str, body: bytes | None) -> str:
        """The compact JWS for one request, signed by PyJWT.

        Byte-exact with the official SDK (jwcrypto): header and claims with sorted keys and
        compact separators. PyJWT sorts the header itself; the claims are handed over in
        sorted order, since its JSON keeps a dict's order.
        """
        import jwt  # lazy: signing is the first thing that needs PyJWT

        key, kid = self._key_and_kid()
        claims = self.claims(method, path, body)
        return jwt.encode(dict(sorted(claims.items())), key, algorithm=self._alg, headers={"kid": kid, "typ": "JWT"})

    def sign(self, method: str, path: str, body: bytes | None) -> dict[str, str]:
        headers = {"Authorization": "Bearer " + self.token(method, path, body), "v-c-client-id": CLIENT_ID}
        headers.update(self._telemetry)
        return headers


class JwtSharedSecretSigner(_JwtSigner):
    """``jwt`` + ``SHARED_SECRET``: HS256 with the base64-decoded ``merchant_secretkey``."""

    _alg = "HS256"

    def _setup(self, config: MerchantConfig) -> None:
        if not config.merchant_key_id or not config.merchant_secret_key:
            raise AuthenticationError("jwt with SHARED_SECRET needs merchant_keyid and merchant_secretkey")
        self._key_id = config.merchant_key_id
        self._key = decode_shared_secret(config.merchant_secret_key)

    def _key_and_kid(self) -> tuple[Any, str]:
        return self._key, self._key_id

    def __repr__(self) -> str:
        return f"JwtSharedSecretSigner(merchant_id={self._merchant_id!r}, key_id={self._key_id!r})"


@dataclass(frozen=True)
class _P12Entry:
    private_key: rsa.RSAPrivateKey
    certificates: tuple[x509.Certificate, ...]


class _P12Cache:
    """Parsed P12 files keyed by (absolute path, mtime, size, password fingerprint).

    Bounded (least recently used first out) and thread-safe. The password enters the key
    only as an HMAC under a per-process random key, so a cached entry is never handed out
    for a different password and the password itself is not kept in the key.
    """

    def __init__(self, max_entries: int = 16) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, int, int, bytes], _P12Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._salt = secrets.token_bytes(32)
        self.loads = 0

    def get(self, path: str, password: str) -> _P12Entry:
        absolute = os.path.abspath(path)
        try:
            stat = os.stat(absolute)
            fingerprint = hmac.new(self._salt, password.encode("utf-8"), hashlib.sha256).digest()
            key = (absolute, stat.st_mtime_ns, stat.st_size, fingerprint)
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries.move_to_end(key)
                    return entry
                with open(absolute, "rb") as handle:
                    data = handle.read()
                entry = _load_p12(data, password, absolute)
                self.loads += 1
                self._entries[key] = entry
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
                return entry
        except OSError:
            raise AuthenticationError(_MSG_KEY_FILE) from None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def _load_p12(data: bytes, password: str, path: str) -> _P12Entry:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode("utf-8"))
    except ValueError:
        # cryptography cannot tell a wrong password from a damaged file; neither message
        # may carry the password.
        raise KeyPasswordError(
            f"Failed to load the P12 key file {os.path.basename(path)!r}: the key password may be incorrect "
            "(or the file is not a valid PKCS#12 file)"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AuthenticationError(f"the P12 key file {os.path.basename(path)!r} holds no RSA private key")
    certificates = tuple(c for c in ([cert] if cert is not None else []) + list(extra))
    return _P12Entry(private_key=key, certificates=certificates)


_P12_CACHE = _P12Cache()


def clear_p12_cache() -> None:
    """Forget every parsed P12 (they are reloaded on next use)."""
    _P12_CACHE.clear()


class JwtP12Signer(_JwtSigner):
    """``jwt`` + ``P12``: RS256 with the key of ``<keys_directory>/<key_file_name>.p12``.

    The certificate is the one whose subject CN equals ``key_alias`` (case-insensitive);
    the JWT ``kid`` is that subject's ``serialNumber`` attribute (OID 2.5.4.5), not the
    X.509 serial number. The file is parsed once per (path, mtime, size) and reloaded
    when it changes.
    """

    _alg = "RS256"

    def _setup(self, config: MerchantConfig) -> None:
        path = config.p12_path
        if not path:
            raise AuthenticationError(_MSG_KEY_FILE)
        self._path = path
        self._password = config.key_password or config.merchant_id
        self._alias = (config.key_alias or self._issuer).lower()
        # Load now, so a wrong password or alias fails when the client is built.
        self._key_and_kid()

    def _key_and_kid(self) -> tuple[rsa.RSAPrivateKey, str]:
        """The private key and the kid of the alias' certificate (reloaded when the file changes)."""
        from cryptography.x509.oid import NameOID

        entry = _P12_CACHE.get(self._path, self._password)
        for cert in entry.certificates:
            names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            if any(str(cn.value).lower() == self._alias for cn in names):
                serials = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
                if not serials:
                    raise CertificateNotFoundError("Serial number not found in certificate")
                return entry.private_key, str(serials[0].value)
        raise CertificateNotFoundError(
            f"the P12 key file has no certificate whose subject CN is {self._alias!r} (the key alias)"
        )

    def __repr__(self) -> str:
        return f"JwtP12Signer(merchant_id={self._merchant_id!r}, key_file={os.path.basename(self._path)!r})"


class OAuthSigner:
    """``oauth``: ``Authorization: Bearer <access_token>`` (no refresh, as in the official SDK)."""

    def __init__(self, config: MerchantConfig) -> None:
        if not config.access_token:
            raise AuthenticationError("oauth needs an access_token")
        self._merchant_id = config.merchant_id
        self._token = config.access_token
        self._telemetry = _telemetry(config)

    def sign(self, method: str, path: str, body: bytes | None) -> dict[str, str]:
        _check_request(method, path)
        headers = {"Authorization": "Bearer " + self._token, "v-c-client-id": CLIENT_ID}
        headers.update(self._telemetry)
        return headers

    def __repr__(self) -> str:
        return f"OAuthSigner(merchant_id={self._merchant_id!r})"


class NoAuthSigner:
    """No authentication (public-key fetch, tokenization)."""

    def sign(self, method: str, path: str, body: bytes | None) -> dict[str, str]:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MutualAuthSigner(NoAuthSigner):
    """``mutual_auth``: no headers; the TLS client certificate authenticates."""


def signer_for(
    config: MerchantConfig, *, clock: Callable[[], float] = time.time, new_jti: Callable[[], str] = _new_jti,
) -> Signer:
    """The signer for this configuration's ``authentication_type`` and ``jwt_key_type``.

    An unknown authentication type raises the official text
    ``"Check Authentication Type (HTTP_Signature/JWT) in cybs.json."``.
    """
    auth = config.authentication_type
    if auth == "http_signature":
        return HttpSignatureSigner(config, clock=clock)
    if auth == "jwt":
        if config.jwt_key_type == "SHARED_SECRET":
            return JwtSharedSecretSigner(config, clock=clock, new_jti=new_jti)
        if config.jwt_key_type == "P12":
            return JwtP12Signer(config, clock=clock, new_jti=new_jti)
    if auth == "oauth":
        return OAuthSigner(config)
    if auth == "mutual_auth":
        return MutualAuthSigner()
    raise AuthenticationError(_MSG_AUTH_TYPE)
