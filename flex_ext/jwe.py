"""The JWE that carries card data to ``flx.origin + flx.path`` (compact serialisation).

Header ``{"kid": <capture context flx.jwk.kid>, "alg": "RSA-OAEP-256" | "RSA-OAEP",
"enc": "A256GCM"}``; plaintext ``{"data": <nested fields>, "context": <capture context
JWT>, "index": 0}`` (protocol.md A4). ``RSA-OAEP-256`` is the default: the official Java
sample uses it and it avoids SHA-1; ``RSA-OAEP`` is selectable for servers that want it.

Before anything is encrypted, :func:`check_fields` makes sure the data holds every
required field path of the capture context and nothing it did not declare. Errors name
field paths, never values; the plaintext is never logged.
"""

from __future__ import annotations

import binascii
import json
import os
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Optional

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ._json import dict_encoder
from .errors import FieldValidationError, JWEError
from .jose import _SPEEDUPS, b64url_encode

if TYPE_CHECKING:  # pragma: no cover
    from .capture_context import CaptureContext

__all__ = [
    "ALG_RSA_OAEP",
    "ALG_RSA_OAEP_256",
    "ENC_A256GCM",
    "build_plaintext",
    "check_fields",
    "encrypt_compact",
    "encrypt_for_capture_context",
    "normalize_data",
]

ALG_RSA_OAEP_256 = "RSA-OAEP-256"
ALG_RSA_OAEP = "RSA-OAEP"
ENC_A256GCM = "A256GCM"

_OAEP = {
    ALG_RSA_OAEP_256: padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
    ALG_RSA_OAEP: padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),  # noqa: S303
}
_SEGMENT_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_MAX_DEPTH = 8


def _safe_path(parts: Iterable[str]) -> str:
    """A dotted path for an error message; a key that does not look like a field name (it
    could be a misplaced card number) is replaced by ``<invalid key>``."""
    return ".".join(p if _SEGMENT_RE.fullmatch(p) else "<invalid key>" for p in parts)


def _collect(node: dict[str, Any], prefix: str, leaves: dict[str, str], depth: int) -> bool:
    """Fast path over plain nested dicts: fill ``leaves``; False when a rebuild is needed
    (dotted keys, empty objects, non-dict mappings, odd keys or values)."""
    if depth > _MAX_DEPTH:
        return False
    for key, value in node.items():
        if type(key) is not str or not key or "." in key:
            return False
        vtype = type(value)
        if vtype is str:
            leaves[prefix + key] = value
        elif vtype is dict and value:
            if not _collect(value, prefix + key + ".", leaves, depth + 1):
                return False
        else:
            return False
    return True


def normalize_data(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Return ``(nested tree, {dotted path: value})`` for a data tree.

    The input may be nested (``{"paymentInformation": {"card": {"number": ...}}}``) or use
    dotted keys (``{"paymentInformation.card.number": ...}``), or mix both; the output tree
    is always nested, which is what the documentation sends. Leaves must be strings; empty
    objects are dropped.
    """
    if type(data) is dict:
        leaves: dict[str, str] = {}
        if _collect(data, "", leaves, 0):
            return data, leaves
    return _rebuild(data)


def _rebuild(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    if not isinstance(data, Mapping):
        raise FieldValidationError("card data must be a mapping of field names to values")
    tree: dict[str, Any] = {}
    leaves: dict[str, str] = {}

    def walk(node: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
        if len(prefix) > _MAX_DEPTH:
            raise FieldValidationError(f"field {_safe_path(prefix)} is nested too deeply")
        for key, value in node.items():
            if not isinstance(key, str) or not key:
                where = _safe_path(prefix) or "the root"
                raise FieldValidationError(f"field names must be non-empty strings (under {where})")
            path = prefix + tuple(key.split("."))
            if any(not p for p in path):
                raise FieldValidationError(f"field {_safe_path(path)} has an empty name segment")
            if isinstance(value, Mapping):
                walk(value, path)
                continue
            if not isinstance(value, str):
                raise FieldValidationError(
                    f"field {_safe_path(path)} must be a string, not {type(value).__name__}"
                )
            dotted = ".".join(path)
            if dotted in leaves:
                raise FieldValidationError(f"field {_safe_path(path)} is given twice")
            parent = tree
            for segment in path[:-1]:
                child = parent.setdefault(segment, {})
                if not isinstance(child, dict):
                    raise FieldValidationError(
                        f"field {_safe_path(path)} conflicts with a value at a parent path"
                    )
                parent = child
            if path[-1] in parent:
                raise FieldValidationError(f"field {_safe_path(path)} conflicts with nested fields")
            parent[path[-1]] = value
            leaves[dotted] = value

    walk(data, ())
    return tree, leaves


def check_fields(leaves: Mapping[str, str], required: Iterable[str], optional: Iterable[str]) -> None:
    """Raise :class:`~flex_ext.errors.FieldValidationError` naming missing and undeclared paths.

    A required field given as an empty string counts as missing (the documentation sends
    *optional* fields as ``""``).
    """
    required_t = required if isinstance(required, tuple) else tuple(required)
    optional_t = optional if isinstance(optional, tuple) else tuple(optional)
    missing = tuple([p for p in required_t if not leaves.get(p)])
    undeclared = [p for p in leaves if p not in required_t and p not in optional_t]
    if not missing and not undeclared:
        return
    extra = tuple(sorted(_safe_path(p.split(".")) for p in undeclared))
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing required field(s): " + ", ".join(missing))
        if extra:
            parts.append("field(s) not declared in the capture context: " + ", ".join(extra))
        raise FieldValidationError(
            "card data does not match the capture context: " + "; ".join(parts),
            missing=missing,
            extra=extra,
        )


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_ENCODE = dict_encoder(_ENCODER)
_JWT_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


def _surrogate_error() -> FieldValidationError:
    return FieldValidationError("card data holds text that is not valid Unicode (a lone surrogate)")


def build_plaintext(data_tree: Mapping[str, Any], context_jwt: str) -> bytes:
    """The JWE plaintext: ``{"data": ..., "context": ..., "index": 0}`` as UTF-8 JSON."""
    try:
        data_json = _ENCODE(data_tree).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 form (the value is not quoted)
        raise _surrogate_error() from None
    if context_jwt.isascii():
        context = context_jwt.encode("ascii")
        if not context.translate(None, _JWT_BYTES):
            # A compact JWT needs no JSON escaping: splice it in without the encoder's scan.
            return b"".join((b'{"data":', data_json, b',"context":"', context, b'","index":0}'))
    context_json = _ENCODER.encode(context_jwt).encode("utf-8")
    return b"".join((b'{"data":', data_json, b',"context":', context_json, b',"index":0}'))


@lru_cache(maxsize=256)
def _declared(required: tuple[str, ...], optional: tuple[str, ...]) -> frozenset[str]:
    return frozenset(required + optional)


@lru_cache(maxsize=512)
def _protected_header(kid: str, alg: str) -> bytes:
    header = json.dumps({"kid": kid, "alg": alg, "enc": ENC_A256GCM}, separators=(",", ":"))
    return b64url_encode(header.encode("utf-8")).encode("ascii")


def encrypt_compact(plaintext: bytes, key: rsa.RSAPublicKey, kid: str, alg: str = ALG_RSA_OAEP_256) -> str:
    """Encrypt ``plaintext`` to ``key`` as a compact JWE (``alg`` RSA-OAEP[-256], ``enc`` A256GCM).

    A fresh 256-bit content key and 96-bit IV come from ``os.urandom``; the AAD is the
    ASCII of the encoded protected header (RFC 7516 §5.1).
    """
    oaep = _OAEP.get(alg) if isinstance(alg, str) else None
    if oaep is None:
        raise _unsupported(alg)
    if not isinstance(key, rsa.RSAPublicKey):
        raise JWEError("the JWE key must be an RSA public key")
    if not isinstance(kid, str) or not kid:
        raise JWEError("the JWE header needs the capture context key's kid")
    return _seal(plaintext, key, _protected_header(kid, alg), oaep)


def _unsupported(alg: object) -> JWEError:
    shown = alg if isinstance(alg, str) and len(alg) <= 32 and alg.isprintable() else f"<{type(alg).__name__}>"
    return JWEError(f"JWE algorithm {shown!r} is not supported (use {ALG_RSA_OAEP_256} or {ALG_RSA_OAEP})")


_b2a = binascii.b2a_base64


def _compact_py(header: bytes, encrypted_key: bytes, iv: bytes, sealed: bytes) -> str:
    # base64url in one pass over the joined parts: the standard alphabet differs only in
    # '+' and '/', and the '=' padding is cut by length (a 12-byte IV has none, a 16-byte
    # tag always two). The header is base64url already.
    size = len(sealed) - 16
    view = memoryview(sealed)
    return (
        b".".join(
            (
                header,
                _b2a(encrypted_key, newline=False).rstrip(b"="),
                _b2a(iv, newline=False),
                memoryview(_b2a(view[:size], newline=False))[: (4 * size + 2) // 3],
                _b2a(view[size:], newline=False)[:22],
            )
        )
        .replace(b"+", b"-")
        .replace(b"/", b"_")
        .decode("ascii")
    )


#: ``header.encrypted_key.iv.ciphertext.tag`` from the header (base64url already) and the
#: binary parts, ``sealed`` being AES-GCM's ciphertext + 16-byte tag; in C when it is built.
_compact: Callable[[bytes, bytes, bytes, bytes], str] = _compact_py if _SPEEDUPS is None else _SPEEDUPS.jwe_compact


def _seal(plaintext: bytes, key: rsa.RSAPublicKey, header: bytes, oaep: padding.OAEP) -> str:
    """The compact JWE ``header.encrypted_key.iv.ciphertext.tag`` for checked arguments."""
    # One read of the system CSPRNG for both the content key and the IV.
    randomness = os.urandom(44)
    cek = randomness[:32]
    iv = randomness[32:]
    try:
        encrypted_key = key.encrypt(cek, oaep)
        sealed = AESGCM(cek).encrypt(iv, plaintext, header)
    except ValueError:
        raise JWEError("the content key could not be encrypted to the capture context key") from None
    return _compact(header, encrypted_key, iv, sealed)


# --- The common case in one pass -------------------------------------------------------------
#
# A plain nested dict of strings whose paths the capture context declares is checked and
# written as JSON in one walk over a per-field-set "shape": for each name, its JSON key text
# and either its subtree or whether the leaf is required. Anything else (dotted keys, empty
# objects, other mappings, non-string leaves, a missing required field, an undeclared one)
# takes the step-by-step path, which gives the same plaintext for what both accept and
# raises the precise error for the rest. The walk runs in C (flex_ext/_speedups.c,
# card_plaintext) when the extension is built: in Python it costs about as much as the
# AES-GCM step; tests/test_speedups.py holds the two to the same output.

_Shape = dict[str, tuple[str, Any]]
_ShapeUTF8 = dict[str, tuple[bytes, Any]]
_ESCAPE = json.encoder.encode_basestring  # the string encoder of an ensure_ascii=False JSONEncoder


@lru_cache(maxsize=256)
def _shape(required: tuple[str, ...], optional: tuple[str, ...]) -> Optional[_Shape]:
    tree: dict[str, Any] = {}
    for path in required + optional:
        parts = path.split(".")
        if len(parts) > _MAX_DEPTH or not all(parts):
            return None
        node = tree
        for segment in parts[:-1]:
            node = node.setdefault(segment, {})
            if type(node) is not dict:
                return None  # a path both a leaf and a parent: left to the general path
        if parts[-1] in node:
            return None
        node[parts[-1]] = path in required

    def convert(node: dict[str, Any]) -> _Shape:
        return {k: (_ESCAPE(k) + ":", v if type(v) is bool else convert(v)) for k, v in node.items()}

    return convert(tree)


@lru_cache(maxsize=256)
def _shape_utf8(required: tuple[str, ...], optional: tuple[str, ...]) -> Optional[_ShapeUTF8]:
    """:func:`_shape` with each key's JSON as UTF-8 bytes, for the C ``card_plaintext``."""

    def convert(node: _Shape) -> _ShapeUTF8:
        return {
            k: (key_json.encode("utf-8"), sub if type(sub) is bool else convert(sub))
            for k, (key_json, sub) in node.items()
        }

    shape = _shape(required, optional)
    try:
        return None if shape is None else convert(shape)
    except UnicodeEncodeError:  # a declared path with a lone surrogate: the general path
        return None


_Plan = tuple[Any, int, bytes]  # the shape is a _Shape, or a _ShapeUTF8 for the C card_plaintext
_plan_shape: Callable[[tuple[str, ...], tuple[str, ...]], Any] = _shape if _SPEEDUPS is None else _shape_utf8


def _plan(context: CaptureContext) -> Optional[_Plan]:
    """``(shape, number of required fields, plaintext tail)`` for ``context``, or None when
    its JWT or its field list needs the general path; built once per capture context."""
    memo: list[Optional[_Plan]] = context._jwe
    if not memo:
        memo.append(_new_plan(context))
    return memo[0]


def _new_plan(context: CaptureContext) -> Optional[_Plan]:
    shape = _plan_shape(context.required_fields, context.optional_fields)
    jwt = context.jwt
    if shape is None or not jwt.isascii():
        return None
    raw = jwt.encode("ascii")
    if raw.translate(None, _JWT_BYTES):
        return None  # characters a JSON string would escape: build_plaintext handles them
    return shape, len(context.required_fields), b',"context":"' + raw + b'","index":0}'


def _emit(node: Mapping[Any, Any], shape: _Shape, out: list[str]) -> int:
    """Append the JSON of ``node`` to ``out`` and return how many required fields it holds
    (non-empty); -1 as soon as ``node`` needs the general path."""
    count = 0
    separator = "{"
    for key, value in node.items():
        entry = shape.get(key)
        if entry is None:
            return -1
        key_json, sub = entry
        if type(value) is str:
            if sub is True:
                if not value:
                    return -1
                count += 1
            elif sub is not False:
                return -1
            out.append(separator + key_json + _ESCAPE(value))
        elif type(value) is dict and type(sub) is dict:
            out.append(separator + key_json)
            inner = _emit(value, sub, out)
            if inner < 0:
                return -1
            count += inner
        else:
            return -1
        separator = ","
    if separator == "{":
        return -1  # the general path drops an empty object
    out.append("}")
    return count


def _card_plaintext_py(data: Any, shape: _Shape, required: int, tail: bytes) -> Optional[bytes]:
    out = ['{"data":']
    if type(data) is not dict or _emit(data, shape, out) != required:
        return None
    try:
        return "".join(out).encode("utf-8") + tail
    except UnicodeEncodeError:
        raise _surrogate_error() from None


#: ``b'{"data":' + JSON of data + tail`` when ``data`` is a nested dict of strings that
#: ``shape`` declares, holding exactly ``required`` non-empty required fields; None when the
#: general path must decide. In C when it is built (which leaves a lone surrogate to the
#: general path's error rather than raising it).
_card_plaintext: Callable[[Any, _Shape, int, bytes], Optional[bytes]] = (
    _card_plaintext_py if _SPEEDUPS is None else _SPEEDUPS.card_plaintext
)


def encrypt_for_capture_context(
    capture_context: CaptureContext,
    data: Mapping[str, Any],
    *,
    alg: str = ALG_RSA_OAEP_256,
    check: bool = True,
) -> str:
    """Validate ``data`` against ``capture_context`` and encrypt it into the tokenize JWE.

    ``data`` is the nested field tree (dotted keys are accepted too). With ``check=False``
    the required/undeclared field check is skipped (the server will still apply it).
    """
    oaep = _OAEP.get(alg) if isinstance(alg, str) else None
    if oaep is None:
        raise _unsupported(alg)
    header = _protected_header(capture_context.kid, alg)
    plan = _plan(capture_context) if check else None  # card_plaintext declines a non-dict
    if plan is not None:
        plaintext = _card_plaintext(data, plan[0], plan[1], plan[2])
        if plaintext is not None:
            return _seal(plaintext, capture_context.encryption_key, header, oaep)
    tree, leaves = normalize_data(data)
    if check:
        required = capture_context.required_fields
        optional = capture_context.optional_fields
        # Nothing undeclared and every required field non-empty, or the precise error.
        if not (leaves.keys() <= _declared(required, optional) and all(map(leaves.get, required))):
            check_fields(leaves, required, optional)
    return _seal(build_plaintext(tree, capture_context.jwt), capture_context.encryption_key, header, oaep)
