"""The Flex API v2 field catalogue and the checks on session requests and card data.

The 31 leaf paths are the ones protocol notes §A2 confirm from three sources. Field
*values* never appear in an error: only paths and what is wrong with them.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

__all__ = [
    "FIELD_PATHS",
    "FieldProblem",
    "check_card",
    "detect_card_types",
    "flatten_data",
    "luhn_valid",
    "parse_session_fields",
]

_CARD = ("number", "securityCode", "expirationMonth", "expirationYear", "type")
_AMOUNT = ("totalAmount", "currency")
_ADDRESS = (
    "address1",
    "address2",
    "administrativeArea",
    "buildingNumber",
    "country",
    "district",
    "locality",
    "postalCode",
)
_BILL_TO = (*_ADDRESS, "email", "firstName", "lastName", "phoneNumber", "company")
_SHIP_TO = (*_ADDRESS, "firstName", "lastName", "company")

FIELD_PATHS: tuple[str, ...] = (
    *(f"orderInformation.amountDetails.{name}" for name in _AMOUNT),
    *(f"orderInformation.billTo.{name}" for name in _BILL_TO),
    *(f"orderInformation.shipTo.{name}" for name in _SHIP_TO),
    *(f"paymentInformation.card.{name}" for name in _CARD),
)
_LEAVES = frozenset(FIELD_PATHS)
#: Deeper ``data`` trees are refused (the deepest field path has three segments).
_MAX_DATA_DEPTH = 16
_BRANCHES = frozenset(path.rsplit(".", i)[0] for path in FIELD_PATHS for i in (1, 2))


class FieldProblem(ValueError):
    """One or more field problems: ``details`` is a list of (location, message)."""

    def __init__(self, details: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{loc}: {msg}" for loc, msg in details))
        self.details = list(details)


def _walk_session_fields(node: Any, prefix: str, out: list[tuple[str, bool]], problems: list[tuple[str, str]]) -> None:
    for name, child in node.items():
        path = f"{prefix}.{name}" if prefix else str(name)
        location = f"fields.{path}"
        if path in _LEAVES:
            if not isinstance(child, dict):
                problems.append((location, 'a field must be an object like {} or {"required": false}'))
                continue
            extra = sorted(set(child) - {"required"})
            if extra:
                problems.append((location, 'a field object may only hold "required"'))
                continue
            required = child.get("required", True)
            if not isinstance(required, bool):
                problems.append((location, '"required" must be true or false'))
                continue
            out.append((path, required))
        elif path in _BRANCHES:
            if not isinstance(child, dict):
                problems.append((location, "must be an object"))
                continue
            _walk_session_fields(child, path, out, problems)
        else:
            problems.append((location, "unknown field"))


def parse_session_fields(body: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(required paths, optional paths) of a sessions request body, in request order.

    Accepts ``{"fields": {...}}`` and, leniently, the unwrapped tree (top-level keys
    ``orderInformation`` / ``paymentInformation``), which one copy of the guide shows.
    """
    if "fields" in body:
        extra = sorted(set(body) - {"fields"})
        if extra:
            raise FieldProblem([(name, "unknown request member") for name in extra])
        fields = body["fields"]
        if not isinstance(fields, dict):
            raise FieldProblem([("fields", "must be an object")])
    else:
        fields = dict(body)
    selected: list[tuple[str, bool]] = []
    problems: list[tuple[str, str]] = []
    _walk_session_fields(fields, "", selected, problems)
    if problems:
        raise FieldProblem(problems)
    if not selected:
        raise FieldProblem([("fields", "at least one field must be requested")])
    required = [path for path, is_required in selected if is_required]
    optional = [path for path, is_required in selected if not is_required]
    return required, optional


def flatten_data(data: Mapping[str, Any]) -> dict[str, str]:
    """Dotted path -> value of a tokens ``data`` tree; flat dotted keys are accepted too."""
    flat: dict[str, str] = {}
    problems: list[tuple[str, str]] = []

    def visit(node: Mapping[str, Any], prefix: str, depth: int) -> None:
        for name, value in node.items():
            path = f"{prefix}.{name}" if prefix else str(name)
            if isinstance(value, dict):
                if depth >= _MAX_DATA_DEPTH:  # no field is this deep; and recursion is bounded
                    problems.append((path[:200], "nested too deeply"))
                    continue
                visit(value, path, depth + 1)
            elif isinstance(value, str):
                if path in flat:
                    problems.append((path, "field given twice"))
                flat[path] = value
            else:
                problems.append((path, "a field value must be a string"))

    visit(data, "", 1)
    if problems:
        raise FieldProblem(problems)
    return flat


def luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = ord(char) - 48
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def detect_card_types(number: str) -> list[str]:
    """CyberSource card type codes whose ranges contain ``number`` (best effort)."""

    def starts(lo: int, hi: int, digits: int) -> bool:
        return len(number) >= digits and lo <= int(number[:digits]) <= hi

    types: list[str] = []
    if number.startswith("4"):
        types.append("001")
    if starts(51, 55, 2) or starts(2221, 2720, 4):
        types.append("002")
    if starts(34, 34, 2) or starts(37, 37, 2):
        types.append("003")
    if starts(6011, 6011, 4) or starts(644, 649, 3) or starts(65, 65, 2):
        types.append("004")
    if starts(300, 305, 3) or starts(36, 36, 2) or starts(38, 39, 2):
        types.append("005")
    if starts(3528, 3589, 4):
        types.append("007")
    if starts(62, 62, 2):
        types.append("062")
    return types


def check_card(values: Mapping[str, str], now_year: int, now_month: int) -> list[tuple[str, str]]:
    """Sanity problems of the card fields present (non-empty) in ``values``."""
    problems: list[tuple[str, str]] = []
    number = values.get("paymentInformation.card.number", "")
    if number:
        if not number.isdigit() or not number.isascii() or not 12 <= len(number) <= 19:
            problems.append(("paymentInformation.card.number", "must be 12 to 19 digits"))
        elif not luhn_valid(number):
            problems.append(("paymentInformation.card.number", "fails the Luhn check"))
    code = values.get("paymentInformation.card.securityCode", "")
    if code and (not code.isdigit() or not code.isascii() or not 3 <= len(code) <= 4):
        problems.append(("paymentInformation.card.securityCode", "must be 3 or 4 digits"))
    month_text = values.get("paymentInformation.card.expirationMonth", "")
    year_text = values.get("paymentInformation.card.expirationYear", "")
    month: Optional[int] = None
    year: Optional[int] = None
    if month_text:
        if month_text.isascii() and month_text.isdigit() and len(month_text) <= 2 and 1 <= int(month_text) <= 12:
            month = int(month_text)
        else:
            problems.append(("paymentInformation.card.expirationMonth", "must be 01 to 12"))
    if year_text:
        if year_text.isascii() and year_text.isdigit() and len(year_text) == 4:
            year = int(year_text)
            if year < now_year:
                problems.append(("paymentInformation.card.expirationYear", "is in the past"))
                year = None
        else:
            problems.append(("paymentInformation.card.expirationYear", "must be four digits"))
    if month is not None and year is not None and (year, month) < (now_year, now_month):
        problems.append(("paymentInformation.card.expirationMonth", "the card has expired"))
    return problems
