"""Fault tolerance against the emulator's fault injection.

* a timeout raises a typed error within the configured time;
* a connection reset or 5xx on ``GET /flex/v2/public-keys/{kid}`` is retried with bounded
  backoff, and the retries stop at the budget;
* ``POST /flex/v2/sessions`` and ``POST /flex/v2/tokens`` are never retried;
* malformed, truncated or oversized responses give typed errors;
* 1,000 failing calls leave no thread, socket or memory behind.

Durations are measured with ``time.monotonic`` and checked against generous bounds: they
prove a behaviour (the call gave up in time), they are not benchmarks.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
import tracemalloc
from typing import Any, Callable, Iterator

import CyberSource
import pytest
import urllib3
from CyberSource.rest import ApiException, ApiTimeoutError, ApiTransportError

from flex_ext.client import Card, FlexClient
from flex_ext.emulator import FlexEmulator, LoopbackServer, Reply, Request
from flex_ext.emulator.faults import OVERSIZED_BODY_BYTES, Fault
from flex_ext.errors import (
    FlexError,
    HTTPError,
    JWKValidationError,
    JWTValidationError,
    RequestTimeoutError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
)
from flex_ext.public_keys import InMemoryKeyStore, fetch_public_key_jwk
from flex_ext.transport import TransportSettings, pool_manager, send

CARD = Card("4111 1111 1111 1111", "12", "2031", security_code="123")
SESSIONS_BODY = {"fields": {"paymentInformation": {"card": {
    "number": {}, "expirationMonth": {}, "expirationYear": {}, "securityCode": {"required": False}}}}}
#: What the default public-key fetch allows: 3 attempts, backoff 0.2 s then 0.4 s (jittered down).
KEY_ATTEMPTS = 3
KEY_BACKOFF_TOTAL = 0.2 + 0.4
#: Scheduling slack on top of a timeout (loaded CI machine).
SLACK = 0.6


@pytest.fixture(scope="module")
def emu() -> Iterator[FlexEmulator]:
    with FlexEmulator() as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _fresh(emu: FlexEmulator) -> Iterator[None]:
    emu.clear_faults()
    emu.reset_request_counts()
    yield
    emu.clear_faults()


def client_for(emu: FlexEmulator, **config: Any) -> FlexClient:
    """A client with its own key cache, so every verification really fetches the key."""
    timeout = config.pop("client_timeout", None)
    return FlexClient(dict(emu.merchant_config(), **config), key_store=InMemoryKeyStore(), timeout=timeout)


def timed(call: Callable[[], Any], expected: type[BaseException]) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises(expected) as info:
        call()
    return info.value, time.monotonic() - started


# ------------------------------------------------------------------------------ timeouts


def test_timeout_on_tokens_is_typed_and_within_the_timeout(emu: FlexEmulator) -> None:
    client = client_for(emu, client_timeout=0.3)
    ctx = client.create_capture_context()
    emu.inject_fault("tokens", latency=2.0, times=1)
    error, elapsed = timed(lambda: client.tokenize(ctx, CARD), RequestTimeoutError)
    assert isinstance(error, TimeoutError) and isinstance(error, TransportError)
    assert 0.25 <= elapsed < 0.3 + SLACK, elapsed
    assert emu.request_count("tokens") == 1


def test_timeout_key_of_the_merchant_config_bounds_the_sessions_call(emu: FlexEmulator) -> None:
    client = client_for(emu, timeout=300)  # milliseconds, as in the official samples
    emu.inject_fault("sessions", latency=2.0, times=1)
    error, elapsed = timed(client.create_capture_context, ApiTimeoutError)
    assert isinstance(error, RequestTimeoutError) and isinstance(error, TimeoutError)
    assert error.status == 0
    assert 0.25 <= elapsed < 0.3 + SLACK, elapsed
    assert emu.request_count("sessions") == 1


def test_request_timeout_argument_of_the_generated_api(emu: FlexEmulator) -> None:
    api = CyberSource.FlexAPIApi(emu.merchant_config())  # default 10 s / 30 s
    emu.inject_fault("sessions", latency=2.0, times=1)
    _, elapsed = timed(lambda: api.generate_flex_api_capture_context(SESSIONS_BODY, _request_timeout=0.3),
                       ApiTimeoutError)
    assert 0.25 <= elapsed < 0.3 + SLACK, elapsed
    emu.inject_fault("sessions", latency=2.0, times=1)
    _, elapsed = timed(lambda: api.generate_flex_api_capture_context(SESSIONS_BODY, _request_timeout=(0.3, 0.3)),
                       ApiTimeoutError)
    assert elapsed < 0.3 + SLACK, elapsed
    assert emu.request_count("sessions") == 2


def test_timeouts_on_the_public_key_get_are_retried_within_a_bound(emu: FlexEmulator) -> None:
    client = client_for(emu, timeout=200)
    jwt = emu.issue_capture_context()
    emu.inject_fault("public-keys", latency=2.0)
    _, elapsed = timed(lambda: client.verify_capture_context(jwt), RequestTimeoutError)
    assert emu.request_count("public-keys") == KEY_ATTEMPTS
    assert elapsed < KEY_ATTEMPTS * 0.2 + KEY_BACKOFF_TOTAL + SLACK, elapsed


# ------------------------------------------------------------------------------ retries on GET


@pytest.mark.parametrize("times", [1, KEY_ATTEMPTS - 1])
@pytest.mark.parametrize("fault", [{"reset": True}, {"status": 503}, {"status": 500}, {"status": 502}])
def test_public_key_get_recovers_below_the_retry_budget(emu: FlexEmulator, fault: dict[str, Any], times: int) -> None:
    client = client_for(emu)
    jwt = emu.issue_capture_context()
    emu.inject_fault("public-keys", times=times, **fault)
    started = time.monotonic()
    ctx = client.verify_capture_context(jwt)
    elapsed = time.monotonic() - started
    assert ctx.verified
    assert emu.request_count("public-keys") == times + 1
    assert elapsed < KEY_BACKOFF_TOTAL + SLACK, elapsed


@pytest.mark.parametrize(
    ("fault", "expected"),
    [({"reset": True}, TransportError), ({"status": 503}, HTTPError), ({"status": 500}, HTTPError)],
)
def test_public_key_get_stops_at_the_retry_budget(
    emu: FlexEmulator, fault: dict[str, Any], expected: type[FlexError]
) -> None:
    client = client_for(emu)
    jwt = emu.issue_capture_context()
    emu.inject_fault("public-keys", times=KEY_ATTEMPTS + 5, **fault)
    error, elapsed = timed(lambda: client.verify_capture_context(jwt), expected)
    assert emu.request_count("public-keys") == KEY_ATTEMPTS
    assert elapsed < KEY_BACKOFF_TOTAL + SLACK, elapsed
    if isinstance(error, HTTPError):
        assert error.status == fault["status"]


def test_public_key_get_is_not_retried_on_a_4xx(emu: FlexEmulator) -> None:
    client = client_for(emu)
    jwt = emu.issue_capture_context()
    emu.inject_fault("public-keys", status=404)
    error, _ = timed(lambda: client.verify_capture_context(jwt), HTTPError)
    assert error.status == 404  # type: ignore[attr-defined]
    assert emu.request_count("public-keys") == 1


def test_backoff_doubles_and_is_capped(emu: FlexEmulator) -> None:
    delays: list[float] = []
    emu.inject_fault("public-keys", status=503)
    with pytest.raises(HTTPError):
        fetch_public_key_jwk(emu.base_url, emu.signing_kid, max_attempts=6, backoff_seconds=0.1,
                             max_backoff_seconds=0.25, sleep=delays.append)
    assert emu.request_count("public-keys") == 6
    nominal = [min(0.25, 0.1 * 2**i) for i in range(5)]
    assert len(delays) == 5
    for delay, cap in zip(delays, nominal):
        assert cap / 2 <= delay <= cap  # jittered down, never up
    assert sum(delays) <= sum(nominal)


# ------------------------------------------------------------------------------ no retries on POST


POST_FAULTS = [
    pytest.param({"reset": True}, TransportError, id="reset"),
    pytest.param({"status": 500}, HTTPError, id="500"),
    pytest.param({"status": 502}, HTTPError, id="502"),
    pytest.param({"status": 503}, HTTPError, id="503"),
    pytest.param({"status": 504}, HTTPError, id="504"),
]


@pytest.mark.parametrize(("fault", "expected"), POST_FAULTS)
def test_sessions_post_is_not_retried(emu: FlexEmulator, fault: dict[str, Any], expected: type[FlexError]) -> None:
    client = client_for(emu)
    emu.inject_fault("sessions", times=2, **fault)
    error, _ = timed(client.create_capture_context, expected)
    assert isinstance(error, ApiTransportError if fault.get("reset") else ServerError)
    assert error.status == fault.get("status", 0)  # type: ignore[attr-defined]
    assert emu.request_count("sessions") == 1
    # and through the generated API directly
    emu.reset_request_counts()
    with pytest.raises(ApiTransportError if fault.get("reset") else ApiException):
        CyberSource.FlexAPIApi(emu.merchant_config()).generate_flex_api_capture_context(SESSIONS_BODY)
    assert emu.request_count("sessions") == 1


@pytest.mark.parametrize(("fault", "expected"), POST_FAULTS)
def test_tokens_post_is_not_retried(emu: FlexEmulator, fault: dict[str, Any], expected: type[FlexError]) -> None:
    client = client_for(emu)
    ctx = client.create_capture_context()
    emu.inject_fault("tokens", times=2, **fault)
    error, _ = timed(lambda: client.tokenize(ctx, CARD), expected)
    if isinstance(error, HTTPError):
        assert error.status == fault["status"]
    assert emu.request_count("tokens") == 1


# ------------------------------------------------------------------------------ bad bodies


def _only_typed(error: BaseException) -> None:
    """A typed library error, not a raw decoder or urllib3 exception in disguise."""
    assert isinstance(error, FlexError)
    assert not isinstance(error, (json.JSONDecodeError, UnicodeDecodeError, urllib3.exceptions.HTTPError))


def test_malformed_capture_context_is_a_jwt_error(emu: FlexEmulator) -> None:
    client = client_for(emu)
    emu.inject_fault("sessions", malformed_body=True, times=1)
    error, _ = timed(client.create_capture_context, JWTValidationError)
    _only_typed(error)
    assert emu.request_count("sessions") == 1


def test_malformed_public_key_is_a_jwk_error_and_not_retried(emu: FlexEmulator) -> None:
    client = client_for(emu)
    jwt = emu.issue_capture_context()
    emu.inject_fault("public-keys", malformed_body=True)
    error, _ = timed(lambda: client.verify_capture_context(jwt), JWKValidationError)
    _only_typed(error)
    assert emu.request_count("public-keys") == 1


def test_malformed_transient_token_and_wrong_digest(emu: FlexEmulator) -> None:
    client = client_for(emu)
    ctx = client.create_capture_context()
    emu.inject_fault("tokens", malformed_body=True, times=1)  # Digest recomputed: only the JWT is broken
    error, _ = timed(lambda: client.tokenize(ctx, CARD), JWTValidationError)
    _only_typed(error)
    emu.inject_fault("tokens", wrong_digest=True, times=1)
    error, _ = timed(lambda: client.tokenize(ctx, CARD), HTTPError)
    _only_typed(error)
    assert "Digest" in str(error)
    assert emu.request_count("tokens") == 2


@pytest.mark.parametrize("status", [500, 503])
def test_error_status_with_a_broken_body_keeps_its_status(emu: FlexEmulator, status: int) -> None:
    client = client_for(emu)
    emu.inject_fault("sessions", status=status, malformed_body=True, times=1)
    error, _ = timed(client.create_capture_context, ServerError)
    assert error.status == status  # type: ignore[attr-defined]
    ctx = client.create_capture_context()
    emu.inject_fault("tokens", status=status, malformed_body=True, times=1)
    error, _ = timed(lambda: client.tokenize(ctx, CARD), HTTPError)
    assert error.status == status  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["truncated_body", "oversized_body"])
def test_truncated_and_oversized_bodies_are_transport_errors(emu: FlexEmulator, kind: str) -> None:
    client = client_for(emu)
    ctx = client.create_capture_context()
    jwt = emu.issue_capture_context()

    emu.inject_fault("sessions", times=1, **{kind: True})
    error, _ = timed(client.create_capture_context, ApiTransportError)
    _only_typed(error)
    assert emu.request_count("sessions") == 2

    emu.inject_fault("tokens", times=1, **{kind: True})
    error, _ = timed(lambda: client.tokenize(ctx, CARD), TransportError)
    _only_typed(error)
    assert emu.request_count("tokens") == 1

    emu.reset_request_counts()
    emu.inject_fault("public-keys", **{kind: True})
    error, elapsed = timed(lambda: client_for(emu).verify_capture_context(jwt), TransportError)
    _only_typed(error)
    if kind == "oversized_body":
        # The same GET would bring the same body back: refused at once, not retried.
        assert isinstance(error, ResponseTooLargeError)
        assert emu.request_count("public-keys") == 1
    else:
        assert emu.request_count("public-keys") == KEY_ATTEMPTS  # a GET: retried, within the budget
    assert elapsed < KEY_BACKOFF_TOTAL + SLACK + 1.0, elapsed
    emu.clear_faults()
    assert client.tokenize(ctx, CARD).jti  # the pool is still usable


def test_an_oversized_response_does_not_keep_its_connection(emu: FlexEmulator) -> None:
    """The refused connection is closed, not pooled half-read: the sender is released."""
    client = client_for(emu)
    client.create_capture_context()
    pool_manager(client.config.transport).clear()
    baseline = _settled_threads(threading.active_count())
    emu.inject_fault("sessions", oversized_body=True, times=1)
    with pytest.raises(ApiTransportError):
        client.create_capture_context()
    assert _settled_threads(baseline) <= baseline  # the emulator's handler thread has finished
    assert client.create_capture_context().verified


class _Redirector:
    """A loopback server that answers every request with ``307`` to ``target``."""

    def __init__(self, target: str) -> None:
        self.hits: list[str] = []

        def respond(request: Request) -> Reply:
            self.hits.append(request.method)
            return Reply(307, {"Location": target + request.target})

        self.server = LoopbackServer(respond, name="redirector")
        self.url = self.server.url

    def __enter__(self) -> _Redirector:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def test_redirects_are_never_followed(emu: FlexEmulator) -> None:
    """Signed requests and card data go only where they were addressed."""
    with _Redirector(emu.base_url) as redirector:
        api = CyberSource.FlexAPIApi(dict(emu.merchant_config(), run_environment=redirector.url))
        with pytest.raises(ApiException) as info:
            api.generate_flex_api_capture_context(SESSIONS_BODY)
        assert info.value.status == 307
        with pytest.raises(HTTPError) as fetch:
            fetch_public_key_jwk(redirector.url, emu.signing_kid, sleep=lambda _: None)
        assert fetch.value.status == 307
        response = send(TransportSettings(), "POST", redirector.url + "/flex/v2/tokens", body=b"x.y.z")
        assert response.status == 307
        assert redirector.hits == ["POST", "GET", "POST"]  # a 3xx is not retried either
    assert emu.request_count() == 0


def test_an_oversized_jwt_is_refused_before_any_request(emu: FlexEmulator) -> None:
    client = client_for(emu)
    jwt = emu.issue_capture_context()
    head, payload, signature = jwt.split(".")
    with pytest.raises(JWTValidationError, match="longer than"):
        client.verify_capture_context(f"{head}.{payload + 'A' * 64 * 1024}.{signature}")
    assert emu.request_count() == 0


# ------------------------------------------------------------------------------ the new faults themselves


def test_oversized_body_fault_pads_a_valid_body(emu: FlexEmulator) -> None:
    http = urllib3.PoolManager(retries=False)
    emu.inject_fault("public-keys", oversized_body=True, times=1)
    url = f"{emu.base_url}/flex/v2/public-keys/{emu.signing_kid}"
    response = http.request("GET", url)
    assert response.status == 200
    assert len(response.data) == int(response.headers["Content-Length"]) == OVERSIZED_BODY_BYTES
    assert json.loads(response.data) == json.loads(http.request("GET", url).data)
    http.clear()


def test_truncated_body_fault_cuts_the_connection(emu: FlexEmulator) -> None:
    http = urllib3.PoolManager(retries=False)
    emu.inject_fault("public-keys", truncated_body=True, times=1)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        http.request("GET", f"{emu.base_url}/flex/v2/public-keys/{emu.signing_kid}")
    assert http.request("GET", f"{emu.base_url}/flex/v2/public-keys/{emu.signing_kid}").status == 200
    http.clear()


def test_new_fault_options_count_as_effects() -> None:
    assert Fault(oversized_body=True).oversized_body
    assert Fault(truncated_body=True, times=1).truncated_body
    with pytest.raises(ValueError):
        Fault(times=1)


# ------------------------------------------------------------------------------ no leaks


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _settled_threads(target: int, deadline: float = 5.0) -> int:
    """The thread count once it is back to ``target`` (or after ``deadline`` seconds)."""
    end = time.monotonic() + deadline
    while threading.active_count() > target and time.monotonic() < end:
        time.sleep(0.02)
    return threading.active_count()


def _stable_threads(quiet: float = 0.3, deadline: float = 5.0) -> int:
    """The thread count once it has not changed for ``quiet`` seconds (emulator handler
    threads of earlier requests finish first)."""
    end = time.monotonic() + deadline
    count, since = threading.active_count(), time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.02)
        now = threading.active_count()
        if now != count:
            count, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return count


def _settled_fds(target: int, deadline: float = 5.0) -> int:
    end = time.monotonic() + deadline
    while _fds() > target and time.monotonic() < end:
        time.sleep(0.02)
    return _fds()


def test_a_thousand_failing_calls_leak_no_threads_sockets_or_memory(emu: FlexEmulator) -> None:
    config = emu.merchant_config()
    client = FlexClient(config, key_store=InMemoryKeyStore())
    hasty = FlexClient(config, key_store=InMemoryKeyStore(), timeout=0.02)  # only for the timeouts
    api = CyberSource.FlexAPIApi(config)
    ctx = client.create_capture_context()
    pool = pool_manager(client.config.transport)
    no_sleep: Callable[[float], None] = lambda _: None  # noqa: E731

    # (fault to inject, the failing call, the typed error it must raise)
    mix: list[tuple[str, dict[str, Any], Callable[[], Any], type[BaseException]]] = [
        ("sessions", {"status": 503}, lambda: api.generate_flex_api_capture_context(SESSIONS_BODY), ApiException),
        ("sessions", {"reset": True}, lambda: api.generate_flex_api_capture_context(SESSIONS_BODY), ApiTransportError),
        # Latency, then an error status: the server never completes work the client gave up on.
        ("sessions", {"latency": 0.05, "status": 503},
         lambda: api.generate_flex_api_capture_context(SESSIONS_BODY, _request_timeout=0.02), ApiTimeoutError),
        ("tokens", {"status": 500}, lambda: client.tokenize(ctx, CARD), HTTPError),
        ("tokens", {"reset": True}, lambda: client.tokenize(ctx, CARD), TransportError),
        ("tokens", {"latency": 0.05, "status": 503}, lambda: hasty.tokenize(ctx, CARD), RequestTimeoutError),
        ("sessions", {"truncated_body": True, "status": 500},
         lambda: api.generate_flex_api_capture_context(SESSIONS_BODY), ApiTransportError),
        ("tokens", {"oversized_body": True, "status": 500}, lambda: client.tokenize(ctx, CARD), TransportError),
        ("public-keys", {"status": 502, "times": 2},
         lambda: fetch_public_key_jwk(emu.base_url, emu.signing_kid, transport=client.config.transport,
                                      max_attempts=2, sleep=no_sleep), HTTPError),
    ]

    def run(calls: int) -> None:
        for i in range(calls):
            endpoint, fault, call, expected = mix[i % len(mix)]
            emu.inject_fault(endpoint, **{"times": 1, **fault})
            with pytest.raises(expected):
                call()

    run(70)  # warm up: pools, lazily imported modules, caches
    pool.clear()
    gc.collect()
    threads_before = _stable_threads()
    fds_before = _fds()
    started = time.monotonic()
    tracemalloc.start()
    try:
        run(200)
        gc.collect()
        memory_at_200 = tracemalloc.get_traced_memory()[0]
        run(800)
        gc.collect()
        memory_at_1000 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started
    pool.clear()
    gc.collect()
    threads_after = _settled_threads(threads_before)
    fds_after = _settled_fds(fds_before)
    growth = memory_at_1000 - memory_at_200
    print(
        f"\n1,000 failing calls in {elapsed:.1f} s: threads {threads_before} -> {threads_after}, "
        f"fds {fds_before} -> {fds_after}, traced memory after 200 calls {memory_at_200 / 1024:.0f} KiB, "
        f"after 1,000 {memory_at_1000 / 1024:.0f} KiB (growth {growth / 1024:.1f} KiB)"
    )
    assert threads_after <= threads_before
    assert fds_after <= fds_before + 2
    # A leak of even 1 KiB per call would add 800 KiB over the last 800 calls.
    assert growth < 256 * 1024
