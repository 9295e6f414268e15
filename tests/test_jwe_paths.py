"""What ``encrypt_for_capture_context`` seals, for any data tree, checked against a reference
written here: a tree of declared string fields gives the standard compact JSON of
``{"data": <nested tree>, "context": <JWT>, "index": 0}``; anything else is a
:class:`~flex_ext.errors.FieldValidationError` naming paths, never values.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Dict, Tuple

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flexkit import CARD_NUMBER, SECURITY_CODE, mint_capture_context, session_key, signing_key
from hypothesis import given, settings
from hypothesis import strategies as st

from flex_ext import jwe
from flex_ext.capture_context import CaptureContext, verify_capture_context
from flex_ext.errors import FlexError
from flex_ext.jwe import ALG_RSA_OAEP, ALG_RSA_OAEP_256, encrypt_for_capture_context

ORIGIN = "https://testflex.cybersource.com"

FIELD_SETS: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "card": (
        ("paymentInformation.card.number",),
        (
            "paymentInformation.card.securityCode",
            "paymentInformation.card.expirationMonth",
            "paymentInformation.card.expirationYear",
            "paymentInformation.card.type",
        ),
    ),
    "with billing": (
        ("paymentInformation.card.number", "paymentInformation.card.expirationYear", "orderInformation.billTo.zip"),
        (
            "paymentInformation.card.securityCode",
            "orderInformation.billTo.country",
            "orderInformation.amountDetails.total",
        ),
    ),
    "nothing required": ((), ("paymentInformation.card.number", "a")),
    "leaf and parent": (("a",), ("a.b", "paymentInformation.card.number")),
    "deep": (("a.b.c.d.e.f.g.h.i",), ("a.b.c.d.e.f.g.h.j.k",)),
}

_CONTEXTS: Dict[str, CaptureContext] = {}


def _context(name: str) -> CaptureContext:
    if name not in _CONTEXTS:
        required, optional = FIELD_SETS[name]
        token = mint_capture_context(ORIGIN, required=required, optional=optional)
        _CONTEXTS[name] = verify_capture_context(token, public_key=signing_key().public_key())
    return _CONTEXTS[name]


def _part(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw_plaintext(token: str, alg: str, key: Any = None) -> bytes:
    """Decrypt a compact JWE with `cryptography` directly (with the session key unless
    told otherwise): the exact plaintext bytes."""
    header, encrypted_key, iv, ciphertext, tag = token.split(".")
    digest = hashes.SHA256() if alg == ALG_RSA_OAEP_256 else hashes.SHA1()
    cek = (key or session_key()).decrypt(_part(encrypted_key), padding.OAEP(padding.MGF1(digest), digest, None))
    return AESGCM(cek).decrypt(_part(iv), _part(ciphertext) + _part(tag), header.encode("ascii"))


def _nested(data: Any, prefix: Tuple[str, ...] = ()) -> Dict[Tuple[str, ...], Any]:
    """``{path tuple: leaf}`` of a mapping whose keys may be dotted; raises ValueError for
    what the reference refuses (non-string keys or leaves, empty name segments, depth)."""
    out: Dict[Tuple[str, ...], Any] = {}
    if len(prefix) > 8:
        raise ValueError("too deep")
    for key, value in data.items():
        if not isinstance(key, str) or not key or any(not s for s in key.split(".")):
            raise ValueError("bad key")
        path = prefix + tuple(key.split("."))
        if isinstance(value, dict):
            out.update(_nested(value, path))
        elif isinstance(value, str):
            if path in out:
                raise ValueError("twice")
            out[path] = value
        else:
            raise ValueError("not a string")
    return out


def _reference(context: CaptureContext, data: Any) -> Any:
    """The expected plaintext bytes, or ``FlexError`` when the data must be refused."""
    try:
        leaves = _nested(data)
    except ValueError:
        return FlexError
    tree: Dict[str, Any] = {}
    for path, value in leaves.items():
        node = tree
        for segment in path[:-1]:
            node = node.setdefault(segment, {})
            if not isinstance(node, dict):
                return FlexError  # a value at a parent path
        if path[-1] in node:
            return FlexError  # nested fields under a value
        node[path[-1]] = value
    dotted = {".".join(p): v for p, v in leaves.items()}
    declared = context.required_fields + context.optional_fields
    if any(not dotted.get(p) for p in context.required_fields) or any(p not in declared for p in dotted):
        return FlexError
    text = json.dumps({"data": tree, "context": context.jwt, "index": 0}, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return FlexError


def _actual(context: CaptureContext, data: Any, alg: str) -> Any:
    try:
        token = encrypt_for_capture_context(context, data, alg=alg)
    except FlexError as exc:
        assert CARD_NUMBER not in str(exc) and SECURITY_CODE not in str(exc)
        return FlexError
    return _raw_plaintext(token, alg)


_SEGMENTS = ["paymentInformation", "card", "number", "securityCode", "expirationYear", "type", "orderInformation"]
_SEGMENTS += ["billTo", "zip", "country", "a", "b", "c", "x", "a.b", "card.number", ""]
_keys = st.one_of(st.sampled_from(_SEGMENTS), st.integers(0, 3))
_leaves = st.one_of(
    st.sampled_from(["", CARD_NUMBER, SECURITY_CODE, "12", "Zoë", 'quote " and \\ slash', "\ud800", "\u2028"]),
    st.text(max_size=12),
    st.integers(),
    st.none(),
    st.lists(st.text(max_size=3), max_size=2),
)
_trees = st.recursive(
    _leaves,
    lambda children: st.dictionaries(_keys, children, max_size=5),
    max_leaves=12,
)


_UNDECLARED = ("x.y", "paymentInformation.pin")


@st.composite
def _declared_trees(draw: st.DrawFn, name: str) -> Dict[Any, Any]:
    """Mostly valid data: a subset of the declared paths, nested, with assorted values, and
    sometimes one extra path or a dotted key."""
    required, optional = FIELD_SETS[name]
    paths = [p for p in required if draw(st.integers(0, 19))]  # each required path, 95% of the time
    paths += draw(st.lists(st.sampled_from((*optional, *_UNDECLARED)), unique=True))
    paths = [p for p in paths if p not in _UNDECLARED or not draw(st.integers(0, 3))]
    tree: Dict[Any, Any] = {}
    for path in paths:
        value = draw(st.text(min_size=1, max_size=20)) if draw(st.integers(0, 9)) else draw(_leaves)
        parts = path.split(".") if draw(st.integers(0, 9)) else [path]
        node = tree
        for segment in parts[:-1]:
            child = node.setdefault(segment, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[parts[-1]] = value
    return tree


_names = st.sampled_from(sorted(FIELD_SETS))


@settings(max_examples=400, deadline=None)
@given(name=_names, data=st.dictionaries(_keys, _trees, max_size=4))
def test_any_data_tree_gives_the_reference_plaintext_or_a_field_error(name: str, data: Dict[Any, Any]) -> None:
    context = _context(name)
    assert _actual(context, data, ALG_RSA_OAEP_256) == _reference(context, data)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_declared_data_trees_give_the_reference_plaintext_or_a_field_error(data: st.DataObject) -> None:
    name = data.draw(_names)
    tree = data.draw(_declared_trees(name))
    context = _context(name)
    assert _actual(context, tree, ALG_RSA_OAEP_256) == _reference(context, tree)


@pytest.mark.parametrize("alg", [ALG_RSA_OAEP_256, ALG_RSA_OAEP])
@pytest.mark.parametrize(
    "data",
    [
        {"paymentInformation": {"card": {"number": CARD_NUMBER}}},
        {"paymentInformation": {"card": {"number": CARD_NUMBER, "securityCode": SECURITY_CODE, "type": ""}}},
        {"paymentInformation": {"card": {"number": "41 11", "expirationMonth": "Zoë \u2028 \"q\" \\"}}},
    ],
)
def test_common_card_trees_are_sealed_as_the_standard_json(alg: str, data: Dict[str, Any]) -> None:
    context = _context("card")
    expected = _reference(context, data)
    assert isinstance(expected, bytes)
    assert _raw_plaintext(encrypt_for_capture_context(context, data, alg=alg), alg) == expected


@pytest.mark.parametrize(
    "data",
    [
        {"paymentInformation.card.number": CARD_NUMBER},  # dotted keys
        {"paymentInformation": {"card": {"number": CARD_NUMBER}, "extra": {}}},  # an empty object
        {"paymentInformation": {"card": {"number": ""}}},  # a required field left empty
        {"paymentInformation": {"card": {"number": CARD_NUMBER, "pin": "1234"}}},  # undeclared
    ],
)
def test_unusual_trees_are_normalised_or_refused(data: Dict[str, Any]) -> None:
    context = _context("card")
    assert _actual(context, data, ALG_RSA_OAEP_256) == _reference(context, data)


def test_base64url_parts_have_no_padding_or_standard_alphabet_for_every_length() -> None:
    # The ciphertext length decides how much '=' padding is cut; cover all three residues
    # and key sizes whose encrypted key needs one, two or no padding characters.
    from cryptography.hazmat.primitives.asymmetric import rsa

    for bits in (2048, 3072):
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        for size in range(0, 9):
            plaintext = bytes(range(250, 256)) * size + b"x" * size
            token = jwe.encrypt_compact(plaintext, key.public_key(), "kid-1")
            parts = token.split(".")
            assert len(parts) == 5
            for text in parts:
                assert "=" not in text and "+" not in text and "/" not in text
            _, encrypted_key, iv, ciphertext, tag = (_part(p) for p in parts)
            assert (len(encrypted_key), len(iv), len(ciphertext), len(tag)) == (bits // 8, 12, len(plaintext), 16)
            assert _raw_plaintext(token, ALG_RSA_OAEP_256, key) == plaintext


def test_a_replaced_capture_context_does_not_reuse_the_memo_of_the_original() -> None:
    import dataclasses

    original = _context("card")
    data = {"paymentInformation": {"card": {"number": CARD_NUMBER}}}
    encrypt_for_capture_context(original, data)  # builds the original's memo
    other = dataclasses.replace(original, jwt=original.jwt + "x", verified=False)
    plaintext = _raw_plaintext(encrypt_for_capture_context(other, data), ALG_RSA_OAEP_256)
    assert plaintext.endswith(b',"context":"' + other.jwt.encode("ascii") + b'","index":0}')
    assert other.encryption_key.public_numbers() == original.encryption_key.public_numbers()


def test_a_replaced_jwk_is_the_key_data_is_encrypted_to() -> None:
    import dataclasses

    from cryptography.hazmat.primitives.asymmetric import rsa
    from flexkit import public_jwk

    original = _context("card")
    original.encryption_key  # noqa: B018 - built and memoised on the original
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = dataclasses.replace(
        original, jwk=public_jwk(other_key, "other-kid", "enc"), kid="other-kid", verified=False
    )
    assert other.encryption_key.public_numbers() == other_key.public_key().public_numbers()
    token = encrypt_for_capture_context(other, {"paymentInformation": {"card": {"number": CARD_NUMBER}}})
    assert token.split(".")[0] == base64.urlsafe_b64encode(
        b'{"kid":"other-kid","alg":"RSA-OAEP-256","enc":"A256GCM"}'
    ).decode().rstrip("=")
    digest = hashes.SHA256()
    encrypted_key = base64.urlsafe_b64decode(token.split(".")[1] + "==")
    assert len(other_key.decrypt(encrypted_key, padding.OAEP(padding.MGF1(digest), digest, None))) == 32
