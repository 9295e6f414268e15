"""The hand-written half of the Flex client: configuration, signers, JOSE, capture
contexts, transient tokens, Payroc Hosted Fields, redaction, the emulator and the CLI.

Everything is loaded on first use, so ``import flex_ext`` costs almost nothing::

    from flex_ext import FlexClient, MerchantConfig

The generated ``CyberSource`` and ``payroc_hosted_fields`` packages reach this package
through :mod:`flex_ext.seam` only.
"""

from __future__ import annotations

import importlib

from ._version import __version__

# Not `typing.TYPE_CHECKING`: importing `typing` would double what `import flex_ext` costs.
# Type checkers treat any `TYPE_CHECKING` name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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
del TYPE_CHECKING

#: Public name -> the module that defines it (imported on first access).
_EXPORTS = {
    name: module
    for module, names in {
        "flex_ext.client": ("FlexClient",),
        "flex_ext.payments": ("Card", "PaymentResult", "PaymentsClient"),
        "flex_ext.config": ("MerchantConfig",),
        "flex_ext.capture_context": ("CaptureContext", "parse_capture_context_unverified", "verify_capture_context"),
        "flex_ext.transient_token": ("TransientToken",),
        "flex_ext.hosted_fields": ("HostedFieldsClient", "HostedFieldsSession", "PayrocConfig"),
        "flex_ext.log_config": ("LogConfiguration",),
        "flex_ext.emulator": ("FlexEmulator",),
        "flex_ext.errors": (
            "AuthenticationError", "BadRequestError", "CardValidationError", "ConfigurationError", "ConflictError",
            "ConnectError", "FieldValidationError", "FlexError", "HTTPError", "InvalidAmountError", "JWEError",
            "JWKValidationError", "JWTValidationError", "KeyPasswordError", "NotFoundError", "RateLimitedError",
            "RequestTimeoutError", "ServerError", "TransportError", "UnauthorizedError",
        ),
    }.items()
    for name in names
}

__all__ = [
    "AuthenticationError", "BadRequestError", "CaptureContext", "Card", "CardValidationError", "ConfigurationError",
    "ConflictError", "ConnectError", "FieldValidationError", "FlexClient", "FlexEmulator", "FlexError", "HTTPError",
    "HostedFieldsClient", "HostedFieldsSession", "InvalidAmountError", "JWEError", "JWKValidationError",
    "JWTValidationError", "KeyPasswordError", "LogConfiguration", "MerchantConfig", "NotFoundError", "PaymentResult",
    "PaymentsClient", "PayrocConfig", "RateLimitedError", "RequestTimeoutError", "ServerError", "TransientToken",
    "TransportError", "UnauthorizedError", "__version__", "parse_capture_context_unverified", "verify_capture_context",
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
