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

import json
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Dict, Iterable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ._json import dict_encoder
from .errors import FieldValidationError, JWEError
from .jose import b64url_encode

if TYPE_CHECKING:  # pragma: no cover
    from .capture_context import CaptureContext

__all__ = [
    "ALG_RSA_OAEP", "ALG_RSA_OAEP_256", "ENC_A256GCM", "build_plaintext", "check_fields", "encrypt_compact",
    "encrypt_for_capture_context", "normalize_data",
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


class _CardFields(Dict[str, Any]):
    """A plain dict of card data whose repr counts the fields and shows no value: when a check
    fails, the tree and the leaves sit in the traceback's locals, which error trackers record."""

    def __repr__(self) -> str:
        return f"<card data: {len(self)} field(s)>"

    __str__ = __repr__


def normalize_data(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Return ``(nested tree, {dotted path: value})`` for a data tree.

    The input may be nested (``{"paymentInformation": {"card": {"number": ...}}}``) or use
    dotted keys (``{"paymentInformation.card.number": ...}``), or mix both; the output tree
    is always nested, which is what the documentation sends. Leaves must be strings; empty
    objects are dropped.
    """
    if not isinstance(data, Mapping):
        raise FieldValidationError("card data must be a mapping of field names to values")
    tree: dict[str, Any] = _CardFields()
    leaves: dict[str, str] = _CardFields()

    def walk(node: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
        if len(prefix) > _MAX_DEPTH:
            raise FieldValidationError(f"field {_safe_path(prefix)} is nested too deeply")
        for key, value in node.items():
            if not isinstance(key, str) or not key:
                where = _safe_path(prefix) or "the root"
                raise FieldValidationError(f"field names must be non-empty strings (under {where})")
            path = prefix + tuple(key.split("."))
            if "" in path:
                raise FieldValidationError(f"field {_safe_path(path)} has an empty name segment")
            if not isinstance(value, str):  # checked first: leaves are strings, and cheaper to test
                if not isinstance(value, Mapping):
                    raise FieldValidationError(
                        f"field {_safe_path(path)} must be a string, not {type(value).__name__}"
                    )
                walk(value, path)
                continue
            dotted = ".".join(path)
            if dotted in leaves:
                raise FieldValidationError(f"field {_safe_path(path)} is given twice")
            parent = tree
            for segment in path[:-1]:
                child = parent.setdefault(segment, _CardFields())
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
    declared = set(required) | set(optional)
    missing = tuple(p for p in required if not leaves.get(p))
    extra = tuple(sorted(_safe_path(p.split(".")) for p in leaves if p not in declared))
    if missing or extra:
        parts = ["missing required field(s): " + ", ".join(missing)] if missing else []
        if extra:
            parts.append("field(s) not declared in the capture context: " + ", ".join(extra))
        raise FieldValidationError(
            "card data does not match the capture context: " + "; ".join(parts), missing=missing, extra=extra,
        )


_ENCODE = dict_encoder(json.JSONEncoder(separators=(",", ":"), ensure_ascii=False))


def build_plaintext(data_tree: Mapping[str, Any], context_jwt: str) -> bytes:
    """The JWE plaintext: ``{"data": ..., "context": ..., "index": 0}`` as UTF-8 JSON."""
    try:
        return _ENCODE({"data": data_tree, "context": context_jwt, "index": 0}).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 form (the value is not quoted)
        raise FieldValidationError("card data holds text that is not valid Unicode (a lone surrogate)") from None


def _oaep(alg: object) -> padding.OAEP:
    oaep = _OAEP.get(alg) if isinstance(alg, str) else None
    if oaep is None:
        shown = alg if isinstance(alg, str) and len(alg) <= 32 and alg.isprintable() else f"<{type(alg).__name__}>"
        raise JWEError(f"JWE algorithm {shown!r} is not supported (use {ALG_RSA_OAEP_256} or {ALG_RSA_OAEP})")
    return oaep


@lru_cache(maxsize=256)
def _protected_header(kid: str, alg: str) -> str:
    # One per capture context, reused by each card encrypted for it.
    return b64url_encode(json.dumps({"kid": kid, "alg": alg, "enc": ENC_A256GCM}, separators=(",", ":")).encode())


def encrypt_compact(plaintext: bytes, key: rsa.RSAPublicKey, kid: str, alg: str = ALG_RSA_OAEP_256) -> str:
    """Encrypt ``plaintext`` to ``key`` as a compact JWE (``alg`` RSA-OAEP[-256], ``enc`` A256GCM).

    A fresh 256-bit content key and 96-bit IV come from ``os.urandom``; the AAD is the
    ASCII of the encoded protected header (RFC 7516 §5.1).
    """
    oaep = _oaep(alg)
    if not isinstance(key, rsa.RSAPublicKey):
        raise JWEError("the JWE key must be an RSA public key")
    if not isinstance(kid, str) or not kid or len(kid) > 256:
        raise JWEError("the JWE header needs the capture context key's kid (1 to 256 characters)")
    header = _protected_header(kid, alg)
    randomness = os.urandom(44)  # the content key and the IV
    cek, iv = randomness[:32], randomness[32:]
    try:
        encrypted_key = key.encrypt(cek, oaep)
    except ValueError:
        raise JWEError("the content key could not be encrypted to the capture context key") from None
    sealed = AESGCM(cek).encrypt(iv, plaintext, header.encode("ascii"))
    parts = (encrypted_key, iv, sealed[:-16], sealed[-16:])  # AES-GCM appends the 16-byte tag
    return ".".join((header, *map(b64url_encode, parts)))


def encrypt_for_capture_context(
    capture_context: CaptureContext, data: Mapping[str, Any], *, alg: str = ALG_RSA_OAEP_256, check: bool = True,
) -> str:
    """Validate ``data`` against ``capture_context`` and encrypt it into the tokenize JWE.

    ``data`` is the nested field tree (dotted keys are accepted too). With ``check=False``
    the required/undeclared field check is skipped (the server will still apply it).
    """
    _oaep(alg)  # an unsupported algorithm fails before the data is looked at
    tree, leaves = normalize_data(data)
    if check:
        check_fields(leaves, capture_context.required_fields, capture_context.optional_fields)
    key = capture_context.encryption_key
    return encrypt_compact(build_plaintext(tree, capture_context.jwt), key, capture_context.kid, alg)
