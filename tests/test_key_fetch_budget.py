"""The public-key fetch budget: forged capture contexts must not drive GETs to the key server.

Counted against a loopback key server (tests/flexkit.py records every request), through the
public ``verify_capture_context`` only.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, Iterator, List, Optional

import pytest
from flexkit import SIGNING_KID, FlexServer, foreign_key, mint_capture_context, public_jwk, rsa_key, serve

from flex_ext.capture_context import verify_capture_context
from flex_ext.errors import FlexError, HTTPError, InvalidKidError, JWTValidationError
from flex_ext.public_keys import (
    REFETCH_INTERVAL_SECONDS,
    UNKNOWN_KID_TTL_SECONDS,
    InMemoryKeyStore,
    PublicKeyResolver,
)
from flex_ext.transport import TransportSettings

FAST = TransportSettings(connect_timeout=2, read_timeout=5)


@pytest.fixture
def flex_server() -> Iterator[FlexServer]:
    yield from serve()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _resolver(server: FlexServer, clock: Optional[Clock] = None) -> PublicKeyResolver:
    store = InMemoryKeyStore(clock=clock) if clock is not None else InMemoryKeyStore()
    return PublicKeyResolver(server.base_url, transport=FAST, store=store)


def _context(server: FlexServer, **kwargs: Any) -> str:
    return mint_capture_context(server.base_url, **kwargs)


def test_400_forged_contexts_cost_at_most_four_fetches(flex_server: FlexServer) -> None:
    config = {
        "authentication_type": "http_signature",
        "merchantid": "m",
        "merchant_keyid": "k",
        "merchant_secretkey": "c2VjcmV0",
        "run_environment": flex_server.base_url,
    }
    # A resolver per call (as verify_capture_context(merchant_config=...) and the compat
    # functions build one), sharing one store: the budget belongs to the store.
    store = InMemoryKeyStore()
    assert verify_capture_context(_context(flex_server), merchant_config=config, key_store=store).verified
    forged_known = _context(flex_server, signer=foreign_key())
    for _ in range(200):
        with pytest.raises(JWTValidationError, match="signature"):
            verify_capture_context(forged_known, merchant_config=config, key_store=store)
    for i in range(200):
        kid = "unknown" if i % 2 else f"forged{i}"  # one kid asked for again and again, and many
        with pytest.raises((HTTPError, InvalidKidError)):
            verify_capture_context(_context(flex_server, kid=kid), merchant_config=config, key_store=store)
    fetches = flex_server.key_requests()
    assert len(fetches) <= 4, [r.path for r in fetches]
    # The genuine key stays usable throughout, without another fetch.
    assert verify_capture_context(_context(flex_server), merchant_config=config, key_store=store).verified
    assert flex_server.key_requests() == fetches


def test_a_rotated_key_is_picked_up_after_the_refetch_interval(flex_server: FlexServer) -> None:
    clock = Clock()
    resolver = _resolver(flex_server, clock)
    verify_capture_context(_context(flex_server), resolver=resolver)
    with pytest.raises(JWTValidationError):  # a forgery spends this interval's re-fetch
        verify_capture_context(_context(flex_server, signer=foreign_key()), resolver=resolver)
    assert len(flex_server.key_requests()) == 2

    rotated = rsa_key("rotated")
    flex_server.public_keys[SIGNING_KID] = public_jwk(rotated, SIGNING_KID, "enc")
    with pytest.raises(JWTValidationError, match="signature"):
        verify_capture_context(_context(flex_server, signer=rotated), resolver=resolver)
    assert len(flex_server.key_requests()) == 2

    clock.now += REFETCH_INTERVAL_SECONDS
    assert verify_capture_context(_context(flex_server, signer=rotated), resolver=resolver).verified
    assert verify_capture_context(_context(flex_server, signer=rotated), resolver=resolver).verified
    assert len(flex_server.key_requests()) == 3


def test_an_unknown_kid_is_remembered_for_a_while(flex_server: FlexServer) -> None:
    clock = Clock()
    resolver = _resolver(flex_server, clock)
    late = rsa_key("late")
    context = _context(flex_server, kid="late", signer=late)
    errors: List[BaseException] = []
    for _ in range(3):
        with pytest.raises(HTTPError) as info:
            verify_capture_context(context, resolver=resolver)
        errors.append(info.value)
    assert len(flex_server.key_requests("late")) == 1
    # The remembered answer is raised again, the same type, status and message.
    assert {(type(e), e.status, str(e)) for e in errors if isinstance(e, HTTPError)} == {
        (HTTPError, 404, str(errors[0]))
    }

    flex_server.public_keys["late"] = public_jwk(late, "late", "enc")
    clock.now += UNKNOWN_KID_TTL_SECONDS - 1
    with pytest.raises(HTTPError):
        verify_capture_context(context, resolver=resolver)
    clock.now += 1
    assert verify_capture_context(context, resolver=resolver).verified
    assert len(flex_server.key_requests("late")) == 2


class SlowKeys(Dict[str, Any]):
    """The key server's JWKs; looking up ``slow`` takes ``delay`` seconds."""

    delay = 1.5

    def get(self, kid: str, default: Any = None) -> Any:
        if kid == "slow":
            time.sleep(self.delay)
        return super().get(kid, default)


def test_different_kids_do_not_wait_on_each_other(flex_server: FlexServer) -> None:
    slow_key = rsa_key("slow")
    flex_server.public_keys = SlowKeys(flex_server.public_keys, slow=public_jwk(slow_key, "slow", "enc"))
    resolver = _resolver(flex_server)
    outcome: List[object] = []
    slow_context = _context(flex_server, kid="slow", signer=slow_key)

    def verify_slow() -> None:
        try:
            outcome.append(verify_capture_context(slow_context, resolver=resolver))
        except FlexError as exc:  # pragma: no cover - reported by the assertion below
            outcome.append(exc)

    worker = threading.Thread(target=verify_slow)
    worker.start()
    deadline = time.monotonic() + 5
    while not flex_server.key_requests("slow") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert flex_server.key_requests("slow"), "the slow fetch never started"

    started = time.monotonic()
    assert verify_capture_context(_context(flex_server), resolver=resolver).verified
    elapsed = time.monotonic() - started
    worker.join()
    assert elapsed < SlowKeys.delay / 2, f"the fetch of another kid waited {elapsed:.2f} s"
    assert len(outcome) == 1 and getattr(outcome[0], "verified", False), outcome
