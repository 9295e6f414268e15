from __future__ import annotations

import json
import logging
from typing import Any, Dict

import pytest
from flexkit import (
    CARD_NUMBER,
    DOC_CAPTURE_CONTEXT,
    SECURITY_CODE,
    SESSION_KID,
    decrypt_jwe,
    mint_capture_context,
    session_key,
    signing_key,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from flex_ext.capture_context import parse_capture_context_unverified, verify_capture_context
from flex_ext.errors import FieldValidationError, JWEError
from flex_ext.jose import b64url_decode
from flex_ext.jwe import (
    ALG_RSA_OAEP,
    ALG_RSA_OAEP_256,
    encrypt_compact,
    encrypt_for_capture_context,
    normalize_data,
)

ORIGIN = "https://testflex.cybersource.com"


def _ctx():  # type: ignore[no-untyped-def]
    return verify_capture_context(mint_capture_context(ORIGIN), public_key=signing_key().public_key())


CARD: Dict[str, Any] = {
    "paymentInformation": {
        "card": {
            "number": CARD_NUMBER,
            "expirationMonth": "12",
            "expirationYear": "2031",
            "type": "",
            "securityCode": SECURITY_CODE,
        }
    }
}


@pytest.mark.parametrize("alg", [ALG_RSA_OAEP_256, ALG_RSA_OAEP])
def test_jwe_decrypts_with_jwcrypto_to_the_documented_payload(alg: str) -> None:
    ctx = _ctx()
    token = encrypt_for_capture_context(ctx, CARD, alg=alg)
    assert token.count(".") == 4
    header, payload = decrypt_jwe(token, session_key())
    assert header == {"kid": SESSION_KID, "alg": alg, "enc": "A256GCM"}
    assert payload == {"data": CARD, "context": ctx.jwt, "index": 0}
    assert list(payload) == ["data", "context", "index"]


def test_default_alg_is_rsa_oaep_256() -> None:
    header, _ = decrypt_jwe(encrypt_for_capture_context(_ctx(), CARD), session_key())
    assert header["alg"] == "RSA-OAEP-256"


def test_each_encryption_uses_fresh_key_and_iv() -> None:
    ctx = _ctx()
    a = encrypt_for_capture_context(ctx, CARD).split(".")
    b = encrypt_for_capture_context(ctx, CARD).split(".")
    assert a[0] == b[0]
    assert a[1] != b[1] and a[2] != b[2] and a[3] != b[3]
    assert len(b64url_decode(a[2])) == 12 and len(b64url_decode(a[4])) == 16


def test_card_number_is_not_in_the_jwe_in_clear() -> None:
    token = encrypt_for_capture_context(_ctx(), CARD)
    assert CARD_NUMBER not in token
    for part in token.split("."):
        if part:
            assert CARD_NUMBER.encode() not in b64url_decode(part)


def test_dotted_keys_are_sent_nested() -> None:
    flat = {"paymentInformation.card.number": CARD_NUMBER, "paymentInformation": {"card.securityCode": "123"}}
    _, payload = decrypt_jwe(encrypt_for_capture_context(_ctx(), flat), session_key())
    assert payload["data"] == {"paymentInformation": {"card": {"number": CARD_NUMBER, "securityCode": "123"}}}


def test_missing_required_field_is_named_without_values() -> None:
    data = {"paymentInformation": {"card": {"securityCode": SECURITY_CODE, "expirationMonth": "12"}}}
    with pytest.raises(FieldValidationError) as info:
        encrypt_for_capture_context(_ctx(), data)
    assert info.value.missing == ("paymentInformation.card.number",)
    assert info.value.extra == ()
    assert "paymentInformation.card.number" in str(info.value)
    assert SECURITY_CODE not in str(info.value) and "12" not in str(info.value)


def test_required_field_as_empty_string_counts_as_missing() -> None:
    with pytest.raises(FieldValidationError) as info:
        encrypt_for_capture_context(_ctx(), {"paymentInformation": {"card": {"number": ""}}})
    assert info.value.missing == ("paymentInformation.card.number",)


def test_undeclared_field_is_named_without_values() -> None:
    data = {
        "paymentInformation": {"card": {"number": CARD_NUMBER}},
        "orderInformation": {"billTo": {"email": "secret@example.com"}},
    }
    with pytest.raises(FieldValidationError) as info:
        encrypt_for_capture_context(_ctx(), data)
    assert info.value.extra == ("orderInformation.billTo.email",)
    assert info.value.missing == ()
    assert "secret@example.com" not in str(info.value) and CARD_NUMBER not in str(info.value)
    assert CARD_NUMBER not in repr(info.value)


def test_a_card_number_used_as_a_key_is_not_echoed() -> None:
    data = {"paymentInformation": {"card": {"number": CARD_NUMBER, CARD_NUMBER: "x"}}}
    with pytest.raises(FieldValidationError) as info:
        encrypt_for_capture_context(_ctx(), data)
    assert CARD_NUMBER not in str(info.value)
    assert info.value.extra == ("paymentInformation.card.<invalid key>",)


@pytest.mark.parametrize(
    "data",
    [
        {"paymentInformation": {"card": {"number": 4111111111111111}}},
        {"paymentInformation": {"card": {"number": None}}},
        {"paymentInformation": {"card": {"number": [CARD_NUMBER]}}},
    ],
)
def test_non_string_leaves_are_rejected_without_values(data: Dict[str, Any]) -> None:
    with pytest.raises(FieldValidationError) as info:
        encrypt_for_capture_context(_ctx(), data)
    assert "paymentInformation.card.number" in str(info.value)
    assert CARD_NUMBER not in str(info.value)


def test_conflicting_paths_are_rejected() -> None:
    with pytest.raises(FieldValidationError, match="twice"):
        normalize_data({"a.b": "1", "a": {"b": "2"}})
    with pytest.raises(FieldValidationError, match="conflicts"):
        normalize_data({"a": "1", "a.b": "2"})
    with pytest.raises(FieldValidationError, match="empty name"):
        normalize_data({"a..b": "1"})


def test_check_can_be_skipped() -> None:
    data = {"paymentInformation": {"card": {"number": CARD_NUMBER}}, "x": {"y": "z"}}
    _, payload = decrypt_jwe(encrypt_for_capture_context(_ctx(), data, check=False), session_key())
    assert payload["data"]["x"] == {"y": "z"}


def test_unsupported_alg_and_bad_kid_raise_jwe_error() -> None:
    with pytest.raises(JWEError, match="not supported"):
        encrypt_compact(b"x", session_key().public_key(), "kid", "RSA1_5")
    for kid in ("", "k" * 257):
        with pytest.raises(JWEError, match="kid"):
            encrypt_compact(b"x", session_key().public_key(), kid)


def test_documentation_capture_context_jwk_can_be_encrypted_to() -> None:
    ctx = parse_capture_context_unverified(DOC_CAPTURE_CONTEXT)
    token = encrypt_for_capture_context(ctx, {"paymentInformation": {"card": {"number": CARD_NUMBER}}})
    parts = token.split(".")
    assert json.loads(b64url_decode(parts[0])) == {
        "kid": "00SvIaGIfyaw897rDeG9eFdODKaCKc1q",
        "alg": "RSA-OAEP-256",
        "enc": "A256GCM",
    }
    assert len(b64url_decode(parts[1])) == 256  # RSA-2048 encrypted content key


def test_nothing_is_logged_while_encrypting(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    encrypt_for_capture_context(_ctx(), CARD)
    assert CARD_NUMBER not in caplog.text and SECURITY_CODE not in caplog.text


_segment = st.from_regex(r"[a-z][a-zA-Z0-9]{0,8}", fullmatch=True)


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(_segment, st.dictionaries(_segment, st.text(max_size=30), min_size=1, max_size=4), max_size=4))
def test_any_tree_round_trips_through_jwcrypto(tree: Dict[str, Dict[str, str]]) -> None:
    ctx = _ctx()
    _, payload = decrypt_jwe(encrypt_for_capture_context(ctx, tree, check=False), session_key())
    assert payload == {"data": tree, "context": ctx.jwt, "index": 0}


def test_unsupported_alg_message_does_not_echo_long_or_odd_values() -> None:
    from flex_ext.errors import JWEError

    with pytest.raises(JWEError) as caught:
        encrypt_compact(b"x", session_key().public_key(), "kid", alg="A" * 500)
    assert "A" * 40 not in str(caught.value) and "<str>" in str(caught.value)
    with pytest.raises(JWEError, match="'RSA1_5' is not supported"):
        encrypt_compact(b"x", session_key().public_key(), "kid", alg="RSA1_5")


class _MaskedCard(Dict[str, Any]):
    """How a caller holds card data (FlexClient's card type does the same): the repr shows no value."""

    def __repr__(self) -> str:
        return "<card>"


def _locals_reprs(exc: BaseException) -> str:
    """The reprs of every local of the library's frames (the test's own frame is skipped)."""
    tb = exc.__traceback__.tb_next  # type: ignore[union-attr]
    seen = []
    while tb is not None:
        seen += [repr(value) for value in tb.tb_frame.f_locals.values()]
        tb = tb.tb_next
    return "\n".join(seen)


@pytest.mark.parametrize(
    "data",
    [
        {"paymentInformation": {"card": {"number": CARD_NUMBER, "securityCode": SECURITY_CODE, "pin": "9"}}},
        {"paymentInformation": {"card": {"securityCode": SECURITY_CODE, "number2": CARD_NUMBER}}},
    ],
)
def test_a_field_check_failure_leaves_no_card_data_in_the_traceback_locals(data: Dict[str, Any]) -> None:
    with pytest.raises(FieldValidationError) as info:
        encrypt_for_capture_context(_ctx(), _MaskedCard(data))
    reprs = _locals_reprs(info.value)
    assert "card data" in reprs  # the normalised tree and leaves were there, masked
    assert CARD_NUMBER not in reprs and SECURITY_CODE not in reprs


def test_the_normalised_tree_and_leaves_mask_their_repr() -> None:
    tree, leaves = normalize_data({"paymentInformation.card.number": CARD_NUMBER})
    assert tree == {"paymentInformation": {"card": {"number": CARD_NUMBER}}}
    assert leaves == {"paymentInformation.card.number": CARD_NUMBER}
    for shown in (repr(tree), str(tree), repr(leaves), repr(tree["paymentInformation"])):
        assert CARD_NUMBER not in shown and "card data" in shown
