"""A small pool of fresh RSA-2048 keys, refilled in a background thread.

Every capture context needs a one-time key pair, and generating one costs 50-110 ms of
CPU: without a pool, that dominates the time a checkout spends in the emulator. The pool
starts empty and idle (an emulator that never issues a capture context costs nothing);
each time a caller finds it empty, the key is made on the spot and, from the second such
miss on, the refill target grows by one, up to ``capacity``. So a test that issues one
context makes no spare key, while a suite or benchmark issuing many is served from the pool.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Optional

from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["KeyPool", "new_rsa_key"]


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class KeyPool:
    """Thread-safe; ``take()`` never blocks on the refill thread. ``stop()`` ends the thread."""

    def __init__(self, capacity: int = 8) -> None:
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self.capacity = capacity
        self._keys: deque[rsa.RSAPrivateKey] = deque()
        self._target = 0
        self._misses = 0
        self._wake = threading.Condition()
        self._stopped = False
        self._thread: Optional[threading.Thread] = None

    def __len__(self) -> int:
        with self._wake:
            return len(self._keys)

    def take(self) -> rsa.RSAPrivateKey:
        """A key never handed out before: from the pool, or made now when it is empty."""
        with self._wake:
            if self._keys:
                key = self._keys.popleft()
                self._wake.notify()
                return key
        # Made before the refill is woken, so the two do not compete for the CPU.
        key = new_rsa_key()
        with self._wake:
            self._misses += 1
            if self.capacity and not self._stopped and self._misses > 1:
                self._target = min(self.capacity, self._target + 1)
                if self._thread is None:
                    self._thread = threading.Thread(target=self._refill, name="flex-emulator-keys", daemon=True)
                    self._thread.start()
                self._wake.notify()
        return key

    def _refill(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and len(self._keys) >= self._target:
                    self._wake.wait()
                if self._stopped:
                    return
            key = new_rsa_key()  # outside the lock: take() must not wait for it
            with self._wake:
                if self._stopped:
                    return
                self._keys.append(key)

    def stop(self) -> None:
        """Stop refilling and drop the spare keys. Does not wait: the thread ends as soon as
        the key it may be making is done (that key is dropped)."""
        with self._wake:
            self._stopped = True
            self._keys.clear()
            self._wake.notify_all()
            self._thread = None
