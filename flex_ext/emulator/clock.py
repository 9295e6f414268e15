"""The emulator's notion of "now", which tests can pin, move or release.

Every time check in the emulator (HTTP Signature ``Date`` skew, JWT ``iat``/``exp``,
capture-context and transient-token lifetimes, card expiry) reads this one clock, so a
test can replay a recorded request from a fixed date or jump past an expiry without
sleeping.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Callable, Optional, Union

__all__ = ["EmulatorClock", "TimeSpec"]

#: A moment: seconds since the epoch, or an aware (or UTC-naive) datetime.
TimeSpec = Union[int, float, datetime]


def _to_epoch(moment: TimeSpec) -> float:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    if isinstance(moment, bool) or not isinstance(moment, (int, float)):
        raise TypeError("a moment must be epoch seconds or a datetime")
    return float(moment)


class EmulatorClock:
    """Wall-clock time by default; ``freeze`` pins it, ``advance`` moves it.

    When not frozen, ``advance`` adds a permanent offset to the running clock, so time
    keeps flowing from the shifted point. ``source`` replaces the wall clock (any
    zero-argument callable returning epoch seconds, e.g. a test's fake clock).
    """

    def __init__(self, frozen_at: Optional[TimeSpec] = None, source: Callable[[], float] = time.time) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._frozen: Optional[float] = None if frozen_at is None else _to_epoch(frozen_at)
        self._offset = 0.0

    def now(self) -> float:
        """Seconds since the epoch, as the emulator sees it."""
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return self._source() + self._offset

    def now_datetime(self) -> datetime:
        """``now()`` as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), tz=timezone.utc)

    def freeze(self, at: Optional[TimeSpec] = None) -> None:
        """Stop the clock at ``at`` (default: the current emulator time)."""
        moment = self.now() if at is None else _to_epoch(at)
        with self._lock:
            self._frozen = moment

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, with a negative value)."""
        with self._lock:
            if self._frozen is not None:
                self._frozen += float(seconds)
            else:
                self._offset += float(seconds)

    def unfreeze(self) -> None:
        """Return to the running clock (dropping any offset)."""
        with self._lock:
            self._frozen = None
            self._offset = 0.0

    @property
    def frozen(self) -> bool:
        with self._lock:
            return self._frozen is not None
