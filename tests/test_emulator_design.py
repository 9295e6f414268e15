"""The emulator stays independent of the client code it judges, and is one design."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import flex_ext.emulator as emulator_package

PACKAGE = Path(emulator_package.__file__).parent
CLIENT_MODULES = ("jose", "jwe", "capture_context", "transient_token", "auth", "client", "hosted_fields")


def test_no_emulator_module_imports_the_client() -> None:
    offenders = []
    for source in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
                outside = node.level >= 2 or (node.level == 0 and names[0].startswith("flex_ext") and
                                             not names[0].startswith("flex_ext.emulator"))
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
                outside = any(n.startswith("flex_ext") and not n.startswith("flex_ext.emulator") for n in names)
            else:
                continue
            if outside:
                offenders.append(f"{source.name}: {names}")
    assert offenders == []


def test_importing_and_running_the_emulator_loads_no_client_module() -> None:
    code = (
        "import sys\n"
        "from flex_ext.emulator import FlexEmulator\n"
        "with FlexEmulator() as emu:\n"
        "    emu.mint_transient_token(emu.issue_capture_context())\n"
        f"loaded = [m for m in {CLIENT_MODULES!r} if 'flex_ext.' + m in sys.modules]\n"
        "print(loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_the_old_payroc_module_is_gone() -> None:
    assert not (PACKAGE.parent / "emulator_payroc.py").exists()
    assert emulator_package.PayrocEmulator.__mro__[1] is emulator_package.FlexEmulator
