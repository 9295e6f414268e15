"""The hand-written half of the Flex client: configuration, signers, JOSE, capture
contexts, transient tokens, Payroc Hosted Fields, redaction, the emulator and the CLI.

Everything is loaded on first use, so ``import flex_ext`` costs almost nothing::

    from flex_ext import FlexClient, MerchantConfig

The generated ``CyberSource`` and ``payroc_hosted_fields`` packages reach this package
through :mod:`flex_ext.seam` only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .capture_context import CaptureContext, parse_capture_context_unverified, verify_capture_context
    from .client import FlexClient
    from .config import MerchantConfig
    from .emulator import FlexEmulator
    from .errors import (
        AuthenticationError,
        BadRequestError,
        CardValidationError,
        ConfigurationError,
        ConflictError,
        ConnectError,
        FieldValidationError,
        FlexError,
        HTTPError,
        InvalidAmountError,
        JWEError,
        JWKValidationError,
        JWTValidationError,
        KeyPasswordError,
        NotFoundError,
        RateLimitedError,
        RequestTimeoutError,
        ServerError,
        TransportError,
        UnauthorizedError,
    )
    from .hosted_fields import HostedFieldsClient, HostedFieldsSession, PayrocConfig
    from .log_config import LogConfiguration
    from .payments import Card, PaymentResult, PaymentsClient
    from .transient_token import TransientToken

_EXPORTS = {
    "FlexClient": "flex_ext.client",
    "PaymentsClient": "flex_ext.payments",
    "PaymentResult": "flex_ext.payments",
    "Card": "flex_ext.payments",
    "MerchantConfig": "flex_ext.config",
    "CaptureContext": "flex_ext.capture_context",
    "verify_capture_context": "flex_ext.capture_context",
    "parse_capture_context_unverified": "flex_ext.capture_context",
    "TransientToken": "flex_ext.transient_token",
    "HostedFieldsClient": "flex_ext.hosted_fields",
    "HostedFieldsSession": "flex_ext.hosted_fields",
    "PayrocConfig": "flex_ext.hosted_fields",
    "LogConfiguration": "flex_ext.log_config",
    "FlexEmulator": "flex_ext.emulator",
    "FlexError": "flex_ext.errors",
    "ConfigurationError": "flex_ext.errors",
    "AuthenticationError": "flex_ext.errors",
    "KeyPasswordError": "flex_ext.errors",
    "JWTValidationError": "flex_ext.errors",
    "JWKValidationError": "flex_ext.errors",
    "JWEError": "flex_ext.errors",
    "FieldValidationError": "flex_ext.errors",
    "TransportError": "flex_ext.errors",
    "RequestTimeoutError": "flex_ext.errors",
    "HTTPError": "flex_ext.errors",
    **dict.fromkeys(
        ("BadRequestError", "CardValidationError", "ConflictError", "ConnectError", "InvalidAmountError",
         "NotFoundError", "RateLimitedError", "ServerError", "UnauthorizedError"),
        "flex_ext.errors",
    ),
}

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "CaptureContext",
    "Card",
    "CardValidationError",
    "ConfigurationError",
    "ConflictError",
    "ConnectError",
    "FieldValidationError",
    "FlexClient",
    "FlexEmulator",
    "FlexError",
    "HTTPError",
    "HostedFieldsClient",
    "HostedFieldsSession",
    "InvalidAmountError",
    "JWEError",
    "JWKValidationError",
    "JWTValidationError",
    "KeyPasswordError",
    "LogConfiguration",
    "MerchantConfig",
    "NotFoundError",
    "PaymentResult",
    "PaymentsClient",
    "PayrocConfig",
    "RateLimitedError",
    "RequestTimeoutError",
    "ServerError",
    "TransientToken",
    "TransportError",
    "UnauthorizedError",
    "__version__",
    "parse_capture_context_unverified",
    "verify_capture_context",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
