"""The one seam between the generated packages (``CyberSource``, ``payroc_hosted_fields``)
and ``flex_ext``: generated code imports ``flex_ext`` through this module only.

It gets :func:`client_settings` (base URL, transport, and the signer behind
:meth:`ClientSettings.headers_for`), the body bytes (:func:`request_body`), the shared
transport (:func:`send`), a model's masked repr (:func:`masked_for_display`), the error
classes its ``rest`` module builds on, and, loaded on first use, the objects of the compat
modules the official SDK had by hand (``CyberSource.logging``, ``CyberSource.utilities.flex``,
``authenticationsdk.util.jwt``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Union

from .body import RequestBodyError, request_body, sanitize_for_serialization
from .errors import ConfigurationError, HTTPError, RequestTimeoutError, TransportError, http_error_class
from .log_config import get_logger
from .transport import TransportSettings, send

if TYPE_CHECKING:
    from .auth import Signer
    from .config import MerchantConfig

__all__ = [
    "ClientSettings", "ConfigurationError", "HTTPError", "RequestBodyError", "RequestTimeoutError", "TransportError",
    "TransportSettings", "client_settings", "get_logger", "http_error_class", "masked_for_display", "request_body",
    "sanitize_for_serialization", "send",
]

# From get_logger: records are masked even if no configuration is ever applied.
_logger = get_logger("flex_ext.seam")


@dataclass(frozen=True)
class ClientSettings:
    """Everything a generated ``ApiClient`` needs for one merchant. Immutable, thread-safe."""

    merchant_config: Any  # a MerchantConfig for CyberSource; the service's own config otherwise
    base_url: str
    transport: TransportSettings
    signer: Signer
    default_headers: Mapping[str, str]

    def headers_for(
        self, method: str, target: str, body: Optional[bytes], headers: Mapping[str, str], authenticated: bool,
    ) -> dict[str, str]:
        """The final headers of one request.

        ``headers`` (Accept, Content-Type, User-Agent) come first, then the merchant
        authentication headers when the operation is authenticated, then the merchant
        config's ``default_headers``. A default header never replaces one that the signer
        produced: that would break the signature (the official SDK lets it, and the request
        then fails with 401). Such a collision is logged by name once per call.
        """
        result = dict(headers)
        signed: dict[str, str] = {}
        if authenticated:
            signed = self.signer.sign(method.upper(), target, body)
            result.update(signed)
        protected = {name.lower() for name in signed}
        for name, value in self.default_headers.items():
            if name.lower() in protected:
                _logger.warning("default_headers[%r] ignored: the request signature sets this header", name)
                continue
            for existing in [key for key in result if key.lower() == name.lower()]:
                del result[existing]
            result[name] = value
        return result


def client_settings(merchant_config: Union[MerchantConfig, Mapping[str, Any]]) -> ClientSettings:
    """Validate a merchant configuration and derive the settings of a generated client.

    :raises flex_ext.errors.ConfigurationError: a mandatory key is missing or a value is
        unusable; ``str()`` of the error is the official SDK's text where it had one.

    A configuration object of another service (the Payroc one) provides its own
    ``client_settings()`` method and is used as it says.
    """
    own = getattr(merchant_config, "client_settings", None)
    if callable(own):
        settings = own()
        if not isinstance(settings, ClientSettings):
            raise TypeError("client_settings() must return a flex_ext.seam.ClientSettings")
        return settings
    from .auth import signer_for
    from .config import coerce_merchant_config
    from .log_config import configure_logging

    config = coerce_merchant_config(merchant_config)
    configure_logging(config.log_config)
    return ClientSettings(
        merchant_config=config, base_url=config.base_url, transport=config.transport, signer=signer_for(config),
        default_headers=dict(config.default_headers or {}),
    )


# Card-data keys in the spellings a model's to_dict() carries besides the JSON ones:
# attributes (`expiration_month`) and the samples' `__dict__` keys (`_security_code`).
_DISPLAY_EXTRA = ("expiration_month", "expiration_year", "cryptogram", "transient_token_jwt", "transienttokenjwt")


def masked_for_display(data: Any) -> Any:
    """A model's ``to_dict()`` as its repr shows it: card data and credentials masked.

    The values of card-data and credential keys are masked in every spelling a model dict
    holds (``securityCode``, ``security_code``, ``_security_code``), and card numbers in any
    other string. The model keeps its data; only the displayed copy is masked.
    """
    from .redaction import ALWAYS_MASKED_FIELDS, mask_sensitive_json

    names = ALWAYS_MASKED_FIELDS.union(_DISPLAY_EXTRA)
    return mask_sensitive_json(data, fields=names | {"_" + name for name in names})


# Compat objects, resolved on first use: name -> (module, attribute).
_LAZY = {
    "LogConfiguration": ("flex_ext.log_config", "LogConfiguration"),
    "jwt_parse": ("flex_ext.compat", "parse"),
    **{
        name: ("flex_ext.compat", name)
        for name in ("FlexSecurityException", "InvalidJwtException", "InvalidJwkException",
                     "JwtSignatureValidationException", "parse_capture_context_response", "fetch_public_key",
                     "verify_jwt", "get_rsa_public_key_from_jwk")
    },
}


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value
    return value
