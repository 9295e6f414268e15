"""Spending a transient token: authorize or sale, capture, reverse, refund, void, look up.

:class:`PaymentsClient` sends the checkout's payment calls (checkout.md §1) with the signer
and transport of the generated ``ApiClient`` and returns a typed :class:`PaymentResult`; a
refusal raises the :func:`~flex_ext.errors.http_error` classes. :class:`Card` holds raw card
data behind a masking ``repr`` and checks it before anything is sent.

Retries: a GET is retried on a transport failure, 429 and 502-504; a POST only when nothing
was sent (:class:`~flex_ext.errors.ConnectError`). A timeout or a 5xx after a POST could mean
the customer was charged: look the payment up (or reverse it) instead of sending it again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Optional, Union

from ._json import json_object
from .body import request_body
from .errors import (
    CardValidationError,
    ConnectError,
    FieldValidationError,
    HTTPError,
    InvalidAmountError,
    TransportError,
)
from .transient_token import TransientToken
from .transport import SealedBody, TimeoutSpec, send

if TYPE_CHECKING:  # pragma: no cover
    from .config import MerchantConfig
    from .seam import ClientSettings

__all__ = ["APPROVED_STATUSES", "Card", "PaymentResult", "PaymentsClient", "format_amount"]

_CAMEL_RE = re.compile(r"_([a-z0-9])")
_DIGITS_RE = re.compile(r"[0-9]+")
_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CARD_PATH = "paymentInformation.card."
_CARD = ("number", "expirationMonth", "expirationYear", "securityCode", "type")  # Card's field order
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def _shown(name: str) -> str:
    """A caller's key as an error message may show it: a key that does not look like a
    field name (it could be a misplaced card number or security code) is not echoed."""
    return name if _NAME_RE.fullmatch(name) else "<invalid key>"


def _camel(name: str) -> str:
    return _CAMEL_RE.sub(lambda m: m.group(1).upper(), name)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _card_error(name: str, rule: str) -> CardValidationError:
    return CardValidationError(f"card {rule} ({_CARD_PATH}{name})", field=_CARD_PATH + name)


@dataclass(frozen=True, repr=False)
class Card:
    """Raw card data for :meth:`FlexClient.tokenize` or :meth:`PaymentsClient.authorize`;
    only the last four digits show in ``repr``, and it cannot be pickled.

    Normalised and checked on creation, before anything is sent: spaces and dashes are
    removed from the number, which must be 12-19 digits and pass the Luhn check; the month
    becomes two digits (1-12); a two-digit year reads as ``20YY``, and a four-digit year
    must be in the same window (up to 2099); a card whose expiry month has ended (in UTC)
    is refused; the security code is 3 or 4 digits. A failure raises :class:`~flex_ext.errors.CardValidationError`
    naming the field, never the value.

    >>> Card("4111-1111-1111-1111", 1, 99, security_code="123")
    Card(number='************1111', expiration=<set>, security_code=<set>, type=None)
    """

    number: str
    expiration_month: Optional[str] = None
    expiration_year: Optional[str] = None
    security_code: Optional[str] = None
    type: Optional[str] = None

    def __post_init__(self) -> None:
        if not isinstance(self.number, str):
            raise _card_error("number", "number must be a string of digits")
        number = self.number.replace(" ", "").replace("-", "")
        if not _DIGITS_RE.fullmatch(number) or not 12 <= len(number) <= 19:
            raise _card_error("number", "number must be 12 to 19 digits")
        if not _luhn_ok(number):
            raise _card_error("number", "number fails the Luhn check (mistyped?)")
        object.__setattr__(self, "number", number)
        self._check_expiry(datetime.now(timezone.utc))
        if self.security_code is not None:
            code = str(self.security_code).strip()
            if not _DIGITS_RE.fullmatch(code) or len(code) not in (3, 4):
                raise _card_error("securityCode", "security code must be 3 or 4 digits")
            object.__setattr__(self, "security_code", code)
        if self.type is not None and not isinstance(self.type, str):
            raise _card_error("type", "type must be a string such as '001'")

    def _check_expiry(self, now: datetime) -> None:
        month = year = None
        if self.expiration_month is not None:
            text = str(self.expiration_month).strip()
            if not _DIGITS_RE.fullmatch(text) or not 1 <= int(text) <= 12:
                raise _card_error("expirationMonth", "expiration month must be 1 to 12")
            month = int(text)
            object.__setattr__(self, "expiration_month", f"{month:02d}")
        if self.expiration_year is not None:
            text = str(self.expiration_year).strip()
            if not _DIGITS_RE.fullmatch(text) or len(text) not in (2, 4):
                raise _card_error("expirationYear", "expiration year must have 2 or 4 digits")
            year = int(text) if len(text) == 4 else 2000 + int(text)
            if year > 2099:  # the window a two-digit year reads into; catches "2203"-style typos
                raise _card_error("expirationYear", "expiration year must be 2099 or earlier")
            object.__setattr__(self, "expiration_year", str(year))
        # A card is valid to the end of its expiry month.
        if year is not None and (year, month or 12) < (now.year, now.month):
            raise _card_error("expirationYear" if year < now.year else "expirationMonth", "has expired")

    @property
    def last4(self) -> str:
        return self.number[-4:]

    def __repr__(self) -> str:
        expiration = "<set>" if self.expiration_month or self.expiration_year else None
        code = "<set>" if self.security_code else None
        return (
            f"Card(number={'*' * (len(self.number) - 4) + self.last4!r}, expiration={expiration}, "
            f"security_code={code}, type={self.type!r})"
        )

    __str__ = __repr__

    def __getstate__(self) -> None:
        raise TypeError("Card objects hold card data and are not picklable")

    def to_fields(self) -> dict[str, Any]:
        """The ``paymentInformation.card`` tree (unset fields omitted), as the JWE data and
        the payments body both take it."""
        values = (self.number, self.expiration_month, self.expiration_year, self.security_code, self.type)
        card = {name: value for name, value in zip(_CARD, values) if value is not None}
        return {"paymentInformation": {"card": card}}


def _card_from(card: Union[Card, Mapping[str, Any]]) -> Card:
    if isinstance(card, Card):
        return card
    if not isinstance(card, Mapping):
        raise TypeError("card must be a Card or a mapping")
    values = {_camel(str(k)): v for k, v in card.items()}
    unknown = sorted(set(values) - set(_CARD))
    if unknown:
        raise FieldValidationError("unknown card field(s): " + ", ".join(_shown(k) for k in unknown))
    if "number" not in values:
        raise FieldValidationError("card number is missing", missing=("paymentInformation.card.number",))
    return Card(values["number"], *(values.get(name) for name in _CARD[1:]))


#: ISO 4217 minor units that differ from 2.
_SCALES = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX",
                     "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
_CURRENCY_RE = re.compile(r"[A-Za-z]{3}")


def format_amount(amount: Union[str, Decimal, int], currency: str) -> tuple[str, str]:
    """``(amount, currency)`` as the wire wants them: a decimal string with the currency's
    number of decimals (``"10"`` USD -> ``"10.00"``, JPY -> ``"10"``) and the code upper-case.

    A ``float`` is refused (``0.1 + 0.2`` is not ``0.3``), as are negative or non-finite
    amounts and amounts with more decimals than the currency has (no silent rounding).
    """
    if not isinstance(currency, str) or not _CURRENCY_RE.fullmatch(currency):
        raise InvalidAmountError("currency must be a three-letter ISO 4217 code such as 'USD'")
    currency = currency.upper()
    if isinstance(amount, (bool, float)) or not isinstance(amount, (str, Decimal, int)):
        raise InvalidAmountError("amount must be a str, Decimal or int such as '10.00', never a float")
    scale = _SCALES.get(currency, 2)
    try:
        value = Decimal(amount.strip() if isinstance(amount, str) else amount)
        if not value.is_finite() or value < 0:
            raise InvalidAmountError("amount must be a finite number, zero or more")
        exact = value.quantize(Decimal(1).scaleb(-scale))  # InvalidOperation beyond 28 digits
    except InvalidOperation:
        raise InvalidAmountError("amount must be a decimal number such as '10.00', at most 28 digits") from None
    if exact != value:
        raise InvalidAmountError(f"amount has more than {scale} decimal places, the most {currency} has")
    return f"{exact:f}", currency


#: Statuses that mean the operation went through (a review or a decline is not approved).
APPROVED_STATUSES = frozenset(
    {"AUTHORIZED", "PARTIAL_AUTHORIZED", "PENDING", "TRANSMITTED", "REVERSED", "VOIDED", "COMPLETED"}
)
_AMOUNT_BLOCKS = ("reversalAmountDetails", "voidAmountDetails", "refundAmountDetails", "creditAmountDetails")
_AMOUNT_KEYS = ("authorizedAmount", "reversedAmount", "voidAmount", "refundAmount", "creditAmount", "totalAmount")


def _node(doc: Any, *path: str) -> Any:
    for key in path:
        doc = doc.get(key) if isinstance(doc, Mapping) else None
    return doc


def _str(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class PaymentResult:
    """What a payment call (or a transaction lookup) answered.

    ``approved`` is True when ``status`` is in :data:`APPROVED_STATUSES`; a decline is a
    result with ``approved`` False and ``reason``/``message`` from ``errorInformation``,
    not an exception. ``amount`` is the authorized, reversed, voided, refunded or total
    amount, whichever the answer carries; ``links`` maps ``_links`` names to their hrefs.
    ``raw`` is the whole JSON answer; it is kept out of ``repr``.
    """

    id: Optional[str]
    status: Optional[str]
    approved: bool
    reason: Optional[str] = None
    message: Optional[str] = None
    amount: Optional[str] = None
    currency: Optional[str] = None
    approval_code: Optional[str] = None
    reconciliation_id: Optional[str] = None
    links: Mapping[str, str] = field(default_factory=dict)
    http_status: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], http_status: int = 0) -> PaymentResult:
        """Read a 201 payment answer or a 200 transaction-details answer."""
        amounts = next((doc[k] for k in _AMOUNT_BLOCKS if isinstance(doc.get(k), Mapping)), None)
        amounts = amounts or _node(doc, "orderInformation", "amountDetails")
        amounts = amounts if isinstance(amounts, Mapping) else {}
        links = doc.get("_links")
        status = _str(doc.get("status")) or _str(_node(doc, "applicationInformation", "status"))
        return cls(
            id=_str(doc.get("id")),
            status=status,
            approved=status in APPROVED_STATUSES,
            reason=_str(_node(doc, "errorInformation", "reason")),
            message=_str(_node(doc, "errorInformation", "message")),
            amount=next((amounts[k] for k in _AMOUNT_KEYS if isinstance(amounts.get(k), str)), None),
            currency=_str(amounts.get("currency")),
            approval_code=_str(_node(doc, "processorInformation", "approvalCode")),
            reconciliation_id=_str(doc.get("reconciliationId")),
            links={
                name: link["href"] for name, link in (links.items() if isinstance(links, Mapping) else ())
                if isinstance(link, Mapping) and isinstance(link.get("href"), str)
            },
            http_status=http_status,
            raw=doc,
        )


PaymentSource = Union[TransientToken, Card, str]
_VOID_KINDS = {"payment": "payments", "capture": "captures", "refund": "refunds", "credit": "credits"}
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: What the official SDK sends (checkout.md §2.1), so a gateway sees the same request.
_MEDIA_TYPES = {
    "POST": {"Accept": "application/hal+json", "Content-Type": "application/json"},
    "GET": {"Accept": "application/hal+json;charset=utf-8", "Content-Type": "application/json;charset=utf-8"},
}


def _id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise FieldValidationError(f"{what} must be 1 to 64 letters, digits, '-' or '_'")
    return value


def _reference(code: Optional[str]) -> dict[str, Any]:
    if code is None:
        return {}
    if not isinstance(code, str) or not 0 < len(code) <= 50:
        raise FieldValidationError("reference (clientReferenceInformation.code) must be 1 to 50 characters")
    return {"clientReferenceInformation": {"code": code}}


def _address(value: Optional[Mapping[str, Any]], where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise FieldValidationError(f"{where} must be a mapping of address fields")
    return {where: {_camel(str(k)): v for k, v in value.items() if v is not None}}


class _MaskedJWT(str):
    """A transient token JWT passed as a plain str, masked in ``repr`` (traceback locals)."""

    def __repr__(self) -> str:
        return "<transient token JWT>"


def _masked(source: Union[PaymentSource, Mapping[str, Any]]) -> PaymentSource:
    """The payment source in a type whose ``repr`` masks it (a card mapping becomes a
    checked :class:`Card`), so no local of the calling frame shows it in the clear."""
    if isinstance(source, Mapping):
        return _card_from(source)
    return _MaskedJWT(source) if type(source) is str else source


def _source(source: PaymentSource) -> dict[str, Any]:
    """The part of the payment body that says what pays: the token or the card."""
    if isinstance(source, TransientToken):
        return {"tokenInformation": {"transientTokenJwt": source.jwt}}
    if isinstance(source, Card):
        return source.to_fields()
    if isinstance(source, str) and source.count(".") == 2:
        return {"tokenInformation": {"transientTokenJwt": source}}
    raise FieldValidationError("pay with a TransientToken, its JWT string, or a Card")


def _sealed(*parts: Mapping[str, Any]) -> SealedBody:
    """Merge top-level body parts and serialise them as the generated client would."""
    tree: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            tree.setdefault(key, {}).update(value)
    return SealedBody(request_body(tree))


def _order(amount: Union[str, Decimal, int], currency: str, key: str = "orderInformation") -> dict[str, Any]:
    total, code = format_amount(amount, currency)
    return {key: {"amountDetails": {"totalAmount": total, "currency": code}}}


class PaymentsClient:
    """The payment calls of a checkout for one merchant.

    :param merchant_config: a :class:`~flex_ext.config.MerchantConfig` or the official
        config dict; the signer and the transport (timeouts, proxy, TLS) are the ones the
        generated ``CyberSource`` API classes use.
    :param timeout: per-call timeout override (seconds, or ``(connect, read)``).
    :param max_retries: extra attempts where a retry cannot charge twice (see the module
        docstring); ``retry_backoff`` seconds before the first, doubling after.

    :class:`~flex_ext.client.FlexClient` is a ``PaymentsClient`` too, so one object runs
    the whole checkout; use this class alone when the token comes from Microform or
    Unified Checkout in the browser.
    """

    def __init__(
        self, merchant_config: Union[MerchantConfig, Mapping[str, Any]], *, timeout: TimeoutSpec = None,
        max_retries: int = 2, retry_backoff: float = 0.25,
    ) -> None:
        from .config import coerce_merchant_config

        self.config = coerce_merchant_config(merchant_config)
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self._client_settings: Optional[ClientSettings] = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.config.base_url!r}, merchant_id={self.config.merchant_id!r})"

    def authorize(
        self, token_or_card: Union[PaymentSource, Mapping[str, Any]], amount: Union[str, Decimal, int], currency: str,
        *, capture: bool = False, bill_to: Optional[Mapping[str, Any]] = None,
        ship_to: Optional[Mapping[str, Any]] = None, reference: Optional[str] = None,
    ) -> PaymentResult:
        """Authorize ``amount`` on a transient token (a :class:`TransientToken` or its JWT)
        or on a card (a :class:`Card` or a mapping of its fields, checked as :class:`Card`
        checks); ``capture=True`` makes it a sale. ``POST /pts/v2/payments``. A decline is
        a result, not an error."""
        token_or_card = _masked(token_or_card)
        body = _sealed(
            _reference(reference),
            {"processingInformation": {"capture": True}} if capture else {},
            # Read into the sealed body at once: no local keeps the token or card in the clear.
            _source(token_or_card),
            _order(amount, currency),
            {"orderInformation": {**_address(bill_to, "billTo"), **_address(ship_to, "shipTo")}},
        )
        return self._call("POST", "/pts/v2/payments", body)

    def capture(
        self, payment_id: str, amount: Union[str, Decimal, int], currency: str, *, reference: Optional[str] = None
    ) -> PaymentResult:
        """Capture (part of) an authorization. ``POST /pts/v2/payments/{id}/captures``."""
        path = f"/pts/v2/payments/{_id(payment_id, 'payment id')}/captures"
        return self._call("POST", path, _sealed(_reference(reference), _order(amount, currency)))

    def reverse(
        self, payment_id: str, amount: Union[str, Decimal, int], currency: str, *, reason: Optional[str] = None,
        reference: Optional[str] = None,
    ) -> PaymentResult:
        """Release an authorization that was not captured. ``POST /pts/v2/payments/{id}/reversals``."""
        path = f"/pts/v2/payments/{_id(payment_id, 'payment id')}/reversals"
        details = _order(amount, currency, "reversalInformation")
        if reason is not None:
            details["reversalInformation"]["reason"] = str(reason)
        return self._call("POST", path, _sealed(_reference(reference), details))

    def refund(
        self, payment_or_capture_id: str, amount: Union[str, Decimal, int], currency: str, *, of_capture: bool = False,
        reference: Optional[str] = None,
    ) -> PaymentResult:
        """Refund a sale (``/pts/v2/payments/{id}/refunds``) or, with ``of_capture=True``, a
        capture (``/pts/v2/captures/{id}/refunds``)."""
        kind = "captures" if of_capture else "payments"
        path = f"/pts/v2/{kind}/{_id(payment_or_capture_id, 'payment or capture id')}/refunds"
        return self._call("POST", path, _sealed(_reference(reference), _order(amount, currency)))

    def void(self, transaction_id: str, kind: str = "payment", *, reference: Optional[str] = None) -> PaymentResult:
        """Void a payment, capture, refund or credit before it settles.
        ``POST /pts/v2/{kind}s/{id}/voids``."""
        if kind not in _VOID_KINDS:
            raise FieldValidationError("void kind must be 'payment', 'capture', 'refund' or 'credit'")
        path = f"/pts/v2/{_VOID_KINDS[kind]}/{_id(transaction_id, kind + ' id')}/voids"
        return self._call("POST", path, _sealed(_reference(reference)))

    def get_transaction(self, transaction_id: str) -> PaymentResult:
        """What happened to a transaction. ``GET /tss/v2/transactions/{id}``; retried on a
        transport failure, 429 and 502-504. A fresh id can answer 404 for a few seconds."""
        return self._call("GET", f"/tss/v2/transactions/{_id(transaction_id, 'transaction id')}", None)

    @property
    def _settings(self) -> ClientSettings:
        # Built on first payment call: a FlexClient that only verifies needs no signer.
        if self._client_settings is None:
            from .seam import client_settings

            self._client_settings = client_settings(self.config)
        return self._client_settings

    def _call(self, method: str, path: str, body: Optional[SealedBody]) -> PaymentResult:
        url = self._settings.base_url.rstrip("/") + path
        base = _MEDIA_TYPES[method]
        attempt = 0
        while True:
            headers = self._settings.headers_for(method, path, body.data if body else None, base, True)
            try:
                response = send(self._settings.transport, method, url, headers, body, self.timeout)
            except TransportError as exc:
                # A POST is repeated only if nothing was sent; a GET cannot charge anyone.
                if attempt >= self.max_retries or not (method == "GET" or isinstance(exc, ConnectError)):
                    raise
            else:
                if not (method == "GET" and response.status in _RETRY_STATUSES and attempt < self.max_retries):
                    break
            time.sleep(self.retry_backoff * 2**attempt)
            attempt += 1
        where = f"{method} {path}"
        if not 200 <= response.status < 300:
            raise response.error(where)
        doc = json_object(response.data)
        if doc is None:
            raise HTTPError(f"{where}: the answer is not a JSON object", status=response.status,
                            reason=response.reason, body=response.text(), headers=response.headers)
        return PaymentResult.from_json(doc, response.status)
