"""Redaction of card numbers, sensitive JSON values and credentials."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flex_ext.redaction import (
    RedactingFilter,
    RedactingFormatter,
    contains_card_number,
    mask_card_numbers,
    mask_credentials,
    mask_pan,
    mask_sensitive_json,
    redact_text,
)

PAN = "4111111111111111"


@pytest.mark.parametrize(
    ("pan", "masked"),
    [
        ("4111111111111111", "411111XXXXXX1111"),
        ("4111 1111 1111 1111", "4111 11XX XXXX 1111"),
        ("4111-1111-1111-1111", "4111-11XX-XXXX-1111"),
        ("4111111111111111111", "411111XXXXXXXXX1111"),
        ("378282246310005", "XXXXXXXXXXX0005"),
        ("4222222222222", "XXXXXXXXX2222"),
        ("123456", "XXXXXX"),
    ],
)
def test_mask_pan_keeps_at_most_first6_last4(pan: str, masked: str) -> None:
    assert mask_pan(pan) == masked


def test_card_numbers_in_free_text_with_spaces_or_dashes() -> None:
    text = "paid with 4111 1111 1111 1111 and 5555-5555-5555-4444, also 4012888888881881."
    out = mask_card_numbers(text)
    assert out == "paid with 4111 11XX XXXX 1111 and 5555-55XX-XXXX-4444, also 401288XXXXXX1881."
    assert contains_card_number(text)
    assert not contains_card_number(out)


def test_short_numbers_and_statuses_are_kept() -> None:
    text = "status 201 after 1234 ms, order 123456789012, date 2026-01-01"
    assert mask_card_numbers(text) == text


@given(
    digits=st.text(alphabet="0123456789", min_size=13, max_size=19),
    seps=st.lists(st.sampled_from(["", "", " ", "-"]), min_size=19, max_size=19),
    prefix=st.text(alphabet="abc :=\"'{", max_size=10),
    suffix=st.text(alphabet="abc :=\"'}", max_size=10),
)
@settings(max_examples=300, deadline=None)
def test_no_full_card_number_survives(digits: str, seps: list[str], prefix: str, suffix: str) -> None:
    written = "".join(d + s for d, s in zip(digits[:-1], seps)) + digits[-1]
    out = redact_text(prefix + written + suffix)
    assert digits not in re.sub(r"[ -]", "", out)
    assert sum(ch.isdigit() for ch in out) - sum(ch.isdigit() for ch in prefix + suffix) <= 10


def test_sensitive_json_recurses_dicts_and_lists_and_masks_numbers() -> None:
    data: dict[str, Any] = {
        "paymentInformation": {
            "card": {"Number": 4111111111111111, "securityCode": "123", "expirationYear": 2031},
            "cards": [{"number": "5555555555554444", "CVV": 999}],
        },
        "fields": {"number": {"required": True}, "securityCode": {"required": False}},
        "notes": ["card 4111 1111 1111 1111"],
        "orderInformation": {"billTo": {"email": "a@b.example", "firstName": "Ann"}},
        "amount": 12.5,
    }
    out = mask_sensitive_json(data)
    assert out["paymentInformation"]["card"] == {
        "Number": "X" * 16,
        "securityCode": "XXX",
        "expirationYear": "XXXX",
    }
    assert out["paymentInformation"]["cards"] == [{"number": "X" * 16, "CVV": "XXX"}]
    assert out["fields"] == data["fields"]  # {"required": true} flags stay readable
    assert out["notes"] == ["card 4111 11XX XXXX 1111"]
    assert out["orderInformation"]["billTo"] == {"email": "XXXXXXXXXXX", "firstName": "XXX"}
    assert out["amount"] == 12.5
    assert data["paymentInformation"]["card"]["securityCode"] == "123"  # input untouched


def test_pii_off_keeps_personal_data_but_not_card_data() -> None:
    out = mask_sensitive_json({"email": "a@b.example", "securityCode": "123"}, pii=False)
    assert out == {"email": "a@b.example", "securityCode": "XXX"}


def test_whole_json_message_is_masked() -> None:
    message = json.dumps({"card": {"number": "4111111111111111", "securityCode": 123}, "list": [{"cvv": "1"}]})
    out = redact_text(message)
    assert json.loads(out) == {"card": {"number": "X" * 16, "securityCode": "XXX"}, "list": [{"cvv": "X"}]}


def test_json_and_dict_reprs_embedded_in_text_are_masked() -> None:
    out = redact_text('payload {"securityCode": "123", "number": 4111111111111111, "type": "001"} end')
    assert out == 'payload {"securityCode": "XXX", "number": XXXXXXXXXXXXXXXX, "type": "XXX"} end'
    out = redact_text("config {'merchant_secretkey': 'c2VjcmV0', 'key_password': 'pw', 'run': 'x'}")
    assert out == "config {'merchant_secretkey': 'XXXXXXXX', 'key_password': 'XX', 'run': 'x'}"


def test_header_like_words_are_not_over_masked() -> None:
    text = "Content-Type: application/json; Accept: application/jwt; v-c-merchant-id: test_merchant"
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'Signature: keyid="00000000-1111", algorithm="HmacSHA256", headers="host date", signature="7KE9GB="',
            'Signature: keyid="XXXXX", algorithm="HmacSHA256", headers="host date", signature="XXXXX"',
        ),
        ("Authorization: Bearer eyJhbGciOi.eyJpc3Mi.sig-_x", "Authorization: Bearer XXXXX"),
        ("{'Authorization': 'Bearer abc.def.ghi'}", "{'Authorization': 'Bearer XXXXX'}"),
        ('"authorization":"Basic dTpw"', '"authorization":"Basic XXXXX"'),
        ("Authorization Bearer:     abc.def", "Authorization Bearer:     XXXXX"),
        ("Digest: SHA-256=1USYJJV+MJTzNMfyXIPiOtNslf9VUoL1FnYyhi/6f/U=", "Digest: SHA-256=XXXXX"),
        ("x-api-key: sk_live_123", "x-api-key: XXXXX"),
        ("{'X-Api-Key': 'sk_live_123'}", "{'X-Api-Key': 'XXXXX'}"),
        ("token is Bearer a1b2c3", "token is Bearer XXXXX"),
    ],
)
def test_credentials_are_masked(text: str, expected: str) -> None:
    assert mask_credentials(text) == expected
    secret = re.split(r"Bearer:?\s+|Basic |SHA-256=|keyid=|: ", text)[-1].strip("'\"}")
    assert secret not in redact_text(text)


def _capture_logger(name: str, flt: logging.Filter | None) -> tuple[logging.Logger, list[str]]:
    logger = logging.getLogger(name)
    logger.handlers.clear()
    logger.filters.clear()
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    lines: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = ListHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    if flt is not None:
        logger.addFilter(flt)
    return logger, lines


def test_filter_masks_the_formatted_message_for_any_handler() -> None:
    logger, lines = _capture_logger("test.redaction.filter", RedactingFilter())
    logger.info("card %s cvv %s", "4111-1111-1111-1111", {"securityCode": "123"})
    logger.info("headers %r", {"Authorization": "Bearer tok.en.value"})
    try:
        raise ValueError("bad card 4111111111111111")
    except ValueError:
        logger.exception("failed for %s", PAN)
    text = "\n".join(lines)
    assert "4111-1111-1111-1111" not in text
    assert "'securityCode': 'XXX'" in text
    assert "tok.en.value" not in text
    assert PAN not in text
    assert "ValueError: bad card 411111XXXXXX1111" in text


def test_without_filter_the_test_handler_would_see_the_card() -> None:
    # Guards the previous test: the capture helper really shows raw text when unfiltered.
    logger, lines = _capture_logger("test.redaction.nofilter", None)
    logger.info("card %s", PAN)
    assert PAN in lines[0]


def test_filter_survives_a_broken_format_string() -> None:
    logger, lines = _capture_logger("test.redaction.broken", RedactingFilter())
    logger.info("card %s %s", PAN)  # one argument missing
    assert lines == ["card %s %s"]


def test_formatter_masks_the_whole_line() -> None:
    formatter = RedactingFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "pan=%s", (PAN,), None)
    assert formatter.format(record) == "INFO pan=411111XXXXXX1111"
    relaxed = RedactingFormatter("%(message)s", pii=False)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, '{"email": "a@b.c", "cvv": "123"}', None, None)
    assert relaxed.format(record) == '{"email": "a@b.c", "cvv": "XXX"}'
