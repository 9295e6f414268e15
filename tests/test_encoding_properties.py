"""The optional C base64url / card-plaintext code (``flex_ext/_speedups.c``) and the pure-Python
code it replaces give the same results.

Each implementation is checked against a reference written here from the standard library,
and the two are checked against each other on arbitrary inputs. When the extension is not
built on this machine only the pure-Python side runs (CI builds it and requires it; its
3.9 run also repeats the whole suite with ``FLEX_EXT_PURE_PYTHON=1``).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from typing import Any, Callable, Dict, List, Optional

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from flex_ext import jose, jwe
from flex_ext.errors import FieldValidationError

try:
    from flex_ext import _speedups
except ImportError:  # not built here: only the pure-Python side is checked
    _speedups = None  # type: ignore[assignment]

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

ENCODERS: Dict[str, Callable[[bytes], str]] = {"python": jose._b64url_encode_py}
DECODERS: Dict[str, Callable[[object], Optional[bytes]]] = {"python": jose._b64url_decode_or_none_py}
COMPACTS: Dict[str, Callable[[bytes, bytes, bytes, bytes], str]] = {"python": jwe._compact_py}
if _speedups is not None:
    ENCODERS["c"] = _speedups.encode
    DECODERS["c"] = _speedups.decode
    COMPACTS["c"] = _speedups.jwe_compact


def reference_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def reference_decode(text: object) -> Optional[bytes]:
    """Canonical unpadded base64url, defined with the standard library: the alphabet only,
    no impossible length, and the one encoding that re-encodes to the same text."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    if type(text) is not str or any(c not in ALPHABET for c in text) or len(text) % 4 == 1:
        return None
    decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return decoded if reference_encode(decoded) == text else None


b64url_texts = st.one_of(
    st.binary(max_size=64).map(reference_encode),
    st.text(alphabet=ALPHABET, max_size=64),
    st.text(alphabet=ALPHABET + "=+/ .\n\x00é\ud800", max_size=24),
    st.text(max_size=24),
)


@pytest.mark.parametrize("impl", sorted(ENCODERS))
@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_encode_is_unpadded_base64url(impl: str, data: bytes) -> None:
    assert ENCODERS[impl](data) == reference_encode(data)


@pytest.mark.parametrize("impl", sorted(DECODERS))
@settings(max_examples=500, deadline=None)
@given(text=b64url_texts)
@example(text="")
@example(text="AQ")
@example(text="AR")  # non-zero trailing bits
@example(text="AAA=")  # padding
@example(text="A")  # impossible length
@example(text="+/+/")  # the standard alphabet
def test_decode_accepts_exactly_the_canonical_encodings(impl: str, text: str) -> None:
    decode = DECODERS[impl]
    expected = reference_decode(text)
    assert decode(text) == expected
    if text.isascii():
        assert decode(text.encode("ascii")) == expected


@pytest.mark.parametrize("impl", sorted(DECODERS))
@pytest.mark.parametrize("value", [None, 42, bytearray(b"AQ"), memoryview(b"AQ"), ["AQ"]])
def test_decode_gives_none_for_other_types(impl: str, value: object) -> None:
    assert DECODERS[impl](value) is None


def test_public_b64url_decode_still_wants_a_string() -> None:
    with pytest.raises(jose.JWTValidationError, match="must be a base64url string"):
        jose.b64url_decode(b"AQ")  # type: ignore[arg-type]
    assert jose.b64url_decode("AQ") == b"\x01"


@pytest.mark.parametrize("impl", sorted(COMPACTS))
@settings(max_examples=200, deadline=None)
@given(
    header=st.text(alphabet=ALPHABET, max_size=40).map(str.encode),
    encrypted_key=st.binary(max_size=520),
    iv=st.binary(min_size=12, max_size=12),
    sealed=st.binary(min_size=16, max_size=300),
)
def test_jwe_compact_joins_the_encoded_parts(
    impl: str, header: bytes, encrypted_key: bytes, iv: bytes, sealed: bytes
) -> None:
    expected = ".".join(
        [header.decode(), *(reference_encode(p) for p in (encrypted_key, iv, sealed[:-16], sealed[-16:]))]
    )
    assert COMPACTS[impl](header, encrypted_key, iv, sealed) == expected


# --- card_plaintext ---------------------------------------------------------------------------

FIELDS = (
    ("paymentInformation.card.number", "paymentInformation.card.expirationYear"),
    ("paymentInformation.card.securityCode", "orderInformation.billTo.firstName", "a"),
)
TAIL = b',"context":"x.y.z","index":0}'

leaf_text = st.one_of(
    st.sampled_from(["4111111111111111", "12", "", " "]),
    st.text(max_size=12),  # control characters, quotes, backslashes, non-ASCII, lone surrogates
)
leaf_or_not = st.one_of(leaf_text, st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2))


def card_trees() -> st.SearchStrategy[Any]:
    names = st.sampled_from(["paymentInformation", "card", "number", "expirationYear", "securityCode",
                             "orderInformation", "billTo", "firstName", "a", "pin", "card.number"])
    return st.recursive(leaf_or_not, lambda inner: st.dictionaries(names, inner, max_size=4), max_leaves=10)


def python_plaintext(data: Any) -> Any:
    shape = jwe._shape(*FIELDS)
    try:
        return jwe._card_plaintext_py(data, shape, len(FIELDS[0]), TAIL)
    except FieldValidationError:
        return "surrogate"


def reference_plaintext(data: Any) -> Optional[bytes]:
    """What the one-pass path must write when it accepts ``data``: the standard library's
    compact JSON (ensure_ascii off, UTF-8), spliced into the plaintext."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return b'{"data":' + text.encode("utf-8") + TAIL


def card_examples(test: Callable[..., None]) -> Callable[..., None]:
    """A plain card, a lone surrogate, and every character JSON escapes plus non-ASCII."""
    for number, year in (("4111111111111111", "2031"), ("4\ud800", "2031"),
                         ("\"\\\b\f\n\r\t\x00\x1f\x7f é€😀", "1")):
        test = example(data={"paymentInformation": {"card": {"number": number, "expirationYear": year}}})(test)
    return test


@settings(max_examples=800, deadline=None)
@given(data=card_trees())
@card_examples
def test_card_plaintext_python_writes_the_standard_json_or_declines(data: Any) -> None:
    result = python_plaintext(data)
    if isinstance(result, bytes):
        assert result == reference_plaintext(data)


@pytest.mark.skipif(_speedups is None, reason="flex_ext._speedups is not built on this machine")
@settings(max_examples=800, deadline=None)
@given(data=card_trees())
@card_examples
def test_card_plaintext_c_matches_python(data: Any) -> None:
    shape = jwe._shape_utf8(*FIELDS)
    c_result = _speedups.card_plaintext(data, shape, len(FIELDS[0]), TAIL)
    py_result = python_plaintext(data)
    if py_result == "surrogate":
        assert c_result is None  # the general path raises the same error for both
    else:
        assert c_result == py_result


@pytest.mark.skipif(_speedups is None, reason="flex_ext._speedups is not built on this machine")
def test_c_functions_reject_wrong_arguments_with_typed_errors() -> None:
    shape = jwe._shape_utf8(*FIELDS)
    with pytest.raises(TypeError):
        _speedups.card_plaintext({}, shape, 1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _speedups.card_plaintext({}, [], 1, TAIL)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _speedups.card_plaintext({"a": "1"}, {"a": ("not bytes", True)}, 1, TAIL)
    assert _speedups.card_plaintext(["not a dict"], shape, 1, TAIL) is None
    with pytest.raises(ValueError, match="16-byte tag"):
        _speedups.jwe_compact(b"h", b"k", b"i" * 12, b"short")
    with pytest.raises(ValueError, match="ASCII"):
        _speedups.jwe_compact("é".encode(), b"k", b"i" * 12, b"t" * 16)
    with pytest.raises(TypeError):
        _speedups.encode("text")  # type: ignore[arg-type]


def test_a_str_subclass_key_leaves_the_one_pass_path() -> None:
    # A subclass could run Python code while the C walk holds borrowed references.
    class Key(str):
        pass

    data = {Key("paymentInformation"): {"card": {"number": "4111111111111111", "expirationYear": "2031"}}}
    if _speedups is not None:
        assert _speedups.card_plaintext(data, jwe._shape_utf8(*FIELDS), 2, TAIL) is None
    assert python_plaintext(data) == reference_plaintext(data)  # Python's walk only reads it


# --- which implementation runs --------------------------------------------------------------


def _loaded(env: Dict[str, str]) -> List[str]:
    code = "import flex_ext.jose as j, flex_ext.jwe as w; print(j.C_SPEEDUPS, w._compact.__module__)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, **env})
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def test_flex_ext_pure_python_selects_the_python_code() -> None:
    assert _loaded({"FLEX_EXT_PURE_PYTHON": "1"}) == ["False", "flex_ext.jwe"]


def test_the_extension_is_used_when_it_is_built() -> None:
    built = _speedups is not None
    assert _loaded({"FLEX_EXT_PURE_PYTHON": "0"}) == (
        ["True", "flex_ext._speedups"] if built else ["False", "flex_ext.jwe"]
    )
