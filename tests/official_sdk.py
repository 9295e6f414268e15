"""The official CyberSource Python SDK in its own virtualenv, for the slow interop tests.

The official SDK depends on ``urllib3-future``, whose ``.pth`` hook overwrites the real
``urllib3`` of whatever environment it is installed into, so it lives in its own virtualenv
under ``<repo>/.cache/official-sdk-venv`` (created on the first run, reused while it holds the
pinned version). If the venv cannot be built (no PyPI, no ``venv`` module) the test fails with
the installer's output: it is never skipped. ``tests/conftest.py`` registers the fixture.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

#: The official SDK release this test runs (checked to work, with the workarounds below).
OFFICIAL_SDK = "cybersource-rest-client-python"
OFFICIAL_SDK_VERSION = "0.0.80"

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_DIR = REPO_ROOT / ".cache" / "official-sdk-venv"
INSTALL_TIMEOUT = 900
SCRIPT_TIMEOUT = 300


# -- the official SDK's virtualenv -------------------------------------------------------------


def _venv_python() -> Path:
    if os.name == "nt":
        return VENV_DIR / "Scripts" / "python.exe"
    return VENV_DIR / "bin" / "python"


def _installed_version(python: Path) -> Optional[str]:
    """The official SDK version in the venv, or None when the venv is missing or broken."""
    if not python.exists():
        return None
    probe = f"import importlib.metadata as m; print(m.version({OFFICIAL_SDK!r}))"
    try:
        done = subprocess.run(
            [str(python), "-I", "-c", probe], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _run_or_fail(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} took more than {INSTALL_TIMEOUT} s: {' '.join(command)}")
    except OSError as error:
        pytest.fail(f"{what} could not start: {error}")
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-4000:]
        pytest.fail(f"{what} failed (exit {done.returncode}): {' '.join(command)}\n{output}")


def _build_venv() -> Path:
    python = _venv_python()
    if _installed_version(python) == OFFICIAL_SDK_VERSION:
        return python
    shutil.rmtree(VENV_DIR, ignore_errors=True)
    _run_or_fail([sys.executable, "-m", "venv", str(VENV_DIR)], "creating the official SDK's virtualenv")
    _run_or_fail(
        [
            str(python),
            "-I",
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "-q",
            f"{OFFICIAL_SDK}=={OFFICIAL_SDK_VERSION}",
        ],
        f"installing {OFFICIAL_SDK}=={OFFICIAL_SDK_VERSION} from PyPI into {VENV_DIR}",
    )
    found = _installed_version(python)
    if found != OFFICIAL_SDK_VERSION:
        pytest.fail(f"{VENV_DIR} holds {OFFICIAL_SDK} {found!r} after installing {OFFICIAL_SDK_VERSION}")
    return python


@pytest.fixture(scope="session")
def official_sdk_python() -> Path:
    """The interpreter of a venv holding the pinned official SDK (built once, then reused)."""
    VENV_DIR.parent.mkdir(parents=True, exist_ok=True)
    # Two pytest runs at once must not build the venv over each other.
    with open(VENV_DIR.parent / "official-sdk-venv.lock", "w") as lock:
        if os.name != "nt":
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_venv()
