"""A loopback emulator of the two Payroc calls behind Hosted Fields (protocol notes, Part C).

It serves, on one ``127.0.0.1`` port:

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
is not mirrored by the server. Time comes from an injectable clock (epoch seconds), and
faults can be injected: the next N requests answer 5xx or have their connection reset,
before or after the request is processed. Neither the API key nor any token is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional, cast
from urllib.parse import unquote

__all__ = ["CreatedSession", "PayrocEmulator", "RecordedRequest"]

_logger = logging.getLogger("flex_ext.emulator_payroc")

_ERRORS_DOC = "https://docs.payroc.com/api/errors"
_SESSIONS_PATH = re.compile(r"/v1/processing-terminals/(?P<terminal>[^/]*)/hosted-fields-sessions")
_LIB_VERSION = re.compile(r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}(?:-beta)?\.[0-9]+")
_UUID_V4 = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}")
# Headers that carry credentials: never recorded, never logged.
_SECRET_HEADERS = frozenset({"authorization", "x-api-key", "cookie", "proxy-authorization"})
_MAX_BODY = 64 * 1024

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


@dataclass
class _Fault:
    endpoint: str  # "sessions", "authorize" or "any"
    kind: str  # "status" or "reset"
    status: int
    after_processing: bool


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def _problem(status: int, detail: str, errors: Optional[list[dict[str, str]]] = None) -> _Reply:
    slug, title = _TITLES.get(status, ("api-error", "Error"))
    document: dict[str, Any] = {"type": f"{_ERRORS_DOC}#{slug}", "title": title, "status": status, "detail": detail}
    if errors is not None:
        document["errors"] = errors
    return _Reply(status, {"Content-Type": "application/problem+json"}, json.dumps(document).encode())


def _bad(parameter: str, detail: str) -> dict[str, str]:
    return {"parameter": parameter, "detail": detail, "message": detail}


def _iso(moment: float) -> str:
    text = datetime.fromtimestamp(moment, tz=timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


class PayrocEmulator:
    """The Payroc Identity and Hosted Fields endpoints on a loopback port.

    Use as a context manager (or ``start()``/``stop()``)::

        with PayrocEmulator() as payroc:
            config = PayrocConfig(api_key=payroc.api_key, identity_url=payroc.identity_url,
                                  api_url=payroc.api_url)

    :param api_key: the accepted API key (default: a random one, see :attr:`api_key`).
    :param clock: seconds since the epoch; governs token expiry and ``expiresAt``.
    :param token_lifetime: ``expires_in`` of bearer tokens (3600 as documented).
    :param session_lifetime: seconds until a session token expires (600 as documented).
    """

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        clock: Callable[[], float] = time.time,
        token_lifetime: int = 3600,
        session_lifetime: int = 600,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._api_key = api_key if api_key is not None else secrets.token_urlsafe(24)
        self.clock = clock
        self.token_lifetime = token_lifetime
        self.session_lifetime = session_lifetime
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self._idempotency: dict[str, tuple[str, _Reply]] = {}  # key -> (fingerprint, stored 201)
        self._sessions: list[CreatedSession] = []
        self._requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._authorize_calls = 0
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    def __repr__(self) -> str:
        where = self.identity_url if self._server is not None else "stopped"
        return f"PayrocEmulator({where})"

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> PayrocEmulator:
        if self._server is not None:
            return self
        server = _Server((self._host, self._port), _Handler)
        server.emulator = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="payroc-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> PayrocEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses and credentials ------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return int(self._server.server_address[1])

    @property
    def identity_url(self) -> str:
        """Base URL of the Identity service (``POST {identity_url}/authorize``)."""
        return f"http://{self._host}:{self.port}"

    @property
    def api_url(self) -> str:
        """Base URL of the API, with its ``/v1`` prefix."""
        return f"http://{self._host}:{self.port}/v1"

    @property
    def api_key(self) -> str:
        """The API key the Identity endpoint accepts."""
        return self._api_key

    # -- observation ---------------------------------------------------------------------

    @property
    def sessions_created(self) -> int:
        """How many sessions were really created (replayed responses not counted)."""
        with self._lock:
            return len(self._sessions)

    @property
    def sessions(self) -> list[CreatedSession]:
        with self._lock:
            return list(self._sessions)

    @property
    def authorize_calls(self) -> int:
        """How many ``/authorize`` requests reached the handler (accepted or not)."""
        with self._lock:
            return self._authorize_calls

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order, without credential headers."""
        with self._lock:
            return list(self._requests)

    def session_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if _SESSIONS_PATH.fullmatch(r.path.split("?", 1)[0])]

    # -- control -------------------------------------------------------------------------

    def fail_next(
        self, count: int = 1, *, status: int = 500, endpoint: str = "sessions", after_processing: bool = False
    ) -> None:
        """Answer the next ``count`` requests to ``endpoint`` with ``status`` (a problem body).

        ``endpoint``: ``"sessions"``, ``"authorize"`` or ``"any"``. With
        ``after_processing``, the request is handled first (a session is created and stored
        under its key) and only its answer is replaced, as when a response is lost.
        """
        self._add_fault(count, _Fault(endpoint, "status", status, after_processing))

    def reset_next(self, count: int = 1, *, endpoint: str = "sessions", after_processing: bool = False) -> None:
        """Reset the connection (TCP RST, no response) of the next ``count`` requests."""
        self._add_fault(count, _Fault(endpoint, "reset", 0, after_processing))

    def _add_fault(self, count: int, fault: _Fault) -> None:
        if fault.endpoint not in ("sessions", "authorize", "any"):
            raise ValueError("endpoint must be 'sessions', 'authorize' or 'any'")
        with self._lock:
            self._faults.extend(
                _Fault(fault.endpoint, fault.kind, fault.status, fault.after_processing) for _ in range(count)
            )

    def revoke_tokens(self) -> None:
        """Invalidate every bearer token issued so far."""
        with self._lock:
            self._tokens.clear()

    # -- request handling (called from handler threads) ------------------------------------

    def _take_fault(self, endpoint: str) -> Optional[_Fault]:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.endpoint in (endpoint, "any"):
                    return self._faults.pop(index)
        return None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Reply:
        route = path.split("?", 1)[0]
        if route == "/authorize":
            return self._authorize(method, headers) if method == "POST" else _problem(405, "Use POST")
        match = _SESSIONS_PATH.fullmatch(route)
        if match:
            if method != "POST":
                return _problem(405, "Use POST")
            return self._create_session(unquote(match.group("terminal")), headers, body)
        return _problem(404, "No such resource")

    def _authorize(self, method: str, headers: dict[str, str]) -> _Reply:
        with self._lock:
            self._authorize_calls += 1
        offered = headers.get("x-api-key", "")
        if not hmac.compare_digest(offered.encode(), self._api_key.encode()):
            return _problem(401, "The API key is missing or not valid")
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = self.clock()
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = now + self.token_lifetime
        document = {
            "access_token": token,
            "expires_in": self.token_lifetime,
            "scope": "service_a service_b",
            "token_type": "Bearer",
        }
        return _Reply(200, {"Content-Type": "application/json"}, json.dumps(document).encode())

    def _bearer_ok(self, headers: dict[str, str]) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        with self._lock:
            expiry = self._tokens.get(token.strip())
            return expiry is not None and self.clock() < expiry

    def _create_session(self, terminal: str, headers: dict[str, str], body: bytes) -> _Reply:
        if not self._bearer_ok(headers):
            return _problem(401, "Identity could not be verified: missing, invalid or expired bearer token")
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            return _problem(415, "Send the body as application/json")
        key = headers.get("idempotency-key")
        if key is None or not key.strip():
            return _problem(
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
            return _problem(400, "One or more validation errors occurred, see error section for more info", errors)

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
                return _problem(
                    409,
                    "The idempotency key is already in use with another request (idempotencyKeyInUse)",
                    [_bad("Idempotency-Key", "The key was used with a different request body")],
                )
            now = self.clock()
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
            reply = _Reply(
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: PayrocEmulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Never the default traceback on stderr; the type name only.
        _logger.debug("payroc emulator: connection error from %s", client_address[0])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PayrocEmulator"
    sys_version = ""

    @property
    def emulator(self) -> PayrocEmulator:
        return cast(_Server, self.server).emulator

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle plus delayed ACKs
        # add ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # The request line only (method, path, status): never headers.
        _logger.debug("payroc emulator: " + format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length_text = self.headers.get("Content-Length") or "0"
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0 or length > _MAX_BODY:
            self._send(_problem(413, "The body is too large or its length is invalid"))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        emulator = self.emulator
        route = self.path.split("?", 1)[0]
        endpoint = "authorize" if route == "/authorize" else "sessions" if _SESSIONS_PATH.fullmatch(route) else "other"
        fault = emulator._take_fault(endpoint) if endpoint != "other" else None

        recorded_headers = {name: value for name, value in self.headers.items() if name.lower() not in _SECRET_HEADERS}
        if fault is not None and not fault.after_processing:
            reply: Optional[_Reply] = None
        else:
            reply = emulator._handle(self.command, self.path, headers, body)
        if fault is not None:
            if fault.kind == "reset":
                emulator._record(RecordedRequest(self.command, self.path, recorded_headers, body, None))
                self._reset()
                return
            reply = _problem(
                fault.status, "We are unable to process your request at this time", [{"message": "Service offline"}]
            )
        assert reply is not None
        emulator._record(RecordedRequest(self.command, self.path, recorded_headers, body, reply.status))
        self._send(reply)

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
