"""Capture contexts: the JWT returned by ``POST /flex/v2/sessions``, parsed and verified.

:func:`verify_capture_context` is the call production code uses: the signature must be
RS256 by the key the header ``kid`` names (fetched from ``/flex/v2/public-keys/{kid}`` and
cached, see :mod:`flex_ext.public_keys`, or given explicitly), ``exp``/``iat`` are checked
with a leeway, an expired context is refused unless ``allow_expired=True`` is passed, and
``flx.origin`` may be restricted to an allow-list.

:func:`parse_capture_context_unverified` exists for documentation examples and debugging,
where the signing key is not available. Its name says what it does not do; never use its
result to decide anything.

Both return a :class:`CaptureContext` whose encryption JWK has been validated (``kty``
RSA, ``use`` enc, modulus of at least 2048 bits, ``kid`` present), so it can be handed to
:mod:`flex_ext.jwe` directly.
"""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Union
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa

from .errors import JWKValidationError, JWTValidationError
from .jose import (
    _B64URL_VALUE,
    _JSON_DECODE,
    _JSON_DECODER,
    _PKCS1V15,
    _RS_HASHES,
    DEFAULT_LEEWAY_SECONDS,
    MAX_JWT_LENGTH,
    ParsedJWT,
    _b64url_decode_or_none,
    b64url_decode,
    check_time_claims,
    numeric_date_utc,
    parse_compact_jwt,
    rsa_public_key_from_jwk,
    rsa_public_key_from_numbers,
    validate_rsa_jwk,
    verify_signature,
)
from .public_keys import KeyStore, PublicKeyResolver, validate_kid

if TYPE_CHECKING:  # pragma: no cover
    from .config import MerchantConfig

__all__ = [
    "CaptureContext",
    "normalize_origin",
    "parse_capture_context_unverified",
    "verify_capture_context",
]

_WHAT = "capture context"
_FIELD_PATH_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*")
_LOOPBACK_NAMES = frozenset({"localhost"})




def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _plain_http_off_loopback(origin: str) -> bool:
    """Whether a normalised origin uses plain http to a host other than loopback."""
    return origin.startswith("http://") and not _is_loopback(urlsplit(origin).hostname or "")


@lru_cache(maxsize=256)
def _normalize_origin_cached(origin: str) -> str:
    return _normalize_origin(origin)


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, or raise when ``origin`` is not a bare origin."""
    if not isinstance(origin, str) or not origin:
        raise JWTValidationError(f"{_WHAT} 'flx.origin' is missing")
    # Origins repeat across contexts (a handful per deployment): memoise the pure parse.
    return _normalize_origin_cached(origin) if len(origin) <= 512 else _normalize_origin(origin)


def _normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, or raise when ``origin`` is not a bare origin."""
    if not isinstance(origin, str) or not origin:
        raise JWTValidationError(f"{_WHAT} 'flx.origin' is missing")
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


_PATH_RE = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@/-]*")


@lru_cache(maxsize=256)
def _valid_path(path: str) -> bool:
    return _PATH_RE.fullmatch(path) is not None and not path.startswith("//") and ".." not in path


def _check_path(path: Any) -> str:
    if not isinstance(path, str) or not path.startswith("/") or len(path) > 1024:
        raise JWTValidationError(f"{_WHAT} 'flx.path' must be an absolute path")
    if not _valid_path(path):
        raise JWTValidationError(f"{_WHAT} 'flx.path' contains characters that are not allowed")
    return path


@lru_cache(maxsize=1024)
def _valid_field_path(value: str) -> bool:
    # Field paths repeat across contexts (one field set per integration): memoise the check.
    return _FIELD_PATH_RE.fullmatch(value) is not None


def _field_list(data: Mapping[str, Any], name: str) -> list[str]:
    values = data.get(name, [])
    if not isinstance(values, list):
        raise JWTValidationError(f"{_WHAT} 'ctx[].data.{name}' is not a list")
    for value in values:
        if not isinstance(value, str) or len(value) > 256 or not _valid_field_path(value):
            raise JWTValidationError(f"{_WHAT} 'ctx[].data.{name}' holds an invalid field path")
    return values


@lru_cache(maxsize=256)
def _one_entry_fields(required: tuple[str, ...], optional: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return _merged_fields([{"requiredFields": list(required), "optionalFields": list(optional)}])


def _fields(claims: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    ctx = claims.get("ctx")
    if not isinstance(ctx, list) or not ctx:
        raise JWTValidationError(f"{_WHAT} has no 'ctx' list")
    if len(ctx) == 1 and type(ctx[0]) is dict and type(ctx[0].get("data")) is dict:
        # The common shape: one entry. Field sets repeat across contexts (one per
        # integration), so the checked result is memoised on the two lists' contents.
        data = ctx[0]["data"]
        required_l = data.get("requiredFields", [])
        optional_l = data.get("optionalFields", [])
        if type(required_l) is list and type(optional_l) is list:
            try:
                return _one_entry_fields(tuple(required_l), tuple(optional_l))
            except TypeError:  # an unhashable element: the general path names the problem
                pass
    datas = []
    for item in ctx:
        if not isinstance(item, dict):
            raise JWTValidationError(f"{_WHAT} 'ctx' entries must be objects")
        data = item.get("data")
        if data is None:
            continue
        if not isinstance(data, dict):
            raise JWTValidationError(f"{_WHAT} 'ctx[].data' is not an object")
        datas.append(data)
    return _merged_fields(datas)


def _merged_fields(datas: list[dict[str, Any]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The required and optional field paths of the ``ctx[].data`` objects, checked, in
    order, without repeats; a path listed as both is required."""
    required: dict[str, None] = {}
    optional: dict[str, None] = {}
    for data in datas:
        required.update(dict.fromkeys(_field_list(data, "requiredFields")))
        optional.update(dict.fromkeys(_field_list(data, "optionalFields")))
    # A field listed as both is required.
    for path in required:
        optional.pop(path, None)
    return tuple(required), tuple(optional)


@dataclass(frozen=True)
class CaptureContext:
    """A parsed capture context. ``verified`` says whether its signature was checked.

    ``jwt`` is the exact string received; it goes, unchanged, into the JWE plaintext.
    ``jwk`` is the one-time encryption key (validated: kty RSA, use enc, >= 2048 bits, kid)
    and ``kid`` its key id; ``signing_kid`` is the long-lived key that signed the context.
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
    # (n, e) of ``jwk`` as checked by verification; None when the object was built by
    # ``__init__`` (``dataclasses.replace``), where the key is read from ``jwk`` on first use.
    _numbers: Optional[tuple[Union[int, str], int]] = field(repr=False, compare=False, default=None, init=False)
    # Built on first use; init=False, so dataclasses.replace() starts them afresh.
    _key: list[rsa.RSAPublicKey] = field(repr=False, compare=False, default_factory=list, init=False)
    # Memo of flex_ext.jwe: how data for this context is checked and written (built on first use).
    _jwe: list[Any] = field(repr=False, compare=False, default_factory=list, init=False)

    @property
    def encryption_key(self) -> rsa.RSAPublicKey:
        """The ``flx.jwk`` as a ``cryptography`` RSA public key (built on first use)."""
        if not self._key:
            numbers = self._numbers
            if numbers is None:
                numbers = validate_rsa_jwk(self.jwk, require_use="enc", min_bits=2048, require_kid=True)
            n, e = numbers
            if type(n) is str:  # left as base64url text by the fast verification path
                n = int.from_bytes(b64url_decode(n, "JWK parameter 'n'"), "big")
            self._key.append(rsa_public_key_from_numbers(n, e))  # type: ignore[arg-type]
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
    origin = normalize_origin(flx.get("origin"))  # type: ignore[arg-type]
    if allowed_origins is not None:
        allowed = {normalize_origin(o) for o in allowed_origins}
        if origin not in allowed:
            raise JWTValidationError(f"{_WHAT} origin {origin!r} is not in the allowed origins")
    elif _plain_http_off_loopback(origin):
        raise JWTValidationError(
            f"{_WHAT} origin must use https "
            "(plain http is accepted only for loopback or allow-listed origins)"
        )
    path = _check_path(flx.get("path"))
    jwk = flx.get("jwk")
    if not isinstance(jwk, dict):
        raise JWKValidationError(f"{_WHAT} has no 'flx.jwk' object")
    numbers = validate_rsa_jwk(jwk, require_use="enc", min_bits=2048, require_kid=True)
    required, optional = _fields(claims)
    return _new_context(parsed.raw, parsed.header, claims, origin, path, jwk, required, optional, verified, numbers)


def _new_context(
    jwt: str,
    header: Mapping[str, Any],
    claims: Mapping[str, Any],
    origin: str,
    path: str,
    jwk: Mapping[str, Any],
    required: tuple[str, ...],
    optional: tuple[str, ...],
    verified: bool,
    numbers: tuple[Union[int, str], int],
) -> CaptureContext:
    """``CaptureContext(...)`` for checked values. The frozen dataclass ``__init__`` routes each
    of its twelve fields through ``object.__setattr__``, a measurable share of a cached
    verification; one ``__dict__`` assignment is equivalent."""
    context = object.__new__(CaptureContext)
    object.__setattr__(
        context,
        "__dict__",
        {
            "jwt": jwt,
            "header": header,
            "claims": claims,
            "origin": origin,
            "path": path,
            "jwk": jwk,
            "kid": jwk["kid"],
            "required_fields": required,
            "optional_fields": optional,
            "verified": verified,
            "_numbers": numbers,
            "_key": [],
            "_jwe": [],
        },
    )
    return context


# --- The hot path ------------------------------------------------------------------------
#
# Verifying a capture context with a cached key costs one RSA verification plus decoding;
# everything else should be noise. _verify_fast does the whole verification in one pass and
# returns None at the first thing that is not the plain, valid case (unknown or uncached
# key, odd header, bad signature, any claim problem). verify_capture_context then runs the
# step-by-step path, which repeats every check and raises the precise error (or fetches the
# key). So the fast path can only ever accept what the full path accepts.

_SHA256 = _RS_HASHES["RS256"]
_JSON_RAW_DECODE = _JSON_DECODER.raw_decode
_SIMPLE_HEADER_KEYS = frozenset({"alg", "kid", "typ"})


@lru_cache(maxsize=1024)
def _simple_header(raw_header: str) -> Optional[tuple[dict[str, Any], str]]:
    """``(header, kid)`` for an RS256 header naming a valid kid and nothing else, else None.

    Headers repeat (one per signing key); callers pass at most 512 characters, so the cache
    holds at most about a megabyte.
    """
    raw = _b64url_decode_or_none(raw_header)
    if raw is None:
        return None
    try:
        header = _JSON_DECODE(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if type(header) is not dict or header.get("alg") != "RS256" or not _SIMPLE_HEADER_KEYS.issuperset(header):
        return None
    kid = header.get("kid")
    try:
        return header, validate_kid(kid)
    except ValueError:  # InvalidKidError
        return None


@lru_cache(maxsize=256)
def _default_origin(origin: str) -> Optional[str]:
    """The normalised origin when it passes the default rule (https, or http on loopback)."""
    try:
        normalized = _normalize_origin(origin)
    except JWTValidationError:
        return None
    if _plain_http_off_loopback(normalized):
        return None
    return normalized


_B64URL_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _allowed_origin(origin: str, allowed_origins: Iterable[str]) -> Optional[str]:
    """The normalised origin when it is in the (normalised) allow-list, else None."""
    try:
        normalized = _normalize_origin_cached(origin)
        return normalized if normalized in {normalize_origin(o) for o in allowed_origins} else None
    except JWTValidationError:
        return None


def _fast_numbers(jwk: Any) -> Optional[tuple[Union[int, str], int]]:
    """``(n, e)`` of an encryption JWK that passes every check of ``validate_rsa_jwk(jwk,
    require_use="enc", min_bits=2048, require_kid=True)`` with a common exponent, else None.

    ``n`` stays base64url text: its size and parity are read from the first and last
    characters, after checking that the whole text is canonical base64url without a leading
    zero octet, so decoding it later (when the key is first used) cannot fail or differ.
    """
    if type(jwk) is not dict or jwk.get("kty") != "RSA" or jwk.get("use") != "enc":
        return None
    kid = jwk.get("kid")
    e_text = jwk.get("e")
    n_text = jwk.get("n")
    if type(kid) is not str or not kid or e_text not in ("AQAB", "Aw") or type(n_text) is not str:
        return None
    length = len(n_text)
    rem = length % 4
    if length < 342 or length > 2731 or rem == 1 or not n_text.isascii():
        return None  # fewer than 342 characters hold < 2048 bits; over 2731 hold > 16384
    if n_text.encode("ascii").translate(None, _B64URL_BYTES):
        return None
    value = _B64URL_VALUE
    last = value[n_text[-1]]
    if rem == 0:
        odd = last & 1
    elif rem == 2:
        odd, spare = (last >> 4) & 1, last & 0x0F
        if spare:
            return None
    else:
        odd, spare = (last >> 2) & 1, last & 0x03
        if spare:
            return None
    first = (value[n_text[0]] << 2) | (value[n_text[1]] >> 4)
    if not odd or not first:
        return None
    bits = 8 * (length * 3 // 4 - 1) + first.bit_length()
    if bits < 2048 or bits > 16384:
        return None
    return n_text, (65537 if e_text == "AQAB" else 3)


def _verify_fast(
    jwt: Any,
    resolver: PublicKeyResolver,
    leeway: float,
    allow_expired: bool,
    now: Optional[float],
    allowed_origins: Optional[Iterable[str]] = None,
) -> Optional[CaptureContext]:
    if type(jwt) is not str or len(jwt) > MAX_JWT_LENGTH or not jwt.isascii():
        return None
    # One ASCII copy of the token; the parts are found in it rather than split out as text.
    raw = jwt.encode("ascii")
    first = raw.find(b".")
    second = raw.find(b".", first + 1)
    if not 0 <= first <= 512 or second < 0 or raw.find(b".", second + 1) >= 0:
        return None
    simple = _simple_header(jwt[:first])
    if simple is None:
        return None
    header, kid = simple
    entry = resolver.store.get(resolver.environment, kid)
    if entry is None:
        return None
    signature = _b64url_decode_or_none(raw[second + 1 :])
    payload = _b64url_decode_or_none(raw[first + 1 : second])
    if signature is None or payload is None:
        return None
    key = entry.key
    if len(signature) != (key.key_size + 7) // 8:
        return None
    try:
        key.verify(signature, raw[:second], _PKCS1V15, _SHA256)
        text = payload.decode("utf-8")
        claims, end = _JSON_RAW_DECODE(text)
    except (InvalidSignature, ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if end != len(text):
        return None  # trailing text (whitespace included): the step-by-step path decides
    if type(claims) is not dict or "nbf" in claims:
        return None
    exp = claims.get("exp")
    iat = claims.get("iat")
    if type(exp) is not int and type(exp) is not float:
        return None
    current = time.time() if now is None else now
    if not allow_expired and exp < current - leeway:
        return None
    if iat is not None and (
        (type(iat) is not int and type(iat) is not float) or iat > current + leeway or exp < iat
    ):
        return None
    flx = claims.get("flx")
    if type(flx) is not dict:
        return None
    origin = flx.get("origin")
    path = flx.get("path")
    if type(origin) is not str or len(origin) > 512 or type(path) is not str or len(path) > 1024:
        return None
    origin = _default_origin(origin) if allowed_origins is None else _allowed_origin(origin, allowed_origins)
    if origin is None or not path.startswith("/") or not _valid_path(path):
        return None
    jwk: Any = flx.get("jwk")
    numbers = _fast_numbers(jwk)
    if numbers is None:
        return None
    ctx = claims.get("ctx")
    if type(ctx) is not list or len(ctx) != 1 or type(ctx[0]) is not dict:
        return None
    data = ctx[0].get("data")
    if type(data) is not dict:
        return None
    required_l = data.get("requiredFields", [])
    optional_l = data.get("optionalFields", [])
    if type(required_l) is not list or type(optional_l) is not list:
        return None
    try:
        required, optional = _one_entry_fields(tuple(required_l), tuple(optional_l))
    except (TypeError, JWTValidationError):
        return None
    return _new_context(jwt, dict(header), claims, origin, path, jwk, required, optional, True, numbers)


def parse_capture_context_unverified(jwt: str) -> CaptureContext:
    """Parse a capture context **without** checking its signature or its expiry.

    For documentation examples and debugging only (for example the capture context printed
    in CyberSource's developer guide, whose signing key is not public). The structure and
    the encryption JWK are still validated. The result has ``verified=False``.

    >>> ctx = parse_capture_context_unverified(doc_example_jwt)  # doctest: +SKIP
    >>> ctx.required_fields
    ('paymentInformation.card.number',)
    """
    return _build(parse_compact_jwt(jwt, _WHAT), verified=False, allowed_origins=None)


PublicKeyLike = Union[rsa.RSAPublicKey, Mapping[str, Any]]


def verify_capture_context(
    jwt: str,
    *,
    resolver: Optional[PublicKeyResolver] = None,
    public_key: Optional[PublicKeyLike] = None,
    merchant_config: Union[MerchantConfig, Mapping[str, Any], None] = None,
    key_store: Optional[KeyStore] = None,
    allowed_origins: Optional[Iterable[str]] = None,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
    allow_expired: bool = False,
    now: Optional[float] = None,
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

    >>> ctx = verify_capture_context(jwt, merchant_config=config)  # doctest: +SKIP
    >>> ctx.tokens_url
    'https://testflex.cybersource.com/flex/v2/tokens'
    """
    if (resolver is None) + (public_key is None) + (merchant_config is None) != 2:
        raise TypeError("pass exactly one of resolver=, public_key= or merchant_config=")
    if allowed_origins is not None and not isinstance(allowed_origins, (tuple, list, frozenset, set)):
        allowed_origins = tuple(allowed_origins)  # read twice when the one-pass path declines
    if public_key is None:
        if resolver is None:
            from .config import coerce_merchant_config  # lazy: keeps this module light

            config = coerce_merchant_config(merchant_config)  # type: ignore[arg-type]
            resolver = PublicKeyResolver(config.base_url, transport=config.transport, store=key_store)
        if leeway >= 0:
            fast = _verify_fast(jwt, resolver, leeway, allow_expired, now, allowed_origins)
            if fast is not None:
                return fast
    parsed = parse_compact_jwt(jwt, _WHAT)
    if resolver is not None:
        resolver.verify(parsed, ("RS256",), _WHAT)
    else:
        assert public_key is not None  # exactly one key source, checked above
        key = public_key if isinstance(public_key, rsa.RSAPublicKey) else rsa_public_key_from_jwk(public_key)
        verify_signature(parsed, key, ("RS256",), _WHAT)
    check_time_claims(parsed.claims, leeway=leeway, now=now, allow_expired=allow_expired, what=_WHAT)
    return _build(parsed, verified=True, allowed_origins=allowed_origins)
