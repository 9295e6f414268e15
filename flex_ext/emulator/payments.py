"""The emulator's offline checkout sandbox: payments, their follow-ons, transaction
details and transient-token data (the user guide is ``docs/sandbox.md``).

Owns the routes under ``/pts/v2/``, ``/tss/v2/transactions/`` and the two
``payment-details`` paths, the deterministic outcome triggers, the per-payment state
machine and the registry of transient tokens the emulator issued. The server has already
authenticated the merchant when :meth:`PaymentService.handle` runs.

What is kept: per transaction the amounts, statuses, links between transactions and the
card's BIN, last four digits, type and expiry; per transient token the same card facts and
the order fields. A full card number or a security code is never stored, so neither can
reach the optional ``payments.jsonl`` state file or a response.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import secrets
import string
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Mapping, Optional, Sequence
from urllib.parse import unquote

from .fields import detect_card_types, luhn_valid
from .jose import b64url_decode, random_alnum

__all__ = ["PAYMENT_ENDPOINTS", "ROUTES", "SETTLEMENT_DELAY", "PaymentService"]

#: Fault-injection / request-counter names of the sandbox endpoints.
PAYMENT_ENDPOINTS = (
    "payments", "captures", "reversals", "refunds", "voids", "credits", "transactions", "payment-details",
)
#: Seconds after which a capture, sale, refund or credit counts as settled and can no
#: longer be voided (INFERRED: the real batch runs once a day).
SETTLEMENT_DELAY = 86400

Response = tuple[int, dict[str, str], bytes]

_ID = r"([^/]+)"
_ROUTES: tuple[tuple[re.Pattern[str], str, str, str], ...] = tuple(
    (re.compile(pattern), method, endpoint, handler)
    for pattern, method, endpoint, handler in (
        ("/pts/v2/payments", "POST", "payments", "_create_payment"),
        (f"/pts/v2/payments/{_ID}", "PATCH", "payments", "_increment"),
        (f"/pts/v2/payments/{_ID}/captures", "POST", "captures", "_capture"),
        (f"/pts/v2/payments/{_ID}/reversals", "POST", "reversals", "_reverse"),
        (f"/pts/v2/payments/{_ID}/refunds", "POST", "refunds", "_refund_payment"),
        (f"/pts/v2/captures/{_ID}/refunds", "POST", "refunds", "_refund_capture"),
        (f"/pts/v2/(payments|captures|refunds|credits)/{_ID}/voids", "POST", "voids", "_void"),
        ("/pts/v2/credits", "POST", "credits", "_credit"),
        ("/pts/v2/reversals", "POST", "reversals", "_timeout_reversal"),
        ("/pts/v2/voids", "POST", "voids", "_timeout_void"),
        (f"/tss/v2/transactions/{_ID}", "GET", "transactions", "_transaction"),
        (f"/up/v1/payment-details/{_ID}", "GET", "payment-details", "_details_by_token"),
        (f"/flex/v2/payment-details/{_ID}", "GET", "payment-details", "_details_by_jti"),
    )
)

_HAL = {"Content-Type": "application/hal+json"}
_JSON = {"Content-Type": "application/json"}
_MSG_INVALID_DATA = "Declined - One or more fields in the request contains invalid data"
_MSG_MISSING_FIELD = "Declined - The request is missing one or more fields"
_MSG_MISSING_AUTH = "Decline - The request ID is invalid."
_AMOUNT_RE = re.compile(r"\d{1,12}(\.\d{1,2})?")
_CURRENCY_RE = re.compile(r"[A-Za-z]{3}")
_CENT = Decimal("0.01")
_MAX_TOKENS = 20000
_RECONCILIATION_ALPHABET = string.digits + string.ascii_uppercase
_TOTAL = "orderInformation.amountDetails.totalAmount"
_CURRENCY = "orderInformation.amountDetails.currency"

# Amount triggers (docs/sandbox.md). Declines: amount -> reason; 40xx.00 mimics the
# issuer response code xx of the processor simulator (checkout.md §5.4, §6.3).
_DECLINE_AMOUNTS = {
    "4001.00": "CONTACT_PROCESSOR", "4002.00": "CONTACT_PROCESSOR", "4004.00": "STOLEN_LOST_CARD",
    "4005.00": "PROCESSOR_DECLINED", "4007.00": "STOLEN_LOST_CARD", "4012.00": "PAYMENT_REFUSED",
    "4015.00": "ISSUER_UNAVAILABLE", "4039.00": "GENERAL_DECLINE", "4051.00": "INSUFFICIENT_FUND",
    "4054.00": "EXPIRED_CARD", "4061.00": "EXCEEDS_CREDIT_LIMIT", "4082.00": "CVN_NOT_MATCH",
}
_PARTIAL_AMOUNTS = {"7012.00": "500.00", "6003.00": "3000.00"}
_PROCESSOR_ERROR_AMOUNT = "4006.00"
_AVS_FAIL_AMOUNT = "6001.00"
_CVN_FAIL_AMOUNT = "6002.00"

# reason -> (legacy reasonCode, rFlag, message) for errorInformation and TSS.
_REASONS = {
    "": ("100", "SOK", "Request was processed successfully."),
    "PARTIAL": ("110", "SPARTIALAPPROVAL", "Partial amount was approved."),
    "AVS_FAILED": ("200", "DAVSNO", "Soft Decline - Avs check failed"),
    "CV_FAILED": ("230", "DCV", "Soft Decline - The authorization request was approved by the issuing bank but "
                  "declined by CyberSource because it did not pass the card verification number (CVN) check."),
    "CONTACT_PROCESSOR": ("201", "DCALL", "Decline - The issuing bank has questions about the request."),
    "EXPIRED_CARD": ("202", "DCARDEXPIRED", "Decline - Expired card. You might also receive this if the "
                     "expiration date you provided does not match the date the issuing bank has on file."),
    "PROCESSOR_DECLINED": ("203", "DCARDREFUSED", "Decline - General decline of the card."),
    "INSUFFICIENT_FUND": ("204", "DCARDREFUSED", "Decline - Insufficient funds in the account."),
    "STOLEN_LOST_CARD": ("205", "DCARDREFUSED", "Decline - Stolen or lost card."),
    "ISSUER_UNAVAILABLE": ("207", "DCARDREFUSED", "Decline - Issuing bank unavailable."),
    "CVN_NOT_MATCH": ("209", "DCARDREFUSED", "Decline - Card verification number (CVN) did not match."),
    "EXCEEDS_CREDIT_LIMIT": ("210", "DCARDREFUSED", "Decline - The card has reached the credit limit."),
    "GENERAL_DECLINE": ("233", "DCARDREFUSED", "Decline - General decline by the processor."),
    "PAYMENT_REFUSED": ("203", "DCARDREFUSED", "Decline - The payment was refused."),
    "DECLINED": ("481", "DREJECT", "Soft Decline - Fraud score exceeds threshold."),
}
_APPROVED = frozenset({"AUTHORIZED", "PARTIAL_AUTHORIZED", "AUTHORIZED_PENDING_REVIEW", "AUTHORIZED_RISK_DECLINED"})
_APPLICATION = {
    "authorization": "ics_auth", "capture": "ics_bill", "refund": "ics_credit", "credit": "ics_credit",
    "reversal": "ics_auth_reversal", "void": "ics_void", "increment": "ics_incremental_auth",
}
_SELF_PATH = {
    "authorization": "/pts/v2/payments/", "sale": "/pts/v2/payments/", "capture": "/pts/v2/captures/",
    "refund": "/pts/v2/refunds/", "reversal": "/pts/v2/reversals/", "void": "/pts/v2/voids/",
    "credit": "/pts/v2/credits/", "increment": "/pts/v2/payments/",
}


#: The sandbox's entries of the emulator's one route table (``server.ROUTES``): (path
#: pattern, endpoint name, method). :meth:`PaymentService.handle` picks the handler.
ROUTES = [(pattern, endpoint, method) for pattern, method, endpoint, _ in _ROUTES]


class _Refusal(Exception):
    """A 400 (``INVALID_REQUEST``) or 502 (``SERVER_ERROR``) answer in the PTS error shape."""

    def __init__(self, reason: str, message: str, details: Sequence[tuple[str, str]] = (), status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message
        self.details = list(details)
        self.status = status


def _missing(path: str) -> _Refusal:
    return _Refusal("MISSING_FIELD", _MSG_MISSING_FIELD, [(path, "MISSING_FIELD")])


def _invalid(path: str) -> _Refusal:
    return _Refusal("INVALID_DATA", _MSG_INVALID_DATA, [(path, "INVALID_DATA")])


def _token_refused() -> _Refusal:
    # The real service names tokenInformation.jti even when the JWT was sent (checkout.md §7).
    return _invalid("tokenInformation.jti")


def _get(body: Mapping[str, Any], path: str) -> Any:
    node: Any = body
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _text(body: Mapping[str, Any], path: str) -> Optional[str]:
    """A string leaf (numbers accepted, as the real API does); None when absent or empty."""
    value = _get(body, path)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _invalid(path)
    return str(value).strip()


def _money(value: Decimal) -> str:
    return str(value.quantize(_CENT))


def _amount(body: Mapping[str, Any], path: str) -> Decimal:
    text = _text(body, path)
    if text is None:
        raise _missing(path)
    if not _AMOUNT_RE.fullmatch(text):
        raise _invalid(path)
    return Decimal(text)


def _currency(body: Mapping[str, Any], path: str, default: Optional[str] = None) -> str:
    text = _text(body, path) or default
    if text is None:
        raise _missing(path)
    if not _CURRENCY_RE.fullmatch(text):
        raise _invalid(path)
    return text


@dataclass
class _Card:
    """What the sandbox keeps of a card: never the full number, never the security code."""

    bin: str
    suffix: str
    type: str
    expiration_month: str
    expiration_year: str
    has_security_code: bool
    digits: int = 16

    def masked(self) -> dict[str, str]:
        return {"prefix": self.bin, "suffix": self.suffix, "type": self.type,
                "expirationMonth": self.expiration_month, "expirationYear": self.expiration_year}

    def expired(self, now: float) -> bool:
        today = datetime.fromtimestamp(now, tz=timezone.utc)
        return (int(self.expiration_year), int(self.expiration_month)) < (today.year, today.month)


def _card_from(values: Mapping[str, Any], prefix: str) -> _Card:
    """Validate the clear card fields under ``prefix`` and keep only the safe facts."""
    number = _text(values, prefix + "number")
    if number is None:
        raise _missing(prefix + "number")
    if not (number.isascii() and number.isdigit() and 12 <= len(number) <= 19 and luhn_valid(number)):
        raise _invalid(prefix + "number")
    month = _text(values, prefix + "expirationMonth")
    year = _text(values, prefix + "expirationYear")
    if month is None:
        raise _missing(prefix + "expirationMonth")
    if year is None:
        raise _missing(prefix + "expirationYear")
    if not (month.isascii() and month.isdigit() and len(month) <= 2 and 1 <= int(month) <= 12):
        raise _invalid(prefix + "expirationMonth")
    if not (year.isascii() and year.isdigit() and len(year) == 4):
        raise _invalid(prefix + "expirationYear")
    code = _text(values, prefix + "securityCode")
    if code is not None and not (code.isascii() and code.isdigit() and 3 <= len(code) <= 4):
        raise _invalid(prefix + "securityCode")
    detected = detect_card_types(number)
    card_type = _text(values, prefix + "type") or (detected[0] if detected else "001")
    return _Card(number[:6], number[-4:], card_type, month.zfill(2), year, code is not None, len(number))


@dataclass
class _Token:
    merchant_id: str
    digest: str
    expires_at: int
    card: Optional[_Card]
    order: dict[str, Any]
    used: bool = False


@dataclass
class _Txn:
    """One transaction. ``amount`` is what it moved (authorized, captured, refunded, ...)."""

    id: str
    kind: str  # authorization, sale, capture, refund, reversal, void, credit
    merchant_id: str
    status: str
    submitted: float
    amount: str
    total: str
    currency: str
    code: Optional[str]
    reconciliation_id: Optional[str]
    reason: str = ""
    transaction_ref: Optional[str] = None  # clientReferenceInformation.transactionId, for timeout flows
    parent: Optional[str] = None
    children: list[str] = field(default_factory=list)
    card: Optional[_Card] = None
    processor: dict[str, Any] = field(default_factory=dict)
    billed: str = "0.00"  # a sale's own capture
    settle_at: float = 0.0
    voided: bool = False
    reversed: bool = False

    def record(self) -> bytes:
        """One journal line; ``children`` is rebuilt from ``parent`` when loading."""
        values = dataclasses.asdict(self)
        del values["children"]
        return _dump(values) + b"\n"

    @staticmethod
    def load(raw: Mapping[str, Any]) -> _Txn:
        values = dict(raw)
        if values.get("card") is not None:
            values["card"] = _Card(**values["card"])
        return _Txn(**values)


class PaymentService:
    """Payments, follow-ons, TSS and token data for every merchant; one lock, optional file."""

    def __init__(self, now: Callable[[], float], state_file: Optional[str] = None) -> None:
        self._now = now
        self._state_file = state_file
        self._lock = threading.Lock()
        self._txns: dict[str, _Txn] = {}
        self._tokens: OrderedDict[str, _Token] = OrderedDict()
        self._changed: list[_Txn] = []
        if state_file is not None and os.path.exists(state_file):
            self._load(state_file)

    # -- transient tokens (called by the tokenization service) ----------------------------

    def register_token(
        self, merchant_id: str, token: str, claims: Mapping[str, Any], values: Mapping[str, str]
    ) -> None:
        """Remember an issued transient token: its card facts and order fields, not the card."""
        card = None
        if values.get("paymentInformation.card.number"):
            nested: dict[str, Any] = {}
            for path, value in values.items():
                if path.startswith("paymentInformation.card."):
                    nested[path.rsplit(".", 1)[1]] = value
            # A capture context may leave the expiry out; such a card never expires here (INFERRED).
            nested["expirationMonth"] = nested.get("expirationMonth") or "12"
            nested["expirationYear"] = nested.get("expirationYear") or "2099"
            with contextlib.suppress(_Refusal):
                card = _card_from({"card": nested}, "card.")
        order: dict[str, Any] = {}
        for path, value in values.items():
            parts = path.split(".")
            if parts[0] == "orderInformation" and value:
                order.setdefault(parts[1], {})[parts[2]] = value
        record = _Token(merchant_id, _digest(token), int(claims["exp"]), card, order)
        now = self._now()
        with self._lock:
            while self._tokens and (
                len(self._tokens) >= _MAX_TOKENS or next(iter(self._tokens.values())).expires_at <= now
            ):
                self._tokens.popitem(last=False)
            self._tokens[str(claims["jti"])] = record

    def _token(self, merchant_id: str, jti: Optional[str], jwt: Optional[str]) -> _Token:
        """The live token of this merchant (caller holds the lock), or the real 400."""
        if jwt is not None:
            jti = _jti_of(jwt)
        record = self._tokens.get(jti or "")
        if (
            record is None
            or record.merchant_id != merchant_id
            or record.expires_at <= self._now()
            or (jwt is not None and not secrets.compare_digest(record.digest, _digest(jwt)))
        ):
            raise _token_refused()
        return record

    # -- HTTP entry point -------------------------------------------------------------

    def handle(self, method: str, path: str, merchant_id: str, body: bytes) -> Response:
        """Answer one authenticated request on a path of :data:`ROUTES`."""
        for pattern, _, _, name in _ROUTES:
            found = pattern.fullmatch(path)
            if found is not None:
                handler = name
                break
        else:
            return _not_found(path)
        ids = tuple(unquote(part) for part in found.groups())
        if method == "GET":
            return getattr(self, handler)(merchant_id, *ids)  # type: ignore[no-any-return]
        request = _parse_body(body)
        if request is None:
            return self._error(_Refusal("INVALID_DATA", "the request body must be a JSON object"))
        with self._lock:
            self._changed = []
            try:
                response: Response = getattr(self, handler)(merchant_id, request, *ids)
            except _Refusal as refusal:
                return self._error(refusal)
            self._append(self._changed)
        return response

    def _error(self, refusal: _Refusal) -> Response:
        body: dict[str, Any] = {
            "id": self._new_id(),
            "submitTimeUtc": _utc(self._now()),
            "status": "SERVER_ERROR" if refusal.status >= 500 else "INVALID_REQUEST",
            "reason": refusal.reason,
            "message": refusal.message,
        }
        if refusal.details:
            body["details"] = [{"field": name, "reason": reason} for name, reason in refusal.details]
        return refusal.status, dict(_JSON), _dump(body)

    def injected_error(self, status: int) -> Response:
        """The body a fault-injected status gets on a sandbox endpoint."""
        if status >= 500:
            return self._error(_Refusal("SYSTEM_ERROR", "Error - General system failure.", status=status))
        return self._error(_Refusal("INVALID_DATA", _MSG_INVALID_DATA, status=status))

    # -- state --------------------------------------------------------------------------

    def _new_id(self) -> str:
        # Like the real ids: 22 digits, the first 12 are the time in ms minus 10^12.
        millis = int(self._now() * 1000) - 10**12
        while True:
            candidate = f"{millis % 10**12:012d}{secrets.randbelow(10**10):010d}"
            if candidate not in self._txns:
                return candidate

    def _add(self, txn: _Txn) -> _Txn:
        self._txns[txn.id] = txn
        self._changed.append(txn)
        if txn.parent is not None:
            self._txns[txn.parent].children.append(txn.id)
        return txn

    def _new(self, merchant_id: str, kind: str, status: str, amount: Decimal, currency: str,
             request: Mapping[str, Any], parent: Optional[_Txn] = None, total: Optional[Decimal] = None) -> _Txn:
        now = self._now()
        return _Txn(
            id=self._new_id(), kind=kind, merchant_id=merchant_id, status=status, submitted=now,
            amount=_money(amount), total=_money(amount if total is None else total), currency=currency,
            code=_text(request, "clientReferenceInformation.code"),
            transaction_ref=_text(request, "clientReferenceInformation.transactionId"),
            reconciliation_id=parent.reconciliation_id if parent else random_alnum(16, _RECONCILIATION_ALPHABET),
            parent=parent.id if parent else None, card=parent.card if parent else None,
            settle_at=now + SETTLEMENT_DELAY,
        )

    def _find(self, merchant_id: str, txn_id: str, kinds: Sequence[str]) -> Optional[_Txn]:
        txn = self._txns.get(txn_id)
        return txn if txn is not None and txn.merchant_id == merchant_id and txn.kind in kinds else None

    def _children(self, txn: _Txn, kind: str) -> list[_Txn]:
        return [c for c in (self._txns[i] for i in txn.children) if c.kind == kind and not c.voided]

    def _captured(self, payment: _Txn) -> Decimal:
        own = Decimal(payment.billed) if not payment.voided else Decimal(0)
        return own + sum((Decimal(c.amount) for c in self._children(payment, "capture")), Decimal(0))

    def _refunded(self, txn: _Txn) -> Decimal:
        total = sum((Decimal(r.amount) for r in self._children(txn, "refund")), Decimal(0))
        return total + sum((self._refunded(c) for c in self._children(txn, "capture")), Decimal(0))

    def _settled(self, txn: _Txn) -> bool:
        return self._now() >= txn.settle_at

    def settle(self) -> None:
        """Settle every capture, sale, refund and credit now (they can no longer be voided)."""
        now = self._now()
        with self._lock:
            for txn in self._txns.values():
                txn.settle_at = min(txn.settle_at, now)
            self._compact()

    # The state file is a journal: one JSON line per transaction state, the last one wins.
    # Appending keeps a payment O(1) however many are stored; loading compacts the journal
    # into a fresh file written atomically (temporary file, then rename).

    def _append(self, changed: Sequence[_Txn]) -> None:
        if self._state_file is not None and changed:
            with open(self._state_file, "ab") as handle:
                handle.write(b"".join(txn.record() for txn in changed))

    def _load(self, path: str) -> None:
        with open(path, "rb") as handle:
            lines = handle.read().splitlines()
        for number, line in enumerate(lines):
            try:
                txn = _Txn.load(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                if number == len(lines) - 1:
                    break  # the last append was cut short: that change is lost, nothing else
                raise ValueError(f"{path} is not a payments state file; delete it to start afresh") from exc
            self._txns[txn.id] = txn
        for txn in self._txns.values():
            if txn.parent is not None:
                self._txns[txn.parent].children.append(txn.id)
        self._compact()

    def _compact(self) -> None:
        if self._state_file is None:
            return
        fd, temp = tempfile.mkstemp(prefix=".payments-", dir=os.path.dirname(self._state_file) or ".")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(b"".join(txn.record() for txn in self._txns.values()))
            os.replace(temp, self._state_file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise

    # -- payments -----------------------------------------------------------------------

    def _payment_card(
        self, merchant_id: str, request: Mapping[str, Any], authorization: bool
    ) -> tuple[Optional[_Token], _Card]:
        jwt = _text(request, "tokenInformation.transientTokenJwt")
        jti = _text(request, "tokenInformation.jti")
        if jwt is not None or jti is not None:
            token = self._token(merchant_id, jti, jwt)
            if authorization and token.used:
                raise _token_refused()
            if token.card is None:
                raise _missing("paymentInformation.card.number")
            return token, token.card
        if not isinstance(_get(request, "paymentInformation.card"), Mapping):
            raise _missing("paymentInformation.card.number")
        return None, _card_from(request, "paymentInformation.card.")

    def _create_payment(self, merchant_id: str, request: Mapping[str, Any]) -> Response:
        token, card = self._payment_card(merchant_id, request, authorization=True)
        # A token that carries the order amount needs none in the request (INFERRED).
        source = request if token is None or _get(request, _TOTAL) is not None else {"orderInformation": token.order}
        total = _amount(source, _TOTAL)
        currency = _currency(request, _CURRENCY, _get(token.order, "amountDetails.currency") if token else None)
        status, reason, authorized = _outcome(request, card, total, self._now())
        sale = _get(request, "processingInformation.capture") is True
        txn = self._new(merchant_id, "sale" if sale else "authorization", status, authorized, currency, request,
                        total=total)
        txn.card, txn.reason = card, reason
        if status in _APPROVED:
            txn.processor = _processor(card, reason)
            if sale and status in ("AUTHORIZED", "PARTIAL_AUTHORIZED"):
                txn.billed = txn.amount
            if token is not None:
                token.used = True  # one successful authorization spends a token (checkout.md §7)
        self._add(txn)
        return 201, dict(_HAL), _dump(self._payment_body(txn))

    def _payment_body(self, txn: _Txn) -> dict[str, Any]:
        body: dict[str, Any] = {
            "clientReferenceInformation": _client_reference(txn), "id": txn.id, "status": txn.status,
        }
        if txn.reason:
            body["errorInformation"] = {"reason": txn.reason, "message": _REASONS[txn.reason][2]}
        if txn.status not in _APPROVED:
            return body  # declines come back minimal (checkout.md §4.5)
        amounts = {"authorizedAmount": txn.amount, "currency": txn.currency}
        if txn.kind == "sale" or txn.status == "PARTIAL_AUTHORIZED":
            amounts["totalAmount"] = txn.total
        links = {"self": _link(txn, "GET")}
        if txn.status != "PARTIAL_AUTHORIZED":
            if txn.billed != "0.00":
                links["void"] = _link(txn, "POST", "/voids")
            else:
                links["authReversal"] = _link(txn, "POST", "/reversals")
                links["capture"] = _link(txn, "POST", "/captures")
        assert txn.card is not None
        card_type = {"type": txn.card.type}
        body.update({
            "_links": links,
            "orderInformation": {"amountDetails": amounts},
            "paymentAccountInformation": {"card": dict(card_type)},
            "paymentInformation": {"card": dict(card_type), "tokenizedCard": dict(card_type)},
            "pointOfSaleInformation": {"terminalId": "111111"},
            "processorInformation": txn.processor,
            "reconciliationId": txn.reconciliation_id,
            "submitTimeUtc": _utc(txn.submitted),
        })
        if txn.status == "PARTIAL_AUTHORIZED":
            body["paymentInformation"]["accountFeatures"] = {"currency": txn.currency, "balanceAmount": "0.00"}
        return body

    # -- follow-ons ---------------------------------------------------------------------

    def _authorization(self, merchant_id: str, payment_id: str) -> _Txn:
        payment = self._find(merchant_id, payment_id, ("authorization", "sale"))
        if payment is None or payment.status not in _APPROVED:
            raise _Refusal("MISSING_AUTH", _MSG_MISSING_AUTH)
        if payment.reversed:
            raise _Refusal("AUTH_ALREADY_REVERSED", "Decline - The authorization has already been reversed.")
        if payment.voided and payment.kind == "authorization":
            raise _Refusal("TRANSACTION_ALREADY_REVERSED_OR_SETTLED", "Decline - The authorization has been voided.")
        return payment

    def _capture(self, merchant_id: str, request: Mapping[str, Any], payment_id: str) -> Response:
        amount = _amount(request, _TOTAL)
        payment = self._authorization(merchant_id, payment_id)
        currency = _currency(request, _CURRENCY, payment.currency)
        if currency.upper() != payment.currency.upper():
            raise _invalid(_CURRENCY)
        if amount <= 0:
            raise _Refusal("INVALID_AMOUNT", "Decline - The capture amount must be more than zero.")
        if self._captured(payment) + amount > Decimal(payment.amount):
            raise _Refusal("EXCEEDS_AUTH_AMOUNT", "Decline - The capture amount exceeds the authorized amount.")
        capture = self._add(self._new(merchant_id, "capture", "PENDING", amount, currency, request, payment))
        body = self._follow_on_body(capture, void=True)
        body["orderInformation"] = {"amountDetails": {"totalAmount": capture.amount, "currency": currency}}
        return 201, dict(_HAL), _dump(body)

    def _increment(self, merchant_id: str, request: Mapping[str, Any], payment_id: str) -> Response:
        """Incremental authorization: the triggers apply to ``additionalAmount``."""
        increment = _amount(request, "orderInformation.amountDetails.additionalAmount")
        payment = self._find(merchant_id, payment_id, ("authorization",))
        if payment is None or payment.status not in _APPROVED or payment.reversed:
            raise _Refusal("INVALID_PAYMENT_ID", _MSG_MISSING_AUTH)
        currency = _currency(request, _CURRENCY, payment.currency)
        assert payment.card is not None
        status, reason, authorized = _outcome(request, payment.card, increment, self._now())
        txn = self._add(self._new(merchant_id, "increment", status, authorized, currency, request, payment))
        txn.reason, txn.reconciliation_id = reason, txn.id
        body = self._follow_on_body(txn, void=False)
        if reason:
            body["errorInformation"] = {"reason": reason, "message": _REASONS[reason][2]}
        if status in _APPROVED:
            payment.amount = _money(Decimal(payment.amount) + authorized)
            payment.total = _money(Decimal(payment.total) + increment)
            self._changed.append(payment)
            txn.processor = _processor(payment.card, reason)
            body["processorInformation"] = txn.processor
            # The real answer links the original authorization and shows the running total.
            body["_links"] = {"self": _link(payment, "GET"), "authReversal": _link(payment, "POST", "/reversals"),
                              "capture": _link(payment, "POST", "/captures")}
            body["orderInformation"] = {"amountDetails": {"totalAmount": payment.amount, "authorizedAmount": txn.amount,
                                                          "currency": currency}}
        else:
            del body["_links"]
        return 201, dict(_HAL), _dump(body)

    def _reverse(self, merchant_id: str, request: Mapping[str, Any], payment_id: str) -> Response:
        amount = _amount(request, "reversalInformation.amountDetails.totalAmount")
        payment = self._authorization(merchant_id, payment_id)
        if self._captured(payment) > 0 or self._children(payment, "capture"):
            raise _Refusal("TRANSACTION_ALREADY_REVERSED_OR_SETTLED",
                           "Decline - The authorization has been captured; refund the capture instead.")
        if amount > Decimal(payment.amount):
            raise _Refusal("INVALID_AMOUNT", "Decline - The reversal amount exceeds the authorized amount.")
        currency = _currency(request, "reversalInformation.amountDetails.currency", payment.currency)
        payment.reversed = True
        self._changed.append(payment)
        reversal = self._add(self._new(merchant_id, "reversal", "REVERSED", amount, currency, request, payment))
        reversal.reconciliation_id = None
        body = self._follow_on_body(reversal, void=False)
        body["reversalAmountDetails"] = {"reversedAmount": reversal.amount, "currency": currency}
        body["processorInformation"] = {"responseCode": "100"}
        return 201, dict(_HAL), _dump(body)

    def _refund(self, merchant_id: str, request: Mapping[str, Any], target: _Txn, balance: Decimal) -> Response:
        amount = _amount(request, _TOTAL)
        currency = _currency(request, _CURRENCY, target.currency)
        if amount <= 0 or amount > balance:
            raise _Refusal("INVALID_AMOUNT", "Decline - The refund exceeds the captured amount not yet refunded.")
        refund = self._add(self._new(merchant_id, "refund", "PENDING", amount, currency, request, target))
        body = self._follow_on_body(refund, void=True)
        body["refundAmountDetails"] = {"refundAmount": refund.amount, "currency": currency}
        body["processorInformation"] = {"approvalCode": "888888", "responseCode": "100"}
        body["orderInformation"] = {"amountDetails": {"currency": currency}}
        return 201, dict(_HAL), _dump(body)

    def _refund_payment(self, merchant_id: str, request: Mapping[str, Any], payment_id: str) -> Response:
        payment = self._find(merchant_id, payment_id, ("authorization", "sale"))
        if payment is None or payment.status not in _APPROVED:
            raise _Refusal("INVALID_DATA", _MSG_INVALID_DATA)
        return self._refund(merchant_id, request, payment, self._captured(payment) - self._refunded(payment))

    def _refund_capture(self, merchant_id: str, request: Mapping[str, Any], capture_id: str) -> Response:
        capture = self._find(merchant_id, capture_id, ("capture",))
        if capture is None:
            raise _Refusal("INVALID_DATA", _MSG_INVALID_DATA)
        if capture.voided:
            raise _Refusal("CAPTURE_ALREADY_VOIDED", "Decline - The capture has been voided.")
        payment = self._txns[capture.parent or ""]
        own = Decimal(capture.amount) - self._refunded(capture)
        balance = min(own, self._captured(payment) - self._refunded(payment))
        return self._refund(merchant_id, request, capture, balance)

    def _void(self, merchant_id: str, request: Mapping[str, Any], collection: str, txn_id: str) -> Response:
        kinds = {"payments": ("authorization", "sale"), "captures": ("capture",), "refunds": ("refund",),
                 "credits": ("credit",)}[collection]
        target = self._find(merchant_id, txn_id, kinds)
        if target is None or target.status not in _APPROVED | {"PENDING"}:
            raise _Refusal("INVALID_DATA", _MSG_INVALID_DATA)
        amount = Decimal(target.billed if target.kind == "sale" else target.amount)
        refunded = self._refunded(target) > 0
        if target.kind == "authorization" and self._children(target, "capture"):
            raise _Refusal("NOT_VOIDABLE", "Decline - The authorization has been captured; void the captures first.")
        if target.kind == "capture":  # refunds made on the payment must stay covered by the other captures
            payment = self._txns[target.parent or ""]
            refunded = refunded or self._captured(payment) - amount < self._refunded(payment)
        problem = _void_problem(target, amount, self._settled(target), refunded)
        if problem:
            raise _Refusal("NOT_VOIDABLE", "Decline - " + problem)
        target.voided = True
        self._changed.append(target)
        void = self._add(self._new(merchant_id, "void", "VOIDED", amount, target.currency, request, target))
        void.reconciliation_id = None
        body = self._follow_on_body(void, void=False)
        body["voidAmountDetails"] = {"voidAmount": void.amount, "currency": target.currency.lower()}
        return 201, dict(_HAL), _dump(body)

    def _credit(self, merchant_id: str, request: Mapping[str, Any]) -> Response:
        _, card = self._payment_card(merchant_id, request, authorization=False)
        amount = _amount(request, _TOTAL)
        currency = _currency(request, _CURRENCY)
        credit = self._new(merchant_id, "credit", "PENDING", amount, currency, request)
        credit.card = card
        self._add(credit)
        body = self._follow_on_body(credit, void=True)
        body["creditAmountDetails"] = {"creditAmount": credit.amount, "currency": currency}
        body["processorInformation"] = {"approvalCode": "888888", "responseCode": "100"}
        return 201, dict(_HAL), _dump(body)

    # Timeout reversal / void: the merchant does not know the id, only the transactionId it
    # sent. A reference the emulator never saw still succeeds, with nothing to undo (INFERRED).

    def _timeout_request(self, request: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        reference = _text(request, "clientReferenceInformation.transactionId")
        if reference is None:
            raise _missing("clientReferenceInformation.transactionId")
        client = dict(_get(request, "clientReferenceInformation"))
        # The real service fills a missing code with a 13-digit millisecond timestamp.
        client["code"] = client.get("code") or str(int(self._now() * 1000))
        return reference, {**request, "clientReferenceInformation": client}

    def _by_reference(self, merchant_id: str, reference: str, kinds: Sequence[str]) -> Optional[_Txn]:
        found = [t for t in self._txns.values() if t.transaction_ref == reference and t.merchant_id == merchant_id]
        found = [t for t in found if t.kind in kinds]
        return found[-1] if found else None

    def _timeout_reversal(self, merchant_id: str, request: Mapping[str, Any]) -> Response:
        reference, request = self._timeout_request(request)
        amount = _amount(request, "reversalInformation.amountDetails.totalAmount")
        payment = self._by_reference(merchant_id, reference, ("authorization", "sale"))
        if payment is not None and payment.status in _APPROVED:
            return self._reverse(merchant_id, request, payment.id)
        currency = _currency(request, "reversalInformation.amountDetails.currency", "USD")
        reversal = self._add(self._new(merchant_id, "reversal", "REVERSED", amount, currency, request))
        reversal.reconciliation_id = None
        body = self._follow_on_body(reversal, void=False)
        body["reversalAmountDetails"] = {"reversedAmount": reversal.amount, "currency": currency}
        body["processorInformation"] = {"responseCode": "100"}
        return 201, dict(_HAL), _dump(body)

    def _timeout_void(self, merchant_id: str, request: Mapping[str, Any]) -> Response:
        reference, request = self._timeout_request(request)
        target = self._by_reference(merchant_id, reference, ("authorization", "sale", "capture", "refund", "credit"))
        if target is not None:
            collection = {"authorization": "payments", "sale": "payments", "capture": "captures", "refund": "refunds",
                          "credit": "credits"}
            return self._void(merchant_id, request, collection[target.kind], target.id)
        void = self._add(self._new(merchant_id, "void", "VOIDED", Decimal(0), "", request))
        void.reconciliation_id = None
        return 201, dict(_HAL), _dump(self._follow_on_body(void, void=False))

    def _follow_on_body(self, txn: _Txn, void: bool) -> dict[str, Any]:
        links = {"self": _link(txn, "GET")}
        if void:
            links["void"] = _link(txn, "POST", "/voids")
        body: dict[str, Any] = {
            "_links": links, "clientReferenceInformation": _client_reference(txn), "id": txn.id,
            "status": txn.status, "submitTimeUtc": _utc(txn.submitted),
        }
        if txn.reconciliation_id is not None:
            body["reconciliationId"] = txn.reconciliation_id
        return body

    # -- reads ----------------------------------------------------------------------------

    def transaction(self, merchant_id: Optional[str], txn_id: str) -> Optional[dict[str, Any]]:
        """The TSS view of a transaction (any merchant when ``merchant_id`` is None)."""
        with self._lock:
            txn = self._txns.get(txn_id)
            if txn is None or (merchant_id is not None and txn.merchant_id != merchant_id):
                return None
            return self._tss(txn)

    def _transaction(self, merchant_id: str, txn_id: str) -> Response:
        view = self.transaction(merchant_id, txn_id)
        if view is None:
            return _not_found(f"/tss/v2/transactions/{txn_id}")
        return 200, {"Content-Type": "application/hal+json;charset=utf-8"}, _dump(view)

    def _tss(self, txn: _Txn) -> dict[str, Any]:
        root = txn
        while root.parent is not None:
            root = self._txns[root.parent]
        status = "VOIDED" if txn.voided else "REVERSED" if txn.reversed else txn.status
        steps = [_application(_APPLICATION.get(txn.kind, "ics_auth"), txn)]
        if txn.billed != "0.00":
            steps.append(_application("ics_bill", txn))
        related = [self._txns[i] for i in ([txn.parent] if txn.parent else []) + txn.children]
        links: dict[str, Any] = {"self": {"href": f"/tss/v2/transactions/{txn.id}", "method": "GET"}}
        if related:
            links["relatedTransactions"] = [{"href": f"/tss/v2/transactions/{r.id}", "method": "GET"} for r in related]
        amounts = {"totalAmount": txn.total, "currency": txn.currency}
        if txn.kind in ("authorization", "sale"):
            amounts["authorizedAmount"] = txn.amount
        view: dict[str, Any] = {
            "_links": links, "id": txn.id, "rootId": root.id, "merchantId": txn.merchant_id,
            "submitTimeUTC": _utc(txn.submitted), "status": status,
            "applicationInformation": {"status": status, **{k: steps[-1][k] for k in ("reasonCode", "rCode", "rFlag")},
                                       "applications": steps},
            "clientReferenceInformation": {"code": txn.code, "applicationName": "REST API"},
            "orderInformation": {"amountDetails": amounts},
            "processorInformation": {"processor": {"name": "emulator"}, **txn.processor},
        }
        if txn.reconciliation_id:
            view["reconciliationId"] = txn.reconciliation_id
        if txn.card is not None:
            view["paymentInformation"] = {"card": txn.card.masked(), "paymentType": {"name": "CARD"}}
        return view

    def _details_by_token(self, merchant_id: str, jwt: str) -> Response:
        return self._details(merchant_id, None, jwt)

    def _details_by_jti(self, merchant_id: str, jti: str) -> Response:
        return self._details(merchant_id, jti, None)

    def _details(self, merchant_id: str, jti: Optional[str], jwt: Optional[str]) -> Response:
        with self._lock:
            try:
                token = self._token(merchant_id, jti, jwt)
            except _Refusal:
                return _not_found("/payment-details")
        body: dict[str, Any] = {}
        if token.card is not None:
            card = token.card
            body["paymentInformation"] = {"card": {
                "number": card.bin + "X" * (card.digits - 10) + card.suffix, "expirationMonth": card.expiration_month,
                "expirationYear": card.expiration_year, "type": card.type}}
        if token.order:
            body["orderInformation"] = token.order
        return 200, dict(_JSON), _dump(body)


def _outcome(request: Mapping[str, Any], card: _Card, total: Decimal, now: float) -> tuple[str, str, Decimal]:
    """``(status, errorInformation.reason, authorized amount)`` from the documented triggers."""
    key = _money(total)
    if key == _PROCESSOR_ERROR_AMOUNT:
        raise _Refusal("SYSTEM_ERROR", "Error - General system failure.", status=502)
    if card.expired(now):
        return "DECLINED", "EXPIRED_CARD", Decimal(0)
    if key in _DECLINE_AMOUNTS:
        return "DECLINED", _DECLINE_AMOUNTS[key], Decimal(0)
    options = _get(request, "processingInformation.authorizationOptions")
    options = options if isinstance(options, Mapping) else {}
    if key in _PARTIAL_AMOUNTS:
        if options.get("partialAuthIndicator") is not True:
            return "DECLINED", "PROCESSOR_DECLINED", Decimal(0)
        return "PARTIAL_AUTHORIZED", "", Decimal(_PARTIAL_AMOUNTS[key])
    if key == _AVS_FAIL_AMOUNT and options.get("ignoreAvsResult") is not True:
        return "AUTHORIZED_PENDING_REVIEW", "AVS_FAILED", total
    if key == _CVN_FAIL_AMOUNT and options.get("ignoreCvResult") is not True:
        return "AUTHORIZED_PENDING_REVIEW", "CV_FAILED", total
    actions = _get(request, "processingInformation.actionList")
    if isinstance(actions, list) and "DECISION" in actions:
        return "AUTHORIZED_RISK_DECLINED", "DECLINED", total
    return "AUTHORIZED", "", total


def _processor(card: _Card, reason: str) -> dict[str, Any]:
    transaction_id = "".join(secrets.choice(string.digits) for _ in range(15))
    info: dict[str, Any] = {
        "approvalCode": "888888", "responseCode": "100", "transactionId": transaction_id,
        "networkTransactionId": transaction_id,
        "avs": {"code": "N", "codeRaw": "N"} if reason == "AVS_FAILED" else {"code": "X", "codeRaw": "I1"},
    }
    if card.has_security_code:
        code = "N" if reason == "CV_FAILED" else "M"
        info["cardVerification"] = {"resultCode": code, "resultCodeRaw": code}
    return info


def _void_problem(target: _Txn, amount: Decimal, settled: bool, refunded: bool) -> str:
    """Why ``target`` cannot be voided ('' if it can); the rules are in docs/sandbox.md."""
    if target.voided:
        return "The transaction has already been voided."
    if target.reversed:
        return "The authorization has already been reversed."
    if settled:
        return "The transaction has already been settled; refund it instead."
    if refunded:
        return "The transaction has refunds; void them first."
    return ""


def _application(name: str, txn: _Txn) -> dict[str, Any]:
    reason = txn.reason or ("PARTIAL" if txn.status == "PARTIAL_AUTHORIZED" else "")
    code, flag, message = _REASONS[reason]
    return {
        "name": name, "status": txn.status, "reasonCode": code, "rCode": "1" if code in ("100", "110") else "0",
        "rFlag": flag, "rMessage": message, "reconciliationId": txn.reconciliation_id,
        "returnCode": 1010000 if code in ("100", "110") else 1020000,
    }


def _client_reference(txn: _Txn) -> dict[str, Any]:
    reference = {"code": txn.code} if txn.code is not None else {}
    if txn.transaction_ref is not None:
        reference["transactionId"] = txn.transaction_ref
    return reference


def _link(txn: _Txn, method: str, suffix: str = "") -> dict[str, str]:
    return {"method": method, "href": _SELF_PATH[txn.kind] + txn.id + suffix}


def _not_found(path: str) -> Response:
    body = {
        "_links": {"self": {"href": path}}, "invalidFields": None, "message": "The requested resource does not exist",
        "messageKey": None, "missingFields": None,
    }
    return 404, dict(_HAL), _dump(body)


def _parse_body(raw: bytes) -> Optional[dict[str, Any]]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _jti_of(jwt: str) -> Optional[str]:
    try:
        claims = json.loads(b64url_decode(jwt.split(".")[1]))
    except (ValueError, IndexError, RecursionError):
        return None
    jti = claims.get("jti") if isinstance(claims, dict) else None
    return jti if isinstance(jti, str) else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _utc(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dump(value: Any) -> bytes:
    # Real 201 bodies list their top-level keys alphabetically (checkout.md §4.5).
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8")
