"""A loopback HTTP server that records exactly what a client sends, for wire tests.

Built on the project's one loopback server base (:class:`flex_ext.emulator.LoopbackServer`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from flex_ext.emulator import LoopbackServer, Request
from flex_ext.emulator import Reply as Answer


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
        self.server = LoopbackServer(self._respond, name="capture-server")
        self.port = self.server.port
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"

    def _respond(self, request: Request) -> Answer:
        captured = Captured(request.method, request.target, list(request.headers), request.body)
        self.requests.append(captured)
        reply = self.responder(captured) if self.responder else self.reply
        if reply.delay:
            time.sleep(reply.delay)
        return Answer(reply.status, dict(reply.headers), reply.body)

    def __enter__(self) -> CaptureServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    @property
    def last(self) -> Captured:
        assert self.requests, "no request reached the server"
        return self.requests[-1]
