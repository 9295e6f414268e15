"""The typed error hierarchy of the Flex client.

Every error the library raises on purpose derives from :class:`FlexError`. Messages say
what to fix and never carry a secret, a key password, a card number or a security code:
callers build them from names and shapes, never from values.

Compat exceptions that the official SDK raised (``InvalidJwtException`` and friends in
``authenticationsdk``, ``CyberSource.rest.ApiException``) subclass these, so new code can
catch one base class while old code keeps catching the names it knows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Optional

from ._json import json_object

__all__ = [
    "AuthenticationError", "BadRequestError", "CardValidationError", "ConfigurationError", "ConflictError",
    "ConnectError", "FieldValidationError", "FlexError", "HTTPError", "InvalidAmountError", "InvalidKidError",
    "JWEError", "JWKValidationError", "JWTValidationError", "KeyPasswordError", "NotFoundError", "RateLimitedError",
    "RequestTimeoutError", "ResponseTooLargeError", "ServerError", "TokenExpiredError", "TransportError",
    "UnauthorizedError", "http_error", "http_error_class", "parse_error_body",
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


class TokenExpiredError(JWTValidationError):
    """A capture context or transient token is past its ``exp`` (beyond the leeway)."""


class InvalidKidError(JWTValidationError, ValueError):
    """A JWT ``kid`` cannot be used to look a key up (unsafe characters, too long, empty).
    Also a :class:`ValueError`, as the official ``fetch_public_key`` raised."""


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


class CardValidationError(FieldValidationError):
    """Card data failed a client-side check (Luhn, length, month, year, expiry) before any
    request. ``field`` is the field path (``paymentInformation.card.number``); the value
    is never part of the error."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidAmountError(FlexError, ValueError):
    """An amount or currency that cannot be sent: a ``float``, negative, not finite, more
    decimal places than the currency has, or a currency that is not three letters."""


class TransportError(FlexError):
    """The request did not produce an HTTP response (connection refused, reset, TLS).

    Unless it is a :class:`ConnectError`, the request may have reached the server.
    """


class ConnectError(TransportError, ConnectionError):
    """No connection could be opened (refused, DNS failure, unreachable): nothing was sent,
    so any request, even a payment, can be retried safely. Not a :class:`TimeoutError`."""


class ResponseTooLargeError(TransportError):
    """The response body was larger than the client accepts; it was not read to the end.

    Not retried: the same request would bring the same body back.
    """


class RequestTimeoutError(TransportError, TimeoutError):
    """The request did not complete within the configured timeout.

    Also a builtin :class:`TimeoutError`, so generic timeout handlers catch it.
    """


class HTTPError(FlexError):
    """The server answered with a status outside 2xx, or with a body that cannot be used.

    ``status``, ``reason``, ``body`` and ``headers`` as the official ``ApiException`` has
    them; ``message`` and ``details`` (``(field, reason)`` pairs) are read from the error
    body's known shapes (see :func:`parse_error_body`), also on the generated
    ``CyberSource.rest.ApiException``, which derives from this class.
    """

    def __init__(
        self, message: str, status: int = 0, reason: Optional[str] = None, body: Optional[str] = None,
        headers: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = headers

    @property
    def message(self) -> Optional[str]:
        """The server's error message, when the body has one."""
        return parse_error_body(self.body)[1]

    @property
    def details(self) -> tuple[tuple[str, str], ...]:
        """``(field, reason)`` pairs of the error body (empty when it has none)."""
        return parse_error_body(self.body)[2]


class BadRequestError(HTTPError):
    """HTTP 400: the request is invalid; ``reason`` and ``details`` say what to fix."""


class UnauthorizedError(HTTPError):
    """HTTP 401: the merchant credentials were refused (key id, secret, merchant id)."""


class NotFoundError(HTTPError):
    """HTTP 404: no such resource (an unknown payment or transaction id)."""


class ConflictError(HTTPError):
    """HTTP 409: the request conflicts with the resource's state."""


class RateLimitedError(HTTPError):
    """HTTP 429: too many requests; retry after a pause (``headers['Retry-After']``)."""


class ServerError(HTTPError):
    """HTTP 5xx: the service failed; a GET can be retried, a payment must be looked up first."""


_BY_STATUS = {400: BadRequestError, 401: UnauthorizedError, 404: NotFoundError, 409: ConflictError,
              429: RateLimitedError}
_UNSAFE_TEXT_RE = re.compile(r"[\x00-\x1f\x7f]|\d[\d \-]{10,}\d")


def _text(value: Any) -> Optional[str]:
    """A server-provided string as an error message may show it: bounded, single-line, and
    with anything shaped like a card number cut out (servers echo input in messages)."""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        return None
    return _UNSAFE_TEXT_RE.sub("?", str(value))[:300] or None


def _details(items: Any) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping):
            where = _text(item.get("field") or item.get("location")) or "?"
            out.append((where, _text(item.get("reason") or item.get("message")) or "?"))
    return tuple(out)


def parse_error_body(body: Any) -> tuple[Optional[str], Optional[str], tuple[tuple[str, str], ...]]:
    """``(reason, message, details)`` from a CyberSource error body, in any of its shapes:

    - ``{"responseStatus": {"status", "reason", "message", "correlationId", "details"}}``
      (Flex sessions and tokens, details ``[{location, message}]``);
    - flat ``{"status", "reason", "message", "details"}`` (payments: ``[{field, reason}]``);
    - the gateway's ``{"response": {"rmsg": ...}}``, where ``rmsg`` may itself be JSON
      ``{"error", "error_description"}``.

    Anything else gives ``(None, None, ())``.
    """
    doc = json_object(body) if isinstance(body, (str, bytes)) else body
    if not isinstance(doc, Mapping):
        return None, None, ()
    gateway = doc.get("response")
    if isinstance(gateway, Mapping) and "rmsg" in gateway:
        rmsg = gateway.get("rmsg")
        try:
            inner = json.loads(rmsg) if isinstance(rmsg, str) else None
        except ValueError:
            inner = None
        if isinstance(inner, Mapping):
            return _text(inner.get("error")), _text(inner.get("error_description")), ()
        return None, _text(rmsg), ()
    status = doc.get("responseStatus")
    if isinstance(status, Mapping):
        doc = status
    return _text(doc.get("reason")), _text(doc.get("message")), _details(doc.get("details"))


def http_error(message: str, status: int = 0, reason: Optional[str] = None, body: Optional[str] = None,
               headers: Optional[Mapping[str, Any]] = None) -> HTTPError:
    """The typed :class:`HTTPError` for a failed answer (same arguments as HTTPError).

    ``reason`` becomes the body's reason code when it has one (``INVALID_DATA``), and the
    message gains that reason, the server's message and the fields named in ``details``,
    so ``str(error)`` says what to fix without reading ``body``.
    """
    code, text, details = parse_error_body(body)
    if code or text or details:
        fields = "; ".join(f"{where}: {why}" for where, why in details)
        message += "".join(f" ({part})" for part in (code, text, fields) if part)
    return http_error_class(status)(message, status=status, reason=code or reason, body=body, headers=headers)


def http_error_class(status: int) -> type[HTTPError]:
    """The :class:`HTTPError` subclass for an HTTP status (``HTTPError`` itself when none is
    specific), for code that builds its own exception, such as the generated ``rest``."""
    return ServerError if status >= 500 else _BY_STATUS.get(status, HTTPError)

