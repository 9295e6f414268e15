"""Pytest fixtures that run the local Flex emulator (``flex_ext.emulator``).

Registered as a ``pytest11`` entry point, so installing the package makes the fixtures
available; without the entry point, add ``pytest_plugins = ["flex_ext.pytest_plugin"]``.

Fixtures:

* ``flex_emulator``: a running :class:`~flex_ext.emulator.FlexEmulator` (plain HTTP), fresh
  for each test, so clocks, faults and limits set by one test never leak into another.
* ``flex_emulator_tls``: the same over HTTPS; ``.ca_cert_path`` is the CA to trust.
* ``flex_emulator_shared``: one emulator for the whole session (cheaper; do not change its
  clock, faults or merchants).
* ``flex_merchant_config``: an official-SDK merchant-config dict (HTTP Signature) for the
  default merchant of ``flex_emulator``.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from flex_ext.emulator import FlexEmulator

__all__ = ["flex_emulator", "flex_emulator_shared", "flex_emulator_tls", "flex_merchant_config"]


@pytest.fixture
def flex_emulator() -> Iterator[FlexEmulator]:
    """A running emulator on 127.0.0.1 for this test only."""
    with FlexEmulator() as emulator:
        yield emulator


@pytest.fixture
def flex_emulator_tls() -> Iterator[FlexEmulator]:
    """A running HTTPS emulator for this test only; trust ``.ca_cert_path``."""
    with FlexEmulator(tls=True) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def flex_emulator_shared() -> Iterator[FlexEmulator]:
    """One emulator for the whole test session."""
    with FlexEmulator() as emulator:
        yield emulator


@pytest.fixture
def flex_merchant_config(flex_emulator: FlexEmulator) -> dict[str, Any]:
    """Merchant config (HTTP Signature) that authenticates against ``flex_emulator``."""
    return flex_emulator.merchant_config()
