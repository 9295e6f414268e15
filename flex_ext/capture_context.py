"""Capture contexts: the JWT returned by ``POST /flex/v2/sessions``, parsed and verified.

:func:`verify_capture_context` is the one verification path (the compat functions call it
too); :func:`parse_capture_context_unverified` is for documentation examples and debugging
only. Both return a :class:`CaptureContext` whose encryption JWK is validated, ready for
:mod:`flex_ext.jwe`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Union
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from .errors import JWKValidationError, JWTValidationError
from .jose import (
    DEFAULT_LEEWAY_SECONDS,
    ParsedJWT,
    check_time_claims,
    numeric_date_utc,
    parse_compact_jwt,
    rsa_public_key_from_jwk,
    validate_rsa_jwk,
    verify_signature,
)
from .public_keys import KeyStore, PublicKeyResolver
from .transport import is_loopback

if TYPE_CHECKING:  # pragma: no cover
    from .config import MerchantConfig

__all__ = ["CaptureContext", "normalize_origin", "parse_capture_context_unverified", "verify_capture_context"]

_WHAT = "capture context"
_FIELD_PATH_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*")
_PATH_RE = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@/-]*")


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, or raise when ``origin`` is not a bare origin."""
    if not isinstance(origin, str) or not origin:
        raise JWTValidationError(f"{_WHAT} 'flx.origin' is missing")
    if len(origin) > 300:  # scheme, a hostname of at most 253 characters and a port
        raise JWTValidationError(f"{_WHAT} 'flx.origin' is not a valid URL")
    return _normalize_origin(origin)


@lru_cache(maxsize=256)
def _normalize_origin(origin: str) -> str:
    # Origins repeat across capture contexts (a handful per deployment): each is parsed once.
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        raise JWTValidationError(f"{_WHAT} 'flx.origin' is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise JWTValidationError(f"{_WHAT} 'flx.origin' must be an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise JWTValidationError(f"{_WHAT} 'flx.origin' must not carry credentials")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise JWTValidationError(f"{_WHAT} 'flx.origin' must be an origin without path or query")
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def _check_origin(value: Any, allowed_origins: Optional[Iterable[str]]) -> str:
    """The normalised ``flx.origin``: in ``allowed_origins`` when given, else https (or
    plain http to loopback only)."""
    origin = normalize_origin(value)
    if allowed_origins is not None:
        if origin not in {normalize_origin(o) for o in allowed_origins}:
            raise JWTValidationError(f"{_WHAT} origin {origin!r} is not in the allowed origins")
    elif origin.startswith("http://") and not is_loopback(urlsplit(origin).hostname or ""):
        raise JWTValidationError(
            f"{_WHAT} origin must use https (plain http is accepted only for loopback or allow-listed origins)"
        )
    return origin


def _check_path(path: Any) -> str:
    if not isinstance(path, str) or not path.startswith("/") or len(path) > 1024:
        raise JWTValidationError(f"{_WHAT} 'flx.path' must be an absolute path")
    if _PATH_RE.fullmatch(path) is None or path.startswith("//") or ".." in path:
        raise JWTValidationError(f"{_WHAT} 'flx.path' contains characters that are not allowed")
    return path


def _field_list(data: Mapping[str, Any], name: str) -> list[str]:
    values = data.get(name, [])
    if not isinstance(values, list):
        raise JWTValidationError(f"{_WHAT} 'ctx[].data.{name}' is not a list")
    for value in values:
        if not isinstance(value, str) or len(value) > 256 or not _FIELD_PATH_RE.fullmatch(value):
            raise JWTValidationError(f"{_WHAT} 'ctx[].data.{name}' holds an invalid field path")
    return values


def _fields(claims: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The required and optional field paths of every ``ctx[].data``, checked, in order,
    without repeats; a path listed as both is required."""
    ctx = claims.get("ctx")
    if not isinstance(ctx, list) or not ctx:
        raise JWTValidationError(f"{_WHAT} has no 'ctx' list")
    required: dict[str, None] = {}
    optional: dict[str, None] = {}
    for item in ctx:
        if not isinstance(item, dict):
            raise JWTValidationError(f"{_WHAT} 'ctx' entries must be objects")
        data = item.get("data")
        if data is None:
            continue
        if not isinstance(data, dict):
            raise JWTValidationError(f"{_WHAT} 'ctx[].data' is not an object")
        required.update(dict.fromkeys(_field_list(data, "requiredFields")))
        optional.update(dict.fromkeys(_field_list(data, "optionalFields")))
    return tuple(required), tuple(p for p in optional if p not in required)


@dataclass(frozen=True)
class CaptureContext:
    """A parsed capture context. ``verified`` says whether its signature was checked.

    ``jwt`` is the exact string received; it goes, unchanged, into the JWE plaintext.
    ``jwk`` is the one-time encryption key (validated: kty RSA, use enc, >= 2048 bits, kid)
    and ``kid`` its key id; ``signing_kid`` is the long-lived key that signed the context.

    Only :func:`verify_capture_context` makes a context with ``verified=True``. Building one
    by hand with ``verified=True``, or copying a verified one with ``dataclasses.replace``
    (which could swap its origin, path or key), raises :class:`~flex_ext.errors.JWTValidationError`;
    a copy must say ``verified=False``.
    """

    jwt: str = field(repr=False)
    header: Mapping[str, Any] = field(repr=False)
    claims: Mapping[str, Any] = field(repr=False)
    origin: str
    path: str
    jwk: Mapping[str, Any] = field(repr=False)
    kid: str
    required_fields: tuple[str, ...]
    optional_fields: tuple[str, ...]
    verified: bool
    # The encryption key, built on first use; init=False, so a copy builds its own.
    _key: list[rsa.RSAPublicKey] = field(repr=False, compare=False, default_factory=list, init=False)

    def __post_init__(self) -> None:
        if self.verified:
            raise JWTValidationError(
                "a verified CaptureContext comes only from verify_capture_context; "
                "a copy or a hand-built context must pass verified=False"
            )

    @property
    def encryption_key(self) -> rsa.RSAPublicKey:
        """The ``flx.jwk`` as a ``cryptography`` RSA public key (built on first use)."""
        if not self._key:
            self._key.append(rsa_public_key_from_jwk(self.jwk, require_use="enc", require_kid=True))
        return self._key[0]

    @property
    def issued_at(self) -> Optional[datetime]:
        """``iat`` as an aware UTC datetime."""
        return numeric_date_utc(self.claims.get("iat"))

    @property
    def expires_at(self) -> Optional[datetime]:
        """``exp`` as an aware UTC datetime."""
        return numeric_date_utc(self.claims.get("exp"))

    @property
    def jti(self) -> Optional[str]:
        jti = self.claims.get("jti")
        return jti if isinstance(jti, str) else None

    @property
    def context_type(self) -> Optional[str]:
        """``ctx[0].type``, e.g. ``api-0.1.0``."""
        for item in self.claims.get("ctx") or ():
            if isinstance(item, dict) and isinstance(item.get("type"), str):
                return str(item["type"])
        return None

    @property
    def tokens_url(self) -> str:
        """Where the JWE is posted: ``flx.origin + flx.path``."""
        return self.origin + self.path

    @property
    def declared_fields(self) -> tuple[str, ...]:
        """Every field path the context accepts (required first)."""
        return self.required_fields + self.optional_fields

    @property
    def signing_kid(self) -> Optional[str]:
        """The ``kid`` of the long-lived key that signed the context (from the JWT header)."""
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None

    def is_expired(self, now: Optional[datetime] = None, leeway: float = 0) -> bool:
        """Whether ``exp`` (plus ``leeway`` seconds) is in the past."""
        expires_at = self.expires_at
        if expires_at is None:
            return False
        current = now or datetime.now(timezone.utc)
        return (expires_at - current).total_seconds() + leeway < 0

    def __repr__(self) -> str:
        exp = self.expires_at
        return (
            f"CaptureContext(origin={self.origin!r}, path={self.path!r}, kid={self.kid!r}, "
            f"required_fields={self.required_fields!r}, optional_fields={self.optional_fields!r}, "
            f"expires_at={exp.isoformat() if exp else None!r}, verified={self.verified!r})"
        )

    __str__ = __repr__


def _build(parsed: ParsedJWT, verified: bool, allowed_origins: Optional[Iterable[str]]) -> CaptureContext:
    claims = parsed.claims
    flx = claims.get("flx")
    if not isinstance(flx, dict):
        raise JWTValidationError(f"{_WHAT} has no 'flx' object")
    origin = _check_origin(flx.get("origin"), allowed_origins)
    path = _check_path(flx.get("path"))
    jwk = flx.get("jwk")
    if not isinstance(jwk, dict):
        raise JWKValidationError(f"{_WHAT} has no 'flx.jwk' object")
    validate_rsa_jwk(jwk, require_use="enc", require_kid=True)
    required, optional = _fields(claims)
    context = CaptureContext(
        parsed.raw, parsed.header, claims, origin, path, jwk, jwk["kid"], required, optional, verified=False
    )
    if verified:  # the one place a verified context is made (see CaptureContext.__post_init__)
        object.__setattr__(context, "verified", True)
    return context


def parse_capture_context_unverified(jwt: str) -> CaptureContext:
    """Parse a capture context **without** checking its signature or its expiry.

    For documentation examples and debugging only (for example the capture context printed
    in CyberSource's developer guide, whose signing key is not public). The structure and
    the encryption JWK are still validated. The result has ``verified=False``.
    """
    return _build(parse_compact_jwt(jwt, _WHAT), verified=False, allowed_origins=None)


PublicKeyLike = Union[rsa.RSAPublicKey, Mapping[str, Any]]


def verify_capture_context(
    jwt: str, *, resolver: Optional[PublicKeyResolver] = None, public_key: Optional[PublicKeyLike] = None,
    merchant_config: Union[MerchantConfig, Mapping[str, Any], None] = None, key_store: Optional[KeyStore] = None,
    allowed_origins: Optional[Iterable[str]] = None, leeway: float = DEFAULT_LEEWAY_SECONDS,
    allow_expired: bool = False, now: Optional[float] = None,
) -> CaptureContext:
    """Verify a capture context and return it typed.

    The signing key comes from exactly one of:

    * ``resolver``: a :class:`~flex_ext.public_keys.PublicKeyResolver` (cached fetch);
    * ``merchant_config``: a ``MerchantConfig`` or official config dict, whose base URL and
      transport settings build a resolver (``key_store`` defaults to the process-wide one);
    * ``public_key``: an RSA public key or its JWK, when the caller already has it.

    Checks, in order: three well-formed parts; ``alg`` exactly ``RS256`` (``none``, ``HS*``,
    ``PS*`` and the rest are refused before any key is fetched); a ``kid`` that is safe in a
    URL; the signature; ``exp`` (required) and ``iat`` within ``leeway`` seconds
    (default 60); the ``flx`` structure and the encryption JWK; ``origin`` against
    ``allowed_origins`` when given (otherwise https, or http on loopback only).

    ``allow_expired=True`` is the documented opt-out for the expiry check (the official
    SDK never checks ``exp``); the signature is still verified. ``now`` (epoch seconds)
    pins the clock for tests.

    Raises :class:`~flex_ext.errors.JWTValidationError` and its subclasses
    (:class:`~flex_ext.errors.TokenExpiredError`, :class:`~flex_ext.errors.JWKValidationError`,
    :class:`~flex_ext.errors.InvalidKidError`), or a transport/HTTP error from the key fetch.
    """
    if (resolver is None) + (public_key is None) + (merchant_config is None) != 2:
        raise TypeError("pass exactly one of resolver=, public_key= or merchant_config=")
    if public_key is None and resolver is None:
        from .config import coerce_merchant_config  # lazy: keeps this module light

        config = coerce_merchant_config(merchant_config)  # type: ignore[arg-type]
        resolver = PublicKeyResolver(config.base_url, transport=config.transport, store=key_store)
    parsed = parse_compact_jwt(jwt, _WHAT)
    if resolver is not None:  # it checks the header (check_alg) before fetching a key
        resolver.verify(parsed, ("RS256",), _WHAT)
    else:
        assert public_key is not None  # exactly one key source, checked above
        key = public_key if isinstance(public_key, rsa.RSAPublicKey) else rsa_public_key_from_jwk(public_key)
        verify_signature(parsed, key, ("RS256",), _WHAT)
    check_time_claims(parsed.claims, leeway=leeway, now=now, allow_expired=allow_expired, what=_WHAT)
    return _build(parsed, verified=True, allowed_origins=allowed_origins)
