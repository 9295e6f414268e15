"""Flex v2 signing keys: fetch ``GET {base}/flex/v2/public-keys/{kid}`` and cache them.

Over the official SDK (whose cache never expires and whose fetch has no timeout and puts an
unchecked ``kid`` in a URL): :func:`validate_kid` runs before a ``kid`` nears a URL; the fetch
uses the configured transport and retries only connection errors and 5xx; the cache is a
:class:`KeyStore` keyed by (environment, kid), by default the thread-safe, bounded, expiring
:class:`InMemoryKeyStore`; and :class:`PublicKeyResolver` keeps forged input from driving
fetches, with a budget shared by every resolver of one store (the constants below).
"""

from __future__ import annotations

import copy
import json
import random
import re
import threading
import time
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Protocol, Tuple

from cryptography.hazmat.primitives.asymmetric import rsa

from .errors import (
    FlexError,
    HTTPError,
    InvalidKidError,
    JWKValidationError,
    JWTValidationError,
    ResponseTooLargeError,
    TransportError,
)
from .jose import ParsedJWT, check_alg, rsa_public_key_from_jwk, verify_checked_alg
from .transport import TimeoutSpec, TransportSettings, send

__all__ = [
    "DEFAULT_CACHE_SIZE", "DEFAULT_CACHE_TTL_SECONDS", "MAX_KID_LENGTH", "REFETCH_INTERVAL_SECONDS",
    "UNKNOWN_KID_BURST", "UNKNOWN_KID_TTL_SECONDS", "InMemoryKeyStore", "KeyStore", "PublicKeyEntry",
    "PublicKeyResolver", "default_key_store", "fetch_public_key_jwk", "public_key_url", "validate_kid",
]

MAX_KID_LENGTH = 128
DEFAULT_CACHE_SIZE = 256
#: Signing keys are long-lived; an hour bounds how long a revoked key stays trusted.
DEFAULT_CACHE_TTL_SECONDS = 3600.0
PUBLIC_KEYS_PATH = "/flex/v2/public-keys/"
#: A cached kid whose key fails a signature is fetched again at most once per interval.
REFETCH_INTERVAL_SECONDS = 30.0
#: How long a kid the server answered 404 for is refused without a request.
UNKNOWN_KID_TTL_SECONDS = 300.0
#: How many kids per environment may turn out unknown within one refetch interval before
#: kids that are not cached are refused without a request (forged kids cost no GET).
UNKNOWN_KID_BURST = 2
#: How many kids the budget remembers (re-fetch times, unknown kids), oldest forgotten first.
_KIDS_REMEMBERED = 1024

_KID_RE = re.compile(r"[A-Za-z0-9._-]+")

#: Cache key: (environment, kid). The environment is the base URL keys are fetched from.
KeyId = Tuple[str, str]


def _shown(kid: object) -> str:
    """A log- and message-safe rendering of an untrusted kid."""
    text = kid if isinstance(kid, str) else type(kid).__name__
    text = text[:40] + ("..." if len(text) > 40 else "")
    return ascii(text)


def validate_kid(kid: object) -> str:
    """Return ``kid`` if it is safe to put in a URL path segment, else raise.

    Accepted: 1..128 characters from ``[A-Za-z0-9._-]``, not ``.``/``..`` and without
    ``..``. So ``/``, ``\\``, ``?``, ``#``, ``%``, whitespace and non-ASCII are all refused.
    Raises :class:`~flex_ext.errors.InvalidKidError` (also a ``ValueError``) with the
    official message prefix ``Invalid kid parameter:``.
    """
    if not isinstance(kid, str) or len(kid) > MAX_KID_LENGTH or not _KID_RE.fullmatch(kid) or ".." in kid or kid == ".":
        raise InvalidKidError(f"Invalid kid parameter: {_shown(kid)}")
    return kid


def public_key_url(base_url: str, kid: str) -> str:
    """``{base_url}/flex/v2/public-keys/{kid}`` after validating ``kid``."""
    return base_url.rstrip("/") + PUBLIC_KEYS_PATH + validate_kid(kid)


@dataclass(frozen=True)
class PublicKeyEntry:
    """A cached signing key: the JWK as served (serialisable) and the parsed key object.

    A shared store (Redis, memcached, ...) should persist ``entry.jwk`` as JSON and rebuild
    with :meth:`from_jwk`.
    """

    jwk: Mapping[str, Any]
    key: rsa.RSAPublicKey = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        # Checked once here, so verifications with a cached entry skip the ABC check.
        if not isinstance(self.key, rsa.RSAPublicKey):
            raise JWKValidationError("a public key entry needs an RSA public key")

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any], min_bits: Optional[int] = 2048) -> PublicKeyEntry:
        # Flex signing keys are served with use "enc" (protocol.md A3), so use is not checked.
        # Validated before copying: dict() of a non-mapping would raise a raw TypeError.
        key = rsa_public_key_from_jwk(jwk, min_bits=min_bits)
        return cls(jwk=dict(jwk), key=key)


class KeyStore(Protocol):
    """Where signing keys are cached. Implementations must be safe to call from threads."""

    def get(self, environment: str, kid: str) -> Optional[PublicKeyEntry]:
        """The entry, or None when absent or expired."""

    def put(self, environment: str, kid: str, entry: PublicKeyEntry) -> None:
        """Store (or replace) an entry."""

    def discard(self, environment: str, kid: str) -> None:
        """Forget an entry if present."""


class InMemoryKeyStore:
    """Thread-safe LRU cache with a TTL: at most ``max_entries``, each for ``ttl_seconds``."""

    def __init__(
        self, max_entries: int = DEFAULT_CACHE_SIZE, ttl_seconds: float = DEFAULT_CACHE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._entries: OrderedDict[KeyId, tuple[float, PublicKeyEntry]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, environment: str, kid: str) -> Optional[PublicKeyEntry]:
        key = (environment, kid)
        with self._lock:
            item = self._entries.get(key)
            if item is None:
                return None
            if self.clock() >= item[0]:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return item[1]

    def put(self, environment: str, kid: str, entry: PublicKeyEntry) -> None:
        key = (environment, kid)
        with self._lock:
            self._entries[key] = (self.clock() + self.ttl_seconds, entry)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def discard(self, environment: str, kid: str) -> None:
        with self._lock:
            self._entries.pop((environment, kid), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:
        return (
            f"InMemoryKeyStore(entries={len(self)}, max_entries={self.max_entries}, "
            f"ttl={self.ttl_seconds}s)"
        )


_DEFAULT_STORE = InMemoryKeyStore()


def default_key_store() -> InMemoryKeyStore:
    """The process-wide store used when none is given (shared by the compat functions)."""
    return _DEFAULT_STORE


def fetch_public_key_jwk(
    base_url: str, kid: str, *, transport: Optional[TransportSettings] = None, timeout: TimeoutSpec = None,
    max_attempts: int = 3, backoff_seconds: float = 0.2, max_backoff_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """GET the JWK for ``kid``; retry connection errors and 5xx up to ``max_attempts`` times.

    Raises :class:`~flex_ext.errors.InvalidKidError` before any I/O for an unsafe kid,
    :class:`~flex_ext.errors.HTTPError` for a non-2xx answer (after retries when 5xx),
    :class:`~flex_ext.errors.TransportError` when no answer came, and
    :class:`~flex_ext.errors.JWKValidationError` when the body is not an RSA JWK object.
    """
    url = public_key_url(base_url, kid)
    settings = transport or TransportSettings()
    attempts = max(1, max_attempts)
    for attempt in range(1, attempts + 1):
        try:
            response = send(settings, "GET", url, headers={"Accept": "application/json"}, timeout=timeout)
        except ResponseTooLargeError:
            raise  # the same GET would bring the same body back
        except TransportError:
            if attempt == attempts:
                raise
        else:
            if 200 <= response.status < 300:
                break
            if response.status < 500 or attempt == attempts:
                message = f"GET public key for kid {_shown(kid)} failed with HTTP {response.status}"
                raise HTTPError(message, response.status, response.reason, response.text(), response.headers)
        delay = min(max_backoff_seconds, backoff_seconds * (2 ** (attempt - 1)))
        sleep(delay * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not security
    try:
        jwk = json.loads(response.data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise JWKValidationError(f"Failed to parse JWK for kid {_shown(kid)}: body is not JSON") from None
    if not isinstance(jwk, dict):
        raise JWKValidationError(f"Failed to parse JWK for kid {_shown(kid)}: body is not a JSON object")
    if jwk.get("kty") != "RSA":
        raise JWKValidationError(f"Failed to parse JWK for kid {_shown(kid)}: 'kty' is not 'RSA'")
    served_kid = jwk.get("kid")
    if served_kid is not None and served_kid != kid:
        raise JWKValidationError(f"JWK served for kid {_shown(kid)} carries a different kid")
    return jwk


Fetcher = Callable[[str, str], Mapping[str, Any]]


class _FetchBudget:
    """What the resolvers of one key store may fetch: one flight per (environment, kid),
    the last re-fetch after a failed signature, and the kids answered 404 (FIFO-bounded)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._guard = threading.Lock()
        self._flights: dict[KeyId, tuple[threading.Lock, list[int]]] = {}
        self._refetched: OrderedDict[KeyId, float] = OrderedDict()
        self._unknown: OrderedDict[KeyId, tuple[float, BaseException]] = OrderedDict()

    @contextmanager
    def flight(self, key: KeyId) -> Iterator[None]:
        """Serialise fetches of one kid; other kids go on in parallel. Locks live only
        while someone holds or waits for them, so forged kids leave nothing behind."""
        with self._guard:
            lock, users = self._flights.setdefault(key, (threading.Lock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users[0] -= 1
                if not users[0]:
                    del self._flights[key]

    def may_refetch(self, key: KeyId) -> bool:
        now = self.clock()
        with self._guard:
            last = self._refetched.get(key)
            if last is not None and now - last < REFETCH_INTERVAL_SECONDS:
                return False
            self._refetched[key] = now
            self._refetched.move_to_end(key)
            if len(self._refetched) > _KIDS_REMEMBERED:
                self._refetched.popitem(last=False)
            return True

    def refusal(self, key: KeyId) -> Optional[BaseException]:
        """The error to raise instead of fetching ``key``, or None when a fetch may go out."""
        now = self.clock()
        with self._guard:
            remembered = self._unknown.get(key)
            if remembered is not None and now < remembered[0]:
                return copy.copy(remembered[1])
            recent = 0
            for (environment, _kid), (expires, _error) in reversed(self._unknown.items()):
                if expires - UNKNOWN_KID_TTL_SECONDS <= now - REFETCH_INTERVAL_SECONDS:
                    break  # older entries come earlier in the FIFO
                recent += environment == key[0]
        if recent < UNKNOWN_KID_BURST:
            return None
        return InvalidKidError(
            f"kid {_shown(key[1])} is not cached and {recent} unknown kids were asked for in the last "
            f"{REFETCH_INTERVAL_SECONDS:.0f} s: not fetched (a forged capture context?)"
        )

    def remember_unknown(self, key: KeyId, error: BaseException) -> None:
        try:
            kept = copy.copy(error)  # no traceback: nothing of the failed call's frames stays
        except Exception:  # an exception type copy cannot rebuild: not remembered
            return
        with self._guard:
            self._unknown.pop(key, None)
            self._unknown[key] = (self.clock() + UNKNOWN_KID_TTL_SECONDS, kept)
            if len(self._unknown) > _KIDS_REMEMBERED:
                self._unknown.popitem(last=False)


_BUDGETS: weakref.WeakKeyDictionary[Any, _FetchBudget] = weakref.WeakKeyDictionary()
_BUDGETS_GUARD = threading.Lock()


def _budget_for(store: KeyStore) -> _FetchBudget:
    # One budget per store, shared by every resolver of it: the compat functions and
    # verify_capture_context(merchant_config=...) build a resolver per call.
    clock = getattr(store, "clock", time.monotonic)
    try:
        with _BUDGETS_GUARD:
            budget = _BUDGETS.get(store)
            if budget is None:
                budget = _BUDGETS[store] = _FetchBudget(clock)
            return budget
    except TypeError:  # a store that cannot be weakly referenced or hashed: per resolver
        return _FetchBudget(clock)


class PublicKeyResolver:
    """Verifies RS256 JWTs against the Flex public-keys endpoint of one environment.

    ``base_url`` is where keys are fetched (``https://apitest.cybersource.com``); it is also
    the environment part of the cache key unless ``environment`` is given.
    """

    def __init__(
        self, base_url: str, *, environment: Optional[str] = None, transport: Optional[TransportSettings] = None,
        store: Optional[KeyStore] = None, timeout: TimeoutSpec = None, min_bits: Optional[int] = 2048,
        max_attempts: int = 3, fetcher: Optional[Fetcher] = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.environment = environment or self.base_url
        self.transport = transport or TransportSettings()
        self.store: KeyStore = store if store is not None else default_key_store()
        self.timeout = timeout
        self.min_bits = min_bits
        self.max_attempts = max_attempts
        self._fetcher = fetcher
        self._budget = _budget_for(self.store)

    def __repr__(self) -> str:
        return f"PublicKeyResolver(base_url={self.base_url!r}, store={type(self.store).__name__})"

    def fetch(self, kid: str) -> PublicKeyEntry:
        """Fetch ``kid`` from the server (no cache), validate and store it.

        Refused without a request (the remembered 404 error, or an
        :class:`~flex_ext.errors.InvalidKidError`) while the kid is remembered as unknown or
        the environment's unknown-kid burst is spent.
        """
        refusal = self._budget.refusal((self.environment, validate_kid(kid)))
        if refusal is not None:
            raise refusal
        return self._fetch(kid)

    def _fetch(self, kid: str) -> PublicKeyEntry:
        try:
            if self._fetcher is not None:
                jwk = self._fetcher(self.base_url, kid)
            else:
                jwk = fetch_public_key_jwk(
                    self.base_url, kid, transport=self.transport, timeout=self.timeout, max_attempts=self.max_attempts,
                )
        except FlexError as exc:
            if getattr(exc, "status", None) == 404:  # HTTPError, or the compat fetcher's error
                self.store.discard(self.environment, kid)
                self._budget.remember_unknown((self.environment, kid), exc)
            raise
        entry = PublicKeyEntry.from_jwk(jwk, min_bits=self.min_bits)
        self.store.put(self.environment, kid, entry)
        return entry

    def get(self, kid: str) -> tuple[PublicKeyEntry, bool]:
        """The key for ``kid`` and whether it came from the cache."""
        kid = validate_kid(kid)
        entry = self.store.get(self.environment, kid)
        if entry is not None:
            return entry, True
        with self._budget.flight((self.environment, kid)):
            # Another thread may have fetched it while we waited.
            entry = self.store.get(self.environment, kid)
            if entry is not None:
                return entry, True
            return self.fetch(kid), False

    def refetch_after_failure(self, kid: str, failed: PublicKeyEntry) -> Optional[PublicKeyEntry]:
        """After ``failed`` (a cached key) did not verify a signature: the key to try again
        with, or None when there is none (within the refetch interval of the last re-fetch).
        """
        key = (self.environment, validate_kid(kid))
        with self._budget.flight(key):
            current = self.store.get(*key)
            if current is not None and current.jwk != failed.jwk:
                return current  # someone already refreshed it
            return self._fetch(kid) if self._budget.may_refetch(key) else None

    def verify(self, parsed: ParsedJWT, allowed_algs: Iterable[str] = ("RS256",), what: str = "JWT") -> PublicKeyEntry:
        """Verify ``parsed`` with the key its ``kid`` names; return the key used.

        The algorithm is checked before any fetch. When a cached key does not verify the
        signature, the key is fetched again (at most once per refetch interval) and the
        verification repeated.
        """
        alg = check_alg(parsed, allowed_algs, what)
        kid = parsed.header.get("kid")
        if kid is None or kid == "":
            raise JWTValidationError(f"{what} header has no 'kid'")
        entry, cached = self.get(kid)
        try:
            verify_checked_alg(parsed, entry.key, alg, what)
            return entry
        except JWTValidationError:
            fresh = self.refetch_after_failure(kid, entry) if cached else None
            if fresh is None:
                raise
        verify_checked_alg(parsed, fresh.key, alg, what)
        return fresh
