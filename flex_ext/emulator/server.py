"""HTTP layer of the emulator: routing, body reading, error shapes, fault effects, TLS.

Request and response bodies are never logged; the debug log holds method, route and
status only.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import socket
import ssl
import struct
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional, cast
from urllib.parse import unquote, urlsplit

from .auth import AuthFailure, SignedRequest, authenticate
from .faults import OVERSIZED_BODY_BYTES, Fault, FaultBoard
from .fields import FieldProblem, parse_session_fields
from .jose import parse_json_object
from .merchants import MerchantRegistry
from .payments import PAYMENT_ENDPOINTS, PaymentService, route
from .service import FlexService, TokenizationError

__all__ = ["FlexHTTPServer"]

_log = logging.getLogger("flex_ext.emulator")

MAX_BODY_BYTES = 1024 * 1024
_INFORMATION_LINK = "https://developer.cybersource.com/api/reference/api-reference.html"
_AUTH_HEADERS = ("host", "date", "digest", "signature", "authorization", "v-c-merchant-id")

Response = tuple[int, dict[str, str], bytes]


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _flat_error(status: int, reason: str, message: str, details: list[tuple[str, str]] = ()) -> Response:  # type: ignore[assignment]
    body = {
        "correlationId": str(uuid.uuid4()),
        "details": [{"location": loc, "message": msg} for loc, msg in details],
        "informationLink": _INFORMATION_LINK,
        "message": message,
        "reason": reason,
    }
    return status, {"Content-Type": "application/json", "x-emulator-reason": message}, _json(body)


def _digest_header(body: bytes) -> str:
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class FlexHTTPServer(ThreadingHTTPServer):
    """A threading HTTP(S) server bound to loopback that serves the Flex endpoints."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        port: int,
        service: FlexService,
        registry: MerchantRegistry,
        faults: FaultBoard,
        ssl_context: Optional[ssl.SSLContext] = None,
        payments: Optional[PaymentService] = None,
    ) -> None:
        self.service = service
        self.payments = payments
        self.registry = registry
        self.faults = faults
        self.ssl_context = ssl_context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        connection: socket.socket = request
        # Headers and body go out in two writes: with Nagle on, the body waits for the
        # client's delayed ACK of the headers (about 40 ms on Linux) on every response.
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            # The handshake runs here, in the connection's own thread, not in accept().
            request.settimeout(10)
            try:
                connection = self.ssl_context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                _log.debug("TLS handshake failed")
                return
        with self._connections_lock:
            self._connections.add(connection)
        try:
            _Handler(connection, client_address, self)
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            if connection is not request:
                connection.close()

    def close_connections(self) -> None:
        """Drop open keep-alive connections (on stop), so no client waits on a dead server."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("connection ended with an error", exc_info=False)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FlexEmulator"
    sys_version = ""
    timeout = 30

    @property
    def app(self) -> FlexHTTPServer:
        return cast(FlexHTTPServer, self.server)

    def version_string(self) -> str:
        return "FlexEmulator"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silenced: the stdlib writes every request line to stderr."""

    # -- request plumbing ---------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            size = 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    chunk_size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise _BodyError(400, "malformed chunked body") from None
                if chunk_size == 0:
                    while self.rfile.readline(1024).strip():
                        pass
                    break
                size += chunk_size
                if size > MAX_BODY_BYTES:
                    raise _BodyError(413, "request body too large")
                chunks.append(self.rfile.read(chunk_size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            raise _BodyError(400, "bad Content-Length") from None
        if length < 0:
            raise _BodyError(400, "bad Content-Length")
        if length > MAX_BODY_BYTES:
            raise _BodyError(413, "request body too large")
        return self.rfile.read(length)

    def _route(self, method: str) -> tuple[Optional[str], Optional[str], str]:
        """(endpoint name, public-key kid, allowed method) for the request path."""
        path = urlsplit(self.path).path
        payment_route = route(path) if self.app.payments is not None else None
        if payment_route is not None:
            return payment_route[0], None, payment_route[1]
        if path == "/flex/v2/sessions":
            return "sessions", None, "POST"
        if path == "/flex/v2/tokens":
            return "tokens", None, "POST"
        prefix = "/flex/v2/public-keys/"
        if path.startswith(prefix) and len(path) > len(prefix) and "/" not in path[len(prefix) :]:
            return "public-keys", unquote(path[len(prefix) :]), "GET"
        return None, None, ""

    def _dispatch(self, method: str) -> None:
        endpoint, kid, allowed = self._route(method)
        try:
            body = self._read_body()
        except _BodyError as exc:
            self.close_connection = True
            self._send(*_flat_error(exc.status, "INVALID_REQUEST", str(exc)))
            return
        if endpoint is None:
            self._send(*_flat_error(404, "NOT_FOUND", "no such resource"))
            return
        if method != allowed:
            status, headers, payload = _flat_error(405, "METHOD_NOT_ALLOWED", f"use {allowed}")
            headers["Allow"] = allowed
            self._send(status, headers, payload)
            return
        fault = self.app.faults.on_request(endpoint)
        if fault is not None and fault.latency:
            time.sleep(fault.latency)
        if fault is not None and fault.reset:
            self._reset()
            return
        try:
            if endpoint in PAYMENT_ENDPOINTS:
                response = self._payments(method, body, fault)
            elif fault is not None and fault.status is not None:
                response = self._injected_error(endpoint, fault.status)
            elif endpoint == "sessions":
                response = self._sessions(body)
            elif endpoint == "tokens":
                response = self._tokens(body)
            else:
                response = self._public_key(kid or "")
        except Exception:
            # A bug in the emulator must look like a server error, not a dropped connection.
            # No traceback in the log: locals could hold request data.
            _log.debug("%s %s failed inside the emulator", method, endpoint)
            response = self._injected_error(endpoint, 500, "emulator internal error")
        if fault is not None:
            response = self._apply(fault, response)
        _log.debug("%s %s -> %d", method, endpoint, response[0])
        if fault is not None and fault.truncated_body:
            self._send_truncated(*response)
            return
        self._send(*response)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _send_truncated(self, status: int, headers: dict[str, str], body: bytes) -> None:
        """Announce the whole body, send half of it, then close the connection."""
        self.close_connection = True
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])

    def _reset(self) -> None:
        """Close the socket with an RST and no response at all."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.connection.close()

    @staticmethod
    def _injected_error(endpoint: str, status: int, message: str = "injected fault") -> Response:
        if endpoint == "tokens":
            reason = "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR"
            error = TokenizationError(status, reason, message)
            return status, {"Content-Type": "application/json", "x-emulator-reason": message}, _json(error.body())
        return _flat_error(status, "SERVER_ERROR" if status >= 500 else "INVALID_REQUEST", message)

    @staticmethod
    def _apply(fault: Fault, response: Response) -> Response:
        status, headers, body = response
        headers = dict(headers)
        if fault.malformed_body:
            body = body[: len(body) // 2] if len(body) > 1 else b"{"
            if "Digest" in headers:
                headers["Digest"] = _digest_header(body)
        if fault.oversized_body:
            # Still a valid body (JSON and JWTs allow trailing whitespace): only its size is wrong.
            body = body + b" " * max(0, OVERSIZED_BODY_BYTES - len(body))
            if "Digest" in headers:
                headers["Digest"] = _digest_header(body)
        if fault.wrong_digest:
            headers["Digest"] = _digest_header(body + b"\x00")
        return status, headers, body

    # -- endpoints ----------------------------------------------------------------------

    def _signed_request(self, method: str, body: bytes) -> tuple[SignedRequest, Optional[str]]:
        headers: dict[str, str] = {}
        duplicate: Optional[str] = None
        for name, value in self.headers.items():
            key = name.lower()
            if key in headers and key in _AUTH_HEADERS:
                duplicate = key
            headers[key] = value
        return SignedRequest(method=method, target=self.path, headers=headers, body=body), duplicate

    def _sessions(self, body: bytes) -> Response:
        request, duplicate = self._signed_request("POST", body)
        try:
            if duplicate is not None:
                raise AuthFailure(f"{duplicate} header appears more than once")
            merchant = authenticate(request, self.app.registry, self.app.service.clock.now())
        except AuthFailure as exc:
            self.app.registry.record_authentication(None)
            return (
                401,
                {"Content-Type": "application/json", "x-emulator-reason": exc.reason},
                _json({"response": {"rmsg": "Authentication Failed"}}),
            )
        self.app.registry.record_authentication(merchant.merchant_id)
        parsed = parse_json_object(body)
        if parsed is None:
            return _flat_error(400, "UNIFIEDPAYMENTS_VALIDATION_PARAMS", "the request body must be a JSON object")
        try:
            required, optional = parse_session_fields(parsed)
        except FieldProblem as exc:
            return _flat_error(400, "UNIFIEDPAYMENTS_VALIDATION_FIELDS", "invalid fields", exc.details)
        token = self.app.service.create_capture_context(merchant.merchant_id, required, optional)
        return 201, {"Content-Type": "application/jwt"}, token.encode("ascii")

    def _payments(self, method: str, body: bytes, fault: Optional[Fault]) -> Response:
        """The checkout sandbox (payments.py), behind the same merchant authentication."""
        payments = cast(PaymentService, self.app.payments)
        if fault is not None and fault.status is not None:
            return payments.injected_error(fault.status)
        request, duplicate = self._signed_request(method, body)
        try:
            if duplicate is not None:
                raise AuthFailure(f"{duplicate} header appears more than once")
            merchant = authenticate(request, self.app.registry, self.app.service.clock.now())
        except AuthFailure as exc:
            headers = {"Content-Type": "application/json", "x-emulator-reason": exc.reason}
            return 401, headers, _json({"response": {"rmsg": "Authentication Failed"}})
        return payments.handle(method, urlsplit(self.path).path, merchant.merchant_id, body)

    def _public_key(self, kid: str) -> Response:
        jwk = self.app.service.public_jwk(kid)
        if jwk is None:
            return _flat_error(404, "NOT_FOUND", "no public key has this kid")
        return 200, {"Content-Type": "application/json"}, _json(jwk)

    def _tokens(self, body: bytes) -> Response:
        try:
            jwe = self._jwe_from_body(body)
            token = self.app.service.tokenize_jwe(jwe)
        except TokenizationError as exc:
            headers = {"Content-Type": "application/json", "x-emulator-reason": exc.message}
            return exc.status, headers, _json(exc.body())
        payload = token.encode("ascii")
        return 200, {"Content-Type": "application/jwt", "Digest": _digest_header(payload)}, payload

    def _jwe_from_body(self, body: bytes) -> str:
        content_type = self.headers.get("Content-Type", "").lower()
        if content_type.startswith("application/json") or body.lstrip().startswith(b"{"):
            parsed = parse_json_object(body)
            key_id = parsed.get("keyId") if parsed is not None else None
            if not isinstance(key_id, str):
                raise TokenizationError(400, "VALIDATION_ERROR", 'a JSON body must be {"keyId": "<JWE>"}')
            return key_id.strip()
        try:
            text = body.decode("ascii").strip()
        except UnicodeDecodeError:
            text = ""
        if not text:
            raise TokenizationError(400, "VALIDATION_ERROR", "the body must be a compact JWE")
        return text
