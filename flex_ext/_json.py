"""JSON helpers: reading an answer's JSON object, and a faster ``JSONEncoder.encode`` for dicts.

``JSONEncoder.encode`` builds a new C encoder per call, about half the cost of encoding a
small dict. :func:`dict_encoder` builds it once. It sets no circular-reference markers: callers pass
trees they built or validated themselves (bounded depth), where a cycle cannot occur or
already became a ``RecursionError``.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional

__all__ = ["dict_encoder", "json_object"]

_C_MAKE_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)


def json_object(text: Any) -> Optional[dict[str, Any]]:
    """``text`` (JSON as str or bytes) parsed, if it is a JSON object; else None."""
    try:
        value = json.loads(text) if isinstance(text, (str, bytes)) else None
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return value if isinstance(value, dict) else None


def dict_encoder(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """A function that returns ``encoder.encode(value)``; it is faster for a dict, and
    it falls back to ``encoder.encode`` where the C accelerator is missing."""
    if _C_MAKE_ENCODER is None or encoder.indent is not None:
        return encoder.encode
    make = _C_MAKE_ENCODER(
        None, encoder.default,
        json.encoder.encode_basestring_ascii if encoder.ensure_ascii else json.encoder.encode_basestring, None,
        encoder.key_separator, encoder.item_separator, encoder.sort_keys, encoder.skipkeys, encoder.allow_nan,
    )

    def encode(value: Any) -> str:
        if type(value) is dict:
            return "".join(make(value, 0))
        return encoder.encode(value)

    return encode
