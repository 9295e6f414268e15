"""The small part of JOSE this client needs, done strictly and fast.

* base64url decoding that refuses padding, foreign characters and non-canonical trailing
  bits (the official SDK accepts ``!!**`` inside a signature, we do not);
* compact JWS parsing (:func:`parse_compact_jwt`) that never trusts the header to pick the
  algorithm: :func:`verify_signature` takes the allowed algorithms from the caller and
  defaults to exactly ``RS256``, so ``none``, ``HS*``, ``PS*``, ``ES*`` and anything else are
  rejected before a key is touched;
* RSA JWK -> ``cryptography`` public key with validation (:func:`rsa_public_key_from_jwk`);
* the registered time claims (:func:`check_time_claims`) with a leeway.

Every failure is a :class:`~flex_ext.errors.JWTValidationError` (or its
:class:`~flex_ext.errors.JWKValidationError` subclass). Messages name the part that is
wrong, never the token or key material.
"""

from __future__ import annotations

import binascii
import json
import math
import os
import sys
import time
from datetime import datetime, timezone
from functools import lru_cache
from types import ModuleType
from typing import Any, Callable, Dict, Iterable, Mapping, NamedTuple, Optional

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import JWKValidationError, JWTValidationError, TokenExpiredError

__all__ = [
    "C_SPEEDUPS",
    "DEFAULT_LEEWAY_SECONDS",
    "ParsedJWT",
    "b64url_decode",
    "b64url_encode",
    "check_alg",
    "check_time_claims",
    "jwk_modulus_bits",
    "numeric_date_utc",
    "parse_compact_jwt",
    "rsa_public_key_from_jwk",
    "rsa_public_key_from_numbers",
    "rsa_public_key_to_jwk",
    "validate_rsa_jwk",
    "verify_checked_alg",
    "verify_signature",
]

#: Clock skew tolerated on ``exp`` and ``iat``, in seconds.
DEFAULT_LEEWAY_SECONDS = 60

_B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL_ALPHABET_BYTES = _B64URL_ALPHABET.encode("ascii")
_B64URL_VALUE = {c: i for i, c in enumerate(_B64URL_ALPHABET)}
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_FROM_STANDARD = bytes.maketrans(b"+/", b"-_")
_PADDING = ("", None, "==", "=")  # indexed by len % 4; 1 is never valid

_PKCS1V15 = padding.PKCS1v15()
_RS_HASHES: dict[str, hashes.HashAlgorithm] = {
    "RS256": hashes.SHA256(),
    "RS384": hashes.SHA384(),
    "RS512": hashes.SHA512(),
}
#: JWT sizes beyond this are refused before any decoding (a capture context is ~1.5 kB).
MAX_JWT_LENGTH = 64 * 1024


def _load_speedups() -> Optional[ModuleType]:
    """The optional C base64url (``flex_ext/_speedups.c``), unless it was not built or
    ``FLEX_EXT_PURE_PYTHON`` is set (to anything but ``0``)."""
    if os.environ.get("FLEX_EXT_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from . import _speedups
    except ImportError:
        return None
    return _speedups


_SPEEDUPS = _load_speedups()
#: True when base64url runs in the optional C extension; the pure-Python code gives the same
#: results, only slower.
C_SPEEDUPS = _SPEEDUPS is not None


def _b64url_encode_py(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_FROM_STANDARD).rstrip(b"=").decode("ascii")


_encode: Callable[[bytes], str] = _b64url_encode_py if _SPEEDUPS is None else _SPEEDUPS.encode


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return _encode(data)


def b64url_decode(value: str, what: str = "value") -> bytes:
    """Strict unpadded base64url decoding.

    Refuses padding, whitespace, the standard-alphabet ``+``/``/``, any other character, an
    impossible length, and non-zero trailing bits (so every byte string has exactly one
    accepted encoding). ``what`` names the part in the error message.
    """
    decoded = _b64url_decode_or_none(value) if type(value) is str else None
    if decoded is None:
        _b64url_error(value, what)
    return decoded  # type: ignore[return-value]


def _b64url_error(value: object, what: str) -> None:
    """Raise the precise error for a value :func:`_b64url_decode_or_none` refused."""
    if not isinstance(value, str):
        raise JWTValidationError(f"{what} must be a base64url string")
    if not value.isascii():
        raise JWTValidationError(f"{what} is not valid base64url (non-ASCII character)")
    if value.encode("ascii").translate(None, _B64URL_ALPHABET_BYTES):
        raise JWTValidationError(f"{what} is not valid base64url (character outside the alphabet)")
    if _PADDING[len(value) % 4] is None:
        raise JWTValidationError(f"{what} is not valid base64url (impossible length)")
    raise JWTValidationError(f"{what} is not valid base64url (non-canonical encoding)")


_PAD_BYTES = (b"", None, b"==", b"=")


def _b64url_decode_or_none_py(value: object) -> Optional[bytes]:
    if type(value) is str:
        if not value.isascii():
            return None
        value = value.encode("ascii")
    elif type(value) is not bytes:
        return None
    return _b64url_bytes_or_none_py(value)


# The value of each byte as a base64url digit (0 for bytes outside the alphabet).
_BYTE_VALUE = tuple(_B64URL_VALUE.get(chr(b), 0) for b in range(256))


def _b64url_bytes_or_none_py(raw: bytes) -> Optional[bytes]:
    rem = len(raw) % 4
    pad = _PAD_BYTES[rem]
    if pad is None:
        return None
    if rem and _BYTE_VALUE[raw[-1]] & (0x0F if rem == 2 else 0x03):
        return None  # unused low bits of the last character must be zero (canonical form)
    return _a2b_urlsafe(raw, pad)


if sys.version_info >= (3, 11):

    def _a2b_urlsafe(raw: bytes, pad: bytes) -> Optional[bytes]:
        # What the standard decoder would also take ('+', '/', '=') is refused first; strict
        # decoding refuses every other byte outside the alphabet.
        if 43 in raw or 47 in raw or 61 in raw:  # b"+", b"/", b"="
            return None
        try:
            return binascii.a2b_base64(raw.replace(b"-", b"+").replace(b"_", b"/") + pad, strict_mode=True)
        except binascii.Error:
            return None

else:  # pragma: no cover - Python 3.9 / 3.10 have no strict mode

    def _a2b_urlsafe(raw: bytes, pad: bytes) -> Optional[bytes]:
        if raw.translate(None, _B64URL_ALPHABET_BYTES):
            return None
        return binascii.a2b_base64(raw.translate(_TO_STANDARD) + pad)


#: The bytes of a ``str`` (ASCII) or ``bytes`` value, or None when it is not canonical unpadded
#: base64url (or any other type); the hot path of every JWT and JWK decode.
_b64url_decode_or_none: Callable[[object], Optional[bytes]] = (
    _b64url_decode_or_none_py if _SPEEDUPS is None else _SPEEDUPS.decode
)


def _json_object(data: bytes, what: str, part: str = "") -> dict[str, Any]:
    try:
        obj = _JSON_DECODE(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise JWTValidationError(f"{what}{part} is not valid UTF-8 JSON") from None
    if type(obj) is not dict:
        raise JWTValidationError(f"{what}{part} is not a JSON object")
    return obj


def _refuse_constant(name: str) -> Any:
    # JSON has no NaN or Infinity; Python's decoder accepts them unless told otherwise, and
    # a NaN "exp" would compare as never expired.
    raise ValueError(f"{name} is not JSON")


_JSON_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_JSON_DECODE = _JSON_DECODER.decode


@lru_cache(maxsize=256)
def _decode_header(raw_header: str, what: str) -> dict[str, Any]:
    # Headers repeat across tokens (one per signing key): decode each distinct one once.
    # Callers get a copy, so the cached dict is never mutated.
    return _json_object(b64url_decode(raw_header, f"{what} header"), f"{what} header")


class ParsedJWT(NamedTuple):
    """A compact JWS split and decoded, not yet verified (a named tuple: cheap to build)."""

    raw: str
    header: Dict[str, Any]
    claims: Dict[str, Any]
    signing_input: bytes
    signature: bytes
    raw_header: str
    raw_payload: str
    raw_signature: str

    @property
    def alg(self) -> Optional[str]:
        alg = self.header.get("alg")
        return alg if isinstance(alg, str) else None

    @property
    def kid(self) -> Optional[str]:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) and kid else None

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
    header = dict(_decode_header(raw_header, what)) if len(raw_header) <= 512 else _json_object(
        b64url_decode(raw_header, f"{what} header"), f"{what} header"
    )
    payload = _b64url_decode_or_none(raw_payload)
    if payload is None:
        _b64url_error(raw_payload, f"{what} payload")
    claims = _json_object(payload, what, " payload")  # type: ignore[arg-type]
    signature = _b64url_decode_or_none(raw_signature)
    if signature is None:
        _b64url_error(raw_signature, f"{what} signature")
    return ParsedJWT(
        token,
        header,
        claims,
        token[: len(raw_header) + 1 + len(raw_payload)].encode("ascii"),
        signature,  # type: ignore[arg-type]
        raw_header,
        raw_payload,
        raw_signature,
    )


def check_alg(parsed: ParsedJWT, allowed_algs: Iterable[str] = ("RS256",), what: str = "JWT") -> str:
    """Return the header ``alg`` if it is one of ``allowed_algs`` (RS256/384/512 only), else raise.

    Call it before fetching a key, so a token with ``alg: none`` costs no network request.
    """
    header = parsed.header
    alg = header.get("alg")
    allowed = allowed_algs if type(allowed_algs) is tuple else tuple(allowed_algs)
    if type(alg) is not str or alg not in allowed or alg not in _RS_HASHES:
        shown = alg if isinstance(alg, str) and len(alg) <= 16 and alg.isprintable() else "<invalid>"
        raise JWTValidationError(
            f"{what} algorithm {shown!r} is not accepted (allowed: {', '.join(map(str, allowed))})"
        )
    if "crit" in header:
        raise JWTValidationError(f"{what} header carries 'crit' extensions, which are not supported")
    return alg


def verify_signature(
    parsed: ParsedJWT,
    key: rsa.RSAPublicKey,
    allowed_algs: Iterable[str] = ("RS256",),
    what: str = "JWT",
) -> None:
    """Verify an RSASSA-PKCS1-v1_5 signature; the caller, not the token, decides the algorithm.

    ``alg`` must be a string in ``allowed_algs`` (only ``RS256``/``RS384``/``RS512`` can be
    allowed). A ``crit`` header is refused: we implement no JWS extension. The signature
    must be exactly as long as the modulus.
    """
    alg = check_alg(parsed, allowed_algs, what)
    if not isinstance(key, rsa.RSAPublicKey):
        raise JWKValidationError(f"{what} verification key is not an RSA public key")
    verify_checked_alg(parsed, key, alg, what)


def verify_checked_alg(parsed: ParsedJWT, key: rsa.RSAPublicKey, alg: str, what: str = "JWT") -> None:
    """:func:`verify_signature` for callers that already ran :func:`check_alg` and know ``key``
    is an RSA public key (the hot path of a cached verification)."""
    signature = parsed.signature
    if len(signature) * 8 != _modulus_bits(key):
        raise JWTValidationError(f"{what} signature verification failed")
    try:
        key.verify(signature, parsed.signing_input, _PKCS1V15, _RS_HASHES[alg])
    except InvalidSignature:
        raise JWTValidationError(f"{what} signature verification failed") from None


def _modulus_bits(key: rsa.RSAPublicKey) -> int:
    """The modulus size rounded up to whole bytes, in bits (a signature's exact length)."""
    return ((key.key_size + 7) // 8) * 8


def _b64url_uint(jwk: Mapping[str, Any], name: str) -> int:
    value = jwk.get(name)
    if type(value) is str and value:
        cached = _COMMON_UINTS.get(value)
        if cached is not None:
            return cached
        raw = _b64url_decode_or_none(value)
        if raw is not None:
            return int.from_bytes(raw, "big")
    if not isinstance(value, str) or not value:
        raise JWKValidationError(f"JWK parameter {name!r} is missing or not a string")
    try:
        _b64url_error(value, "JWK parameter")
    except JWTValidationError as exc:
        raise JWKValidationError(str(exc).replace("JWK parameter", f"JWK parameter {name!r}")) from None
    raise AssertionError("unreachable")  # pragma: no cover


#: Public exponents seen in practice, decoded once.
_COMMON_UINTS = {"AQAB": 65537, "Aw": 3}


def jwk_modulus_bits(jwk: Mapping[str, Any]) -> int:
    """The bit length of an RSA JWK's modulus ``n``."""
    if not isinstance(jwk, Mapping):
        raise JWKValidationError("JWK must be a JSON object")
    return _b64url_uint(jwk, "n").bit_length()


def validate_rsa_jwk(
    jwk: Mapping[str, Any],
    *,
    require_use: Optional[str] = None,
    min_bits: Optional[int] = 2048,
    require_kid: bool = False,
) -> tuple[int, int]:
    """Check an RSA public JWK and return its ``(n, e)``; see :func:`rsa_public_key_from_jwk`."""
    if type(jwk) is not dict and not isinstance(jwk, Mapping):
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
    jwk: Mapping[str, Any],
    *,
    require_use: Optional[str] = None,
    min_bits: Optional[int] = 2048,
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
    claims: Mapping[str, Any],
    *,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
    now: Optional[float] = None,
    require_exp: bool = True,
    allow_expired: bool = False,
    what: str = "JWT",
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
