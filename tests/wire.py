"""A loopback HTTP server that records exactly what a client sends, for wire tests."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional


@dataclass
class Captured:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> Optional[str]:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(values) <= 1, f"header {name} sent {len(values)} times"
        return values[0] if values else None


@dataclass
class Reply:
    status: int = 201
    body: bytes = b"eyJhbGciOiJSUzI1NiJ9.eyJ4IjoxfQ.c2ln"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/jwt"})
    delay: float = 0.0


class CaptureServer:
    """Records every request; answers with `reply` (or `responder(captured)` when set)."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self.reply = Reply()
        self.responder: Optional[Callable[[Captured], Reply]] = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                captured = Captured(self.command, self.path, list(self.headers.items()), body)
                outer.requests.append(captured)
                reply = outer.responder(captured) if outer.responder else outer.reply
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "CaptureServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def last(self) -> Captured:
        assert self.requests, "no request reached the server"
        return self.requests[-1]
