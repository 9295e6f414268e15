"""What backs the official capture-context utilities (``authenticationsdk.util.jwt.*``,
``CyberSource.utilities.flex.*``): the official names, signatures, exception types (with
``(message, cause=None)``, ``.message`` and ``.cause``) and messages (``official-sdk-compat.md``
§5.1-§5.3), on top of :mod:`flex_ext.jose` and :mod:`flex_ext.public_keys`.

Deliberate difference (the official behaviour is a weakness): ``verify_jwt`` and
``parse_capture_context_response`` apply the whole policy of
:func:`flex_ext.capture_context.verify_capture_context` (RS256 only, no ``crit`` or
header-borne keys, ``exp`` required and checked, RSA keys of 2048 bits or more, strict
base64url, a validated ``kid``, a bounded key cache and a fetch with a timeout). The
official message stays; the precise reason of a refusal is the exception's ``cause``.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Optional

from .capture_context import verify_capture_context
from .config import https_base_url
from .errors import (
    FlexError,
    HTTPError,
    InvalidKidError,
    JWKValidationError,
    JWTValidationError,
    TokenExpiredError,
    TransportError,
)
from .jose import DEFAULT_LEEWAY_SECONDS, b64url_decode, rsa_public_key_from_jwk, validate_rsa_jwk
from .public_keys import PublicKeyResolver, default_key_store, fetch_public_key_jwk, validate_kid
from .transport import TransportSettings

__all__ = [
    "CaptureContextExpiredException", "FlexSecurityException", "InvalidJwkException", "InvalidJwtException",
    "JwtSignatureValidationException", "PublicKeyFetchException", "fetch_public_key", "get_rsa_public_key_from_jwk",
    "parse", "parse_capture_context_response", "verify_jwt",
]

SUPPORTED_ALGORITHMS = ("RS256",)


class _OfficialShape(Exception):
    """``(message, cause=None)`` with ``.message``, ``.cause`` and ``__cause__``, as the
    official ``JWTExceptions`` classes have them."""

    def __init__(self, message: str, cause: Optional[BaseException] = None) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause


class InvalidJwtException(_OfficialShape, JWTValidationError):
    """The JWT is malformed (official ``authenticationsdk.util.jwt.JWTExceptions`` name)."""


class InvalidJwkException(_OfficialShape, JWKValidationError):
    """The JWK is malformed or not an RSA key."""


class JwtSignatureValidationException(_OfficialShape, JWTValidationError):
    """The signature, or (here) any other part of the capture-context policy, did not validate."""


class CaptureContextExpiredException(JwtSignatureValidationException, TokenExpiredError):
    """``parse_capture_context_response`` refused an expired capture context (not official)."""


class FlexSecurityException(FlexError):
    """Official legacy Flex v1 exception name (``CyberSource.utilities.FlexSecurityException``)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = reason


class PublicKeyFetchException(FlexError):
    """What the official ``fetch_public_key`` raised as a bare ``Exception``.

    ``status`` is set for HTTP answers outside 2xx; ``original_error`` holds the cause.
    """

    def __init__(
        self, message: str, status: Optional[int] = None, original_error: Optional[BaseException] = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.original_error = original_error


def _decode_part(part: str, name: str) -> Dict[str, Any]:
    try:
        raw = b64url_decode(part, f"JWT {name}")
    except JWTValidationError as exc:
        raise InvalidJwtException(f"Failed to decode JWT {name} from base64url", exc) from exc
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidJwtException(f"Failed to decode JWT {name} from base64url", exc) from exc
    except ValueError as exc:
        raise InvalidJwtException(f"Invalid JSON in JWT {name}", exc) from exc
    if not isinstance(value, dict):
        raise InvalidJwtException("Malformed JWT cannot be parsed")
    return value


def parse(jwt_token: Any) -> Dict[str, Any]:
    """``{header, payload, signature, raw_header, raw_payload}`` of a compact JWT (no checks).

    Raises ``InvalidJwtException`` with the official messages.
    """
    if jwt_token is None:
        raise InvalidJwtException("JWT token is null or undefined")
    if not isinstance(jwt_token, str):
        raise InvalidJwtException("JWT token must be a string")
    parts = jwt_token.split(".")
    if len(parts) != 3:
        raise InvalidJwtException("Invalid JWT token format: expected 3 parts separated by dots")
    if not all(parts):
        raise InvalidJwtException("Invalid JWT token: one or more parts are empty")
    return {
        "header": _decode_part(parts[0], "header"),
        "payload": _decode_part(parts[1], "payload"),
        "signature": parts[2],
        "raw_header": parts[0],
        "raw_payload": parts[1],
    }


def _jwk_dict(public_key: Any) -> Dict[str, Any]:
    if isinstance(public_key, str):
        try:
            jwk = json.loads(public_key)
        except ValueError as exc:
            raise InvalidJwkException("Invalid public key JSON format", exc) from exc
    elif isinstance(public_key, Mapping) and "kty" in public_key:
        jwk = dict(public_key)
    else:
        raise InvalidJwkException("Invalid public key format. Expected JWK object or JSON string.")
    if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
        raise InvalidJwkException("Public key must be an RSA key (kty: RSA)")
    if not jwk.get("n") or not jwk.get("e"):
        raise InvalidJwkException("Invalid RSA JWK: missing required parameters (n, e)")
    return jwk


def verify_jwt(jwt_token: Any, public_key: Any) -> None:
    """Verify a capture context with its signing key, an RSA JWK (dict or JSON string); None
    on success. The whole capture-context policy applies: a refusal raises
    ``JwtSignatureValidationException('JWT signature verification failed')``."""
    if not public_key:
        raise JwtSignatureValidationException("No public key found")
    if not jwt_token:
        raise JwtSignatureValidationException("JWT token is null or undefined")
    alg = parse(jwt_token)["header"].get("alg")
    if not alg:
        raise JwtSignatureValidationException("JWT header missing algorithm (alg) field")
    if alg not in SUPPORTED_ALGORITHMS:
        shown = alg if isinstance(alg, str) else type(alg).__name__
        raise JwtSignatureValidationException(
            f"Unsupported JWT algorithm: {shown}. Supported algorithms: {', '.join(SUPPORTED_ALGORITHMS)}"
        )
    jwk = _jwk_dict(public_key)
    try:
        key = rsa_public_key_from_jwk(jwk)
    except JWKValidationError as exc:
        raise InvalidJwkException("Failed to create RSA public key from JWK", exc) from exc
    try:
        verify_capture_context(jwt_token, public_key=key)
    except JWTValidationError as exc:
        raise JwtSignatureValidationException("JWT signature verification failed", exc) from exc


def get_rsa_public_key_from_jwk(jwk_json_string: Any) -> Dict[str, Any]:
    """Parse a JWK JSON string and return the dict if it is an RSA key that passes the JWK
    policy (the official SDK checks only ``kty``)."""
    try:
        jwk = json.loads(jwk_json_string)
    except (TypeError, ValueError) as exc:
        raise InvalidJwkException("Failed to parse JWK or extract RSA public key", exc) from exc
    if not isinstance(jwk, dict):
        raise InvalidJwkException("Failed to parse JWK or extract RSA public key")
    if jwk.get("kty") != "RSA":
        raise InvalidJwkException("JWK Algorithm mismatch. Expected algorithm : RSA")
    try:  # the same key policy as everywhere else (modulus of at least 2048 bits, ...)
        validate_rsa_jwk(jwk)
    except JWKValidationError as exc:
        raise InvalidJwkException("Failed to parse JWK or extract RSA public key", exc) from exc
    return jwk


def _fetch_jwk(kid: str, base_url: str, transport: TransportSettings) -> Dict[str, Any]:
    """The fetch with the official error shapes (``PublicKeyFetchException`` messages)."""
    try:
        return fetch_public_key_jwk(base_url, kid, transport=transport)
    except HTTPError as exc:
        raise PublicKeyFetchException(
            f"HTTP {exc.status}: {exc.reason} - Failed to fetch public key for kid: {kid}", status=exc.status,
            original_error=exc,
        ) from exc
    except TransportError as exc:
        raise PublicKeyFetchException(
            f"HTTP error - Failed to fetch public key for kid: {kid}", original_error=exc
        ) from exc
    except InvalidKidError:
        raise
    except JWKValidationError as exc:
        raise PublicKeyFetchException(f"Failed to parse JWK response: {exc}", original_error=exc) from exc


def fetch_public_key(kid: Any, run_environment: Any) -> Dict[str, Any]:
    """``GET https://{run_environment}/flex/v2/public-keys/{kid}``; the JWK dict.

    Official errors: ``ValueError('kid parameter is required')``,
    ``ValueError('runEnvironment parameter is required')``,
    ``ValueError('Invalid kid parameter: ...')`` (an :class:`~flex_ext.errors.InvalidKidError`),
    and an ``Exception`` (:class:`PublicKeyFetchException`) reading
    ``'HTTP <status>: <reason> - Failed to fetch public key for kid: <kid>'`` (with ``.status``)
    or ``'HTTP error - Failed to fetch public key for kid: <kid>'`` (no answer).
    """
    if not kid:
        raise ValueError("kid parameter is required")
    if not run_environment:
        raise ValueError("runEnvironment parameter is required")
    validate_kid(kid)
    return _fetch_jwk(kid, https_base_url(str(run_environment)), TransportSettings())


def _run_environment(merchant_config: Any) -> Optional[str]:
    if hasattr(merchant_config, "run_environment"):
        value = merchant_config.run_environment
    elif hasattr(merchant_config, "getRunEnvironment"):
        value = merchant_config.getRunEnvironment()
    else:
        return None
    return str(value) if value else None


def _resolver_for(merchant_config: Any, run_environment: str) -> PublicKeyResolver:
    base = getattr(merchant_config, "base_url", None)
    transport = getattr(merchant_config, "transport", None)
    if not isinstance(base, str) or not base:
        base = https_base_url(run_environment)
    if not isinstance(transport, TransportSettings):
        transport = TransportSettings()

    def fetcher(base_url: str, kid: str) -> Mapping[str, Any]:
        return _fetch_jwk(kid, base_url, transport)

    # The process-wide store is shared with FlexClient: the resolver's default JWK policy
    # (>= 2048 bits) runs before anything is stored.
    return PublicKeyResolver(base, transport=transport, store=default_key_store(), fetcher=fetcher)


def parse_capture_context_response(
    jwt_value: Any, merchant_config: Any, verify_jwt_signature: bool = True, *, allow_expired: bool = False,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
) -> Dict[str, Any]:
    """Verify a capture context and return its payload dict (official signature and errors).

    ``merchant_config`` is any object with ``run_environment`` or ``getRunEnvironment()``; a
    ``MerchantConfig`` also contributes its base URL (``IntermediateHost``) and transport.
    A cached key that fails is fetched again exactly once. A refusal raises
    ``JwtSignatureValidationException('JWT validation failed')`` with the reason as ``cause``;
    an expired context (beyond ``leeway``) raises :class:`CaptureContextExpiredException`
    unless ``allow_expired=True``. ``verify_jwt_signature=False`` verifies nothing.
    """
    if not jwt_value:
        raise InvalidJwtException("JWT value is null or undefined")
    if not merchant_config:
        raise ValueError("merchantConfig is required")
    parsed = parse(jwt_value)
    if not verify_jwt_signature:
        return parsed["payload"]  # type: ignore[no-any-return]
    kid = parsed["header"].get("kid")
    if not kid:
        raise JwtSignatureValidationException("JWT header missing key ID (kid) field")
    run_environment = _run_environment(merchant_config)
    if not run_environment:
        raise ValueError("Run environment not found in merchant config")
    validate_kid(kid)  # official 0.0.80: ValueError('Invalid kid parameter: ...')
    resolver = _resolver_for(merchant_config, run_environment)
    try:
        verify_capture_context(jwt_value, resolver=resolver, leeway=leeway, allow_expired=allow_expired)
    except PublicKeyFetchException as exc:
        if "Failed to parse JWK" in str(exc):
            raise InvalidJwkException("JWK received from server cannot be parsed correctly", exc) from exc
        raise  # the controller's own exception, as in the official SDK
    except TokenExpiredError as exc:
        raise CaptureContextExpiredException(
            "Capture context has expired (pass allow_expired=True to accept it)", exc
        ) from exc
    except JWTValidationError as exc:
        raise JwtSignatureValidationException("JWT validation failed", exc) from exc
    return parsed["payload"]  # type: ignore[no-any-return]
