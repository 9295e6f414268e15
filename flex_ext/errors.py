"""The typed error hierarchy of the Flex client.

Every error the library raises on purpose derives from :class:`FlexError`. Messages say
what to fix and never carry a secret, a key password, a card number or a security code:
callers build them from names and shapes, never from values.

Compat exceptions that the official SDK raised (``InvalidJwtException`` and friends in
``authenticationsdk``, ``CyberSource.rest.ApiException``) subclass these, so new code can
catch one base class while old code keeps catching the names it knows.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "FieldValidationError",
    "FlexError",
    "HTTPError",
    "JWEError",
    "JWKValidationError",
    "JWTValidationError",
    "KeyPasswordError",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "TransportError",
]


class FlexError(Exception):
    """Base class of every error this library raises on purpose."""


class ConfigurationError(FlexError, ValueError):
    """The merchant configuration is missing a key or holds a value that cannot work."""


class AuthenticationError(FlexError):
    """A request could not be signed (bad secret encoding, unreadable key file, ...)."""


class KeyPasswordError(AuthenticationError):
    """The P12 key file could not be opened with the configured password.

    The password itself is never part of the message.
    """


class JWTValidationError(FlexError):
    """A JWT (capture context or transient token) failed parsing or verification."""


class JWKValidationError(JWTValidationError):
    """A JWK is malformed or unfit for its purpose (wrong kty/use, short modulus, no kid)."""


class JWEError(FlexError):
    """The card data could not be encrypted into a JWE."""


class FieldValidationError(FlexError, ValueError):
    """Data does not match the capture context: names missing or undeclared field paths.

    Only field paths are reported, never the values.
    """

    def __init__(self, message: str, missing: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing
        self.extra = extra


class TransportError(FlexError):
    """The request did not produce an HTTP response (connection refused, reset, TLS)."""


class ResponseTooLargeError(TransportError):
    """The response body was larger than the client accepts; it was not read to the end.

    Not retried: the same request would bring the same body back.
    """


class RequestTimeoutError(TransportError, TimeoutError):
    """The request did not complete within the configured timeout.

    Also a builtin :class:`TimeoutError`, so generic timeout handlers catch it.
    """


class HTTPError(FlexError):
    """The server answered with a status outside 2xx, or with a body that cannot be used."""

    def __init__(
        self,
        message: str,
        status: int = 0,
        reason: Optional[str] = None,
        body: Optional[str] = None,
        headers: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = headers


class TokenExpiredError(JWTValidationError):
    """A capture context or transient token is past its ``exp`` (beyond the leeway)."""


class InvalidKidError(JWTValidationError, ValueError):
    """A JWT ``kid`` cannot be used to look a key up (unsafe characters, too long, empty).

    Also a :class:`ValueError`, as the official ``fetch_public_key`` raised.
    """


__all__ += ["InvalidKidError", "TokenExpiredError"]
