"""Client-side card checks in ``Card``: Luhn, length, month, year, expiry (UTC, to the end
of the month), before any request; the error names the field and never the value."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
from wire import CaptureServer, Reply

from flex_ext import PaymentsClient
from flex_ext.errors import CardValidationError, FieldValidationError
from flex_ext.payments import Card

PAN = "4929381572640039"  # Luhn-valid, not a published test number
CVV = "917"
NOW = datetime.now(timezone.utc)


def _month_offset(months: int) -> tuple[str, str]:
    """(month, year) ``months`` from the current UTC month."""
    index = NOW.year * 12 + NOW.month - 1 + months
    return f"{index % 12 + 1:02d}", str(index // 12)


def _refused(field: str, *args: Any, **kwargs: Any) -> CardValidationError:
    with pytest.raises(CardValidationError) as info:
        Card(*args, **kwargs)
    error = info.value
    assert isinstance(error, FieldValidationError) and isinstance(error, ValueError)
    assert error.field == "paymentInformation.card." + field and error.field in str(error)
    texts = (str(error), repr(error), repr(error.args))
    for value in [str(a) for a in args] + [str(v) for v in kwargs.values()]:
        if len(value) >= 3:
            assert not any(value in text for text in texts), "the value must not be in the error"
    return error


@pytest.mark.parametrize(
    "number",
    ["4929381572640038", "4929 3815 7264 0031", "4111-1111-1111-1112", "1234567890123"],
)
def test_luhn_failures_are_refused(number: str) -> None:
    assert "Luhn" in str(_refused("number", number, "12", "2031"))


@pytest.mark.parametrize("number", ["41111111111", "4" * 20, "4929x81572640039", "", "4929.3815.7264.0039"])
def test_length_and_characters(number: str) -> None:
    _refused("number", number, "12", "2031")


def test_luhn_valid_numbers_of_every_length_pass() -> None:
    for number in ("378282246310005", "4929381572640039", "6011111111111117", "3530111333300000",
                   "30569309025904", "4012888888881881", "5555 5555 5555 4444", "6304-0000-0000-0000"):
        assert Card(number, "12", "2031").number == number.replace(" ", "").replace("-", "")


def test_non_string_number_is_refused() -> None:
    _refused("number", 4929381572640039)


@pytest.mark.parametrize("month", ["0", "13", "00", "1a", "-1", " "])
def test_month_must_be_1_to_12(month: str) -> None:
    _refused("expirationMonth", PAN, month, "2031")


@pytest.mark.parametrize("year", ["3", "203", "20311", "abcd"])
def test_year_must_have_2_or_4_digits(year: str) -> None:
    _refused("expirationYear", PAN, "12", year)


def test_year_outside_the_20yy_window() -> None:
    _refused("expirationYear", PAN, "12", "2100")
    _refused("expirationYear", PAN, "12", "2203")
    assert Card(PAN, "12", "2099").expiration_year == "2099" == Card(PAN, "12", "99").expiration_year


def test_two_digit_years_read_as_20yy() -> None:
    month, year = _month_offset(14)
    assert Card(PAN, month, year[2:]).expiration_year == year


def test_expired_cards_are_refused_and_the_current_month_is_still_valid() -> None:
    this_month, this_year = _month_offset(0)
    assert Card(PAN, this_month, this_year).expiration_month == this_month
    last_month, last_months_year = _month_offset(-1)
    _refused("expirationMonth" if last_months_year == this_year else "expirationYear", PAN, last_month,
             last_months_year)
    _refused("expirationYear", PAN, "12", str(NOW.year - 1))
    _refused("expirationYear", PAN, expiration_year=str(NOW.year - 1))  # year alone, already past
    assert Card(PAN, expiration_year=str(NOW.year)).expiration_year == str(NOW.year)


@pytest.mark.parametrize("code", ["12", "12345", "12a", "1 2 3"])
def test_security_code_is_3_or_4_digits(code: str) -> None:
    _refused("securityCode", PAN, "12", "2031", security_code=code)


@pytest.fixture(scope="module")
def server() -> Iterator[CaptureServer]:
    with CaptureServer() as stub:
        stub.reply = Reply(status=201, body=json.dumps({"id": "1", "status": "AUTHORIZED"}).encode(),
                           headers={"Content-Type": "application/hal+json"})
        yield stub


@pytest.mark.parametrize(
    "card",
    [{"number": "4929381572640038", "expiration_month": "12", "expiration_year": "2031"},
     {"number": PAN, "expirationMonth": "12", "expirationYear": str(NOW.year - 1), "securityCode": CVV},
     {"number": PAN, "expirationMonth": "14", "expirationYear": "2031"}],
    ids=["luhn", "expired", "month"],
)
def test_raw_cards_for_authorize_are_checked_before_any_request(server: CaptureServer, card: dict[str, str]) -> None:
    payments = PaymentsClient({"authentication_type": "http_signature", "merchantid": "testrest",
                               "run_environment": server.url, "merchant_keyid": "k",
                               "merchant_secretkey": "yBJxy6LjM2TmcPGu+GaJrHtkke25fPpUX+UY6/L/1tE="})
    server.requests.clear()
    with pytest.raises(CardValidationError):
        payments.authorize(card, "10.00", "USD")
    assert server.requests == []
    assert payments.authorize(Card(PAN, "12", "2031", security_code=CVV), "10.00", "USD").approved
    assert len(server.requests) == 1
