"""The emulator's HTTP framing on raw sockets: chunked bodies, Content-Length, no body, limits."""

from __future__ import annotations

import json
import logging
import socket
from typing import Iterator

import pytest
from emulator_helpers import Client

from flex_ext.emulator import FlexEmulator, LoopbackServer, Reply, Request
from flex_ext.emulator.loopback import MAX_BODY_BYTES


@pytest.fixture(scope="module")
def emu() -> Iterator[FlexEmulator]:
    with FlexEmulator() as emulator:
        yield emulator


def exchange(port: int, raw: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send ``raw`` and read one response: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(head.split(b" ", 2)[1]), body[:length]


def chunked_post(path: str, chunks: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode() + chunks


@pytest.mark.parametrize(
    "size_line",
    [b"-5", b"-0", b"+5", b"0x5", b"5_0", b"zz", b"", b" ", b"1" * 17],
    ids=["negative", "minus-zero", "plus", "0x", "underscore", "not-hex", "empty", "blank", "too-long"],
)
def test_malformed_chunk_size_is_400(emu: FlexEmulator, size_line: bytes) -> None:
    status, body = exchange(emu.port, chunked_post("/flex/v2/tokens", size_line + b"\r\nabcde\r\n0\r\n\r\n"))
    assert status == 400
    assert json.loads(body)["reason"] == "INVALID_REQUEST"


def test_chunk_without_its_terminating_crlf_is_400(emu: FlexEmulator) -> None:
    status, _ = exchange(emu.port, chunked_post("/flex/v2/tokens", b"3\r\nabcdef\r\n0\r\n\r\n"))
    assert status == 400


def test_chunked_body_above_the_limit_is_413_before_it_is_read(emu: FlexEmulator) -> None:
    # Only the size line is sent: the refusal must not wait for (or buffer) the megabyte.
    status, _ = exchange(emu.port, chunked_post("/flex/v2/tokens", f"{MAX_BODY_BYTES + 1:x}\r\n".encode()))
    assert status == 413


def test_chunks_adding_up_above_the_limit_are_413(emu: FlexEmulator) -> None:
    half = MAX_BODY_BYTES // 2 + 1
    chunk = f"{half:x}\r\n".encode() + b"x" * half + b"\r\n"
    status, _ = exchange(emu.port, chunked_post("/flex/v2/tokens", chunk + chunk + b"0\r\n\r\n"))
    assert status == 413


def test_valid_chunked_body_is_read_whole(emu: FlexEmulator) -> None:
    payload = json.dumps({"keyId": "not-a-jwe"}).encode()
    chunks = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (payload[:5], payload[5:]))
    status, body = exchange(emu.port, chunked_post("/flex/v2/tokens", chunks + b"0;ext=1\r\nTrailer: x\r\n\r\n"))
    # The tokens endpoint saw the whole JSON body: it complains about the JWE, not the framing.
    assert status == 400
    assert json.loads(body)["responseStatus"]["details"][0]["location"] == "jwe"


@pytest.mark.parametrize(
    ("length", "status"),
    [(str(MAX_BODY_BYTES + 1), 413), ("-1", 400), ("+5", 400), ("1_0", 400), ("0x10", 400), ("ten", 400)],
)
def test_content_length_checks(emu: FlexEmulator, length: str, status: int) -> None:
    raw = f"POST /flex/v2/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n\r\n".encode()
    assert exchange(emu.port, raw)[0] == status


def test_without_framing_the_body_is_empty_and_never_buffered(emu: FlexEmulator) -> None:
    # No Content-Length, no chunked: the request has no body; what follows is not read as one.
    raw = b"POST /flex/v2/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/jwt\r\n\r\n"
    status, body = exchange(emu.port, raw + b"x" * (2 * MAX_BODY_BYTES))
    assert status == 400
    assert json.loads(body)["responseStatus"]["message"] == "the body must be a compact JWE"


def test_framing_errors_on_payroc_routes_use_the_problem_shape(emu: FlexEmulator) -> None:
    status, body = exchange(emu.port, chunked_post("/authorize", b"-1\r\n"))
    assert status == 400
    assert json.loads(body)["status"] == 400 and "title" in json.loads(body)


def test_the_server_stays_healthy_after_framing_errors(emu: FlexEmulator) -> None:
    for _ in range(3):
        exchange(emu.port, chunked_post("/flex/v2/tokens", b"-5\r\n"))
    assert Client().request("GET", f"{emu.base_url}/flex/v2/public-keys/{emu.signing_kid}").status == 200


# -- the loopback server base, as tests and the bench reuse it ------------------------------------


def test_loopback_server_answers_with_its_responder() -> None:
    seen: list[Request] = []

    def respond(request: Request) -> Reply:
        seen.append(request)
        return Reply(202, {"Content-Type": "text/plain"}, request.body[::-1])

    with LoopbackServer(respond) as server:
        response = Client().request("PUT", f"{server.url}/echo?x=1", b"abc", {"X-Test": "yes"})
    assert (response.status, response.data) == (202, b"cba")
    [request] = seen
    assert (request.method, request.target, request.path) == ("PUT", "/echo?x=1", "/echo")
    assert request.header("x-test") == "yes" and request.header("missing") is None


def test_loopback_server_can_reset_or_truncate() -> None:
    import urllib3

    replies = iter([Reply(reset=True), Reply(200, {}, b"0123456789", truncated=True)])
    with LoopbackServer(lambda _: next(replies)) as server:
        client = Client()
        with pytest.raises(urllib3.exceptions.ProtocolError):
            client.request("GET", server.url)
        with pytest.raises(urllib3.exceptions.ProtocolError):
            client.request("GET", server.url)


def test_the_log_names_routes_never_paths(emu: FlexEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="flex_ext.emulator")
    client = Client()
    assert client.request("GET", f"{emu.base_url}/flex/v2/public-keys/SecretKid123").status == 404
    assert client.request("GET", f"{emu.base_url}/up/v1/payment-details/eyJ.token.here").status == 401  # the sandbox wants a signed request
    wrong_method = client.request("GET", f"{emu.base_url}/flex/v2/sessions")
    assert wrong_method.status == 405 and wrong_method.headers["Allow"] == "POST"
    assert "GET /flex/v2/public-keys/{kid} -> 404" in caplog.text
    assert "SecretKid123" not in caplog.text and "eyJ.token.here" not in caplog.text
