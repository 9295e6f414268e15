"""Microform and Unified Checkout capture-context requests: validation and context shapes.

``POST /microform/v2/sessions`` (``GenerateCaptureContextRequest``) gives a ``mf-2.1.0``
context (``mf-2.0.0`` when no ``allowedPaymentTypes`` is asked, as the real service
does); ``POST /up/v1/capture-contexts`` and ``POST /uc/v1/sessions`` give a
``gda-0.10.0`` context that echoes the request (reference ``checkout.md`` §3.3, §3.4, §8).
Members the emulator does not know are ignored, the known ones are type-checked; each
problem is one ``(location, message)`` detail of the 400.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["CARD_NETWORKS", "ContextSpec", "RequestProblem", "microform_context", "unified_checkout_context"]

CARD_NETWORKS = frozenset(
    {
        "VISA", "MASTERCARD", "AMEX", "DISCOVER", "DINERSCLUB", "JCB", "MAESTRO", "CUP", "CARTESBANCAIRES",
        "ELO", "JAYWAN", "CARNET", "EFTPOS", "MADA", "JCREW", "MEEZA", "PAYPAK", "DANKORT", "UATP",
    }
)
_MICROFORM_PAYMENT_TYPES = ("CARD", "CHECK")
_UC_PAYMENT_TYPES = ("PANENTRY", "SRC", "CLICKTOPAY", "GOOGLEPAY", "APPLEPAY", "PAZE", "CHECK", "AFTERPAY")
_DEFAULT_NETWORKS = ["VISA", "MASTERCARD", "AMEX"]
_ORIGIN = re.compile(r"(https://[^/?#\s]+|http://(localhost|127\.0\.0\.1)(:[0-9]+)?)")
_AMOUNT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,4})?")
_CARD_FIELDS = (
    "paymentInformation.card.number",
    "paymentInformation.card.securityCode",
    "paymentInformation.card.expirationMonth",
    "paymentInformation.card.expirationYear",
    "paymentInformation.card.type",
)
_ORDER_FIELDS = tuple(
    f"orderInformation.{section}.{name}"
    for section, names in (
        ("amountDetails", ("totalAmount", "currency")),
        ("billTo", ("firstName", "lastName", "email", "address1", "locality", "postalCode", "country")),
        ("shipTo", ("firstName", "lastName", "address1", "locality", "postalCode", "country")),
    )
    for name in names
)
#: Bundle hash shown as ``clientLibraryIntegrity`` (a fixed, well-formed value: no bundle is served).
_INTEGRITY = "sha256-" + base64.b64encode(hashlib.sha256(b"flex-emulator-microform").digest()).decode()


class RequestProblem(Exception):
    """The request body is not acceptable; ``details`` are (location, message) pairs."""

    def __init__(self, details: list[tuple[str, str]]) -> None:
        super().__init__("invalid request")
        self.details = details


@dataclass(frozen=True)
class ContextSpec:
    """What a capture context carries: its type, ``ctx[0].data``, extra ``flx`` members and
    the field paths a tokenization of it may hold."""

    context_type: str
    data: dict[str, Any]
    flx_extra: dict[str, Any]
    required: tuple[str, ...]
    optional: tuple[str, ...]


def _strings(body: Mapping[str, Any], name: str, problems: list[tuple[str, str]], allowed: Any = None) -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append((name, "must be a list of strings"))
        return []
    if allowed is not None:
        problems += [(name, f"{item!r} is not supported") for item in value if item not in allowed]
    return list(value)


def _common(body: Mapping[str, Any], problems: list[tuple[str, str]], payment_types: Any) -> dict[str, Any]:
    origins = _strings(body, "targetOrigins", problems)
    if not origins and not any(location == "targetOrigins" for location, _ in problems):
        problems.append(("targetOrigins", "at least one origin is required"))
    problems += [
        ("targetOrigins", f"{origin!r} is not an https origin") for origin in origins if not _ORIGIN.fullmatch(origin)
    ]
    version = body.get("clientVersion")
    if version is not None and not isinstance(version, str):
        problems.append(("clientVersion", "must be a string"))
    return {
        "targetOrigins": origins,
        "clientVersion": version,
        "allowedCardNetworks": _strings(body, "allowedCardNetworks", problems, CARD_NETWORKS) or _DEFAULT_NETWORKS,
        "allowedPaymentTypes": _strings(body, "allowedPaymentTypes", problems, payment_types),
    }


def _response_options(body: Mapping[str, Any], problems: list[tuple[str, str]]) -> dict[str, Any]:
    options = body.get("transientTokenResponseOptions")
    if options is None:
        return {}
    prefix = options.get("includeCardPrefix") if isinstance(options, dict) else None
    if not isinstance(options, dict) or not isinstance(prefix, (bool, type(None))):
        problems.append(("transientTokenResponseOptions.includeCardPrefix", "must be a boolean"))
        return {}
    return {"transientTokenResponseOptions": {"includeCardPrefix": bool(prefix)}}


def microform_context(body: Mapping[str, Any], origin: str) -> ContextSpec:
    """The ``mf-2.x`` context a Microform request asks for, or :class:`RequestProblem`."""
    problems: list[tuple[str, str]] = []
    common = _common(body, problems, _MICROFORM_PAYMENT_TYPES)
    flx_extra = _response_options(body, problems)
    if problems:
        raise RequestProblem(problems)
    data: dict[str, Any] = {
        "clientLibrary": f"{origin}/microform/bundle/v2.6.0/flex-microform.min.js",
        "targetOrigins": common["targetOrigins"],
        "mfOrigin": origin,
        "allowedCardNetworks": common["allowedCardNetworks"],
    }
    context_type = "mf-2.0.0"
    if common["allowedPaymentTypes"]:
        context_type = "mf-2.1.0"
        data["clientLibraryIntegrity"] = _INTEGRITY
        data["allowedPaymentTypes"] = common["allowedPaymentTypes"]
    # Microform collects the number and the security code; the page adds the expiry.
    return ContextSpec(context_type, data, flx_extra, (_CARD_FIELDS[0],), _CARD_FIELDS[1:])


def _amount_details(body: Mapping[str, Any], problems: list[tuple[str, str]]) -> dict[str, Any]:
    order = body.get("orderInformation")
    amount = order.get("amountDetails") if isinstance(order, dict) else None
    if not isinstance(amount, dict):
        problems.append(("orderInformation.amountDetails", "is required"))
        return {}
    total, currency = amount.get("totalAmount"), amount.get("currency")
    if not isinstance(total, str) or not _AMOUNT.fullmatch(total):
        problems.append(("orderInformation.amountDetails.totalAmount", "must be a decimal string"))
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        problems.append(("orderInformation.amountDetails.currency", "must be an ISO 4217 code"))
    return dict(order) if isinstance(order, dict) else {}


def unified_checkout_context(body: Mapping[str, Any], origin: str) -> ContextSpec:
    """The ``gda-0.10.0`` context a Unified Checkout request asks for, or :class:`RequestProblem`."""
    problems: list[tuple[str, str]] = []
    common = _common(body, problems, _UC_PAYMENT_TYPES)
    if not common["allowedPaymentTypes"] and not any(loc == "allowedPaymentTypes" for loc, _ in problems):
        problems.append(("allowedPaymentTypes", "at least one payment type is required"))
    order = _amount_details(body, problems)
    for name in ("captureMandate", "completeMandate"):
        if body.get(name) is not None and not isinstance(body.get(name), dict):
            problems.append((name, "must be an object"))
    for name in ("country", "locale", "buttonType"):
        if body.get(name) is not None and not isinstance(body.get(name), str):
            problems.append((name, "must be a string"))
    flx_extra = _response_options(body, problems)
    if problems:
        raise RequestProblem(problems)
    data: dict[str, Any] = {
        "allowedPaymentTypes": common["allowedPaymentTypes"],
        "paymentConfigurations": {},
        "captureMandate": body.get("captureMandate") or {},
        "orderInformation": order,
        "targetOrigins": common["targetOrigins"],
        "clientVersion": common["clientVersion"] or "0.33",
        "country": body.get("country"),
        "locale": body.get("locale"),
        "allowedCardNetworks": common["allowedCardNetworks"],
        "serviceOrigin": origin,
        "clientLibrary": f"{origin}/uc/v1/assets/0.33.0/SecureAcceptance.js",
        "clientLibraryIntegrity": _INTEGRITY,
        "loggingPath": "/uc/v1/log-events",
        "assetsPath": "/uc/v1/assets/0.33.0",
    }
    if body.get("completeMandate") is not None:
        data["completeMandate"] = body["completeMandate"]
    data = {key: value for key, value in data.items() if value is not None}
    flx_extra.update(completePath="/flex/v2/complete", completeUrl=f"{origin}/flex/v2/complete")
    # The UC page collects the card and the bill-to/ship-to details the mandate asks for.
    return ContextSpec("gda-0.10.0", data, flx_extra, (_CARD_FIELDS[0],), _CARD_FIELDS[1:] + _ORDER_FIELDS)
