"""The one loopback HTTP(S) server base of the project: emulator, wire tests and bench.

:class:`LoopbackServer` binds 127.0.0.1, reads each request whole (``Content-Length``,
``chunked`` or no body, with one size limit for every framing), hands it to a
``respond(Request) -> Reply`` callable and writes the reply. A reply can also reset the
connection (TCP RST) or announce its body and send only half of it, so clients' error
paths can be tested. Nothing here logs headers or bodies.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional, cast
from urllib.parse import urlsplit

__all__ = ["MAX_BODY_BYTES", "BodyError", "LoopbackServer", "Reply", "Request"]

_log = logging.getLogger("flex_ext.emulator")

#: Largest request body read, whatever its framing.
MAX_BODY_BYTES = 1024 * 1024
_LINE_LIMIT = 1024


@dataclass(frozen=True)
class Request:
    """One request as received: raw target, headers in order (repeats kept), whole body."""

    method: str
    target: str
    headers: list[tuple[str, str]] = field(repr=False)
    body: bytes = field(repr=False)

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    def header(self, name: str) -> Optional[str]:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


@dataclass
class Reply:
    """What to answer. ``reset``: close with an RST and no answer; ``truncated``: announce
    the whole body, send half of it, close."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    reset: bool = False
    truncated: bool = False


class BodyError(Exception):
    """The request body cannot be read: bad framing (400) or too large (413)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _plain_body_error(request: Request, error: BodyError) -> Reply:
    return Reply(error.status, {"Content-Type": "text/plain"}, error.message.encode())


Responder = Callable[[Request], Reply]
BodyErrorResponder = Callable[[Request, BodyError], Reply]


class LoopbackServer(ThreadingHTTPServer):
    """A threading HTTP(S) server on 127.0.0.1 that answers with ``respond(request)``.

    ``start()`` serves in a daemon thread; ``stop()`` (or leaving the ``with`` block)
    shuts down and drops keep-alive connections so no client waits on a dead server.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        respond: Responder,
        *,
        port: int = 0,
        ssl_context: Optional[ssl.SSLContext] = None,
        on_body_error: BodyErrorResponder = _plain_body_error,
        max_body: int = MAX_BODY_BYTES,
        name: str = "loopback-server",
    ) -> None:
        self.respond = respond
        self.on_body_error = on_body_error
        self.max_body = max_body
        self.ssl_context = ssl_context
        self._name = name
        self._thread: Optional[threading.Thread] = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        if self._thread is None:
            # A short poll interval keeps stop() fast (shutdown waits for one poll).
            self._thread = threading.Thread(
                target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=self._name, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

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

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Never the stdlib traceback on stderr: its locals could hold request data.
        _log.debug("connection ended with an error")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FlexEmulator"
    sys_version = ""
    timeout = 30

    @property
    def app(self) -> LoopbackServer:
        return cast(LoopbackServer, self.server)

    def version_string(self) -> str:
        return "FlexEmulator"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silenced: the stdlib writes every request line to stderr."""

    def _handle(self) -> None:
        headers = list(self.headers.items())
        try:
            body = self._read_body()
        except BodyError as exc:
            self.close_connection = True
            self._send(self.app.on_body_error(Request(self.command, self.path, headers, b""), exc))
            return
        self._send(self.app.respond(Request(self.command, self.path, headers, body)))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

    def _read_body(self) -> bytes:
        limit = self.app.max_body
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        length_text = length_text.strip()
        if not length_text.isdigit():  # refuses "-1", "+5", "0x10", "1_0", empty
            raise BodyError(400, "bad Content-Length")
        length = int(length_text)
        if length > limit:
            raise BodyError(413, "request body too large")
        return self.rfile.read(length)

    def _read_chunked(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            size_text = self.rfile.readline(_LINE_LIMIT).split(b";", 1)[0].strip()
            # int(x, 16) would accept "-5", "+5", "0x5" and "5_0": only bare hex digits are a size.
            if not size_text or len(size_text) > 16 or size_text.strip(b"0123456789abcdefABCDEF"):
                raise BodyError(400, "malformed chunked body")
            chunk_size = int(size_text, 16)
            if chunk_size == 0:
                break
            size += chunk_size
            if size > limit:
                raise BodyError(413, "request body too large")
            chunk = self.rfile.read(chunk_size)
            if len(chunk) != chunk_size or self.rfile.readline(_LINE_LIMIT).strip():
                raise BodyError(400, "malformed chunked body")
            chunks.append(chunk)
        trailers = 0
        while self.rfile.readline(_LINE_LIMIT).strip():
            trailers += 1
            if trailers > 100:
                raise BodyError(400, "malformed chunked body")
        return b"".join(chunks)

    def _send(self, reply: Reply) -> None:
        if reply.reset:
            self._reset()
            return
        body = reply.body
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection or reply.truncated:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body[: len(body) // 2] if reply.truncated else body)

    def _reset(self) -> None:
        """Close the socket with an RST and no response at all."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.connection.close()
