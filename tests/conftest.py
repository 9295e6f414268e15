"""Test setup: run against the working tree (hand-written and generated halves)."""

from __future__ import annotations

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (os.path.join(_ROOT, "generated", "payroc"), os.path.join(_ROOT, "generated", "cybersource"), _ROOT):
    if _path not in sys.path:
        sys.path.insert(0, _path)
