"""Concurrency (issue 6, "Prove it safe"): clients shared by 16 threads, 3 merchants.

One :class:`~flex_ext.client.FlexClient` per merchant (HTTP Signature, JWT with a P12
certificate, JWT with the shared secret), all three shared by every thread and all three
sharing one key store, run 2,000 operations (create, verify capture context, tokenize,
verify transient token) against the emulator on 127.0.0.1. The emulator, which verifies
every signature itself, must have accepted each sessions request as the merchant whose
client sent it, and each signing key must have been fetched exactly once.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import pytest
from emulator_helpers import CARD_FIELDS, Client

from flex_ext.capture_context import CaptureContext
from flex_ext.client import Card, FlexClient
from flex_ext.emulator import FlexEmulator
from flex_ext.errors import HTTPError
from flex_ext.public_keys import InMemoryKeyStore
from flex_ext.transient_token import TransientToken

THREADS = 16
OPERATIONS = 2000
#: (merchant id, emulator ``merchant_config`` authentication type)
MERCHANTS = (
    ("conc_signature", "http_signature"),
    ("conc_jwt_p12", "jwt"),
    ("conc_jwt_secret", "jwt_shared_secret"),
)
CARD = Card("4111 1111 1111 1111", "12", "2099", security_code="123")
FIELDS = {
    "paymentInformation.card.number": True,
    "paymentInformation.card.expirationMonth": True,
    "paymentInformation.card.expirationYear": True,
    "paymentInformation.card.securityCode": False,
}


# ------------------------------------------------------------- the emulator's accounting


def test_emulator_tallies_authentications_per_merchant() -> None:
    with FlexEmulator(default_merchant=False) as emu:
        alice = emu.add_merchant("alice")
        bob = emu.add_merchant("bob")
        client = Client()
        kids = [
            json.loads(_segment(client.capture_context(emu.base_url, merchant, CARD_FIELDS)))["flx"]["jwk"]["kid"]
            for merchant in (alice, alice, bob)
        ]
        # Alice's id with Bob's key: refused, and counted for nobody.
        forged = type(alice)(merchant_id="alice", key_id=bob.key_id, shared_secret=bob.shared_secret)
        assert client.create_session(emu.base_url, forged).status == 401

        assert emu.authenticated_requests("alice") == 2
        assert emu.authenticated_requests("bob") == 1
        assert emu.authenticated_requests("carol") == 0
        assert emu.authenticated_requests() == 3
        assert emu.authentication_failures() == 1
        assert [emu.capture_context_merchant(kid) for kid in kids] == ["alice", "alice", "bob"]
        assert emu.capture_context_merchant("no-such-kid") is None

        emu.reset_request_counts()
        assert emu.authenticated_requests() == 0 and emu.authentication_failures() == 0


def _segment(jwt: str) -> bytes:
    import base64

    payload = jwt.split(".")[1]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))


def test_resolvers_sharing_a_store_fetch_a_missing_kid_once() -> None:
    """Clients of different merchants have their own resolvers but may share a store: a kid
    that several of them miss at the same moment is fetched once, not once per resolver."""
    from flexkit import public_jwk, signing_key

    from flex_ext.public_keys import PublicKeyResolver

    fetches: List[str] = []

    def slow_fetcher(base_url: str, kid: str) -> Dict[str, str]:
        fetches.append(kid)
        time.sleep(0.2)
        return public_jwk(signing_key(), kid)

    store = InMemoryKeyStore()
    resolvers = [
        PublicKeyResolver("https://keys.concurrency.example", store=store, fetcher=slow_fetcher) for _ in range(4)
    ]
    start = threading.Barrier(8)

    def get(index: int) -> bool:
        start.wait()
        return resolvers[index % 4].get("k1")[1]

    with ThreadPoolExecutor(max_workers=8) as pool:
        cached = list(pool.map(get, range(8)))
    assert fetches == ["k1"]
    assert cached.count(False) == 1


# ------------------------------------------------------------------------ the load test


@dataclass
class _Shared:
    """State the worker threads share: issued contexts (with uses left), tokens, tallies."""

    usage_limit: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    taken: int = 0
    contexts: Dict[str, List[List[Any]]] = field(default_factory=dict)  # merchant -> [[ctx, uses left]]
    tokens: Dict[str, List[Tuple[TransientToken, CaptureContext]]] = field(default_factory=dict)
    sessions_sent: Counter = field(default_factory=Counter)
    operations: Counter = field(default_factory=Counter)
    signing_kids: set = field(default_factory=set)
    errors: List[str] = field(default_factory=list)

    def take_operation(self) -> Optional[int]:
        with self.lock:
            if self.taken >= OPERATIONS:
                return None
            self.taken += 1
            return self.taken

    def reserve_use(self, merchant: str) -> Optional[CaptureContext]:
        """A context of ``merchant`` with a tokenization left (never beyond the usage limit)."""
        with self.lock:
            for item in self.contexts[merchant]:
                if item[1] > 0:
                    item[1] -= 1
                    return item[0]  # type: ignore[no-any-return]
        return None


def _run_operation(
    emu: FlexEmulator, clients: Dict[str, FlexClient], shared: _Shared, rng: random.Random, number: int
) -> None:
    merchant = rng.choice(list(clients))
    client = clients[merchant]
    kind = rng.choices(["create", "verify_context", "tokenize", "verify_token"], weights=[15, 30, 30, 25])[0]
    with shared.lock:
        contexts = [item[0] for item in shared.contexts[merchant]]
        tokens = list(shared.tokens[merchant])
    if kind == "verify_token" and not tokens:
        kind = "tokenize"
    if kind in ("verify_context", "tokenize") and not contexts:
        kind = "create"
    context = shared.reserve_use(merchant) if kind == "tokenize" else None
    if kind == "tokenize" and context is None:
        kind = "create"

    if number == OPERATIONS // 2:
        # Halfway through, new capture contexts start being signed by a new key: its kid
        # must be fetched once, while contexts signed by the old one keep verifying.
        emu.rotate_signing_key()

    if kind == "create":
        with shared.lock:
            shared.sessions_sent[merchant] += 1
        ctx = client.create_capture_context(FIELDS)
        assert ctx.verified
        owner = emu.capture_context_merchant(ctx.kid)
        assert owner == merchant, f"a context created by {merchant}'s client was issued to {owner}"
        with shared.lock:
            shared.contexts[merchant].append([ctx, shared.usage_limit])
            shared.signing_kids.add(ctx.signing_kid)
    elif kind == "verify_context":
        ctx = rng.choice(contexts)
        again = client.verify_capture_context(ctx.jwt)
        assert again.kid == ctx.kid and again.signing_kid == ctx.signing_kid
    elif kind == "tokenize":
        assert context is not None
        token = client.tokenize(context, CARD)
        assert token.masked_card_number == "XXXXXXXXXXXX1111"
        with shared.lock:
            shared.tokens[merchant].append((token, context))
    else:
        token, ctx = rng.choice(tokens)
        assert client.verify_transient_token(token.jwt, ctx).jti == token.jti
    with shared.lock:
        shared.operations[kind] += 1


def _worker(emu: FlexEmulator, clients: Dict[str, FlexClient], shared: _Shared, seed: int, start: Any) -> None:
    rng = random.Random(seed)
    start.wait()
    while True:
        number = shared.take_operation()
        if number is None:
            return
        try:
            _run_operation(emu, clients, shared, rng, number)
        except Exception as exc:  # collected: every failure is reported, none stops the run
            with shared.lock:
                shared.errors.append(f"operation {number}: {type(exc).__name__}: {str(exc)[:200]}")


def test_sixteen_threads_three_merchants_two_thousand_operations() -> None:
    with FlexEmulator(default_merchant=False) as emu:
        for merchant_id, auth in MERCHANTS:
            emu.add_merchant(merchant_id, p12=auth == "jwt")
        store = InMemoryKeyStore()  # fresh, and shared by the three clients
        clients = {
            merchant_id: FlexClient(emu.merchant_config(merchant_id, auth), key_store=store)
            for merchant_id, auth in MERCHANTS
        }
        shared = _Shared(usage_limit=emu.usage_limit)
        for merchant_id in clients:
            shared.contexts[merchant_id] = []
            shared.tokens[merchant_id] = []
        start = threading.Barrier(THREADS)  # all threads begin at once: the first fetches race
        # A slow public-keys endpoint widens the window in which several threads (of
        # different clients) find a kid missing from the store at the same time.
        emu.inject_fault("public-keys", latency=0.3)

        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            futures = [pool.submit(_worker, emu, clients, shared, seed, start) for seed in range(THREADS)]
            for future in futures:
                future.result()
        elapsed = time.perf_counter() - began

        figures = {
            "threads": THREADS,
            "merchants": len(MERCHANTS),
            "operations": sum(shared.operations.values()) + len(shared.errors),
            "by_kind": dict(shared.operations),
            "errors": len(shared.errors),
            "sessions_sent": dict(shared.sessions_sent),
            "sessions_authenticated": {m: emu.authenticated_requests(m) for m, _ in MERCHANTS},
            "authentication_failures": emu.authentication_failures(),
            "signing_kids": len(shared.signing_kids),
            "public_key_fetches": emu.request_count("public-keys"),
            "seconds": round(elapsed, 2),
        }
        print(f"\nconcurrency run: {figures}")
        report = os.environ.get("FLEX_CONCURRENCY_REPORT")
        if report:
            with open(report, "w", encoding="utf-8") as handle:
                json.dump(figures, handle, indent=2)

        assert shared.errors == [], shared.errors[:10]
        assert figures["operations"] == OPERATIONS
        assert all(shared.operations[kind] > 0 for kind in ("create", "verify_context", "tokenize", "verify_token"))
        # Every sessions request was accepted as the merchant whose client sent it, none refused.
        assert figures["sessions_authenticated"] == {m: shared.sessions_sent[m] for m, _ in MERCHANTS}
        assert emu.authentication_failures() == 0
        assert emu.request_count("sessions") == sum(shared.sessions_sent.values())
        # Each signing key fetched once, however many threads and clients needed it at once.
        assert len(shared.signing_kids) == 2
        assert emu.request_count("public-keys") == len(shared.signing_kids)

        # A request signed with another merchant's credentials is refused with 401.
        before = {m: emu.authenticated_requests(m) for m, _ in MERCHANTS}
        signature_merchant, p12_merchant, secret_merchant = (m for m, _ in MERCHANTS)
        forged_configs = [
            # the signature merchant's id, the shared-secret merchant's key id and secret
            dict(
                emu.merchant_config(signature_merchant),
                merchant_keyid=emu.merchant(secret_merchant).key_id,
                merchant_secretkey=emu.merchant(secret_merchant).shared_secret,
            ),
            # the P12 merchant's id, signed with the signature merchant's shared secret
            dict(
                emu.merchant_config(signature_merchant, "jwt_shared_secret"),
                merchantid=p12_merchant,
            ),
            # the shared-secret merchant's id, signed with the P12 merchant's shared secret
            dict(emu.merchant_config(p12_merchant, "jwt_shared_secret"), merchantid=secret_merchant),
        ]
        for config in forged_configs:
            with pytest.raises(HTTPError) as refused:
                FlexClient(config, key_store=store).create_capture_context(FIELDS)
            assert refused.value.status == 401
        assert emu.authentication_failures() == len(forged_configs)
        assert {m: emu.authenticated_requests(m) for m, _ in MERCHANTS} == before
