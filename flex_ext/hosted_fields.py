"""Payroc Hosted Fields sessions: configuration, bearer tokens, validation, idempotent retries.

The wire work is done by the generated ``payroc_hosted_fields`` package, which reaches this
module only through :func:`flex_ext.seam.client_settings`: a :class:`PayrocConfig` answers
with a :class:`PayrocSigner`, which sends ``x-api-key`` on the Identity call
``POST /authorize`` and ``Authorization: Bearer`` (from a :class:`BearerTokenProvider`) on
every other path. :class:`HostedFieldsClient` adds validation before anything is sent, one
UUID v4 ``Idempotency-Key`` per logical request reused on each retry, and bounded backoff on
5xx answers and connection failures (never on a 4xx). The API key, bearer tokens and the
session token never reach a log line, a message, a ``repr`` or a ``str``.
"""

from __future__ import annotations

import importlib
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Optional, Union
from urllib.parse import urlsplit

from ._json import json_object
from .errors import AuthenticationError, ConfigurationError, FlexError, HTTPError
from .log_config import get_logger
from .seam import ClientSettings
from .transport import TransportSettings, is_loopback

__all__ = [
    "ENVIRONMENTS", "LIB_VERSION_PATTERN", "SCENARIOS", "BearerTokenProvider", "HostedFieldsAuthenticationError",
    "HostedFieldsClient", "HostedFieldsError", "HostedFieldsHTTPError", "HostedFieldsSession",
    "HostedFieldsValidationError", "IdempotencyConflictError", "PayrocConfig", "PayrocSigner",
    "create_hosted_fields_session", "new_idempotency_key", "parse_expires_at", "validate_idempotency_key",
    "validate_lib_version", "validate_scenario", "validate_secure_token_id", "validate_terminal_id",
]

# From get_logger: records are masked even if no configuration is ever applied.
_logger = get_logger("flex_ext.hosted_fields")

#: Base URLs per environment: (Identity service, API including its ``/v1`` prefix).
ENVIRONMENTS: Mapping[str, tuple[str, str]] = {
    "uat": ("https://identity.uat.payroc.com", "https://api.uat.payroc.com/v1"),
    "production": ("https://identity.payroc.com", "https://api.payroc.com/v1"),
}

#: The documented ``libVersion`` format with its dots escaped (the published pattern leaves
#: them unescaped; the intent is a four-part version such as ``1.7.0.261457``). ASCII digits
#: only, and no trailing newline (``re.fullmatch``).
LIB_VERSION_PATTERN = r"\d{1,2}\.\d{1,2}\.\d{1,2}(?:-beta)?\.\d+"
_LIB_VERSION = re.compile(LIB_VERSION_PATTERN, re.ASCII)
_UUID_V4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", re.IGNORECASE)
# What a bearer token may contain (RFC 6750 b64token), so it cannot inject a header.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

#: The values ``scenario`` accepts.
SCENARIOS: tuple[str, ...] = ("payment", "tokenization")

_AUTHORIZE_PATH = "/authorize"

#: Refresh a bearer token when fewer than this many seconds of its life remain.
DEFAULT_REFRESH_MARGIN = 120.0


class HostedFieldsError(FlexError):
    """Base class of the errors raised by the Hosted Fields client."""


class HostedFieldsValidationError(HostedFieldsError, ValueError):
    """A value breaks a documented constraint; nothing was sent.

    ``field`` is the name the API uses (``processingTerminalId``, ``Idempotency-Key``,
    ``libVersion``, ``scenario``, ``secureTokenId``), ``argument`` the Python argument name.
    The message describes the rule and the value's length, never the value.
    """

    def __init__(self, field: str, argument: str, message: str) -> None:
        super().__init__(f"{argument} ({field}): {message}")
        self.field = field
        self.argument = argument


class HostedFieldsHTTPError(HostedFieldsError, HTTPError):
    """Payroc answered with an error status (after any retries), or with an unusable body.

    ``problem`` is the RFC 7807 body as a dict when there was one; ``parameters`` lists the
    ``errors[].parameter`` names of a 400. ``idempotency_key`` is the key of the logical
    request (``None`` for the Identity call) and ``attempts`` how many were made.
    """

    def __init__(  # **http: status, reason, body, headers of HTTPError
        self, message: str, *, problem: Optional[Mapping[str, Any]] = None, idempotency_key: Optional[str] = None,
        attempts: int = 1, **http: Any,
    ) -> None:
        super().__init__(message, **http)
        self.problem = problem
        self.idempotency_key = idempotency_key
        self.attempts = attempts

    @property
    def parameters(self) -> tuple[str, ...]:
        return _parameter_names(self.problem)


class HostedFieldsAuthenticationError(HostedFieldsHTTPError, AuthenticationError):
    """The API key was refused by the Identity service, or the bearer token by the API (401)."""


class IdempotencyConflictError(HostedFieldsHTTPError):
    """409: the ``Idempotency-Key`` was already used with another request body."""


def _require_str(value: object, field_name: str, argument: str, bounds: Optional[tuple[int, int]] = None) -> str:
    if not isinstance(value, str):
        raise HostedFieldsValidationError(field_name, argument, f"must be a string, got {type(value).__name__}")
    if bounds and not bounds[0] <= len(value) <= bounds[1]:
        raise HostedFieldsValidationError(
            field_name, argument, f"must be {bounds[0]} to {bounds[1]} characters long, got {len(value)}"
        )
    return value


def validate_terminal_id(value: object) -> str:
    """The processing terminal id, 4 to 50 characters."""
    return _require_str(value, "processingTerminalId", "terminal_id", (4, 50))


def validate_idempotency_key(value: object) -> str:
    """A UUID v4 (any case, hyphenated form), returned in lower case."""
    if isinstance(value, uuid.UUID):
        value = str(value)
    text = _require_str(value, "Idempotency-Key", "idempotency_key")
    if not _UUID_V4.fullmatch(text):
        raise HostedFieldsValidationError(
            "Idempotency-Key", "idempotency_key", "must be a UUID version 4 (xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx)"
        )
    return text.lower()


def validate_lib_version(value: object) -> str:
    """A Hosted Fields library version such as ``1.7.0.261457`` or ``1.2.0-beta.135020``."""
    text = _require_str(value, "libVersion", "lib_version")
    if not _LIB_VERSION.fullmatch(text):
        raise HostedFieldsValidationError("libVersion", "lib_version", "must be a four-part version like 1.7.0.261457"
                                          " or 1.2.0-beta.135020 (1-2 digit major.minor.patch, optional -beta, then a"
                                          " build number)")
    return text


def validate_scenario(value: object) -> str:
    """``payment`` or ``tokenization`` (exactly; a ``str`` enum member is accepted)."""
    text = _require_str(value, "scenario", "scenario")
    plain = str.__str__(text)  # a str-based Enum member becomes its value
    if plain not in SCENARIOS:
        raise HostedFieldsValidationError("scenario", "scenario", f"must be one of {', '.join(SCENARIOS)}")
    return plain


def validate_secure_token_id(value: object) -> Optional[str]:
    """``None`` (not sent) or 1 to 200 characters."""
    if value is None:
        return None
    return _require_str(value, "secureTokenId", "secure_token_id", (1, 200))


def new_idempotency_key() -> str:
    """A fresh UUID v4 for one logical request."""
    return str(uuid.uuid4())


def parse_expires_at(value: Union[str, datetime]) -> datetime:
    """``expiresAt`` (ISO 8601, parsed with python-dateutil) as an aware datetime in ``timezone.utc``
    (dateutil would give ``tzlocal()`` for ``Z`` on a UTC machine). A value without an offset is
    taken as UTC: Payroc documents an offset or ``Z``, and the local zone would be a guess."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        # python-dateutil ships no type stubs; load it untyped.
        isoparse: Callable[[str], datetime] = importlib.import_module("dateutil.parser").isoparse
        try:
            moment = isoparse(value)
        except (ValueError, OverflowError) as exc:
            raise ValueError("expiresAt is not an ISO 8601 date-time") from exc
    else:
        raise TypeError(f"expiresAt must be a string or datetime, got {type(value).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _base_url(value: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{name} must be a non-empty URL")
    if re.search(r"[\x00-\x20\x7f-\x9f]", value):  # urlsplit would drop CR/LF/tab silently
        raise ConfigurationError(f"{name} contains a space or a control character (CR, LF, NUL, ...): remove it")
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise ConfigurationError(f"{name} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise ConfigurationError(f"{name} must be an http(s) URL with a host")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(f"{name} must not carry credentials, a query or a fragment")
    if parts.scheme == "http" and not is_loopback(hostname):
        # The API key and bearer token would travel in clear text.
        raise ConfigurationError(f"{name} must use https (plain http is allowed for loopback hosts only)")
    return value.rstrip("/")


def _is_number(value: Any) -> bool:
    """An int or float (not a bool) that is finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float range
        return False


_SECONDS = "a positive number of seconds"
#: PayrocConfig's numeric settings: (field, valid?, the rule its error states).
_PAYROC_NUMBERS: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("connect_timeout", lambda v: v is None or (_is_number(v) and v > 0), _SECONDS),
    ("read_timeout", lambda v: v is None or (_is_number(v) and v > 0), _SECONDS),
    ("max_attempts", lambda v: _is_number(v) and isinstance(v, int) and 1 <= v <= 10, "an integer from 1 to 10"),
    ("backoff_initial", lambda v: _is_number(v) and v >= 0, "a non-negative number of seconds"),
    ("backoff_max", lambda v: _is_number(v) and v >= 0, "a non-negative number of seconds"),
)


@dataclass(frozen=True)
class PayrocConfig:
    """How to reach Payroc: the API key, the environment (or explicit base URLs), transport.

    :param api_key: the merchant's Payroc API key (secret: never shown in a repr).
    :param environment: ``"uat"`` (test) or ``"production"``.
    :param identity_url: the Identity service base URL, overriding the environment's
        (for the emulator: ``PayrocEmulator.identity_url``).
    :param api_url: the API base URL *including* its ``/v1`` prefix, overriding the
        environment's (for the emulator: ``PayrocEmulator.api_url``).
    :param transport: timeouts, proxy and TLS (:class:`~flex_ext.transport.TransportSettings`).
    :param connect_timeout: / ``read_timeout``: shortcuts that override ``transport``'s.
    :param max_attempts: attempts per logical session request (1 = no retry).
    :param backoff_initial: seconds before the first retry; doubled on each further one.
    :param backoff_max: upper bound of one backoff delay.
    :raises flex_ext.errors.ConfigurationError: for an empty key, an unknown environment, a
        non-https URL to a non-loopback host or an unusable retry setting.

    Generated API classes accept it directly (``HostedFieldsApi(config)``): its
    :meth:`client_settings` signs with :attr:`token_provider`, one per config object.
    """

    api_key: str = field(repr=False)
    environment: str = "uat"
    identity_url: Optional[str] = None
    api_url: Optional[str] = None
    transport: TransportSettings = field(default_factory=TransportSettings)
    connect_timeout: Optional[float] = None
    read_timeout: Optional[float] = None
    max_attempts: int = 3
    backoff_initial: float = 0.5
    backoff_max: float = 8.0
    _tokens: BearerTokenProvider = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, str) or not self.api_key.strip():
            raise ConfigurationError("api_key must be a non-empty string")
        if any(ord(char) < 0x21 or ord(char) > 0x7E for char in self.api_key):
            raise ConfigurationError("api_key must be printable ASCII without spaces (no control characters)")
        if not isinstance(self.environment, str) or self.environment not in ENVIRONMENTS:
            raise ConfigurationError(f"environment must be one of {', '.join(ENVIRONMENTS)}")
        default_identity, default_api = ENVIRONMENTS[self.environment]
        object.__setattr__(self, "identity_url", _base_url(self.identity_url or default_identity, "identity_url"))
        object.__setattr__(self, "api_url", _base_url(self.api_url or default_api, "api_url"))
        if not isinstance(self.transport, TransportSettings):
            raise ConfigurationError("transport must be a flex_ext.transport.TransportSettings")
        for name, valid, rule in _PAYROC_NUMBERS:
            if not valid(getattr(self, name)):
                raise ConfigurationError(f"{name} must be {rule}")
        timeouts = {name: float(getattr(self, name)) for name in ("connect_timeout", "read_timeout")
                    if getattr(self, name) is not None}
        object.__setattr__(self, "transport", replace(self.transport, **timeouts))  # type: ignore[arg-type]
        object.__setattr__(self, "_tokens", BearerTokenProvider(self))

    def __repr__(self) -> str:
        return (
            f"PayrocConfig(api_key='***', environment={self.environment!r}, identity_url={self.identity_url!r}, "
            f"api_url={self.api_url!r}, transport={self.transport!r}, max_attempts={self.max_attempts!r})"
        )

    __str__ = __repr__

    @property
    def identity_base_url(self) -> str:
        assert self.identity_url is not None  # set by __post_init__
        return self.identity_url

    @property
    def api_base_url(self) -> str:
        assert self.api_url is not None  # set by __post_init__
        return self.api_url

    @property
    def token_provider(self) -> BearerTokenProvider:
        """The bearer-token provider this config signs with (one per config object)."""
        return self._tokens

    def client_settings(self) -> ClientSettings:
        """The seam hook: settings for the generated ``payroc_hosted_fields`` classes."""
        return _BoundConfig(self, self.token_provider).client_settings()


class _BoundConfig:
    """A config for the generated classes that signs with a given token provider
    (``None``: the Identity call only)."""

    def __init__(self, config: PayrocConfig, tokens: Optional[BearerTokenProvider]) -> None:
        self._config = config
        self._tokens = tokens

    def client_settings(self) -> ClientSettings:
        config = self._config
        signer = PayrocSigner(config.api_key, self._tokens)
        return ClientSettings(config, config.api_base_url, config.transport, signer, default_headers={})

    def __repr__(self) -> str:
        return f"_BoundConfig({self._config!r})"


class PayrocSigner:
    """The :class:`flex_ext.auth.Signer` of Payroc requests.

    ``POST /authorize`` gets ``x-api-key``; any other path gets ``Authorization: Bearer``
    with a token from the provider. The API key is only ever sent to the Identity call.
    """

    def __init__(self, api_key: str, tokens: Optional[BearerTokenProvider]) -> None:
        self._api_key = api_key
        self._tokens = tokens

    def sign(self, method: str, path: str, body: Optional[bytes]) -> dict[str, str]:
        if path.split("?", 1)[0] == _AUTHORIZE_PATH:
            return {"x-api-key": self._api_key}
        if self._tokens is None:
            raise AuthenticationError("no bearer-token provider: this configuration can only call /authorize")
        return {"Authorization": f"Bearer {self._tokens.token()}"}

    def __repr__(self) -> str:
        return "PayrocSigner(api_key='***')"


def _generated() -> Any:
    # Imported on first use so that `import flex_ext.hosted_fields` stays cheap.
    return importlib.import_module("payroc_hosted_fields")


def _describe(status: int, reason: Optional[str], problem: Optional[Mapping[str, Any]]) -> str:
    text = f"HTTP {status}"
    if reason:
        text += f" {reason}"
    if problem:
        title, detail = problem.get("title"), problem.get("detail")
        if isinstance(title, str) and title:
            text += f": {title}"
        if isinstance(detail, str) and detail:
            text += f" ({detail})"
        names = _parameter_names(problem)
        if names:
            text += f"; invalid: {', '.join(names)}"
    return text


def _parameter_names(problem: Optional[Mapping[str, Any]]) -> tuple[str, ...]:
    """The ``errors[].parameter`` names of an RFC 7807 body."""
    errors = (problem or {}).get("errors")
    if not isinstance(errors, list):
        return ()
    return tuple(str(item["parameter"]) for item in errors if isinstance(item, dict) and item.get("parameter"))


def _http_error(
    kind: type[HostedFieldsHTTPError], what: str, exc: Any, idempotency_key: Optional[str] = None, attempts: int = 1
) -> HostedFieldsHTTPError:
    """The typed error for the generated ``ApiException`` ``exc``, described from its RFC 7807 body."""
    status, reason, body = int(getattr(exc, "status", 0) or 0), getattr(exc, "reason", None), getattr(exc, "body", None)
    problem = json_object(body)
    return kind(f"{what}: {_describe(status, reason, problem)}", status=status, reason=reason, body=body,
                headers=getattr(exc, "headers", None), problem=problem, idempotency_key=idempotency_key,
                attempts=attempts)


class BearerTokenProvider:
    """Bearer tokens from the Identity service, cached until shortly before they expire.

    Thread-safe: one fetch at a time; threads that need a token while it is being fetched
    wait for it and reuse it. ``clock`` returns seconds (monotonic by default; tests pass a
    controllable one). A token is refreshed once fewer than ``refresh_margin`` seconds (2
    minutes) of its life remain; for a token that lives less than twice the margin, half
    its lifetime is used as the margin instead, so it is still reused.
    """

    def __init__(
        self, config: PayrocConfig, *, clock: Callable[[], float] = time.monotonic,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
    ) -> None:
        self._config = config
        self._clock = clock
        self._margin = float(refresh_margin)
        self._lock = threading.Lock()
        self._token: Optional[str] = None
        self._refresh_at = 0.0
        #: How many tokens this provider has fetched successfully.
        self.fetch_count = 0

    def __repr__(self) -> str:
        return f"BearerTokenProvider(identity_url={self._config.identity_base_url!r}, cached={self._token is not None})"

    def token(self) -> str:
        """A valid access token, fetched now if none is cached or it is about to expire.

        :raises HostedFieldsAuthenticationError: the Identity service refused the API key
            (or answered 5xx: ``status`` says which).
        :raises flex_ext.errors.TransportError: no answer from the Identity service.
        """
        with self._lock:
            if self._token is not None and self._clock() < self._refresh_at:
                return self._token
            self._token = None
            token, refresh_at = self._fetch()
            self._token, self._refresh_at = token, refresh_at
            self.fetch_count += 1
            return token

    def invalidate(self) -> None:
        """Forget the cached token (after the API refused it); the next call fetches one."""
        with self._lock:
            self._token = None

    def _fetch(self) -> tuple[str, float]:
        generated = _generated()
        started = self._clock()
        identity = generated.IdentityApi(_BoundConfig(self._config, None))
        _logger.debug("requesting a bearer token from %s", self._config.identity_base_url)
        try:
            data, _status, _body = identity.authorize(_host=self._config.identity_base_url)
            access_token, expires_in, token_type = data.access_token, data.expires_in, data.token_type
        except generated.rest.ApiTransportError:
            raise
        except generated.rest.ApiException as exc:
            raise _http_error(HostedFieldsAuthenticationError, "POST /authorize", exc) from None
        except (TypeError, ValueError):  # the generated model refuses a body without its required fields
            access_token = expires_in = token_type = None
        if (
            not isinstance(access_token, str)
            or not _B64TOKEN.fullmatch(access_token)
            or isinstance(expires_in, bool)
            or not isinstance(expires_in, int)
            or expires_in <= 0
            or not isinstance(token_type, str)
            or token_type.lower() != "bearer"
        ):
            raise HostedFieldsAuthenticationError(
                "POST /authorize: the Identity service answered without a usable bearer token", status=200
            )
        margin = min(self._margin, expires_in / 2)
        _logger.debug("bearer token received, valid %d s, refreshed after %.0f s", expires_in, expires_in - margin)
        return access_token, started + expires_in - margin


@dataclass(frozen=True)
class HostedFieldsSession:
    """A created Hosted Fields session.

    ``token`` goes into the Hosted Fields config of one page load; it expires at
    ``expires_at`` (10 minutes after creation) and is not shown by ``repr``.
    """

    processing_terminal_id: str
    token: str = field(repr=False)
    expires_at: datetime
    idempotency_key: str
    location: Optional[str] = None


def _is_retryable(exc: BaseException, generated: Any) -> bool:
    if isinstance(exc, generated.rest.ApiTransportError):
        return True
    status = getattr(exc, "status", 0)
    return (
        isinstance(exc, (generated.rest.ApiException, HostedFieldsHTTPError))
        and isinstance(status, int)
        and (500 <= status <= 599)
    )


class HostedFieldsClient:
    """Creates Hosted Fields sessions through the generated ``payroc_hosted_fields`` classes.

    :param config: the :class:`PayrocConfig`.
    :param token_provider: the bearer-token provider (default: ``config.token_provider``).
    :param sleep: called with the backoff delay between attempts (default ``time.sleep``).

    Thread-safe: one client can serve concurrent requests.
    """

    def __init__(
        self, config: PayrocConfig, *, token_provider: Optional[BearerTokenProvider] = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not isinstance(config, PayrocConfig):
            raise ConfigurationError("HostedFieldsClient needs a flex_ext.hosted_fields.PayrocConfig")
        self._config = config
        #: The bearer-token provider the client signs with.
        self.token_provider = token_provider if token_provider is not None else config.token_provider
        self._sleep = sleep
        self._api: Any = None
        self._api_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HostedFieldsClient({self._config!r})"

    def _sessions_api(self) -> Any:
        with self._api_lock:
            if self._api is None:
                self._api = _generated().HostedFieldsApi(_BoundConfig(self._config, self.token_provider))
            return self._api

    def create_hosted_fields_session(
        self, terminal_id: str, scenario: str, lib_version: str, secure_token_id: Optional[str] = None, *,
        idempotency_key: Optional[Union[str, uuid.UUID]] = None,
    ) -> HostedFieldsSession:
        """Create the session token for one Hosted Fields page load.

        Every argument is validated first (:class:`HostedFieldsValidationError` names the
        field). One ``Idempotency-Key`` (a new UUID v4 unless given) is used for this call
        and every retry of it. 5xx answers and connection failures or timeouts are retried
        up to ``config.max_attempts`` times with exponential backoff; a 4xx never is.

        :raises HostedFieldsValidationError: a value breaks a documented constraint.
        :raises IdempotencyConflictError: 409, the key was used with another body.
        :raises HostedFieldsAuthenticationError: the API key or bearer token was refused.
        :raises HostedFieldsHTTPError: any other error status (``.problem`` has the body).
        :raises flex_ext.errors.TransportError: no answer after the last attempt.
        """
        terminal = validate_terminal_id(terminal_id)
        body = {
            "lib_version": validate_lib_version(lib_version),
            "scenario": validate_scenario(scenario),
            "secure_token_id": validate_secure_token_id(secure_token_id),
        }
        key = validate_idempotency_key(idempotency_key) if idempotency_key is not None else new_idempotency_key()
        generated = _generated()
        request = generated.HostedFieldsCreateSessionRequest(**body)
        api = self._sessions_api()
        what = "POST /processing-terminals/{id}/hosted-fields-sessions"
        attempts = self._config.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                data, _status, headers = api.create_hosted_fields_session_with_http_info(terminal, key, request)
                return _session(data, headers, key)
            except (generated.rest.ApiException, HostedFieldsHTTPError) as exc:
                if attempt < attempts and _is_retryable(exc, generated):
                    delay = float(min(self._config.backoff_max, self._config.backoff_initial * 2 ** (attempt - 1)))
                    failure = f"HTTP {exc.status}" if exc.status else type(exc).__name__
                    _logger.debug(
                        "hosted-fields session attempt %d/%d failed (%s); retrying in %.2f s with the same key",
                        attempt, attempts, failure, delay,
                    )
                    self._sleep(delay)
                    continue
                if isinstance(exc, generated.rest.ApiTransportError):
                    raise  # already typed (TransportError / RequestTimeoutError); keep its cause
                raise self._final_error(exc, what, key, attempt) from None
            except (TypeError, ValueError):  # the generated model or _session refused the body
                raise HostedFieldsHTTPError(
                    f"{what}: the response lacks a usable processingTerminalId, token or expiresAt",
                    status=201, idempotency_key=key, attempts=attempt,
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _final_error(self, exc: BaseException, what: str, key: str, attempt: int) -> HostedFieldsHTTPError:
        if isinstance(exc, HostedFieldsHTTPError):
            # From the Identity call, made on behalf of this request.
            exc.idempotency_key, exc.attempts = key, attempt
            return exc
        status = getattr(exc, "status", 0) or 0
        if status == 401:
            self.token_provider.invalidate()
            return _http_error(HostedFieldsAuthenticationError, what, exc, key, attempt)
        if status == 409:
            return _http_error(IdempotencyConflictError, what, exc, key, attempt)
        if status == 0:
            return HostedFieldsHTTPError(
                f"{what}: the response could not be read", status=0, idempotency_key=key, attempts=attempt
            )
        return _http_error(HostedFieldsHTTPError, what, exc, key, attempt)


def _session(data: Any, headers: Any, key: str) -> HostedFieldsSession:
    """The typed result; a ValueError when a field is missing or unusable."""
    terminal, token = data.processing_terminal_id, data.token
    if not isinstance(terminal, str) or not isinstance(token, str) or not token:
        raise ValueError("missing fields")
    location = headers.get("location") if headers is not None else None
    return HostedFieldsSession(terminal, token, parse_expires_at(data.expires_at), key, location)


def create_hosted_fields_session(config: PayrocConfig, *args: Any, **kwargs: Any) -> HostedFieldsSession:
    """One-call form of :meth:`HostedFieldsClient.create_hosted_fields_session`, with the
    same arguments after ``config``.

    Uses ``config.token_provider``, so repeated calls with the same config reuse the token.
    """
    return HostedFieldsClient(config).create_hosted_fields_session(*args, **kwargs)
