"""Every Python block of the README runs as written, in order, against the built-in emulator.

The blocks read their credentials from the environment (``CYBERSOURCE_*``, ``PAYROC_*``), as
production code should; this test points those variables at a local emulator, so what a reader
copies is exactly what runs here, and nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

from flex_ext.emulator import FlexEmulator

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks() -> list[str]:
    return _BLOCK.findall(README.read_text(encoding="utf-8"))


def test_the_readme_has_python_blocks() -> None:
    assert len(python_blocks()) >= 3


@pytest.fixture
def readme_environment(monkeypatch: pytest.MonkeyPatch) -> Any:
    with FlexEmulator() as emulator:
        config = emulator.merchant_config()
        monkeypatch.setenv("CYBERSOURCE_MERCHANT_ID", config["merchantid"])
        monkeypatch.setenv("CYBERSOURCE_KEY_ID", config["merchant_keyid"])
        monkeypatch.setenv("CYBERSOURCE_SECRET_KEY", config["merchant_secretkey"])
        monkeypatch.setenv("CYBERSOURCE_RUN_ENVIRONMENT", config["run_environment"])
        # What a checkout page would post back: a transient token the emulator minted.
        monkeypatch.setenv("TRANSIENT_TOKEN", emulator.mint_transient_token(emulator.issue_capture_context()))
        payroc = emulator.payroc_config()
        monkeypatch.setenv("PAYROC_API_KEY", payroc["api_key"])
        monkeypatch.setenv("PAYROC_IDENTITY_URL", payroc["identity_url"])
        monkeypatch.setenv("PAYROC_API_URL", payroc["api_url"])
        yield emulator


def test_every_python_block_of_the_readme_runs_as_written(readme_environment: FlexEmulator) -> None:
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    output = io.StringIO()
    for number, block in enumerate(python_blocks(), 1):
        with contextlib.redirect_stdout(output):
            try:
                exec(compile(block, f"README.md python block {number}", "exec"), namespace)  # noqa: S102
            except Exception as error:  # pragma: no cover - the failure message is the point
                pytest.fail(f"README python block {number} failed: {type(error).__name__}: {error}\n{block}")
    printed = output.getvalue()
    # The blocks talked to the emulator and printed what they promise, and no card number.
    assert readme_environment.request_count() > 0
    assert printed.strip()
    assert "4111111111111111" not in printed and "4111 1111 1111 1111" not in printed
