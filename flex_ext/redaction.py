"""Redaction of card data and credentials in text that may reach a log, a repr or an error.

Broader than the official ``SensitiveFormatter``: it masks the fully formatted message (not
``record.msg``), JSON values inside dicts and lists (numbers too), JSON or dict text embedded
in a longer message, authentication headers, and any run of 13-19 digits (with spaces or
dashes, Luhn or not: a mistyped card number is still one). :data:`ALWAYS_MASKED_FIELDS` (card
data, credentials) is always masked; :data:`PII_FIELDS` (the official 0.0.80 personal-data
list) too while masking is enabled, the default.
"""

from __future__ import annotations

import json
import logging
import re
from functools import cache
from typing import Any, Callable, Iterable, Optional, Union

__all__ = [
    "ALWAYS_MASKED_FIELDS", "MASK", "PII_FIELDS", "SENSITIVE_FIELDS", "RedactingFilter", "RedactingFormatter",
    "contains_card_number", "mask_card_numbers", "mask_credentials", "mask_pan", "mask_sensitive_json",
    "mask_sensitive_pairs", "redact_text",
]

#: What a masked credential is replaced with.
MASK = "XXXXX"

#: Card data and credentials: masked whether or not the user enabled masking.
ALWAYS_MASKED_FIELDS: frozenset[str] = frozenset(
    {
        # card data (0.0.80 list)
        "securitycode", "security_code", "cardnumber", "card_number", "number", "expirationmonth",
        "expirationyear", "routingnumber", "accountnumber", "account_number", "prefix", "suffix", "bin",
        "pin", "cvv", "cvv2", "cvc", "cvc2", "ssn",
        # tokens and signatures (0.0.80 list)
        "token", "signature", "keyid", "encryptedrequest", "encryptedresponse", "password", "secret",
        # credentials that appear in merchant-config dicts and HTTP headers (our additions)
        "merchant_secretkey", "key_password", "proxy_password", "ssl_key_password", "client_secret",
        "access_token", "refresh_token", "private_key", "accesstoken", "refreshtoken", "clientsecret",
        "authorization", "x-api-key", "api_key", "apikey", "responsemleprivatekey",
        "responsemleprivatekeyfilepassword",
    }
)

#: Personal data from the official 0.0.80 list; masked when masking is enabled.
PII_FIELDS: frozenset[str] = frozenset(
    {
        "email", "firstname", "lastname", "phonenumber", "type", "address1", "address2", "postalcode",
        "locality", "administrativearea", "country", "district", "company", "dateofbirth", "fullname", "name",
    }
)

#: Every field name masked when masking is enabled (compared case-insensitively).
SENSITIVE_FIELDS: frozenset[str] = ALWAYS_MASKED_FIELDS | PII_FIELDS


def _fields(pii: bool) -> frozenset[str]:
    return SENSITIVE_FIELDS if pii else ALWAYS_MASKED_FIELDS


# 13-19 digits, optionally separated by single spaces or dashes, not glued to other digits.
# Patterns are compiled on first use, not at import: most processes never log a thing.
@cache
def _pan_re() -> re.Pattern[str]:
    return re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")


def mask_pan(pan: str) -> str:
    """Mask a card number, keeping at most the first 6 and the last 4 digits.

    Separators (spaces, dashes) stay where they were. Fewer digits are kept for short
    numbers so that at least 6 digits are always hidden: 16-19 digits keep 6+4, 13-15 digits
    keep the last 4 only, anything shorter is fully masked.
    """
    digits = sum(ch.isdigit() for ch in pan)
    head, tail = (6, 4) if digits >= 16 else (0, 4) if digits >= 13 else (0, 0)
    out = []
    seen = 0
    for ch in pan:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen <= head or seen > digits - tail else "X")
        else:
            out.append(ch)
    return "".join(out)


def contains_card_number(text: str) -> bool:
    """True if ``text`` holds a run of 13-19 digits (also with spaces or dashes)."""
    return _pan_re().search(text) is not None


def mask_card_numbers(text: str) -> str:
    """Mask every card-number-like digit run in free text (see :func:`mask_pan`)."""
    return _pan_re().sub(lambda m: mask_pan(m.group(0)), text)


def _mask_scalar(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        # Flags such as {"number": {"required": true}} say nothing about the card.
        return value
    if isinstance(value, (int, float)):
        return "X" * len(str(value))
    if isinstance(value, str):
        return "X" * len(value)
    return MASK


def mask_sensitive_json(value: Any, *, fields: Optional[Iterable[str]] = None, pii: bool = True) -> Any:
    """Return a copy of a JSON-like value with the values of sensitive keys masked.

    Keys are compared case-insensitively. Dicts and lists are recursed into. A sensitive
    key's string or number value becomes ``X`` repeated to the same length; a sensitive
    key holding a dict is recursed into normally (capture-context requests say
    ``"number": {"required": true}``), one holding a list has every scalar masked. Card
    numbers in any other string are masked too.
    """
    names = frozenset(f.lower() for f in fields) if fields is not None else _fields(pii)
    return _mask_value(value, names, sensitive=False)


def _mask_value(value: Any, names: frozenset[str], sensitive: bool) -> Any:
    if isinstance(value, dict):
        return {
            key: _mask_value(item, names, isinstance(key, str) and key.lower() in names)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_mask_value(item, names, sensitive) for item in value]
    if sensitive:
        return _mask_scalar(value)
    if isinstance(value, str):
        return mask_card_numbers(value)
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
        masked = mask_card_numbers(text)
        return value if masked == text else masked
    return value


@cache
def _pair_pattern(names: frozenset[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    # A quoted or bare key, ':' or '=', then a quoted string or a number.
    return re.compile(
        r"""(?P<key>(?P<q>["']?)(?<![\w-])(?:""" + alternatives + r""")(?P=q))"""
        r"""(?P<sep>\s*[:=]\s*)"""
        r"""(?:"(?P<dq>(?:[^"\\]|\\.)*)"|'(?P<sq>(?:[^'\\]|\\.)*)'|(?P<num>-?[0-9][0-9.eE+-]*))""",
        re.IGNORECASE,
    )


def mask_sensitive_pairs(text: str, *, pii: bool = True) -> str:
    """Mask ``key: value`` / ``key=value`` pairs of sensitive keys inside free text.

    Handles JSON fragments and Python dict reprs embedded in a longer message: quoted
    string values and numbers are masked, structured values (``{``, ``[``) are left for
    the other rules.
    """

    def repl(m: re.Match[str]) -> str:
        head = m.group("key") + m.group("sep")
        if m.group("dq") is not None:
            return head + '"' + "X" * len(m.group("dq")) + '"'
        if m.group("sq") is not None:
            return head + "'" + "X" * len(m.group("sq")) + "'"
        return head + "X" * len(m.group("num"))

    return _pair_pattern(_fields(pii)).sub(repl, text)


_Replacement = Union[str, Callable[["re.Match[str]"], str]]

@cache
def _credential_rules() -> tuple[tuple[re.Pattern[str], _Replacement], ...]:
    return tuple((re.compile(pattern), replacement) for pattern, replacement in _CREDENTIAL_RULE_TEXTS)


_CREDENTIAL_RULE_TEXTS: tuple[tuple[str, _Replacement], ...] = (
    # Signature: keyid="...", algorithm="HmacSHA256", headers="...", signature="..."
    (r'(?i)\b(keyid|signature)(\s*=\s*)"[^"]*"', r'\1\2"' + MASK + '"'),
    # Authorization: Bearer <token> / Basic <b64> (also inside dict reprs and JSON).
    (
        r"""(?i)(authorization["']?\s*[:=]\s*["']?)(?:(bearer|basic)\s+)?[^\s"',}]+""",
        lambda m: m.group(1) + (m.group(2) + " " if m.group(2) else "") + MASK,
    ),
    # The official SDK's own log line, "Authorization Bearer:     <token>".
    (r"(?i)(authorization\s+bearer\s*:\s*)\S+", r"\1" + MASK),
    # A bare bearer token anywhere.
    (r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]+=*", r"\1" + MASK),
    # Digest: SHA-256=<b64>
    (
        r"""(?i)(\bdigest["']?\s*[:=]\s*["']?)(?:(SHA-256|SHA-512)=)?[A-Za-z0-9+/]+=*""",
        lambda m: m.group(1) + (m.group(2) + "=" if m.group(2) else "") + MASK,
    ),
    # x-api-key / Ocp-Apim-Subscription-Key style API keys.
    (
        r"""(?i)((?:x-api-key|ocp-apim-subscription-key)["']?\s*[:=]\s*["']?)[^\s"',}]+""",
        r"\1" + MASK,
    ),
)


def mask_credentials(text: str) -> str:
    """Mask the credentials of ``Signature``, ``Authorization``, ``Digest`` and API-key headers."""
    for pattern, replacement in _credential_rules():
        text = pattern.sub(replacement, text)
    return text


def redact_text(text: str, *, pii: bool = True) -> str:
    """Apply every rule to a message: JSON structure, embedded pairs, headers, card numbers.

    ``pii=False`` keeps personal-data fields (names, e-mail, address) visible but still
    masks card data and credentials.
    """
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            pass
        else:
            text = json.dumps(mask_sensitive_json(parsed, pii=pii))
    text = mask_credentials(text)
    text = mask_sensitive_pairs(text, pii=pii)
    return mask_card_numbers(text)


class RedactingFilter(logging.Filter):
    """A filter that replaces a record's message with its redacted, fully formatted text.

    It formats ``msg % args`` first, so values passed as arguments are masked too, then
    clears ``args``; exception and stack text are pre-rendered and masked. Because the
    record itself is changed, every handler that sees it afterwards (including the user's
    own handlers and the root logger's) gets the masked text. It never drops a record.
    """

    def __init__(self, name: str = "", *, pii: bool = True) -> None:
        super().__init__(name)
        self.pii = pii

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not let the raw args through
            message = str(record.msg)
        record.msg = redact_text(message, pii=self.pii)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, pii=self.pii)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info, pii=self.pii)
        return True


class RedactingFormatter(logging.Formatter):
    """A formatter whose whole output line (message, exception, stack) is redacted."""

    def __init__(self, fmt: Optional[str] = None, datefmt: Optional[str] = None, *, pii: bool = True) -> None:
        super().__init__(fmt, datefmt)
        self.pii = pii

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record), pii=self.pii)
