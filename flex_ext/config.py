"""The merchant configuration: the official config dict, read once into a typed object.

:class:`MerchantConfig` holds every key of the official SDK's merchant-config dict that a
Flex client needs, validated with the official error texts (so code that matches on
``str(e)`` keeps working) but raised as typed errors derived from
:class:`~flex_ext.errors.ConfigurationError`, and without printing anything to stdout (a
deliberate deviation: the official SDK prints validation errors).

It also decides the three things the rest of the library derives from the configuration:
the host that is signed (:attr:`MerchantConfig.request_host`), the URL the requests go to
(:attr:`MerchantConfig.base_url`) and the transport settings
(:attr:`MerchantConfig.transport`).

Message-level encryption (MLE) is out of scope: the official MLE keys are accepted and kept
verbatim in :attr:`MerchantConfig.mle_settings`, and nothing else is done with them.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Mapping, Optional, Union

from .errors import ConfigurationError
from .log_config import MLE_LOGGABLE_KEYS, LogConfiguration, configure_logging, get_logger, sanitize_merchant_config
from .transport import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, TransportSettings

__all__ = [
    "AUTH_TYPES",
    "DEPRECATED_RUN_ENVIRONMENT",
    "JWT_KEY_TYPES",
    "MLE_CONFIG_KEYS",
    "DeprecatedRunEnvironmentError",
    "MerchantConfig",
    "MerchantConfigError",
    "coerce_merchant_config",
]

_LOG = get_logger("flex_ext.config")

#: ``authentication_type`` values, lower-case (the dict accepts any case).
AUTH_TYPES: tuple[str, ...] = ("http_signature", "jwt", "oauth", "mutual_auth")
#: ``jwt_key_type`` values, upper-case (the dict accepts any case).
JWT_KEY_TYPES: tuple[str, ...] = ("P12", "SHARED_SECRET")

_OLD_RUN_ENVIRONMENTS = frozenset(
    {
        "CYBERSOURCE.ENVIRONMENT.SANDBOX",
        "CYBERSOURCE.ENVIRONMENT.PRODUCTION",
        "CYBERSOURCE.IN.ENVIRONMENT.SANDBOX",
        "CYBERSOURCE.IN.ENVIRONMENT.PRODUCTION",
    }
)

#: The text of the error raised for a deprecated ``run_environment`` constant.
DEPRECATED_RUN_ENVIRONMENT = (
    "The value provided for this field `RunEnvironment` has been deprecated and will not be used "
    "anymore. Use the host name instead: run_environment='apitest.cybersource.com' for the test "
    "(sandbox) environment or run_environment='api.cybersource.com' for production."
)

# The official texts (authenticationsdk GlobalLabelParameters); user code matches on them.
_MSG_AUTH_TYPE = "AuthenticationType is Mandatory"
_MSG_RUN_ENV = "RunEnvironment Is Mandatory."
_MSG_MERCHANT_ID = "MerchantID is mandatory"
_MSG_KEY_ID = "MerchantKeyId is Mandatory"
_MSG_SECRET = " MerchantSecretKey is Mandatory"  # noqa: S105 - a message, not a password
_MSG_PORTFOLIO = " Portfolio ID is Mandatory"
_MSG_JWT_KEY_TYPE = "Invalid jwtKeyType. Must be 'P12' or 'SHARED_SECRET'. Provided: {}"
_MSG_KEY_FILE = (
    "Error finding or accessing the Key Directory or Key File. "
    "Please review the values in the merchant configuration."
)
_MSG_ACCESS_TOKEN = "AccessToken is Empty/Null"  # noqa: S105 - a message, not a password
# The official SDK reports a missing ``ssl_client_cert`` under OAuth with this (misleading)
# text; kept for compatibility, and the error's ``key`` attribute names the real key.
_MSG_OAUTH_CLIENT_CERT = "RefreshToken is Empty/Null"
_MSG_CLIENT_ID = "Client Id is Empty/Null"
_MSG_CLIENT_SECRET = "Client Secret is Empty/Null"  # noqa: S105 - a message, not a password
_MSG_CLIENT_CERT_DIR = "Client Cert Directory is Empty/Null"
_MSG_SSL_CLIENT_CERT = "SSL Client Cert is Empty/Null"
_MSG_PRIVATE_KEY = "Private Key is Empty/Null"
_MSG_PROXY_SCHEME = (
    "proxy_address must include a scheme (http:// or https://). Please add 'http://' or "
    "'https://' as part of the proxy_address value in config dictionary."
)

#: Official MLE keys: accepted and stored in ``mle_settings``, otherwise unused.
MLE_CONFIG_KEYS: tuple[str, ...] = (
    *MLE_LOGGABLE_KEYS,
    "responseMlePrivateKeyFilePath",
    "responseMlePrivateKeyFilePassword",
    "responseMlePrivateKey",
)

_TRUE_WORDS = frozenset({"true", "1", "yes", "y", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "n", "off", ""})

# Marks a field whose value must never be shown in a repr.
_SECRET = {"secret": True}


class MerchantConfigError(ConfigurationError):
    """A merchant-config value is missing or unusable.

    ``str(error)`` is the official SDK's text where it had one. ``key`` names the config
    key concerned (None when the message is about several keys).
    """

    def __init__(self, message: str, key: Optional[str] = None) -> None:
        super().__init__(message)
        self.key = key


class DeprecatedRunEnvironmentError(ConfigurationError, AttributeError):
    """``run_environment`` is one of the old ``CyberSource.Environment.*`` constants.

    Also an :class:`AttributeError`, which is what the official SDK raises.
    """


# --------------------------------------------------------------------------------------------
# Value parsing helpers (dict -> typed fields)


def _opt_str(value: Any) -> Optional[str]:
    """None and "" mean "not set"; anything else is its ``str()``."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text != "" else None


def _to_bool(key: str, value: Any, default: bool, unknown_text: Optional[bool] = None) -> bool:
    """Read a flag. Words like "false"/"0"/"no" are False (the official SDK treats any
    non-empty string as True, so ``use_metakey="false"`` enabled the meta key there; here
    it does not). Other strings follow the official truthiness unless ``unknown_text`` says
    otherwise."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        return True if unknown_text is None else unknown_text
    raise MerchantConfigError(f"{key} must be a boolean, got a value of type {type(value).__name__}", key)


def _to_number(key: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(key)
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        raise ValueError(key) from None
    if not math.isfinite(number):
        raise ValueError(key)
    return number


def _pool_number(key: str, value: Any, default: float) -> float:
    """Official behaviour: a non-number resets to the default, with an error log."""
    if value is None:
        return default
    try:
        number = _to_number(key, value)
    except (TypeError, ValueError):
        _LOG.error("%s must be a number; using the default %s", key, default)
        return default
    if number < 0:
        _LOG.error("%s must not be negative; using the default %s", key, default)
        return default
    return number


def _timeout_seconds(key: str, value: Any, scale: float) -> Optional[float]:
    if value is None or value == "":
        return None
    try:
        number = _to_number(key, value) * scale
    except (TypeError, ValueError):
        raise MerchantConfigError(f"{key} must be a positive number", key) from None
    if number <= 0:
        raise MerchantConfigError(f"{key} must be a positive number", key)
    return number


def _port(value: Any) -> Optional[int]:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MerchantConfigError("proxy_port must be a port number (1-65535)", "proxy_port")
    try:
        port = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise MerchantConfigError("proxy_port must be a port number (1-65535)", "proxy_port") from None
    if not 0 < port < 65536:
        raise MerchantConfigError("proxy_port must be a port number (1-65535)", "proxy_port")
    return port


def _has_scheme(value: str) -> bool:
    lowered = value.lower()
    return lowered.startswith("http://") or lowered.startswith("https://")


def _strip_scheme(value: str) -> str:
    return value.split("://", 1)[1] if _has_scheme(value) else value


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class MerchantConfig:
    """A validated merchant configuration.

    Build it from the official dict with :meth:`from_dict`, or directly with keyword
    arguments in new code; both validate. Secret values are never part of ``repr``/``str``.
    """

    authentication_type: str = ""
    merchant_id: str = ""
    run_environment: str = ""
    merchant_key_id: Optional[str] = None
    merchant_secret_key: Optional[str] = field(default=None, metadata=_SECRET)
    jwt_key_type: str = "P12"
    use_metakey: bool = False
    portfolio_id: Optional[str] = None
    # connection
    intermediate_host: Optional[str] = None
    default_headers: Dict[str, str] = field(default_factory=dict, hash=False, metadata=_SECRET)
    default_developer_id: Optional[str] = None
    solution_id: Optional[str] = None
    use_proxy: bool = False
    proxy_address: Optional[str] = None
    proxy_port: Optional[int] = None
    proxy_username: Optional[str] = field(default=None, metadata=_SECRET)
    proxy_password: Optional[str] = field(default=None, metadata=_SECRET)
    ssl_verify: bool = True
    #: Extension (not an official key): a PEM file of CA certificates to trust instead of
    #: the system store, e.g. the emulator's ``ca_cert_path`` in TLS mode.
    ssl_ca_file: Optional[str] = None
    max_num_idle_connections: int = 100
    max_pool_size: int = 10
    max_keep_alive_delay: float = 300.0
    max_keep_alive_idle_window: float = 60.0
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    # mTLS
    enable_client_cert: bool = False
    client_cert_dir: Optional[str] = None
    ssl_client_cert: Optional[str] = None
    private_key: Optional[str] = field(default=None, metadata=_SECRET)
    ssl_key_password: Optional[str] = field(default=None, metadata=_SECRET)
    # JWT / P12
    keys_directory: Optional[str] = None
    key_file_name: Optional[str] = None
    key_alias: Optional[str] = None
    key_password: Optional[str] = field(default=None, metadata=_SECRET)
    # OAuth and mutual auth
    client_id: Optional[str] = None
    client_secret: Optional[str] = field(default=None, metadata=_SECRET)
    access_token: Optional[str] = field(default=None, metadata=_SECRET)
    refresh_token: Optional[str] = field(default=None, metadata=_SECRET)
    # misc
    log_config: Optional[LogConfiguration] = field(default=None, compare=False)
    is_sdk: bool = False
    #: The official MLE keys, verbatim. MLE is out of scope: stored, never used.
    mle_settings: Dict[str, Any] = field(default_factory=dict, hash=False, metadata=_SECRET)

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("authentication_type", (self.authentication_type or "").strip().lower())
        put("merchant_id", "" if self.merchant_id is None else str(self.merchant_id))
        put("run_environment", (self.run_environment or "").strip())
        raw_key_type = self.jwt_key_type
        put("jwt_key_type", str(raw_key_type or "P12").strip().upper())
        put("default_headers", {str(k): str(v) for k, v in dict(self.default_headers or {}).items()})
        put("mle_settings", dict(self.mle_settings or {}))
        if self.proxy_port is not None:
            put("proxy_port", _port(self.proxy_port))
        for name, default in (
            ("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
            ("read_timeout", DEFAULT_READ_TIMEOUT),
        ):
            put(name, _timeout_seconds(name, getattr(self, name), 1.0) or default)
        for name, default in (
            ("use_metakey", False),
            ("use_proxy", False),
            ("ssl_verify", True),
            ("enable_client_cert", False),
        ):
            put(name, _to_bool(name, getattr(self, name), default))
        put("is_sdk", _to_bool("is_sdk", self.is_sdk, False, unknown_text=False))
        self._validate(raw_key_type)
        if self.authentication_type == "jwt" and self.jwt_key_type == "P12":
            # Official defaults: alias forced to the merchant id (portfolio id with a meta
            # key), password and file name default to the merchant id, directory to
            # <cwd>/resources (resolved now, once).
            put("key_alias", self.portfolio_id if self.use_metakey else self.merchant_id)
            put("key_password", self.key_password or self.merchant_id)
            put("key_file_name", self.key_file_name or self.merchant_id)
            put("keys_directory", self.keys_directory or os.path.join(os.getcwd(), "resources"))
            path = self.p12_path
            if not (path and os.path.isfile(path) and os.access(path, os.R_OK)):
                raise MerchantConfigError(_MSG_KEY_FILE, "keys_directory")

    def _validate(self, raw_key_type: Any) -> None:
        env = self.run_environment
        if env.upper() in _OLD_RUN_ENVIRONMENTS:
            raise DeprecatedRunEnvironmentError(DEPRECATED_RUN_ENVIRONMENT)
        ca_file = self.ssl_ca_file
        if ca_file is not None and not (
            isinstance(ca_file, str) and os.path.isfile(ca_file) and os.access(ca_file, os.R_OK)
        ):
            raise MerchantConfigError("ssl_ca_file must name a readable PEM file of CA certificates", "ssl_ca_file")
        if self.use_proxy:
            if not self.proxy_address:
                raise MerchantConfigError("proxy_address is required when use_proxy is set", "proxy_address")
            if not _has_scheme(self.proxy_address):
                raise MerchantConfigError(_MSG_PROXY_SCHEME, "proxy_address")
        if not self.authentication_type:
            raise MerchantConfigError(_MSG_AUTH_TYPE, "authentication_type")
        if not env:
            raise MerchantConfigError(_MSG_RUN_ENV, "run_environment")
        if self.use_metakey and not self.portfolio_id:
            raise MerchantConfigError(_MSG_PORTFOLIO, "portfolio_id")
        if self.enable_client_cert:
            if not self.client_cert_dir:
                raise MerchantConfigError(_MSG_CLIENT_CERT_DIR, "client_cert_dir")
            if not self.ssl_client_cert:
                raise MerchantConfigError(_MSG_SSL_CLIENT_CERT, "ssl_client_cert")
            if not self.private_key:
                raise MerchantConfigError(_MSG_PRIVATE_KEY, "private_key")
        auth = self.authentication_type
        if auth in ("http_signature", "jwt") and not self.merchant_id:
            raise MerchantConfigError(_MSG_MERCHANT_ID, "merchantid")
        if auth == "jwt" and self.jwt_key_type not in JWT_KEY_TYPES:
            raise MerchantConfigError(_MSG_JWT_KEY_TYPE.format(raw_key_type), "jwt_key_type")
        if auth == "http_signature" or (auth == "jwt" and self.jwt_key_type == "SHARED_SECRET"):
            if not self.merchant_key_id:
                raise MerchantConfigError(_MSG_KEY_ID, "merchant_keyid")
            if not self.merchant_secret_key:
                raise MerchantConfigError(_MSG_SECRET, "merchant_secretkey")
        elif auth == "oauth":
            if not self.access_token:
                raise MerchantConfigError(_MSG_ACCESS_TOKEN, "access_token")
            if not self.ssl_client_cert:
                raise MerchantConfigError(_MSG_OAUTH_CLIENT_CERT, "ssl_client_cert")
        elif auth == "mutual_auth":
            if not self.client_id:
                raise MerchantConfigError(_MSG_CLIENT_ID, "client_id")
            if not self.client_secret:
                raise MerchantConfigError(_MSG_CLIENT_SECRET, "client_secret")
        # An unknown authentication_type passes here, as in the official SDK; choosing a
        # signer for it fails (flex_ext.auth.signer_for).

    # ----------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MerchantConfig:
        """Read the official merchant-config dict (keys and defaults of the official SDK).

        Unknown keys are ignored. ``timeout`` (which the official SDK ignores) is honoured
        as milliseconds for both the connect and the read timeout; ``connect_timeout`` and
        ``read_timeout`` (seconds) take precedence over it. A ``log_config`` entry, when
        present, is applied with :func:`~flex_ext.log_config.configure_logging`, as the
        official SDK applies it when the config is set.
        """
        if not isinstance(d, Mapping):
            raise TypeError("the merchant configuration must be a dict (mapping)")
        get = d.get

        timeout = _timeout_seconds("timeout", get("timeout"), 0.001)
        connect = _timeout_seconds("connect_timeout", get("connect_timeout"), 1.0)
        read = _timeout_seconds("read_timeout", get("read_timeout"), 1.0)

        headers = get("default_headers")
        if headers is not None and not isinstance(headers, Mapping):
            raise MerchantConfigError(
                "default_headers must be a dict of header names to values", "default_headers"
            )

        log_config_raw = get("log_config")
        log_config = LogConfiguration.from_object(log_config_raw) if log_config_raw is not None else None

        config = cls(
            authentication_type=_opt_str(get("authentication_type")) or "",
            merchant_id=_opt_str(get("merchantid")) or "",
            run_environment=_opt_str(get("run_environment")) or "",
            merchant_key_id=_opt_str(get("merchant_keyid")),
            merchant_secret_key=_opt_str(get("merchant_secretkey")),
            jwt_key_type=_opt_str(get("jwt_key_type")) or "P12",
            use_metakey=_to_bool("use_metakey", get("use_metakey"), False),
            portfolio_id=_opt_str(get("portfolio_id")),
            intermediate_host=_opt_str(get("IntermediateHost")),
            default_headers={str(k): str(v) for k, v in (headers or {}).items()},
            default_developer_id=_opt_str(get("defaultDeveloperId")),
            solution_id=_opt_str(get("solution_id")),
            use_proxy=_to_bool("use_proxy", get("use_proxy"), False),
            proxy_address=_opt_str(get("proxy_address")),
            proxy_port=_port(get("proxy_port")),
            proxy_username=_opt_str(get("proxy_username")),
            proxy_password=_opt_str(get("proxy_password")),
            ssl_verify=_to_bool("ssl_verify", get("ssl_verify"), True),
            ssl_ca_file=_opt_str(get("ssl_ca_file")),
            max_num_idle_connections=int(
                _pool_number("maxNumIdleConnections", get("maxNumIdleConnections"), 100)
            ),
            max_pool_size=max(1, int(_pool_number("maxPoolSize", get("maxPoolSize"), 10))),
            max_keep_alive_delay=_pool_number("maxKeepAliveDelay", get("maxKeepAliveDelay"), 300.0),
            max_keep_alive_idle_window=_pool_number(
                "maxKeepAliveIdleWindow", get("maxKeepAliveIdleWindow"), 60.0
            ),
            connect_timeout=connect or timeout or DEFAULT_CONNECT_TIMEOUT,
            read_timeout=read or timeout or DEFAULT_READ_TIMEOUT,
            enable_client_cert=_to_bool("enable_client_cert", get("enable_client_cert"), False),
            client_cert_dir=_opt_str(get("client_cert_dir")),
            ssl_client_cert=_opt_str(get("ssl_client_cert")),
            private_key=_opt_str(get("private_key")),
            ssl_key_password=_opt_str(get("ssl_key_password")),
            keys_directory=_opt_str(get("keys_directory")),
            key_file_name=_opt_str(get("key_file_name")),
            key_alias=_opt_str(get("key_alias")),
            key_password=_opt_str(get("key_password")),
            client_id=_opt_str(get("client_id")),
            client_secret=_opt_str(get("client_secret")),
            access_token=_opt_str(get("access_token")),
            refresh_token=_opt_str(get("refresh_token")),
            log_config=log_config,
            # Official rule: a bool, or the string "true"; any other string is False.
            is_sdk=_to_bool("isSDK", get("isSDK"), False, unknown_text=False),
            mle_settings={k: d[k] for k in MLE_CONFIG_KEYS if k in d},
        )
        if "log_config" in d:
            configure_logging(log_config)
        if _LOG.isEnabledFor(logging.INFO):
            _LOG.info("Mconfig > %s", sanitize_merchant_config(d))
        return config

    # ----------------------------------------------------------------------------------------

    def getRunEnvironment(self) -> str:
        """The ``run_environment`` value (official name, used by the capture-context utilities)."""
        return self.run_environment

    @property
    def request_host(self) -> str:
        """``host[:port]`` for the ``Host`` header, the signed ``host:`` line and the JWT
        ``request-host`` claim: ``run_environment`` without scheme, path or trailing slash.

        Deliberate fix: the official SDK uses ``run_environment`` verbatim, so a scheme leaks
        into Host and the signature and the server rejects the request.
        """
        return _strip_scheme(self.run_environment).split("/", 1)[0]

    @property
    def base_url(self) -> str:
        """Where requests go: ``IntermediateHost`` if set, else ``run_environment``,
        prefixed ``https://`` unless it has an ``http://``/``https://`` scheme, no trailing slash."""
        base = self.intermediate_host or self.run_environment
        if not _has_scheme(base):
            base = "https://" + base
        return base.rstrip("/")

    @property
    def p12_path(self) -> Optional[str]:
        """``<keys_directory>/<key_file_name>.p12`` (JWT with P12 only, else None)."""
        if not (self.keys_directory and self.key_file_name):
            return None
        return os.path.join(self.keys_directory, self.key_file_name + ".p12")

    @property
    def transport(self) -> TransportSettings:
        """Timeouts, proxy, TLS verification, client certificate and pool size."""
        proxy_url: Optional[str] = None
        proxy_auth: Optional[str] = None
        if self.use_proxy and self.proxy_address:
            proxy_url = self.proxy_address.rstrip("/")
            if self.proxy_port is not None:
                proxy_url = f"{proxy_url}:{self.proxy_port}"
            if self.proxy_username and self.proxy_password:
                proxy_auth = f"{self.proxy_username}:{self.proxy_password}"
        cert_file = key_file = key_password = None
        if self.enable_client_cert and self.client_cert_dir and self.ssl_client_cert:
            cert_file = os.path.join(self.client_cert_dir, self.ssl_client_cert)
            key_file = os.path.join(self.client_cert_dir, self.private_key) if self.private_key else None
            key_password = self.ssl_key_password
        return TransportSettings(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            proxy_url=proxy_url,
            proxy_basic_auth=proxy_auth,
            ssl_verify=self.ssl_verify,
            ca_certs=self.ssl_ca_file,
            client_cert_file=cert_file,
            client_key_file=key_file,
            client_key_password=key_password,
            max_pool_size=self.max_pool_size,
        )

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "default_headers":
                shown: Any = dict.fromkeys(value, "<redacted>")
            elif f.name == "mle_settings":
                shown = sorted(value)
            elif f.metadata.get("secret"):
                shown = None if value is None else "<redacted>"
            else:
                shown = value
            parts.append(f"{f.name}={shown!r}")
        return f"MerchantConfig({', '.join(parts)})"

    __str__ = __repr__


def coerce_merchant_config(obj: Union[MerchantConfig, Mapping[str, Any]]) -> MerchantConfig:
    """A :class:`MerchantConfig` as is, or one read from the official config dict."""
    if isinstance(obj, MerchantConfig):
        return obj
    if isinstance(obj, Mapping):
        return MerchantConfig.from_dict(obj)
    raise TypeError("the merchant configuration must be a MerchantConfig or a dict")
