"""Test setup: run against the working tree (hand-written and generated halves)."""

from __future__ import annotations

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (os.path.join(_ROOT, "generated", "payroc"), os.path.join(_ROOT, "generated", "cybersource"), _ROOT):
    if _path not in sys.path:
        sys.path.insert(0, _path)

# The official SDK's own virtualenv, shared by every slow interop test (built once, under a lock).
from official_sdk import official_sdk_python  # noqa: E402, F401

# ---------------------------------------------------------------------------------------------
# Property-based fuzzing of the parsers (tests/test_fuzz_parsers.py): a few hundred examples
# per property by default so CI stays fast; ``--fuzz-full`` (or FLEX_FUZZ_EXAMPLES=N) for the
# full run of 10,000 per property.

FUZZ_CI_EXAMPLES = 300
FUZZ_FULL_EXAMPLES = 10_000


def pytest_addoption(parser):  # type: ignore[no-untyped-def]
    parser.addoption(
        "--fuzz-full",
        action="store_true",
        default=False,
        help=f"fuzz every parser with {FUZZ_FULL_EXAMPLES:,} examples per property (FLEX_FUZZ_EXAMPLES overrides)",
    )


def pytest_configure(config):  # type: ignore[no-untyped-def]
    from hypothesis import HealthCheck, settings

    examples = os.environ.get("FLEX_FUZZ_EXAMPLES")
    if examples:
        max_examples = int(examples)
    else:
        max_examples = FUZZ_FULL_EXAMPLES if config.getoption("--fuzz-full") else FUZZ_CI_EXAMPLES
    settings.register_profile(
        "flex-fuzz",
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
