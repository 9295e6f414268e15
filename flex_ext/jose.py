"""The part of JOSE this client needs, done strictly.

The one base64url of the hand-written runtime (decoding refuses padding, foreign characters
and non-canonical trailing bits); compact JWS parsing and a header policy (the caller picks
the algorithm, only ``RS256`` exists; ``crit`` and header-borne keys are refused); the RS256
signature check by PyJWT; and, ours because PyJWT reads ``"exp": "123"`` and ``true`` as
numbers, the RSA JWK policy and the time claims. Every failure is a
:class:`~flex_ext.errors.JWTValidationError` naming the part that is wrong, never key or token
material.
"""

from __future__ import annotations

import binascii
import json
import math
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, Dict, Iterable, NamedTuple, Optional

from cryptography.hazmat.primitives.asymmetric import rsa

from .errors import JWKValidationError, JWTValidationError, TokenExpiredError

if TYPE_CHECKING:  # pragma: no cover
    from jwt.algorithms import Algorithm

__all__ = [
    "DEFAULT_LEEWAY_SECONDS", "MAX_JWT_LENGTH", "MIN_RSA_BITS", "ParsedJWT", "b64url_decode", "b64url_encode",
    "check_alg", "check_time_claims", "jwk_modulus_bits", "numeric_date_utc", "parse_compact_jwt",
    "rsa_public_key_from_jwk", "rsa_public_key_from_numbers", "rsa_public_key_to_jwk", "validate_rsa_jwk",
    "verify_checked_alg", "verify_signature",
]

#: Clock skew tolerated on ``exp``, ``iat`` and ``nbf``, in seconds.
DEFAULT_LEEWAY_SECONDS = 60
#: JWT sizes beyond this are refused before any decoding (a capture context is ~1.5 kB).
MAX_JWT_LENGTH = 64 * 1024
#: An RS256 header with a kid is under 200 characters; one that carries a certificate chain
#: (refused anyway) can be longer.
MAX_HEADER_LENGTH = 1024
#: The smallest RSA modulus accepted for signing and encryption keys.
MIN_RSA_BITS = 2048

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_FROM_STANDARD = bytes.maketrans(b"+/", b"-_")
#: The one JWS algorithm of Flex; PyJWT is asked for nothing else.
_RS256 = "RS256"
#: Header parameters that would let the token choose its own verification key.
_KEY_HEADERS = ("jwk", "jku", "x5u", "x5c")


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return binascii.b2a_base64(data, newline=False).translate(_FROM_STANDARD).rstrip(b"=").decode("ascii")


def b64url_decode(value: str, what: str = "value") -> bytes:
    """Strict unpadded base64url decoding.

    Refuses padding, whitespace, the standard-alphabet ``+``/``/``, any other character, an
    impossible length, and non-zero trailing bits (so every byte string has exactly one
    accepted encoding). ``what`` names the part in the error message.
    """
    if not isinstance(value, str):
        raise JWTValidationError(f"{what} must be a base64url string")
    if not value.isascii():
        raise JWTValidationError(f"{what} is not valid base64url (non-ASCII character)")
    raw = value.encode("ascii")
    if raw.translate(None, _ALPHABET):
        raise JWTValidationError(f"{what} is not valid base64url (character outside the alphabet)")
    rem = len(raw) % 4
    if rem == 1:
        raise JWTValidationError(f"{what} is not valid base64url (impossible length)")
    # The last character of a 2- or 3-character group carries 4 or 2 unused bits, which must
    # be zero: otherwise two texts would decode to the same bytes.
    if rem and _ALPHABET.index(raw[-1]) & (0x0F if rem == 2 else 0x03):
        raise JWTValidationError(f"{what} is not valid base64url (non-canonical encoding)")
    return binascii.a2b_base64(raw.translate(_TO_STANDARD) + b"=" * (-len(raw) % 4))


def _refuse_constant(name: str) -> Any:
    # JSON has no NaN or Infinity; Python's decoder accepts them unless told otherwise, and
    # a NaN "exp" would compare as never expired.
    raise ValueError(f"{name} is not JSON")


_JSON_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = _JSON_DECODER.decode(data.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise JWTValidationError(f"{what} is not valid UTF-8 JSON") from None
    if type(obj) is not dict:
        raise JWTValidationError(f"{what} is not a JSON object")
    return obj


@lru_cache(maxsize=256)
def _decode_header(raw_header: str, what: str) -> dict[str, Any]:
    # Headers repeat (one per signing key), so each distinct one is decoded once.
    return _json_object(b64url_decode(raw_header, f"{what} header"), f"{what} header")


class ParsedJWT(NamedTuple):
    """A compact JWS split and decoded, not yet verified."""

    raw: str
    header: Dict[str, Any]
    claims: Dict[str, Any]
    signing_input: bytes
    signature: bytes

    def __repr__(self) -> str:
        return f"ParsedJWT(header={self.header!r})"


def parse_compact_jwt(token: str, what: str = "JWT") -> ParsedJWT:
    """Split a compact JWS into its three parts and decode header and payload.

    Nothing is verified here; call :func:`verify_signature` next.
    """
    if not isinstance(token, str):
        raise JWTValidationError(f"{what} must be a str")
    if len(token) > MAX_JWT_LENGTH:
        raise JWTValidationError(f"{what} is longer than {MAX_JWT_LENGTH} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise JWTValidationError(f"{what} must have 3 dot-separated parts, found {len(parts)}")
    raw_header, raw_payload, raw_signature = parts
    if not raw_header or not raw_payload:
        raise JWTValidationError(f"{what} has an empty header or payload")
    if len(raw_header) > MAX_HEADER_LENGTH:
        raise JWTValidationError(f"{what} header is longer than {MAX_HEADER_LENGTH} characters")
    header = dict(_decode_header(raw_header, what))  # a copy: the cached one stays as decoded
    claims = _json_object(b64url_decode(raw_payload, f"{what} payload"), f"{what} payload")
    signature = b64url_decode(raw_signature, f"{what} signature")
    signing_input = token[: len(raw_header) + 1 + len(raw_payload)].encode("ascii")
    return ParsedJWT(token, header, claims, signing_input, signature)


def check_alg(parsed: ParsedJWT, allowed_algs: Iterable[str] = (_RS256,), what: str = "JWT") -> str:
    """Return the header ``alg`` if it is ``RS256`` and allowed, else raise; also refuse
    ``crit`` and header-borne keys.

    Call it before fetching a key, so a token with ``alg: none`` costs no network request.
    """
    header = parsed.header
    alg = header.get("alg")
    allowed = tuple(allowed_algs)
    if alg != _RS256 or alg not in allowed:
        shown = alg if isinstance(alg, str) and len(alg) <= 16 and alg.isprintable() else "<invalid>"
        raise JWTValidationError(f"{what} algorithm {shown!r} is not accepted (allowed: {_RS256})")
    if "crit" in header:
        raise JWTValidationError(f"{what} header carries 'crit' extensions, which are not supported")
    for name in _KEY_HEADERS:
        if name in header:
            raise JWTValidationError(f"{what} header carries its own key ({name!r}), which is never trusted")
    return _RS256


@cache
def _pyjwt_rs256() -> Algorithm:
    """PyJWT's RS256 from a ``PyJWS`` that knows no other algorithm (imported on first use,
    so ``import flex_ext`` stays cheap)."""
    from jwt.api_jws import PyJWS

    return PyJWS(algorithms=[_RS256]).get_algorithm_by_name(_RS256)


def verify_signature(
    parsed: ParsedJWT, key: rsa.RSAPublicKey, allowed_algs: Iterable[str] = (_RS256,), what: str = "JWT",
) -> None:
    """Check the header (:func:`check_alg`) and the RS256 signature with ``key``."""
    verify_checked_alg(parsed, key, check_alg(parsed, allowed_algs, what), what)


def verify_checked_alg(parsed: ParsedJWT, key: rsa.RSAPublicKey, alg: str, what: str = "JWT") -> None:
    """The signature step of :func:`verify_signature`, for callers that ran :func:`check_alg`.

    PyJWT verifies; the token's own decoding was done strictly by :func:`parse_compact_jwt`
    (PyJWT's ``decode`` would decode every part again, character by character, which costs
    more than the RSA operation). The key must be RSA with a modulus of at least
    :data:`MIN_RSA_BITS`, and the signature exactly as long as the modulus.
    """
    if alg != _RS256:
        raise JWTValidationError(f"{what} algorithm is not accepted (allowed: {_RS256})")
    if not isinstance(key, rsa.RSAPublicKey):
        raise JWKValidationError(f"{what} verification key is not an RSA public key")
    if key.key_size < MIN_RSA_BITS:
        bits = key.key_size
        raise JWKValidationError(f"{what} verification key has {bits} bits; at least {MIN_RSA_BITS} are required")
    if len(parsed.signature) != (key.key_size + 7) // 8 or not _pyjwt_rs256().verify(
        parsed.signing_input, key, parsed.signature
    ):
        raise JWTValidationError(f"{what} signature verification failed")


def _b64url_uint(jwk: Mapping[str, Any], name: str) -> int:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise JWKValidationError(f"JWK parameter {name!r} is missing or not a string")
    try:
        return int.from_bytes(b64url_decode(value, f"JWK parameter {name!r}"), "big")
    except JWTValidationError as exc:  # b64url_decode's error, said as a JWK one
        raise JWKValidationError(str(exc)) from None


def jwk_modulus_bits(jwk: Mapping[str, Any]) -> int:
    """The bit length of an RSA JWK's modulus ``n``."""
    if not isinstance(jwk, Mapping):
        raise JWKValidationError("JWK must be a JSON object")
    return _b64url_uint(jwk, "n").bit_length()


def validate_rsa_jwk(
    jwk: Mapping[str, Any], *, require_use: Optional[str] = None, min_bits: Optional[int] = MIN_RSA_BITS,
    require_kid: bool = False,
) -> tuple[int, int]:
    """Check an RSA public JWK and return its ``(n, e)``; see :func:`rsa_public_key_from_jwk`."""
    if not isinstance(jwk, Mapping):
        raise JWKValidationError("JWK must be a JSON object")
    if jwk.get("kty") != "RSA":
        raise JWKValidationError("JWK 'kty' must be 'RSA'")
    if require_use is not None and jwk.get("use") != require_use:
        raise JWKValidationError(f"JWK 'use' must be {require_use!r}")
    if require_kid:
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            raise JWKValidationError("JWK 'kid' is missing")
    n = _b64url_uint(jwk, "n")
    e = _b64url_uint(jwk, "e")
    bits = n.bit_length()
    if min_bits is not None and bits < min_bits:
        raise JWKValidationError(f"JWK modulus is {bits} bits; at least {min_bits} are required")
    if not n & 1 or bits > 16384:
        raise JWKValidationError("JWK modulus is not valid")
    if e < 3 or not e & 1 or e >= n:
        raise JWKValidationError("JWK public exponent is not valid")
    return n, e


def rsa_public_key_from_numbers(n: int, e: int) -> rsa.RSAPublicKey:
    try:
        return rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError:
        raise JWKValidationError("JWK does not describe a valid RSA public key") from None


def rsa_public_key_from_jwk(
    jwk: Mapping[str, Any], *, require_use: Optional[str] = None, min_bits: Optional[int] = MIN_RSA_BITS,
    require_kid: bool = False,
) -> rsa.RSAPublicKey:
    """Build an RSA public key from a JWK, checking it is fit for purpose.

    Always: a mapping with ``kty`` ``"RSA"``, ``n`` and ``e`` as canonical base64url, an odd
    modulus, an odd public exponent ≥ 3. Optionally: ``use`` equal to ``require_use``, a
    modulus of at least ``min_bits`` bits, and a non-empty string ``kid``.
    """
    n, e = validate_rsa_jwk(jwk, require_use=require_use, min_bits=min_bits, require_kid=require_kid)
    return rsa_public_key_from_numbers(n, e)


def rsa_public_key_to_jwk(key: rsa.RSAPublicKey, **extra: str) -> dict[str, str]:
    """The public JWK of ``key`` (``kty``, ``n``, ``e`` plus ``extra`` such as ``kid``/``use``)."""
    numbers = key.public_numbers()
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
    jwk = {"kty": "RSA", "n": b64url_encode(n), "e": b64url_encode(e)}
    jwk.update(extra)
    return jwk


def _numeric_date(claims: Mapping[str, Any], name: str, what: str) -> Optional[float]:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise JWTValidationError(f"{what} claim {name!r} is not a number")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        raise JWTValidationError(f"{what} claim {name!r} is out of range") from None
    if not math.isfinite(number):  # NaN would pass every comparison, so never expire
        raise JWTValidationError(f"{what} claim {name!r} is not a finite number")
    return number


def numeric_date_utc(value: Any) -> Optional[datetime]:
    """A NumericDate claim value as an aware UTC datetime; None when absent, not a number, or
    beyond what a datetime can hold."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(value, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def check_time_claims(
    claims: Mapping[str, Any], *, leeway: float = DEFAULT_LEEWAY_SECONDS, now: Optional[float] = None,
    require_exp: bool = True, allow_expired: bool = False, what: str = "JWT",
) -> None:
    """Check ``exp``, ``iat`` and ``nbf`` against ``now`` (default: the system clock).

    An ``exp`` older than ``now - leeway`` raises :class:`~flex_ext.errors.TokenExpiredError`
    unless ``allow_expired``; an ``iat`` or ``nbf`` later than ``now + leeway`` is refused.
    """
    if leeway < 0:
        raise ValueError("leeway must not be negative")
    current = time.time() if now is None else now
    exp = _numeric_date(claims, "exp", what)
    if exp is None:
        if require_exp:
            raise JWTValidationError(f"{what} has no 'exp' claim")
    elif not allow_expired and exp < current - leeway:
        raise TokenExpiredError(f"{what} has expired")
    iat = _numeric_date(claims, "iat", what)
    if iat is not None and iat > current + leeway:
        raise JWTValidationError(f"{what} 'iat' is in the future")
    nbf = _numeric_date(claims, "nbf", what)
    if nbf is not None and nbf > current + leeway:
        raise JWTValidationError(f"{what} is not valid yet ('nbf')")
    if exp is not None and iat is not None and exp < iat:
        raise JWTValidationError(f"{what} 'exp' is before 'iat'")
