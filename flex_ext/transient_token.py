"""Tokenization: POST the JWE to ``flx.origin + flx.path`` and verify the transient token.

The tokens call is unauthenticated (protocol.md A1/A4): body is the bare JWE,
``Content-Type: application/jwt``, and the answer is the transient-token JWT. When the
response carries ``Digest: SHA-256=<b64>`` it must match the body. The token is signed
RS256 by the private half of the capture context's one-time key, so it is verified with
``flx.jwk``, never with ``/public-keys``, and its ``exp`` is checked.

The POST is never retried: it is not idempotent (a capture context has a usage limit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from .errors import HTTPError, JWTValidationError
from .jose import DEFAULT_LEEWAY_SECONDS, check_time_claims, numeric_date_utc, parse_compact_jwt, verify_signature
from .jwe import ALG_RSA_OAEP_256, encrypt_for_capture_context
from .transport import TimeoutSpec, TransportSettings, send

if TYPE_CHECKING:  # pragma: no cover
    from .capture_context import CaptureContext

__all__ = ["TransientToken", "check_digest", "post_jwe", "tokenize", "verify_transient_token"]

_WHAT = "transient token"
_DIGESTS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}


@dataclass(frozen=True, repr=False)
class TransientToken:
    """A verified transient token.

    ``jwt`` is what you send to the payments API as
    ``tokenInformation.transientTokenJwt``; some services take ``jti`` instead. Both are
    bearer references to the customer's card for 15 minutes, so neither is shown in full
    by ``repr``/``str``. ``content`` holds the masked card data (``maskedValue``, ``bin``,
    ``detectedCardTypes``) when the server sends it, else None.
    """

    jwt: str
    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    jti: str
    issued_at: Optional[datetime]
    expires_at: Optional[datetime]
    issuer: Optional[str]
    token_type: Optional[str]
    content: Optional[Mapping[str, Any]] = field(default=None)

    def __repr__(self) -> str:
        jti = self.jti[:6] + "..." if len(self.jti) > 6 else "..."
        exp = self.expires_at.isoformat() if self.expires_at else None
        return f"TransientToken(jti={jti!r}, type={self.token_type!r}, expires_at={exp!r})"

    __str__ = __repr__

    @property
    def masked_card_number(self) -> Optional[str]:
        """``content.paymentInformation.card.number.maskedValue`` when present."""
        node: Any = self.content
        for key in ("paymentInformation", "card", "number", "maskedValue"):
            if not isinstance(node, Mapping):
                return None
            node = node.get(key)
        return node if isinstance(node, str) else None


def verify_transient_token(
    jwt: str, capture_context: CaptureContext, *, leeway: float = DEFAULT_LEEWAY_SECONDS, allow_expired: bool = False,
    now: Optional[float] = None, allow_unverified: bool = False,
) -> TransientToken:
    """Verify a transient token with the capture context's one-time JWK and return it typed.

    RS256 only; the header ``kid``, when present, must be the capture context's JWK kid;
    ``exp`` is required and checked with ``leeway`` (opt out with ``allow_expired=True``);
    ``jti`` is required.

    The capture context must be a verified one (``capture_context.verified``): the token is
    only as trustworthy as the key it is checked with, and the key of an unverified context
    is whatever its author chose. ``allow_unverified=True`` lifts this for tests and
    documentation examples.
    """
    if not capture_context.verified and not allow_unverified:
        raise JWTValidationError(
            f"refusing to verify a {_WHAT} against an unverified capture context "
            "(verify the capture context first, or pass allow_unverified=True in tests)"
        )
    parsed = parse_compact_jwt(jwt, _WHAT)
    kid = parsed.header.get("kid")
    if kid is not None and kid != capture_context.kid:
        raise JWTValidationError(f"{_WHAT} was not signed by this capture context's key (kid differs)")
    verify_signature(parsed, capture_context.encryption_key, ("RS256",), _WHAT)
    claims = parsed.claims
    check_time_claims(claims, leeway=leeway, now=now, allow_expired=allow_expired, what=_WHAT)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise JWTValidationError(f"{_WHAT} has no 'jti' claim")
    issuer, token_type, content = claims.get("iss"), claims.get("type"), claims.get("content")
    return TransientToken(
        jwt=jwt, header=parsed.header, claims=claims, jti=jti, issued_at=numeric_date_utc(claims.get("iat")),
        expires_at=numeric_date_utc(claims.get("exp")), issuer=issuer if isinstance(issuer, str) else None,
        token_type=token_type if isinstance(token_type, str) else None,
        content=content if isinstance(content, Mapping) else None,
    )


def check_digest(header_value: str, body: bytes) -> None:
    """Check an RFC 3230 ``Digest`` header (``SHA-256=<b64>``, possibly several, comma-separated).

    At least one SHA-256/SHA-512 entry must be present, and every such entry must match.
    """
    checked = False
    for item in header_value.split(","):
        name, sep, value = item.strip().partition("=")
        algo = _DIGESTS.get(name.strip().lower())
        if not sep or algo is None:
            continue
        expected = base64.b64encode(algo(body).digest()).decode("ascii")
        if not hmac.compare_digest(expected, value.strip()):
            raise HTTPError("tokens response Digest does not match its body", status=0)
        checked = True
    if not checked:
        raise HTTPError("tokens response Digest header names no supported algorithm", status=0)


def post_jwe(
    capture_context: CaptureContext, jwe: str, *, transport: Optional[TransportSettings] = None,
    timeout: TimeoutSpec = None, allow_unverified: bool = False,
) -> str:
    """POST the JWE to ``capture_context.tokens_url`` and return the response body (the JWT).

    No authentication is sent. A non-2xx answer raises :class:`~flex_ext.errors.HTTPError`
    with status, reason, body and headers; a ``Digest`` that does not match raises too.

    The tokens URL comes from the capture context, so a context whose signature was not
    verified could send card data anywhere: it is refused unless ``allow_unverified=True``.
    """
    if not capture_context.verified and not allow_unverified:
        raise JWTValidationError(
            "refusing to post card data to the origin of an unverified capture context"
        )
    response = send(
        transport or TransportSettings(), "POST", capture_context.tokens_url,
        headers={"Content-Type": "application/jwt", "Accept": "application/jwt"}, body=jwe.encode("ascii"),
        timeout=timeout,
    )
    if not 200 <= response.status < 300:
        raise response.error(f"POST {capture_context.tokens_url}")
    digest = response.headers.get("Digest")
    if digest is not None:
        try:
            check_digest(digest, response.data)
        except HTTPError as exc:
            raise HTTPError(
                str(exc), status=response.status, reason=response.reason, headers=response.headers
            ) from None
    try:
        return response.data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise JWTValidationError(f"{_WHAT} response body is not a JWT") from None


def tokenize(
    capture_context: CaptureContext, data: Mapping[str, Any], *, transport: Optional[TransportSettings] = None,
    timeout: TimeoutSpec = None, alg: str = ALG_RSA_OAEP_256, leeway: float = DEFAULT_LEEWAY_SECONDS,
    now: Optional[float] = None,
) -> TransientToken:
    """Encrypt ``data`` for ``capture_context``, post it, and verify the transient token.

    The capture context must be verified (card data goes to its ``flx.origin``), and an
    expired one (beyond ``leeway``) is refused before anything is sent.
    """
    if not capture_context.verified:
        raise JWTValidationError("refusing to tokenize with an unverified capture context")
    check_time_claims(capture_context.claims, leeway=leeway, now=now, what="capture context")
    jwe = encrypt_for_capture_context(capture_context, data, alg=alg)
    token = post_jwe(capture_context, jwe, transport=transport, timeout=timeout)
    return verify_transient_token(token, capture_context, leeway=leeway, now=now)
