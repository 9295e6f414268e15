"""HTTP transport settings and the urllib3 pools built from them.

One place decides how the library talks to the network, so that every call (the generated
API classes, the public-key fetch, tokenization, hosted fields) gets the same timeouts,
proxy and TLS behaviour. Pools are shared between clients with equal settings, the way
the official SDK shares them, but the cache is bounded.
"""

from __future__ import annotations

import ipaddress
import ssl
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping, Optional, Union

import urllib3
from urllib3.exceptions import HTTPError as _Urllib3HTTPError
from urllib3.exceptions import NewConnectionError, ProtocolError, ProxyError, SSLError
from urllib3.exceptions import TimeoutError as _Urllib3TimeoutError

from .errors import ConnectError, HTTPError, RequestTimeoutError, ResponseTooLargeError, TransportError, http_error

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT", "DEFAULT_READ_TIMEOUT", "Response", "SealedBody", "TransportSettings", "is_loopback",
    "pool_manager", "send",
]

#: Seconds to establish a TCP/TLS connection. Generous enough for proxies (the Java SDK's
#: 1 s default is a known source of spurious failures), short enough to fail fast.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Seconds to wait for the response once connected.
DEFAULT_READ_TIMEOUT = 30.0

TimeoutSpec = Union[None, int, float, "tuple[float, float]", urllib3.Timeout]


@dataclass(frozen=True)
class TransportSettings:
    """How to reach a server: timeouts, proxy, TLS. Hashable, so pools can be shared."""

    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    proxy_url: Optional[str] = None
    # Kept out of repr: it is a secret.
    proxy_basic_auth: Optional[str] = field(default=None, repr=False)
    ssl_verify: bool = True
    ca_certs: Optional[str] = None
    client_cert_file: Optional[str] = None
    client_key_file: Optional[str] = None
    client_key_password: Optional[str] = field(default=None, repr=False)
    max_pool_size: int = 10
    num_pools: int = 10

    def timeout(self, override: TimeoutSpec = None) -> urllib3.Timeout:
        """The urllib3 timeout for one call: the per-call override, else these settings."""
        if override is None:
            return _shared_timeout(self.connect_timeout, self.read_timeout)
        if isinstance(override, urllib3.Timeout):
            return override
        if isinstance(override, tuple):
            connect, read = override
            return urllib3.Timeout(connect=float(connect), read=float(read))
        if isinstance(override, bool) or not isinstance(override, (int, float)) or override <= 0:
            raise TypeError("a request timeout must be a positive number of seconds or a (connect, read) tuple")
        return urllib3.Timeout(total=float(override))


@lru_cache(maxsize=64)
def _shared_timeout(connect: float, read: float) -> urllib3.Timeout:
    # Shared safely: urllib3 clones the Timeout it is given for each request.
    return urllib3.Timeout(connect=connect, read=read)


@dataclass(frozen=True)
class Response:
    """A fully read HTTP response."""

    status: int
    reason: str
    headers: urllib3.HTTPHeaderDict
    data: bytes

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")

    def error(self, where: str) -> HTTPError:
        """The typed :func:`~flex_ext.errors.http_error` for this (non-2xx) answer to ``where``."""
        status = self.status
        return http_error(f"{where} failed with HTTP {status}", status, self.reason, self.text(), self.headers)


class SealedBody:
    """Request bytes that carry card data or a transient token.

    Its ``repr`` shows only the length, so the body never appears in a traceback's locals
    (error trackers record them); the bytes are unwrapped in the call that sends them.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"SealedBody(<{len(self.data)} bytes>)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("SealedBody holds card data and is not picklable")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a URL's hostname) is this machine: where plain http is tolerable."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _untrusted_certificate(exc: BaseException) -> bool:
    """Whether urllib3's error wraps a failed certificate verification (it nests the
    ``ssl`` error in ``reason`` and the exception chain)."""
    seen: set[int] = set()
    cause: Optional[BaseException] = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        seen.add(id(cause))
        cause = getattr(cause, "reason", None) or cause.__cause__ or cause.__context__
    return False


def _failure(where: str, exc: Exception) -> TransportError:
    """The typed error for a urllib3 failure; it names the method, URL and kind only."""
    kind = type(exc).__name__
    # First: urllib3 2 makes NewConnectionError (refused, DNS, unreachable) a subclass of
    # ConnectTimeoutError, but nothing was sent and it is no timeout.
    if isinstance(exc, NewConnectionError) or isinstance(getattr(exc, "original_error", None), NewConnectionError):
        return ConnectError(f"{where}: could not connect ({kind}); nothing was sent")
    if isinstance(exc, _Urllib3TimeoutError):
        return RequestTimeoutError(f"{where}: no response within the timeout ({kind})")
    if isinstance(exc, SSLError):
        if _untrusted_certificate(exc):
            return TransportError(f"{where}: TLS failure, the server's certificate is not trusted: set ssl_ca_file "
                                  "in the merchant config to its CA certificate (a PEM file)")
        return TransportError(f"{where}: TLS failure ({kind}); check ssl_ca_file and the server certificate")
    if isinstance(exc, (ProxyError, ProtocolError)):
        return TransportError(f"{where}: connection failed ({kind})")
    return TransportError(f"{where}: request failed ({kind})")


_POOLS: OrderedDict[TransportSettings, urllib3.PoolManager] = OrderedDict()
_POOLS_LOCK = threading.Lock()
_MAX_SHARED_POOLS = 32


def _build_pool(settings: TransportSettings) -> urllib3.PoolManager:
    kwargs: dict[str, object] = {
        "num_pools": settings.num_pools,
        "maxsize": settings.max_pool_size,
        "cert_reqs": "CERT_REQUIRED" if settings.ssl_verify else "CERT_NONE",
        "retries": False,
    }
    if settings.ca_certs:
        kwargs["ca_certs"] = settings.ca_certs
    if settings.client_cert_file:
        kwargs["cert_file"] = settings.client_cert_file
        kwargs["key_file"] = settings.client_key_file
        if settings.client_key_password:
            kwargs["key_password"] = settings.client_key_password
    if settings.proxy_url:
        proxy_headers = None
        if settings.proxy_basic_auth:
            proxy_headers = urllib3.make_headers(proxy_basic_auth=settings.proxy_basic_auth)
        return urllib3.ProxyManager(settings.proxy_url, proxy_headers=proxy_headers, **kwargs)  # type: ignore[arg-type]
    return urllib3.PoolManager(**kwargs)  # type: ignore[arg-type]


def pool_manager(settings: TransportSettings) -> urllib3.PoolManager:
    """The shared pool for these settings (least recently used pools are closed first)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(settings)
        if pool is not None:
            _POOLS.move_to_end(settings)
            return pool
        pool = _build_pool(settings)
        _POOLS[settings] = pool
        while len(_POOLS) > _MAX_SHARED_POOLS:
            _, old = _POOLS.popitem(last=False)
            old.clear()
        return pool


def send(
    settings: TransportSettings, method: str, url: str, headers: Optional[Mapping[str, str]] = None,
    body: Union[bytes, SealedBody, None] = None, timeout: TimeoutSpec = None, max_body_bytes: int = 10 * 1024 * 1024,
) -> Response:
    """Send one request and read the whole response, with a timeout, without retries.

    A connection that could not be opened raises :class:`~flex_ext.errors.ConnectError`
    (nothing was sent), a timeout :class:`~flex_ext.errors.RequestTimeoutError`, any other
    failure :class:`~flex_ext.errors.TransportError`; the message names the method and URL
    only, and the urllib3 exception is not chained (its frames hold the request body).
    A response larger than ``max_body_bytes`` is refused rather than buffered.
    """
    pool = pool_manager(settings)
    where = f"{method.upper()} {url.split('?', 1)[0]}"
    failure: Optional[TransportError] = None
    try:
        raw = pool.request(
            method.upper(), url, body=body.data if isinstance(body, SealedBody) else body, headers=dict(headers or {}),
            timeout=settings.timeout(timeout), retries=False, redirect=False, preload_content=False,
        )
        try:
            data = _read_bounded(raw, max_body_bytes, where)
        finally:
            raw.release_conn()
    except _Urllib3HTTPError as exc:
        failure = _failure(where, exc)
    if failure is not None:
        # Raised outside the except block, so no __context__ links to urllib3's frames.
        raise failure
    return Response(status=raw.status, reason=raw.reason or "", headers=raw.headers, data=data)


def _read_bounded(raw: Any, max_body_bytes: int, where: str) -> bytes:
    """Read a response (decompressed, whatever its declared length), refusing more than the cap."""
    chunks = []
    size = 0
    for chunk in raw.stream(65536):
        size += len(chunk)
        if size > max_body_bytes:
            # Close rather than pool a half-read connection: the sender would stay
            # blocked on it, and its unread bytes would be the next response.
            raw.close()
            raise ResponseTooLargeError(f"{where}: response body exceeds {max_body_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
