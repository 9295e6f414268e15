"""``FlexClient``: the high-level Flex API v2 client new code should use.

One object, built from a :class:`~flex_ext.config.MerchantConfig` or the official config
dict, runs the whole server-side flow (the README has it end to end): a verified capture
context (``POST /flex/v2/sessions`` through ``CyberSource.FlexAPIApi``), card data -> JWE ->
a verified transient token, and the payment calls of :class:`~flex_ext.payments.PaymentsClient`.

``fields`` are dotted paths as CyberSource's field list writes them (a mapping to "required?"
booleans, a list of paths, or the official nested body); ``bill_to``/``ship_to`` keys may be
snake_case or camelCase; amounts are ``str``/``Decimal``/``int``, never ``float``.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable, Optional, Union

from .capture_context import CaptureContext, normalize_origin, verify_capture_context
from .errors import FieldValidationError, HTTPError, InvalidAmountError, JWTValidationError, http_error
from .jose import DEFAULT_LEEWAY_SECONDS
from .jwe import ALG_RSA_OAEP_256, _CardFields
from .payments import _CARD, Card, PaymentsClient, _camel, _card_from, _shown
from .public_keys import KeyStore, PublicKeyResolver
from .transient_token import TransientToken, tokenize, verify_transient_token
from .transport import TimeoutSpec

if TYPE_CHECKING:  # pragma: no cover
    from .config import MerchantConfig

__all__ = ["DEFAULT_CARD_FIELDS", "SUPPORTED_FIELD_PATHS", "Card", "FlexClient", "build_sessions_body"]

_BILL_TO = (
    "address1", "address2", "administrativeArea", "buildingNumber", "country", "district",
    "locality", "postalCode", "email", "firstName", "lastName", "phoneNumber", "company",
)
_SHIP_TO = (
    "address1", "address2", "administrativeArea", "buildingNumber", "country", "district",
    "locality", "postalCode", "firstName", "lastName", "company",
)

#: The 31 leaf paths a Flex v2 capture context can declare (protocol.md A2).
SUPPORTED_FIELD_PATHS: frozenset[str] = frozenset(
    [f"orderInformation.amountDetails.{f}" for f in ("totalAmount", "currency")]
    + [f"orderInformation.billTo.{f}" for f in _BILL_TO]
    + [f"orderInformation.shipTo.{f}" for f in _SHIP_TO]
    + [f"paymentInformation.card.{f}" for f in _CARD]
)

#: Card number and expiry required, security code and card type optional.
DEFAULT_CARD_FIELDS: Mapping[str, bool] = {
    "paymentInformation.card.number": True,
    "paymentInformation.card.expirationMonth": True,
    "paymentInformation.card.expirationYear": True,
    "paymentInformation.card.securityCode": False,
    "paymentInformation.card.type": False,
}

FieldsSpec = Union[Mapping[str, Any], Iterable[str]]
def build_sessions_body(fields: Optional[FieldsSpec] = None) -> dict[str, Any]:
    """The ``POST /flex/v2/sessions`` body ``{"fields": {...}}`` for a fields spec.

    ``fields`` may be ``{"dotted.path": required_bool}``, an iterable of dotted paths (all
    required), or an already nested tree (with or without the ``fields`` wrapper), which is
    sent as given. Dotted paths must be among :data:`SUPPORTED_FIELD_PATHS`.
    """
    spec: Any = DEFAULT_CARD_FIELDS if fields is None else fields
    if isinstance(spec, Mapping):
        if "fields" in spec and isinstance(spec["fields"], Mapping):
            return {"fields": dict(spec["fields"])}
        if spec and all(isinstance(v, Mapping) for v in spec.values()):
            return {"fields": dict(spec)}
        items = list(spec.items())
    elif isinstance(spec, str):
        raise TypeError("fields must be a mapping or an iterable of field paths, not a single str")
    else:
        items = [(path, True) for path in spec]
    if not items:
        raise FieldValidationError("a capture context needs at least one field")
    unknown = tuple(sorted(str(p) for p, _ in items if p not in SUPPORTED_FIELD_PATHS))
    if unknown:
        raise FieldValidationError(
            "unsupported capture-context field path(s): " + ", ".join(unknown), extra=unknown
        )
    tree: dict[str, Any] = {}
    for path, required in items:
        if not isinstance(required, bool):
            raise FieldValidationError(f"the required flag of {path} must be True or False")
        *parents, leaf = path.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = {} if required else {"required": False}
    return {"fields": tree}


def _address(value: Mapping[str, Any], allowed: Iterable[str], where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{where} must be a mapping of address fields")
    names = set(allowed)
    out: dict[str, str] = {}
    for key, item in value.items():
        name = _camel(str(key))
        if name not in names:
            shown = _shown(name)
            raise FieldValidationError(f"unknown {where} field {shown!r}", extra=(f"orderInformation.{where}.{shown}",))
        if item is None:
            continue
        if not isinstance(item, str):
            raise FieldValidationError(f"{where}.{name} must be a string")
        out[name] = item
    return out


def _amount(amount: Any, currency: Optional[str]) -> dict[str, str]:
    if isinstance(amount, Mapping):
        details = {_camel(str(k)): v for k, v in amount.items() if v is not None}
        unknown = sorted(set(details) - {"totalAmount", "currency"})
        if unknown:
            raise FieldValidationError("unknown amount field(s): " + ", ".join(_shown(k) for k in unknown))
        if currency is not None:
            details["currency"] = currency
        return {k: str(v) for k, v in details.items()}
    out: dict[str, str] = {}
    if amount is not None:
        if isinstance(amount, (bool, float)) or not isinstance(amount, (str, Decimal, int)):
            raise InvalidAmountError("amount must be a str, Decimal or int such as '10.00', never a float")
        out["totalAmount"] = str(amount)
    if currency is not None:
        out["currency"] = currency
    return out


class FlexClient(PaymentsClient):
    """Flex API v2 for a merchant: capture context, tokenization, verification, and the
    payment calls that spend the token (inherited from
    :class:`~flex_ext.payments.PaymentsClient`: one object for the whole checkout).

    :param merchant_config: a :class:`~flex_ext.config.MerchantConfig` or the official
        config dict (same keys as ``CyberSource.FlexAPIApi``).
    :param key_store: where signing keys are cached (default: the process-wide in-memory
        LRU with a TTL); plug a shared store for a fleet.
    :param allowed_origins: if given, capture contexts whose ``flx.origin`` is not in it are
        refused (card data is only ever posted to an allowed origin).
    :param leeway: clock skew tolerated on ``exp``/``iat``, in seconds.
    :param jwe_alg: ``"RSA-OAEP-256"`` (default) or ``"RSA-OAEP"``.
    :param timeout: per-call timeout override for the tokens POST and the payment calls
        (seconds, or a ``(connect, read)`` tuple); the merchant config's timeouts apply
        otherwise.
    :param max_retries: see :class:`~flex_ext.payments.PaymentsClient`.
    """

    def __init__(
        self, merchant_config: Union[MerchantConfig, Mapping[str, Any]], *, key_store: Optional[KeyStore] = None,
        allowed_origins: Optional[Iterable[str]] = None, leeway: float = DEFAULT_LEEWAY_SECONDS,
        jwe_alg: str = ALG_RSA_OAEP_256, timeout: TimeoutSpec = None, max_retries: int = 2,
    ) -> None:
        super().__init__(merchant_config, timeout=timeout, max_retries=max_retries)
        self.allowed_origins = tuple(allowed_origins) if allowed_origins is not None else None
        self.leeway = leeway
        self.jwe_alg = jwe_alg
        self._resolver = PublicKeyResolver(
            self.config.base_url, transport=self.config.transport, store=key_store
        )
        self._api: Any = None
        self._api_lock = threading.Lock()

    # ---------------------------------------------------------------- capture contexts

    def _flex_api(self) -> Any:
        with self._api_lock:
            if self._api is None:
                # Lazy, and by name: the generated package sits on top of flex_ext.
                generated = importlib.import_module("CyberSource")
                self._api = generated.FlexAPIApi(self.config)
            return self._api

    def create_capture_context(self, fields: Optional[FieldsSpec] = None) -> CaptureContext:
        """Create a capture context (``POST /flex/v2/sessions``) and return it verified.

        ``fields`` (see :func:`build_sessions_body`) defaults to :data:`DEFAULT_CARD_FIELDS`.
        Raises the typed :func:`~flex_ext.errors.http_error` classes for a non-2xx answer
        (``BadRequestError`` with ``reason``, ``message`` and ``details``, ...),
        :class:`~flex_ext.errors.TransportError` without an answer and
        :class:`~flex_ext.errors.JWTValidationError` if the returned JWT does not verify.
        """
        body = build_sessions_body(fields)
        try:
            jwt, _status, _raw = self._flex_api().generate_flex_api_capture_context(body)
        except HTTPError as exc:
            if not exc.status:
                raise  # no answer: already a TransportError / RequestTimeoutError
            typed = http_error(f"POST /flex/v2/sessions failed with HTTP {exc.status}", exc.status,
                               exc.reason, exc.body, exc.headers)
        else:
            return self.verify_capture_context(jwt)
        raise typed

    def verify_capture_context(self, jwt: str, *, allow_expired: bool = False) -> CaptureContext:
        """Verify a capture context JWT (signature via the cached public key, exp/iat, JWK,
        origin allow-list) and return it typed. See
        :func:`flex_ext.capture_context.verify_capture_context`."""
        return verify_capture_context(
            jwt, resolver=self._resolver, allowed_origins=self.allowed_origins, leeway=self.leeway,
            allow_expired=allow_expired,
        )

    # ----------------------------------------------------------------------- tokenize

    def tokenize(
        self, capture_context: Union[CaptureContext, str], card: Union[Card, Mapping[str, Any]],
        bill_to: Optional[Mapping[str, Any]] = None, ship_to: Optional[Mapping[str, Any]] = None, amount: Any = None, *,
        currency: Optional[str] = None,
    ) -> TransientToken:
        """Encrypt the customer's data to the capture context and exchange it for a
        verified transient token.

        ``capture_context`` is a :class:`CaptureContext` from :meth:`create_capture_context`
        or :meth:`verify_capture_context`, or the JWT string (verified here). The data must
        match the context: every required field present, nothing undeclared
        (:class:`~flex_ext.errors.FieldValidationError` names the paths, never values).
        """
        card = _card_from(card)  # from here on, only the masked type holds the card
        ctx = capture_context if isinstance(capture_context, CaptureContext) else self.verify_capture_context(
            capture_context
        )
        # A context verified elsewhere must still respect this client's allow-list.
        if self.allowed_origins is not None and ctx.origin not in {normalize_origin(o) for o in self.allowed_origins}:
            raise JWTValidationError(f"capture context origin {ctx.origin!r} is not in the allowed origins")
        data = _CardFields(card.to_fields())  # a repr that hides the card data
        order: dict[str, Any] = {}
        details = _amount(amount, currency)
        if details:
            order["amountDetails"] = details
        if bill_to:
            order["billTo"] = _address(bill_to, _BILL_TO, "billTo")
        if ship_to:
            order["shipTo"] = _address(ship_to, _SHIP_TO, "shipTo")
        if order:
            data["orderInformation"] = order
        return tokenize(ctx, data, transport=self.config.transport, timeout=self.timeout, alg=self.jwe_alg,
                        leeway=self.leeway)

    def verify_transient_token(self, jwt: str, capture_context: CaptureContext) -> TransientToken:
        """Verify a transient token with the capture context's one-time JWK (RS256, exp)."""
        return verify_transient_token(jwt, capture_context, leeway=self.leeway)
