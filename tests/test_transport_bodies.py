"""Response bodies are read whole when their size is declared and bounded, capped otherwise."""

from __future__ import annotations

import gzip

import pytest
from wire import CaptureServer, Reply

from flex_ext.errors import TransportError
from flex_ext.transport import TransportSettings, send

FAST = TransportSettings(connect_timeout=2, read_timeout=2)


def test_declared_body_within_the_cap_is_read_exactly() -> None:
    with CaptureServer() as server:
        server.reply = Reply(status=200, body=b"x" * 5000)
        response = send(FAST, "GET", server.url + "/a", max_body_bytes=5000)
    assert response.status == 200 and response.data == b"x" * 5000


def test_declared_body_over_the_cap_is_refused() -> None:
    with CaptureServer() as server:
        server.reply = Reply(status=200, body=b"x" * 5001)
        with pytest.raises(TransportError, match="exceeds 5000 bytes"):
            send(FAST, "GET", server.url + "/a", max_body_bytes=5000)


def test_compressed_body_is_capped_after_decompression() -> None:
    bomb = gzip.compress(b"0" * 2_000_000)  # ~2 kB on the wire, 2 MB decoded
    with CaptureServer() as server:
        server.reply = Reply(status=200, body=bomb, headers={"Content-Encoding": "gzip"})
        with pytest.raises(TransportError, match="exceeds 100000 bytes"):
            send(FAST, "GET", server.url + "/a", max_body_bytes=100_000)
        small = gzip.compress(b"hello")
        server.reply = Reply(status=200, body=small, headers={"Content-Encoding": "gzip"})
        assert send(FAST, "GET", server.url + "/a", max_body_bytes=100_000).data == b"hello"
