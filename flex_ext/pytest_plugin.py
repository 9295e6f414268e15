"""Pytest fixtures that run the local emulator (``flex_ext.emulator``): CyberSource Flex,
Microform, Unified Checkout and Payroc Hosted Fields on one loopback port.

Registered as a ``pytest11`` entry point, so installing the package makes the fixtures
available; without the entry point, add ``pytest_plugins = ["flex_ext.pytest_plugin"]``.

Fixtures (what they yield, scope):

* ``flex_emulator``: a running :class:`~flex_ext.emulator.FlexEmulator` (plain HTTP), one per
  test, so clocks, faults, limits and Payroc state set by one test never leak into another.
* ``flex_emulator_tls``: the same over HTTPS, one per test; ``.ca_cert_path`` is the CA to trust.
* ``flex_emulator_shared``: one emulator for the whole session (cheaper; do not change its
  clock, faults or merchants).
* ``flex_merchant_config``: an official-SDK merchant-config dict (HTTP Signature) for the
  default merchant of ``flex_emulator``, per test.
* ``payroc_config``: a :class:`flex_ext.hosted_fields.PayrocConfig` that reaches the Payroc
  side of ``flex_emulator`` (same emulator as ``flex_merchant_config``), per test.
* ``payroc_emulator``: a running :class:`~flex_ext.emulator.PayrocEmulator` (the same
  emulator under its Payroc names: ``identity_url``, ``api_url``, ``api_key``, ...), per test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import pytest

from flex_ext.emulator import FlexEmulator, PayrocEmulator

if TYPE_CHECKING:
    from flex_ext.hosted_fields import PayrocConfig

__all__ = [
    "flex_emulator",
    "flex_emulator_shared",
    "flex_emulator_tls",
    "flex_merchant_config",
    "payroc_config",
    "payroc_emulator",
]


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


@pytest.fixture
def payroc_config(flex_emulator: FlexEmulator) -> PayrocConfig:
    """``PayrocConfig`` for the Payroc side of ``flex_emulator``."""
    from flex_ext.hosted_fields import PayrocConfig  # only tests that use Payroc pay for its import

    return PayrocConfig(**flex_emulator.payroc_config())


@pytest.fixture
def payroc_emulator() -> Iterator[PayrocEmulator]:
    """A running emulator under its Payroc names, for this test only."""
    with PayrocEmulator() as emulator:
        yield emulator
