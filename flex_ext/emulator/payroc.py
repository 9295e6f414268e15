"""The Payroc side of the emulator: the two calls behind Hosted Fields (protocol notes, Part C).

Served by the same loopback server as Flex (see :mod:`.server`), on the same port:

* ``POST /authorize`` (the Identity service): checks ``x-api-key`` and answers
  ``{"access_token", "expires_in": 3600, "scope", "token_type": "Bearer"}``, or a 401
  problem;
* ``POST /v1/processing-terminals/{id}/hosted-fields-sessions``: 401 without a valid,
  unexpired bearer token; the documented validation (terminal id 4-50 characters,
  ``Idempotency-Key`` UUID v4, ``libVersion`` pattern, ``scenario`` enum, ``secureTokenId``
  1-200 characters) with a 400 problem naming each bad parameter in ``errors[].parameter``;
  idempotency (same key and body: the stored 201 is replayed; same key, other body: 409;
  no key: 400); 201 with ``expiresAt`` = now + 10 minutes and a ``location`` header.

Its validation is written independently of :mod:`flex_ext.hosted_fields`, so a client bug
is not mirrored by the server. Time is the emulator's :class:`~.clock.EmulatorClock`;
faults are the emulator's (endpoints ``payroc-authorize`` and ``payroc-sessions``).
Neither the API key nor any token is ever logged or recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional, cast

from .clock import EmulatorClock
from .loopback import Reply, Request

__all__ = ["PAYROC_MAX_BODY", "CreatedSession", "PayrocService", "RecordedRequest", "payroc_problem"]

_ERRORS_DOC = "https://docs.payroc.com/api/errors"
_SESSIONS_PATH = re.compile(r"/v1/processing-terminals/(?P<terminal>[^/]*)/hosted-fields-sessions")
_LIB_VERSION = re.compile(r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}(?:-beta)?\.[0-9]+")
_UUID_V4 = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}")
# Headers that carry credentials: never recorded, never logged.
_SECRET_HEADERS = frozenset({"authorization", "x-api-key", "cookie", "proxy-authorization"})
#: Payroc refuses larger bodies with 413 (the loopback server's own limit is higher).
PAYROC_MAX_BODY = 64 * 1024
_MAX_RECORDED = 1000

_TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    500: ("api-error", "Api error"),
    502: ("api-error", "Bad gateway"),
    503: ("api-error", "Service unavailable"),
    504: ("api-error", "Gateway timeout"),
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received (credential headers left out) and the status answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: Optional[int]  # None: the connection was reset

    @property
    def idempotency_key(self) -> Optional[str]:
        for name, value in self.headers.items():
            if name.lower() == "idempotency-key":
                return value
        return None


@dataclass(frozen=True)
class CreatedSession:
    """A session the emulator really created (replays do not add one)."""

    processing_terminal_id: str
    token: str = field(repr=False)
    expires_at: datetime
    idempotency_key: str
    lib_version: str
    scenario: str
    secure_token_id: Optional[str]


def payroc_problem(status: int, detail: str, errors: Optional[list[dict[str, str]]] = None) -> Reply:
    """A Payroc ``application/problem+json`` answer."""
    slug, title = _TITLES.get(status, ("api-error", "Error"))
    document: dict[str, Any] = {"type": f"{_ERRORS_DOC}#{slug}", "title": title, "status": status, "detail": detail}
    if errors is not None:
        document["errors"] = errors
    return Reply(status, {"Content-Type": "application/problem+json"}, json.dumps(document).encode())


def _bad(parameter: str, detail: str) -> dict[str, str]:
    return {"parameter": parameter, "detail": detail, "message": detail}


def _iso(moment: float) -> str:
    text = datetime.fromtimestamp(moment, tz=timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


class PayrocService:
    """Payroc state (API key, bearer tokens, idempotency, sessions) on the emulator clock.

    :param api_key: the accepted API key (default: a random one, see :attr:`api_key`).
    :param token_lifetime: ``expires_in`` of bearer tokens (3600 as documented).
    :param session_lifetime: seconds until a session token expires (600 as documented).
    """

    def __init__(
        self,
        clock: EmulatorClock,
        *,
        api_key: Optional[str] = None,
        token_lifetime: int = 3600,
        session_lifetime: int = 600,
    ) -> None:
        self.api_key = api_key if api_key is not None else secrets.token_urlsafe(24)
        self.clock = clock
        self.token_lifetime = token_lifetime
        self.session_lifetime = session_lifetime
        self.api_url = "http://127.0.0.1/v1"
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self._idempotency: dict[str, tuple[str, Reply]] = {}  # key -> (fingerprint, stored 201)
        self._sessions: list[CreatedSession] = []
        self._requests: deque[RecordedRequest] = deque(maxlen=_MAX_RECORDED)
        self._authorize_calls = 0

    def __repr__(self) -> str:
        return f"PayrocService(sessions={self.sessions_created})"

    # -- observation ---------------------------------------------------------------------

    @property
    def sessions_created(self) -> int:
        with self._lock:
            return len(self._sessions)

    @property
    def sessions(self) -> list[CreatedSession]:
        with self._lock:
            return list(self._sessions)

    @property
    def authorize_calls(self) -> int:
        with self._lock:
            return self._authorize_calls

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def record(self, request: Request, status: Optional[int]) -> None:
        """Keep ``request`` (credential headers left out) and the status answered (None: reset)."""
        headers = {name: value for name, value in request.headers if name.lower() not in _SECRET_HEADERS}
        with self._lock:
            self._requests.append(RecordedRequest(request.method, request.target, headers, request.body, status))

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    # -- endpoints (called from handler threads) -----------------------------------------

    def authorize(self, request: Request) -> Reply:
        with self._lock:
            self._authorize_calls += 1
        offered = request.header("x-api-key") or ""
        if not hmac.compare_digest(offered.encode(), self.api_key.encode()):
            return payroc_problem(401, "The API key is missing or not valid")
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = self.clock.now()
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = now + self.token_lifetime
        document = {
            "access_token": token,
            "expires_in": self.token_lifetime,
            "scope": "service_a service_b",
            "token_type": "Bearer",
        }
        return Reply(200, {"Content-Type": "application/json"}, json.dumps(document).encode())

    def _bearer_ok(self, request: Request) -> bool:
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        with self._lock:
            expiry = self._tokens.get(token.strip())
            return expiry is not None and self.clock.now() < expiry

    def create_session(self, request: Request, terminal: str) -> Reply:
        body = request.body
        if len(body) > PAYROC_MAX_BODY:
            return payroc_problem(413, "The body is too large or its length is invalid")
        if not self._bearer_ok(request):
            return payroc_problem(401, "Identity could not be verified: missing, invalid or expired bearer token")
        content_type = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            return payroc_problem(415, "Send the body as application/json")
        key = request.header("idempotency-key")
        if key is None or not key.strip():
            return payroc_problem(
                400,
                "The Idempotency-Key header is required (idempotencyKeyMissing)",
                [_bad("Idempotency-Key", "The Idempotency-Key header is required")],
            )

        errors: list[dict[str, str]] = []
        if not _UUID_V4.fullmatch(key):
            errors.append(_bad("Idempotency-Key", "Must be a UUID v4"))
        if not 4 <= len(terminal) <= 50:
            errors.append(_bad("processingTerminalId", "Must be between 4 and 50 characters"))
        try:
            document = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError):
            document = None
        if not isinstance(document, dict):
            errors.append(_bad("body", "The body must be a JSON object"))
            document = {}
        lib_version = document.get("libVersion")
        if not isinstance(lib_version, str) or not _LIB_VERSION.fullmatch(lib_version):
            errors.append(_bad("libVersion", "Must match ^\\d{1,2}\\.\\d{1,2}\\.\\d{1,2}(?:-beta)?\\.\\d+$"))
        scenario = document.get("scenario")
        if scenario not in ("payment", "tokenization"):
            errors.append(_bad("scenario", "Must be one of: payment, tokenization"))
        secure_token_id = document.get("secureTokenId")
        if secure_token_id is not None and (
            not isinstance(secure_token_id, str) or not 1 <= len(secure_token_id) <= 200
        ):
            errors.append(_bad("secureTokenId", "Must be between 1 and 200 characters"))
        if errors:
            # Not stored: a failed 400 may be resubmitted with the same key once fixed.
            detail = "One or more validation errors occurred, see error section for more info"
            return payroc_problem(400, detail, errors)

        canonical = {k: document[k] for k in ("libVersion", "scenario", "secureTokenId") if k in document}
        fingerprint = hashlib.sha256(
            json.dumps([terminal, canonical], sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        normalized_key = key.lower()
        with self._lock:
            stored = self._idempotency.get(normalized_key)
            if stored is not None:
                if stored[0] == fingerprint:
                    return stored[1]
                return payroc_problem(
                    409,
                    "The idempotency key is already in use with another request (idempotencyKeyInUse)",
                    [_bad("Idempotency-Key", "The key was used with a different request body")],
                )
            now = self.clock.now()
            session = CreatedSession(
                processing_terminal_id=terminal,
                token=secrets.token_hex(16),
                expires_at=datetime.fromtimestamp(now + self.session_lifetime, tz=timezone.utc),
                idempotency_key=normalized_key,
                lib_version=cast(str, lib_version),
                scenario=cast(str, scenario),
                secure_token_id=secure_token_id,
            )
            session_id = uuid.uuid4().hex
            response = {
                "processingTerminalId": terminal,
                "token": session.token,
                "expiresAt": _iso(now + self.session_lifetime),
            }
            reply = Reply(
                201,
                {
                    "Content-Type": "application/json",
                    "location": f"{self.api_url}/processing-terminals/{terminal}/hosted-fields-sessions/{session_id}",
                },
                json.dumps(response).encode(),
            )
            self._sessions.append(session)
            self._idempotency[normalized_key] = (fingerprint, reply)
            return reply
