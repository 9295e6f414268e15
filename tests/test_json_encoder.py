"""flex_ext._json.dict_encoder gives exactly what the encoder it is built from gives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flex_ext._json import dict_encoder

VALUES: list[Any] = [
    {"a": 1, "b": [1.5, None, True], "c": {"d": "é ☃ \u2028 \"q\""}},
    {"n": float("nan"), "i": float("inf")},
    {},
    ["not", "a", "dict"],
    "text",
]


@pytest.mark.parametrize(
    "encoder",
    [json.JSONEncoder(), json.JSONEncoder(separators=(",", ":"), ensure_ascii=False), json.JSONEncoder(sort_keys=True)],
)
@pytest.mark.parametrize("value", VALUES)
def test_same_text_as_the_encoder(encoder: json.JSONEncoder, value: Any) -> None:
    assert dict_encoder(encoder)(value) == encoder.encode(value)


def test_refusals_stay_the_same() -> None:
    strict = json.JSONEncoder(allow_nan=False)
    with pytest.raises(ValueError):
        dict_encoder(strict)({"n": float("nan")})
    with pytest.raises(TypeError):
        dict_encoder(json.JSONEncoder())({"x": object()})
