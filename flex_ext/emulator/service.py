"""The emulated Flex service, independent of HTTP: keys, capture contexts, tokenization.

State kept per capture context: its one-time RSA key (from a :class:`~.keypool.KeyPool`),
the exact JWT issued, its type (``api-0.1.0`` Flex, ``mf-2.x`` Microform, ``gda-0.10.0``
Unified Checkout), the declared field paths, its expiry and a use counter. No card data is ever stored: a tokenization
builds the masked ``content`` of the transient token and forgets the values.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Optional, Sequence

from cryptography.hazmat.primitives.asymmetric import rsa

from .clock import EmulatorClock
from .fields import FieldProblem, check_card, detect_card_types, flatten_data
from .jose import (
    DecryptionError,
    JoseError,
    decrypt_compact_jwe,
    parse_jwe_header,
    random_alnum,
    rsa_public_jwk,
    sign_rs256,
)
from .keypool import KeyPool, new_rsa_key

__all__ = [
    "CAPTURE_CONTEXT_LIFETIME",
    "DEFAULT_USAGE_LIMIT",
    "TRANSIENT_TOKEN_LIFETIME",
    "CaptureSession",
    "FlexService",
    "TokenizationError",
]

CAPTURE_CONTEXT_LIFETIME = 900
TRANSIENT_TOKEN_LIFETIME = 900
#: Successful tokenizations allowed per capture context (the real limit is not published).
DEFAULT_USAGE_LIMIT = 5
#: Expired contexts are remembered this long, so a late tokenization is told "expired"
#: rather than "not found".
_EXPIRED_RETENTION = 3600
_MAX_SESSIONS = 20000
_TOKEN_ISSUER = "Flex/08"  # noqa: S105 - an issuer name, not a secret
FLEX_CONTEXT_TYPE = "api-0.1.0"
_TOP_LEVEL_MEMBERS = frozenset({"data", "context", "index", "iat", "jti"})


class TokenizationError(Exception):
    """A tokens request is refused; carries the HTTP status and the ``responseStatus`` body."""

    def __init__(self, status: int, reason: str, message: str, details: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.details = list(details)

    def body(self) -> dict[str, Any]:
        return {
            "responseStatus": {
                "status": self.status,
                "reason": self.reason,
                "message": self.message,
                "correlationId": str(uuid.uuid4()),
                "details": [{"location": loc, "message": msg} for loc, msg in self.details],
            }
        }


def _validation(message: str, details: Sequence[tuple[str, str]] = ()) -> TokenizationError:
    return TokenizationError(400, "VALIDATION_ERROR", message, details)


@dataclass
class CaptureSession:
    """One issued capture context. ``uses`` counts successful tokenizations."""

    kid: str
    private_key: rsa.RSAPrivateKey = field(repr=False)
    jwt: str = field(repr=False)
    required: tuple[str, ...]
    optional: tuple[str, ...]
    issued_at: int
    expires_at: int
    merchant_id: str
    context_type: str = FLEX_CONTEXT_TYPE
    uses: int = 0


class FlexService:
    """Signing keys, capture contexts and tokenization, all on the injected clock."""

    def __init__(
        self,
        clock: EmulatorClock,
        usage_limit: int = DEFAULT_USAGE_LIMIT,
        context_lifetime: int = CAPTURE_CONTEXT_LIFETIME,
        token_lifetime: int = TRANSIENT_TOKEN_LIFETIME,
        signing_key: Optional[rsa.RSAPrivateKey] = None,
        signing_kid: Optional[str] = None,
        key_pool: Optional[KeyPool] = None,
    ) -> None:
        if usage_limit < 1:
            raise ValueError("usage_limit must be at least 1")
        self.clock = clock
        self.usage_limit = usage_limit
        self.context_lifetime = context_lifetime
        self.token_lifetime = token_lifetime
        self.origin = "http://127.0.0.1"
        #: Told of every issued token (merchant id, JWT, claims, clear values): the payments sandbox.
        self.on_token_issued: Optional[Callable[[str, str, Mapping[str, Any], Mapping[str, str]], None]] = None
        self._lock = threading.Lock()
        self._signing_keys: dict[str, rsa.RSAPrivateKey] = {}
        self._current_kid = ""
        self._sessions: OrderedDict[str, CaptureSession] = OrderedDict()
        self.key_pool = key_pool if key_pool is not None else KeyPool()
        if signing_key is not None or signing_kid is not None:
            self.rotate_signing_key(signing_key, signing_kid)

    # -- long-lived signing keys ------------------------------------------------------

    @property
    def signing_kid(self) -> str:
        return self._signing_key()[0]

    def _signing_key(self) -> tuple[str, rsa.RSAPrivateKey]:
        # Made on first use: an emulator used only for Payroc never pays for an RSA key.
        with self._lock:
            if self._current_kid:
                return self._current_kid, self._signing_keys[self._current_kid]
        self.rotate_signing_key(only_if_none=True)
        with self._lock:
            return self._current_kid, self._signing_keys[self._current_kid]

    def rotate_signing_key(
        self, key: Optional[rsa.RSAPrivateKey] = None, kid: Optional[str] = None, *, only_if_none: bool = False
    ) -> str:
        """Start signing capture contexts with a new key; old keys stay published."""
        key = key or new_rsa_key()
        with self._lock:
            if only_if_none and self._current_kid:
                return self._current_kid
            if kid is None:
                alphabet = string.ascii_lowercase + string.digits
                kid = random_alnum(2, alphabet)
                while kid in self._signing_keys:
                    kid = random_alnum(2, alphabet)
            self._signing_keys[kid] = key
            self._current_kid = kid
            return kid

    def public_jwk(self, kid: str) -> Optional[dict[str, str]]:
        """The public-keys endpoint's JWK for ``kid``, or None."""
        self._signing_key()
        with self._lock:
            key = self._signing_keys.get(kid)
        return None if key is None else rsa_public_jwk(key.public_key(), kid, use="enc")

    # -- capture contexts -------------------------------------------------------------

    def create_capture_context(
        self,
        merchant_id: str,
        required: Sequence[str],
        optional: Sequence[str],
        context_type: str = FLEX_CONTEXT_TYPE,
        context_data: Optional[Mapping[str, Any]] = None,
        flx_extra: Optional[Mapping[str, Any]] = None,
    ) -> str:
        """A signed capture context. ``required``/``optional`` are the field paths a
        tokenization may carry; ``context_data`` is ``ctx[0].data`` (default: the Flex
        API's ``requiredFields``/``optionalFields``); ``flx_extra`` adds ``flx`` members."""
        session_key = self.key_pool.take()
        session_kid = random_alnum(32)
        now = int(self.clock.now())
        signing_kid, signing_key = self._signing_key()
        jwk = rsa_public_jwk(session_key.public_key(), session_kid)
        if context_data is None:
            context_data = {"requiredFields": list(required), "optionalFields": list(optional)}
        payload = {
            "flx": {
                "path": "/flex/v2/tokens",
                "data": base64.b64encode(secrets.token_bytes(83)).decode("ascii"),
                "origin": self.origin,
                "jwk": {"kty": jwk["kty"], "e": jwk["e"], "use": "enc", "n": jwk["n"], "kid": session_kid},
                **(flx_extra or {}),
            },
            "ctx": [{"data": dict(context_data), "type": context_type}],
            "iss": "Flex API",
            "exp": now + self.context_lifetime,
            "iat": now,
            "jti": random_alnum(16),
        }
        token = sign_rs256({"kid": signing_kid, "alg": "RS256"}, payload, signing_key)
        session = CaptureSession(
            kid=session_kid,
            private_key=session_key,
            jwt=token,
            required=tuple(required),
            optional=tuple(optional),
            issued_at=now,
            expires_at=now + self.context_lifetime,
            merchant_id=merchant_id,
            context_type=context_type,
        )
        with self._lock:
            self._prune(now)
            self._sessions[session_kid] = session
        return token

    def _prune(self, now: int) -> None:
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if len(self._sessions) < _MAX_SESSIONS and oldest.expires_at + _EXPIRED_RETENTION > now:
                break
            self._sessions.popitem(last=False)

    def session(self, kid: str) -> Optional[CaptureSession]:
        with self._lock:
            return self._sessions.get(kid)

    def session_for_context(self, capture_context: str) -> Optional[CaptureSession]:
        """The session that issued this capture-context JWT (by its flx.jwk.kid)."""
        try:
            payload = json.loads(base64.urlsafe_b64decode(capture_context.split(".")[1] + "=="))
            kid = payload["flx"]["jwk"]["kid"]
        except (ValueError, KeyError, IndexError, TypeError, RecursionError):
            return None
        session = self.session(kid) if isinstance(kid, str) else None
        return session if session is not None and session.jwt == capture_context else None

    # -- tokenization -----------------------------------------------------------------

    def tokenize_jwe(self, jwe: str) -> str:
        """Transient token for a compact JWE, or :class:`TokenizationError`."""
        try:
            header = parse_jwe_header(jwe)
        except JoseError as exc:
            raise _validation("the JWE could not be parsed", [("jwe", str(exc))]) from None
        session = self.session(header["kid"])
        if session is None:
            raise TokenizationError(
                404, "CAPTURE_CONTEXT_NOT_FOUND", "no capture context has this key id", [("jwe.kid", "unknown")]
            )
        try:
            plaintext = decrypt_compact_jwe(jwe, session.private_key)
        except DecryptionError:
            raise TokenizationError(400, "DECRYPTION_ERROR", "the JWE could not be decrypted") from None
        except JoseError as exc:
            raise _validation("the JWE could not be parsed", [("jwe", str(exc))]) from None
        try:
            payload = json.loads(plaintext.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            payload = None
        finally:
            del plaintext
        if not isinstance(payload, dict):
            raise _validation("the JWE payload must be a JSON object")
        return self._tokenize_payload(session, payload)

    def tokenize_data(self, capture_context: str, data: Mapping[str, Any]) -> str:
        """In-process tokenization (no JWE): the same checks as the tokens endpoint."""
        session = self.session_for_context(capture_context)
        if session is None:
            raise TokenizationError(404, "CAPTURE_CONTEXT_NOT_FOUND", "this capture context was not issued here")
        return self._tokenize_payload(session, {"data": data, "context": capture_context, "index": 0})

    def _tokenize_payload(self, session: CaptureSession, payload: Mapping[str, Any]) -> str:
        extra = sorted(set(payload) - _TOP_LEVEL_MEMBERS)
        if extra:
            raise _validation("unexpected members in the JWE payload", [(name, "not allowed") for name in extra])
        context = payload.get("context")
        # surrogatepass: a JSON "\ud800" escape decodes to a lone surrogate, which strict UTF-8 refuses.
        if not isinstance(context, str) or not secrets.compare_digest(
            context.encode("utf-8", "surrogatepass"), session.jwt.encode()
        ):
            raise TokenizationError(
                400,
                "CAPTURE_CONTEXT_INVALID",
                "context must be the capture context this key belongs to",
                [("context", "does not match")],
            )
        now = int(self.clock.now())
        if now >= session.expires_at:
            raise TokenizationError(400, "CAPTURE_CONTEXT_EXPIRED", "The capture context has expired")
        index = payload.get("index")
        if isinstance(index, bool) or index != 0 or not isinstance(index, int):
            raise _validation("index must be 0", [("index", "must be 0")])
        data = payload.get("data")
        if not isinstance(data, dict):
            raise _validation("data must be an object", [("data", "must be an object")])
        try:
            values = flatten_data(data)
        except FieldProblem as exc:
            raise _validation("data is malformed", exc.details) from None
        declared = set(session.required) | set(session.optional)
        problems = [(path, "not declared in the capture context") for path in values if path not in declared]
        problems += [
            (path, "required field is missing") for path in session.required if not values.get(path, "").strip()
        ]
        if problems:
            raise _validation("the data does not match the capture context", problems)
        if not any(value.strip() for value in values.values()):
            raise _validation("no non-empty field was submitted", [("data", "empty")])
        today = datetime.fromtimestamp(now, tz=timezone.utc)
        card_problems = check_card(values, today.year, today.month)
        if card_problems:
            raise _validation("the card data is not valid", card_problems)
        content = _masked_content(values)
        with self._lock:
            if session.uses >= self.usage_limit:
                raise TokenizationError(
                    400,
                    "RESOURCE_QUOTA_EXCEEDED",
                    "the capture context has been used too many times",
                    [("context", f"limit is {self.usage_limit}")],
                )
            session.uses += 1
        claims = {
            "iss": _TOKEN_ISSUER,
            "exp": now + self.token_lifetime,
            "type": session.context_type,
            "iat": now,
            "jti": random_alnum(64, string.digits + string.ascii_uppercase),
            "content": content,
        }
        token = sign_rs256({"kid": session.kid, "alg": "RS256"}, claims, session.private_key)
        if self.on_token_issued is not None:
            self.on_token_issued(session.merchant_id, token, claims, values)
        del values
        return token


def _masked_content(values: Mapping[str, str]) -> dict[str, Any]:
    """The transient token's ``content``: card number masked with BIN and detected types,
    expiry and type in clear, security code and all PII as empty objects."""
    card: dict[str, Any] = {}
    number = values.get("paymentInformation.card.number", "")
    detected: list[str] = []
    if number:
        detected = detect_card_types(number)
        card["number"] = {
            "maskedValue": "X" * (len(number) - 4) + number[-4:],
            "bin": number[:6],
            "detectedCardTypes": detected,
        }
    for name in ("expirationMonth", "expirationYear"):
        value = values.get(f"paymentInformation.card.{name}", "")
        if value:
            card[name] = {"value": value}
    if values.get("paymentInformation.card.securityCode", ""):
        card["securityCode"] = {}
    card_type = values.get("paymentInformation.card.type", "") or (detected[0] if detected else "")
    if card_type:
        card["type"] = {"value": card_type}
    content: dict[str, Any] = {}
    if card:
        content["paymentInformation"] = {"card": card}
    order: dict[str, Any] = {}
    for section in ("billTo", "amountDetails", "shipTo"):
        prefix = f"orderInformation.{section}."
        if any(path.startswith(prefix) and value for path, value in values.items()):
            order[section] = {}
    if order:
        content["orderInformation"] = order
    return content
