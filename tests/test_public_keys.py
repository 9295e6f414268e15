from __future__ import annotations

import socket
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from flexkit import (
    SIGNING_KID,
    FlexServer,
    foreign_key,
    mint_jwt,
    public_jwk,
    rsa_key,
    serve,
    signing_key,
)

from flex_ext.errors import HTTPError, InvalidKidError, JWKValidationError, JWTValidationError, TransportError
from flex_ext.jose import parse_compact_jwt
from flex_ext.public_keys import (
    InMemoryKeyStore,
    PublicKeyEntry,
    PublicKeyResolver,
    fetch_public_key_jwk,
    public_key_url,
    validate_kid,
)
from flex_ext.transport import TransportSettings


@pytest.fixture
def flex_server() -> Iterator[FlexServer]:
    yield from serve()

FAST = TransportSettings(connect_timeout=2, read_timeout=2)


def _parsed(kid: Optional[str] = SIGNING_KID, key=None, alg: str = "RS256"):  # type: ignore[no-untyped-def]
    header: Dict[str, Any] = {"alg": alg}
    if kid is not None:
        header["kid"] = kid
    return parse_compact_jwt(mint_jwt(header, {"exp": 1}, key or signing_key()))


@pytest.mark.parametrize("kid", ["3g", "zu", "j4", "00SvIaGIfyaw897rDeG9eFdODKaCKc1q", "a.b", "a-b_c"])
def test_valid_kids(kid: str) -> None:
    assert validate_kid(kid) == kid
    assert public_key_url("https://h/", kid) == f"https://h/flex/v2/public-keys/{kid}"


@pytest.mark.parametrize(
    "kid",
    ["", "a/b", "../x", "..", ".", "a..b", "x?y=1", "a%2Fb", "a\\b", "a#b", "a b", "k\u00e9", "x" * 129, None, 7],
)
def test_invalid_kids_are_refused_before_any_url_is_built(kid: Any) -> None:
    with pytest.raises(InvalidKidError, match=r"^Invalid kid parameter: ") as info:
        public_key_url("https://h", kid)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, JWTValidationError)


def test_invalid_kid_message_is_bounded_and_ascii() -> None:
    with pytest.raises(InvalidKidError) as info:
        validate_kid("\n" + "y" * 500)
    assert "\n" not in str(info.value)
    assert len(str(info.value)) < 100


def test_fetch_sends_unauthenticated_get_and_returns_jwk(flex_server: FlexServer) -> None:
    jwk = fetch_public_key_jwk(flex_server.base_url, SIGNING_KID, transport=FAST)
    assert jwk == public_jwk(signing_key(), SIGNING_KID, "enc")
    (request,) = flex_server.key_requests()
    assert request.path == f"/flex/v2/public-keys/{SIGNING_KID}"
    assert request.headers["Accept"] == "application/json"
    assert "Authorization" not in request.headers and "Signature" not in request.headers


def test_fetch_retries_5xx_with_backoff_then_succeeds(flex_server: FlexServer) -> None:
    flex_server.key_failures = [503, 502]
    sleeps: List[float] = []
    jwk = fetch_public_key_jwk(flex_server.base_url, SIGNING_KID, transport=FAST, sleep=sleeps.append)
    assert jwk["kid"] == SIGNING_KID
    assert len(flex_server.key_requests()) == 3
    assert len(sleeps) == 2 and 0 < sleeps[0] < sleeps[1] <= 2.0


def test_fetch_gives_up_after_bounded_attempts(flex_server: FlexServer) -> None:
    flex_server.key_failures = [500, 500, 500, 500]
    with pytest.raises(HTTPError) as info:
        fetch_public_key_jwk(flex_server.base_url, SIGNING_KID, transport=FAST, sleep=lambda s: None)
    assert info.value.status == 500
    assert len(flex_server.key_requests()) == 3


def test_fetch_does_not_retry_4xx(flex_server: FlexServer) -> None:
    with pytest.raises(HTTPError) as info:
        fetch_public_key_jwk(flex_server.base_url, "unknown", transport=FAST, sleep=lambda s: None)
    assert info.value.status == 404
    assert len(flex_server.key_requests()) == 1


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def test_fetch_retries_connection_errors_a_bounded_number_of_times() -> None:
    sleeps: List[float] = []
    with pytest.raises(TransportError):
        fetch_public_key_jwk(
            f"http://127.0.0.1:{_closed_port()}", "k", transport=FAST, sleep=sleeps.append, max_attempts=2
        )
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("jwk", "message"),
    [
        (b"not json", "not JSON"),
        ([1], "not a JSON object"),
        ({"kty": "EC"}, "kty"),
        ({"kty": "RSA", "kid": "zz"}, "different kid"),
    ],
)
def test_fetch_rejects_bad_jwk_bodies(flex_server: FlexServer, jwk: Any, message: str) -> None:
    flex_server.public_keys["k"] = jwk
    with pytest.raises(JWKValidationError, match=message):
        fetch_public_key_jwk(flex_server.base_url, "k", transport=FAST)


def test_in_memory_store_is_lru_bounded_with_ttl() -> None:
    clock = [0.0]
    store = InMemoryKeyStore(max_entries=2, ttl_seconds=10, clock=lambda: clock[0])
    entry = PublicKeyEntry.from_jwk(public_jwk(signing_key(), "a"))
    store.put("env", "a", entry)
    store.put("env", "b", entry)
    assert store.get("env", "a") is entry  # a is now most recently used
    store.put("env", "c", entry)
    assert store.get("env", "b") is None  # evicted
    assert store.get("env", "a") is entry and store.get("env", "c") is entry
    assert store.get("other-env", "a") is None  # keyed by (environment, kid)
    clock[0] = 10.0
    assert store.get("env", "a") is None  # expired
    assert len(store) == 1
    store.discard("env", "c")
    assert len(store) == 0
    assert "entries=0" in repr(store)


def test_resolver_fetches_once_then_uses_the_cache(flex_server: FlexServer) -> None:
    resolver = PublicKeyResolver(flex_server.base_url, transport=FAST, store=InMemoryKeyStore())
    for _ in range(3):
        resolver.verify(_parsed())
    assert len(flex_server.key_requests()) == 1


def test_resolver_refetches_exactly_once_after_rotation(flex_server: FlexServer) -> None:
    store = InMemoryKeyStore()
    resolver = PublicKeyResolver(flex_server.base_url, transport=FAST, store=store)
    resolver.verify(_parsed())
    # The server rotates the key behind the same kid.
    flex_server.public_keys[SIGNING_KID] = public_jwk(rsa_key("rotated"), SIGNING_KID, "enc")
    resolver.verify(_parsed(key=rsa_key("rotated")))
    assert len(flex_server.key_requests()) == 2
    resolver.verify(_parsed(key=rsa_key("rotated")))
    assert len(flex_server.key_requests()) == 2


def test_forged_signature_with_cached_key_costs_exactly_one_refetch(flex_server: FlexServer) -> None:
    resolver = PublicKeyResolver(flex_server.base_url, transport=FAST, store=InMemoryKeyStore())
    resolver.verify(_parsed())
    with pytest.raises(JWTValidationError, match="signature verification failed"):
        resolver.verify(_parsed(key=foreign_key()))
    assert len(flex_server.key_requests()) == 2


def test_no_refetch_when_a_freshly_fetched_key_fails(flex_server: FlexServer) -> None:
    resolver = PublicKeyResolver(flex_server.base_url, transport=FAST, store=InMemoryKeyStore())
    with pytest.raises(JWTValidationError, match="signature verification failed"):
        resolver.verify(_parsed(key=foreign_key()))
    assert len(flex_server.key_requests()) == 1


def test_resolver_rejects_before_fetching(flex_server: FlexServer) -> None:
    resolver = PublicKeyResolver(flex_server.base_url, transport=FAST, store=InMemoryKeyStore())
    with pytest.raises(JWTValidationError, match="no 'kid'"):
        resolver.verify(_parsed(kid=None))
    for bad in ("../x", "a/b", "a?b", "a%2f"):
        with pytest.raises(InvalidKidError):
            resolver.verify(_parsed(kid=bad))
    with pytest.raises(JWTValidationError, match="'none'"):
        resolver.verify(parse_compact_jwt(mint_jwt({"kid": SIGNING_KID, "alg": "none"}, {})))
    assert flex_server.key_requests() == []


def test_resolver_rejects_small_signing_keys(flex_server: FlexServer) -> None:
    small = rsa_key("small", 1024)
    flex_server.public_keys["small"] = public_jwk(small, "small", "enc")
    resolver = PublicKeyResolver(flex_server.base_url, transport=FAST, store=InMemoryKeyStore())
    with pytest.raises(JWKValidationError, match="1024 bits"):
        resolver.verify(_parsed(kid="small", key=small))


def test_concurrent_verifications_fetch_once(flex_server: FlexServer) -> None:
    resolver = PublicKeyResolver(flex_server.base_url, transport=FAST, store=InMemoryKeyStore())
    parsed = _parsed()
    errors: List[BaseException] = []

    def work() -> None:
        try:
            resolver.verify(parsed)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(flex_server.key_requests()) == 1


class DictStore:
    """A store that keeps only JWKs, like a shared (Redis-style) store would."""

    def __init__(self) -> None:
        self.data: Dict[Tuple[str, str], Dict[str, Any]] = {}

    def get(self, environment: str, kid: str) -> Optional[PublicKeyEntry]:
        jwk = self.data.get((environment, kid))
        return None if jwk is None else PublicKeyEntry.from_jwk(jwk)

    def put(self, environment: str, kid: str, entry: PublicKeyEntry) -> None:
        self.data[(environment, kid)] = dict(entry.jwk)

    def discard(self, environment: str, kid: str) -> None:
        self.data.pop((environment, kid), None)


def test_a_pluggable_store_is_used(flex_server: FlexServer) -> None:
    store = DictStore()
    PublicKeyResolver(flex_server.base_url, transport=FAST, store=store).verify(_parsed())
    assert store.data == {(flex_server.base_url, SIGNING_KID): public_jwk(signing_key(), SIGNING_KID, "enc")}
    # Another resolver sharing the store (another process of the fleet) does not fetch.
    PublicKeyResolver(flex_server.base_url, transport=FAST, store=store).verify(_parsed())
    assert len(flex_server.key_requests()) == 1
