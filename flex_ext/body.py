"""Request bodies: the three forms users pass, and the exact bytes that go on the wire.

The official SDK accepts only a JSON string, which it rewrites: leading underscores of
``model.__dict__`` keys are stripped, snake_case keys become camelCase, and the result is
re-serialised with :func:`json.dumps` defaults. Its samples depend on that, so we produce
the same bytes (the Digest and the JWT ``digest`` claim cover them). We also accept model
objects and dicts, which the official SDK crashes on. Unlike the official SDK we rewrite
keys only: a value that starts with ``_`` (or contains ``"_``) is sent unchanged.
"""

from __future__ import annotations

import datetime
import json
import re
from functools import lru_cache
from typing import Any, Optional

from ._json import dict_encoder
from .errors import FlexError

__all__ = ["RequestBodyError", "request_body", "sanitize_for_serialization", "wire_key"]

_SNAKE_LETTER = re.compile(r"_([a-z])")
# Whole-key substitutions the official SDK applies after camel-casing.
_KEY_FIXUPS = (("companyTaxId", "companyTaxID"), ("productSku", "productSKU"), ("secCode", "SECCode"))


class RequestBodyError(FlexError, ValueError):
    """The request body cannot be turned into JSON (the message says why, not what it held)."""


def _is_model(obj: object) -> bool:
    return hasattr(obj, "swagger_types") and hasattr(obj, "attribute_map")


def wire_key(key: str) -> str:
    """The JSON name the official SDK sends for a key: ``_payment_information`` -> ``paymentInformation``."""
    # The official SDK strips the two-character sequence `"_` twice, so at most two
    # leading underscores go.
    for _ in range(2):
        if key.startswith("_"):
            key = key[1:]
    key = _SNAKE_LETTER.sub(lambda match: match.group(1).upper(), key)
    for old, new in _KEY_FIXUPS:
        key = key.replace(old, new)
    return key


_cached_wire_key = lru_cache(maxsize=4096)(wire_key)


def _key(key: Any) -> str:
    return _cached_wire_key(key) if type(key) is str and len(key) <= 256 else wire_key(str(key))


def _wire_keys(obj: Any) -> Any:
    """Plain JSON data with every key rewritten (values, Nones included, kept as they are)."""
    if isinstance(obj, dict):
        return {_key(key): _wire_keys(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_wire_keys(item) for item in obj]
    if _is_model(obj):
        return _model_wire(obj)
    return obj


def sanitize_for_serialization(obj: Any) -> Any:
    """A model (or a structure holding models) as plain JSON data, Nones dropped.

    Model attributes are named by their JSON names (``attribute_map``). Dicts found inside
    a model (the samples nest ``model.__dict__`` dicts) lose their None values too, as the
    samples' ``del_none`` does, so a model and its sample-style JSON string send the same.
    """
    return _walk(obj, False)


def _model_wire(obj: Any) -> Any:
    """``_wire_keys(sanitize_for_serialization(obj))`` in one pass (Nones dropped)."""
    return _walk(obj, True)


#: Per model class: ``(attribute, JSON name, wire name)`` in declaration order.
_PLANS: dict[type, tuple[tuple[str, str, str], ...]] = {}
_SCALARS = (str, int, float, bool)


def _model_plan(obj: Any) -> tuple[tuple[str, str, str], ...]:
    model_class = type(obj)
    plan = _PLANS.get(model_class)
    if plan is None:
        attribute_map = obj.attribute_map
        plan = tuple((attr, attribute_map[attr], _key(attribute_map[attr])) for attr in obj.swagger_types)
        if len(_PLANS) < 4096:
            _PLANS[model_class] = plan
    return plan


def _walk(obj: Any, wire: bool) -> Any:
    """Models and containers as plain JSON data with Nones dropped; ``wire`` also rewrites
    every key to its wire name."""
    kind = type(obj)
    if obj is None or kind in _SCALARS:
        return obj
    plan = _PLANS.get(kind)
    if plan is None and _is_model(obj):
        plan = _model_plan(obj)
    if plan is not None:
        result = {}
        for attr, json_name, wire_name in plan:
            value = getattr(obj, attr)
            if value is not None:
                result[wire_name if wire else json_name] = _walk(value, wire)
        return result
    if isinstance(obj, (str, int, float, bool)):  # subclasses of the scalars
        return obj
    if isinstance(obj, (list, tuple)):
        return [_walk(item, wire) for item in obj]
    if isinstance(obj, (datetime.datetime, datetime.date)):
        return obj.isoformat()
    if isinstance(obj, dict):
        return {(_key(key) if wire else key): _walk(value, wire) for key, value in obj.items() if value is not None}
    raise RequestBodyError(f"cannot serialise a {type(obj).__name__} into a JSON request body")


# json.dumps(data) with its defaults; data is a fresh tree built by the walkers above.
_dumps = dict_encoder(json.JSONEncoder())


def request_body(body: Any, content_type: Optional[str] = None) -> bytes:
    """The exact bytes to send for ``body`` under ``content_type``.

    For JSON: a JSON string (any key style), a dict, or a model object; keys are rewritten
    to the wire names and the result is serialised like ``json.dumps`` with defaults
    (``", "``/``": "`` separators, ASCII escapes), exactly as the official SDK sends it.
    For other content types (``application/jwt``): a str is sent as UTF-8, bytes as they are.

    :raises RequestBodyError: the body is not valid JSON or not serialisable.
    """
    if content_type is not None and "json" not in content_type.lower():
        if isinstance(body, bytes):
            return body
        if isinstance(body, str):
            return body.encode("utf-8")
        raise RequestBodyError(f"a {content_type} request body must be str or bytes, not {type(body).__name__}")
    if isinstance(body, (bytes, bytearray)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise RequestBodyError("the request body bytes are not UTF-8") from None
    if isinstance(body, str):
        try:
            data = _wire_keys(json.loads(body))
        except RecursionError:
            raise RequestBodyError("the request body is nested too deeply") from None
        except ValueError as exc:
            # Position only: the body may hold data that must not reach a log line.
            raise RequestBodyError(
                f"the request body is not valid JSON (line {getattr(exc, 'lineno', '?')}, "
                f"column {getattr(exc, 'colno', '?')}); pass a model object, a dict or a JSON string"
            ) from None
    elif _is_model(body) or isinstance(body, (dict, list)):
        try:
            data = _model_wire(body) if _is_model(body) else _wire_keys(body)
        except RecursionError:
            raise RequestBodyError("the request body is nested too deeply (or refers to itself)") from None
    else:
        raise RequestBodyError(
            f"a JSON request body must be a model object, a dict or a JSON string, not {type(body).__name__}"
        )
    try:
        return _dumps(data).encode("ascii")
    except RecursionError:
        raise RequestBodyError("the request body is nested too deeply (or refers to itself)") from None
    except (TypeError, ValueError) as exc:
        raise RequestBodyError(f"the request body cannot be serialised to JSON ({type(exc).__name__})") from None
