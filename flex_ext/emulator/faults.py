"""Fault injection per endpoint, for every emulated service (Flex, Microform, Unified
Checkout, Payroc), so client retry and error paths can be tested.

One fault at a time per endpoint; setting a new one replaces the old. A fault with
``times=N`` applies to the next N requests of that endpoint and then clears itself
(the "fail N times, then recover" pattern); ``times=None`` applies until cleared.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Optional

__all__ = ["ENDPOINTS", "ENDPOINT_ROUTES", "OVERSIZED_BODY_BYTES", "Fault", "FaultBoard"]

#: Endpoint names used by fault injection and request counters, with their routes.
ENDPOINT_ROUTES = {
    "sessions": "POST /flex/v2/sessions",
    "public-keys": "GET /flex/v2/public-keys/{kid}",
    "tokens": "POST /flex/v2/tokens",
    "microform-sessions": "POST /microform/v2/sessions",
    "uc-capture-contexts": "POST /up/v1/capture-contexts",
    "uc-sessions": "POST /uc/v1/sessions",
    "payroc-authorize": "POST /authorize",
    "payroc-sessions": "POST /v1/processing-terminals/{id}/hosted-fields-sessions",
    # The checkout sandbox (payments.py): one name per kind of follow-on.
    "payments": "POST /pts/v2/payments, PATCH /pts/v2/payments/{id}",
    "captures": "POST /pts/v2/payments/{id}/captures",
    "reversals": "POST /pts/v2/payments/{id}/reversals, POST /pts/v2/reversals",
    "refunds": "POST /pts/v2/payments/{id}/refunds, POST /pts/v2/captures/{id}/refunds",
    "voids": "POST /pts/v2/{payments,captures,refunds,credits}/{id}/voids, POST /pts/v2/voids",
    "credits": "POST /pts/v2/credits",
    "transactions": "GET /tss/v2/transactions/{id}",
    "payment-details": "GET /up/v1/payment-details/{token}, GET /flex/v2/payment-details/{jti}",
}
ENDPOINTS = tuple(ENDPOINT_ROUTES)


#: Size of the body sent by an ``oversized_body`` fault: above the client's 10 MiB cap.
OVERSIZED_BODY_BYTES = 12 * 1024 * 1024


@dataclass(frozen=True)
class Fault:
    """What to do to a request. Effects combine: latency first, then reset, or a status,
    or the normal response with its body cut short and/or a wrong ``Digest`` header.

    ``oversized_body`` pads the (otherwise valid) body with trailing whitespace to
    :data:`OVERSIZED_BODY_BYTES`; ``truncated_body`` announces the full ``Content-Length``,
    sends half of the body and closes the connection. ``after_processing`` (with ``status``
    or ``reset``) lets the request take effect first and only replaces its answer, as when
    a response is lost on the way back.
    """

    latency: float = 0.0
    status: Optional[int] = None
    reset: bool = False
    malformed_body: bool = False
    wrong_digest: bool = False
    times: Optional[int] = None
    oversized_body: bool = False
    truncated_body: bool = False
    after_processing: bool = False

    def __post_init__(self) -> None:
        if self.latency < 0:
            raise ValueError("latency must be >= 0 seconds")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError("an injected status must be 4xx or 5xx")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 (or None for until cleared)")
        if not (
            self.latency or self.status or self.reset or self.malformed_body or self.wrong_digest
            or self.oversized_body or self.truncated_body
        ):
            raise ValueError("a fault needs at least one effect")
        if self.after_processing and not (self.status or self.reset):
            raise ValueError("after_processing needs a status or reset")


class FaultBoard:
    """Thread-safe per-endpoint faults and request counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}
        self._counts: dict[str, int] = dict.fromkeys(ENDPOINTS, 0)
        self._applied: dict[str, int] = dict.fromkeys(ENDPOINTS, 0)

    @staticmethod
    def _check(endpoint: str) -> None:
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}")

    def set(self, endpoint: str, fault: Fault) -> None:
        self._check(endpoint)
        with self._lock:
            self._faults[endpoint] = fault

    def clear(self, endpoint: Optional[str] = None) -> None:
        with self._lock:
            if endpoint is None:
                self._faults.clear()
            else:
                self._check(endpoint)
                self._faults.pop(endpoint, None)

    def active(self, endpoint: str) -> Optional[Fault]:
        self._check(endpoint)
        with self._lock:
            return self._faults.get(endpoint)

    def on_request(self, endpoint: str) -> Optional[Fault]:
        """Count a request and return the fault to apply to it, if any."""
        with self._lock:
            self._counts[endpoint] += 1
            fault = self._faults.get(endpoint)
            if fault is None:
                return None
            self._applied[endpoint] += 1
            if fault.times is not None:
                if fault.times <= 1:
                    del self._faults[endpoint]
                else:
                    self._faults[endpoint] = replace(fault, times=fault.times - 1)
            return fault

    def count(self, endpoint: Optional[str] = None) -> int:
        with self._lock:
            if endpoint is None:
                return sum(self._counts.values())
            self._check(endpoint)
            return self._counts[endpoint]

    def applied(self, endpoint: str) -> int:
        """How many requests of ``endpoint`` a fault has been applied to."""
        self._check(endpoint)
        with self._lock:
            return self._applied[endpoint]

    def reset_counts(self) -> None:
        with self._lock:
            for name in ENDPOINTS:
                self._counts[name] = 0
                self._applied[name] = 0
