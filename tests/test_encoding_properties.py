"""Properties of the encodings on the card data's way to the wire, checked against references
written here from the standard library: base64url (the one implementation in
``flex_ext.jose``), the compact JWE's parts, and the JSON of the card plaintext."""

from __future__ import annotations

import base64
import json
from typing import Any, Callable, Optional

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flexkit import session_key
from hypothesis import example, given, settings
from hypothesis import strategies as st

from flex_ext import jose, jwe
from flex_ext.errors import FieldValidationError, JWTValidationError

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def reference_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def reference_decode(text: str) -> Optional[bytes]:
    """Canonical unpadded base64url, defined with the standard library: the alphabet only,
    no impossible length, and the one encoding that re-encodes to the same text."""
    if any(c not in ALPHABET for c in text) or len(text) % 4 == 1:
        return None
    decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return decoded if reference_encode(decoded) == text else None


b64url_texts = st.one_of(
    st.binary(max_size=64).map(reference_encode),
    st.text(alphabet=ALPHABET, max_size=64),
    st.text(alphabet=ALPHABET + "=+/ .\n\x00é\ud800", max_size=24),
    st.text(max_size=24),
)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_encode_is_unpadded_base64url(data: bytes) -> None:
    assert jose.b64url_encode(data) == reference_encode(data)
    assert jose.b64url_decode(jose.b64url_encode(data)) == data


@settings(max_examples=500, deadline=None)
@given(text=b64url_texts)
@example(text="")
@example(text="AQ")
@example(text="AR")  # non-zero trailing bits
@example(text="AAA=")  # padding
@example(text="A")  # impossible length
@example(text="+/+/")  # the standard alphabet
def test_decode_accepts_exactly_the_canonical_encodings(text: str) -> None:
    expected = reference_decode(text)
    if expected is None:
        with pytest.raises(JWTValidationError, match="not valid base64url"):
            jose.b64url_decode(text, "part")
    else:
        assert jose.b64url_decode(text) == expected


@pytest.mark.parametrize("value", [None, 42, b"AQ", bytearray(b"AQ"), memoryview(b"AQ"), ["AQ"]])
def test_decode_wants_a_string(value: object) -> None:
    with pytest.raises(JWTValidationError, match="must be a base64url string"):
        jose.b64url_decode(value)  # type: ignore[arg-type]


# --- the compact JWE ------------------------------------------------------------------------


def _decode_part(text: str) -> bytes:
    decoded = reference_decode(text)
    assert decoded is not None, "a JWE part is not canonical base64url"
    return decoded


@settings(max_examples=60, deadline=None)
@given(plaintext=st.binary(max_size=300))
def test_jwe_compact_parts_are_canonical_and_open_with_cryptography(plaintext: bytes) -> None:
    token = jwe.encrypt_compact(plaintext, session_key().public_key(), "kid-1")
    header, encrypted_key, iv, ciphertext, tag = token.split(".")
    assert json.loads(_decode_part(header)) == {"kid": "kid-1", "alg": "RSA-OAEP-256", "enc": "A256GCM"}
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    cek = session_key().decrypt(_decode_part(encrypted_key), oaep)
    assert (len(cek), len(_decode_part(iv)), len(_decode_part(tag))) == (32, 12, 16)
    opened = AESGCM(cek).decrypt(_decode_part(iv), _decode_part(ciphertext) + _decode_part(tag), header.encode())
    assert opened == plaintext


# --- the card plaintext ---------------------------------------------------------------------

FIELDS = (
    ("paymentInformation.card.number", "paymentInformation.card.expirationYear"),
    ("paymentInformation.card.securityCode", "orderInformation.billTo.firstName", "a"),
)
CONTEXT = "x.y.z"

leaf_text = st.one_of(
    st.sampled_from(["4111111111111111", "12", "", " "]),
    st.text(max_size=12),  # control characters, quotes, backslashes, non-ASCII, lone surrogates
)
leaf_or_not = st.one_of(leaf_text, st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2))


def card_trees() -> st.SearchStrategy[Any]:
    names = st.sampled_from(["paymentInformation", "card", "number", "expirationYear", "securityCode",
                             "orderInformation", "billTo", "firstName", "a", "pin"])
    return st.recursive(leaf_or_not, lambda inner: st.dictionaries(names, inner, max_size=4), max_leaves=10)


def _plain(node: Any) -> bool:
    """A nested dict of strings without empty objects: the tree is sent as given."""
    if isinstance(node, str):
        return True
    return isinstance(node, dict) and bool(node) and all(_plain(v) for v in node.values())


def _leaves(node: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(node, str):
        return {prefix[:-1]: node}
    out: dict[str, str] = {}
    for key, value in node.items():
        out.update(_leaves(value, prefix + key + "."))
    return out


def _declared(data: Any) -> bool:
    leaves = _leaves(data)
    return all(leaves.get(p) for p in FIELDS[0]) and all(p in FIELDS[0] + FIELDS[1] for p in leaves)


def card_examples(test: Callable[..., None]) -> Callable[..., None]:
    """A plain card, a lone surrogate, and every character JSON escapes plus non-ASCII."""
    for number, year in (("4111111111111111", "2031"), ("4\ud800", "2031"),
                         ("\"\\\b\f\n\r\t\x00\x1f\x7f é€😀", "1")):
        test = example(data={"paymentInformation": {"card": {"number": number, "expirationYear": year}}})(test)
    return test


def _plaintext(data: Any) -> Any:
    """What the JWE carries for ``data``: the plaintext bytes, or the error type."""
    try:
        tree, leaves = jwe.normalize_data(data)
        jwe.check_fields(leaves, *FIELDS)
        return jwe.build_plaintext(tree, CONTEXT)
    except FieldValidationError as exc:
        return exc


@settings(max_examples=800, deadline=None)
@given(data=card_trees())
@card_examples
def test_card_plaintext_is_the_standard_json_of_declared_data_or_a_field_error(data: Any) -> None:
    result = _plaintext(data)
    if isinstance(data, dict) and data and _plain(data) and _declared(data):
        text = json.dumps({"data": data, "context": CONTEXT, "index": 0}, ensure_ascii=False, separators=(",", ":"))
        try:
            expected: Any = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form
            assert isinstance(result, FieldValidationError) and "surrogate" in str(result)
            return
        assert result == expected
    else:
        assert isinstance(result, FieldValidationError)
        for value in _leaves_or_empty(data):
            if value.isdigit() and len(value) >= 12:
                assert value not in str(result)  # errors name paths, never card numbers


def _leaves_or_empty(data: Any) -> list[str]:
    try:
        return [v for v in _leaves(data).values() if isinstance(v, str)]
    except (AttributeError, TypeError):
        return []
