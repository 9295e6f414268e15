"""The merchant configuration: the official config dict, read once into a typed object.

:class:`MerchantConfig` holds every key of the official merchant-config dict a Flex client
needs, validated with the official error texts (code matches on ``str(e)``) but raised as
typed :class:`~flex_ext.errors.ConfigurationError` subclasses, and without printing to stdout.
It decides the signed host (:attr:`~MerchantConfig.request_host`), where requests go
(:attr:`~MerchantConfig.base_url`) and the :attr:`~MerchantConfig.transport` settings. The
official MLE keys are kept verbatim in ``mle_settings`` and otherwise unused (MLE is out of scope).
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Dict, Mapping, Optional, Union

from .errors import ConfigurationError
from .log_config import LogConfiguration, configure_logging, get_logger
from .transport import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, TransportSettings

__all__ = [
    "AUTH_TYPES", "DEPRECATED_RUN_ENVIRONMENT", "HIDE_MERCHANT_CONFIG_PROPS", "JWT_KEY_TYPES", "MLE_CONFIG_KEYS",
    "DeprecatedRunEnvironmentError", "MerchantConfig", "MerchantConfigError", "coerce_merchant_config",
    "https_base_url", "sanitize_merchant_config",
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

# The official texts (authenticationsdk GlobalLabelParameters) are in _MANDATORY below;
# user code matches on them.
_MSG_JWT_KEY_TYPE = "Invalid jwtKeyType. Must be 'P12' or 'SHARED_SECRET'. Provided: {}"
_MSG_KEY_FILE = (
    "Error finding or accessing the Key Directory or Key File. "
    "Please review the values in the merchant configuration."
)
_MSG_PROXY_SCHEME = (
    "proxy_address must include a scheme (http:// or https://). Please add 'http://' or "
    "'https://' as part of the proxy_address value in config dictionary."
)

#: Official MLE keys: accepted and stored in ``mle_settings``, otherwise unused.
MLE_CONFIG_KEYS: tuple[str, ...] = (
    "jwePEMFileDirectory", "enableRequestMLEForOptionalApisGlobally", "useMLEGlobally",
    "disableRequestMLEForMandatoryApisGlobally", "mapToControlMLEonAPI", "mleForRequestPublicCertPath",
    "requestMleKeyAlias", "mleKeyAlias", "enableResponseMleGlobally", "responseMleKID",
    "responseMlePrivateKeyFilePath", "responseMlePrivateKeyFilePassword", "responseMlePrivateKey",
)

#: Merchant-config keys never written to a log (the official 0.0.80 list, plus
#: ``proxy_username``). ``default_headers`` values are masked separately.
HIDE_MERCHANT_CONFIG_PROPS: frozenset[str] = frozenset(
    {
        "merchantid", "merchant_secretkey", "merchant_keyid", "key_alias", "key_password",
        "responseMlePrivateKeyFilePath", "responseMlePrivateKeyFilePassword", "responseMlePrivateKey",
        "proxy_password", "client_secret", "ssl_key_password", "access_token", "refresh_token", "private_key",
        "proxy_username",
    }
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
    text = value if value is None or isinstance(value, str) else str(value)
    return text or None


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


def _finite(value: Any) -> Optional[float]:
    """``float(value)`` if that is finite (numeric strings included), else None; never a bool."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float range
        return None
    return number if math.isfinite(number) else None


def _pool_number(key: str, value: Any, default: float) -> float:
    """Official behaviour: a non-number resets to the default, with an error log."""
    if value is None:
        return default
    number = _finite(value)
    if number is None or number < 0:
        _LOG.error("%s must be a number, not negative; using the default %s", key, default)
        return default
    return number


def _timeout_seconds(key: str, value: Any, scale: float) -> Optional[float]:
    if value is None or value == "":
        return None
    number = _finite(value)
    if number is None or number <= 0:
        raise MerchantConfigError(f"{key} must be a positive number", key)
    return number * scale


def _port(value: Any) -> Optional[int]:
    if value is None or value == "":
        return None
    try:
        port = int(str(value).strip())  # refuses True and 80.0 too
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise MerchantConfigError("proxy_port must be a port number (1-65535)", "proxy_port")
    return port


def _has_scheme(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


def https_base_url(host: str) -> str:
    """``host`` (a host name, or a URL with an ``http://``/``https://`` scheme) as a base URL:
    ``https://`` prefixed when it has no scheme, no trailing slash."""
    return (host if _has_scheme(host) else "https://" + host).rstrip("/")


def _strip_scheme(value: str) -> str:
    return value.split("://", 1)[1] if _has_scheme(value) else value


def _readable_file(path: Any) -> bool:
    return isinstance(path, str) and os.path.isfile(path) and os.access(path, os.R_OK)


# C0 controls, DEL and C1 controls: a CR/LF in a value would end up in a header (or be
# refused deep inside http.client with the value quoted in the message).
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _refuse_control_characters(config: Any) -> None:
    """A :class:`MerchantConfigError` naming the key (never the value) of the first string
    value holding a control character. The MLE settings are stored, never used: not checked."""
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, str) and _CONTROL_CHARACTER.search(value):
            key = _STRING_KEYS.get(f.name, f.name)
            raise MerchantConfigError(f"{key} contains a control character (CR, LF, NUL, ...): remove it", key)
    for name, value in config.default_headers.items():
        if _CONTROL_CHARACTER.search(name + value):
            shown = f" {name!r}" if not _CONTROL_CHARACTER.search(name) else ""
            raise MerchantConfigError(
                f"default_headers: header{shown} contains a control character (CR, LF, NUL, ...): remove it",
                "default_headers",
            )


#: Dataclass field -> official dict key, for the plain string settings.
_STRING_KEYS: Dict[str, str] = {
    "merchant_id": "merchantid",
    "merchant_key_id": "merchant_keyid",
    "merchant_secret_key": "merchant_secretkey",
    "intermediate_host": "IntermediateHost",
    "default_developer_id": "defaultDeveloperId",
    **{
        name: name
        for name in (
            "authentication_type", "run_environment", "jwt_key_type", "portfolio_id", "solution_id",
            "proxy_address", "proxy_username", "proxy_password", "ssl_ca_file", "client_cert_dir",
            "ssl_client_cert", "private_key", "ssl_key_password", "keys_directory", "key_file_name",
            "key_alias", "key_password", "client_id", "client_secret", "access_token", "refresh_token",
        )
    },
}

#: Flags (same name as field and dict key) and their defaults.
_FLAGS: tuple[tuple[str, bool], ...] = (
    ("use_metakey", False),
    ("use_proxy", False),
    ("ssl_verify", True),
    ("enable_client_cert", False),
)

_TIMEOUT_DEFAULTS = {"connect_timeout": DEFAULT_CONNECT_TIMEOUT, "read_timeout": DEFAULT_READ_TIMEOUT}

#: Connection-pool settings: field, dict key, default.
_POOL_KEYS: tuple[tuple[str, str, float], ...] = (
    ("max_num_idle_connections", "maxNumIdleConnections", 100),
    ("max_pool_size", "maxPoolSize", 10),
    ("max_keep_alive_delay", "maxKeepAliveDelay", 300.0),
    ("max_keep_alive_idle_window", "maxKeepAliveIdleWindow", 60.0),
)


#: Keys read from the official dict whose values are harmless to log.
_LOGGABLE_KEYS: frozenset[str] = (
    frozenset(
        (*_STRING_KEYS.values(), *(name for name, _ in _FLAGS), *(key for _, key, _ in _POOL_KEYS), *MLE_CONFIG_KEYS)
    )
    | {"proxy_port", "timeout", "connect_timeout", "read_timeout", "isSDK"}
) - HIDE_MERCHANT_CONFIG_PROPS


def _signs_with_shared_secret(config: Any) -> bool:
    auth: str = config.authentication_type
    return auth == "http_signature" or (auth == "jwt" and config.jwt_key_type == "SHARED_SECRET")


#: The official mandatory-key checks in the official order, with the official texts (leading
#: spaces included): (applies to this config?, field that must be set, message). The error's
#: ``key`` is the field's dict key.
_MANDATORY: tuple[tuple[Callable[[Any], bool], str, str], ...] = (
    (lambda config: True, "authentication_type", "AuthenticationType is Mandatory"),
    (lambda config: True, "run_environment", "RunEnvironment Is Mandatory."),
    (lambda config: config.use_metakey, "portfolio_id", " Portfolio ID is Mandatory"),
    (lambda config: config.enable_client_cert, "client_cert_dir", "Client Cert Directory is Empty/Null"),
    (lambda config: config.enable_client_cert, "ssl_client_cert", "SSL Client Cert is Empty/Null"),
    (lambda config: config.enable_client_cert, "private_key", "Private Key is Empty/Null"),
    (lambda config: config.authentication_type in ("http_signature", "jwt"), "merchant_id", "MerchantID is mandatory"),
    (_signs_with_shared_secret, "merchant_key_id", "MerchantKeyId is Mandatory"),
    (_signs_with_shared_secret, "merchant_secret_key", " MerchantSecretKey is Mandatory"),
    (lambda config: config.authentication_type == "oauth", "access_token", "AccessToken is Empty/Null"),
    # The official SDK reports a missing ssl_client_cert under OAuth with this misleading
    # text; kept for compatibility, and the error's key names the real key.
    (lambda config: config.authentication_type == "oauth", "ssl_client_cert", "RefreshToken is Empty/Null"),
    (lambda config: config.authentication_type == "mutual_auth", "client_id", "Client Id is Empty/Null"),
    (lambda config: config.authentication_type == "mutual_auth", "client_secret", "Client Secret is Empty/Null"),
)


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
    #: the system store, e.g. the emulator's CA in TLS mode.
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

        raw_key_type = self.jwt_key_type
        put("authentication_type", (self.authentication_type or "").strip().lower())
        put("merchant_id", "" if self.merchant_id is None else str(self.merchant_id))
        put("run_environment", (self.run_environment or "").strip())
        put("jwt_key_type", str(raw_key_type or "P12").strip().upper())
        put("default_headers", {str(k): str(v) for k, v in dict(self.default_headers or {}).items()})
        put("mle_settings", dict(self.mle_settings or {}))
        put("proxy_port", _port(self.proxy_port))
        for name, default in _TIMEOUT_DEFAULTS.items():
            put(name, _timeout_seconds(name, getattr(self, name), 1.0) or default)
        for name, default in _FLAGS:
            put(name, _to_bool(name, getattr(self, name), default))
        put("is_sdk", _to_bool("is_sdk", self.is_sdk, False, unknown_text=False))
        _refuse_control_characters(self)
        self._validate(raw_key_type)
        if self.authentication_type == "jwt" and self.jwt_key_type == "P12":
            # Official defaults: alias forced to the merchant id (portfolio id with a meta
            # key), password and file name default to the merchant id, directory to
            # <cwd>/resources (resolved now, once).
            put("key_alias", self.portfolio_id if self.use_metakey else self.merchant_id)
            put("key_password", self.key_password or self.merchant_id)
            put("key_file_name", self.key_file_name or self.merchant_id)
            put("keys_directory", self.keys_directory or os.path.join(os.getcwd(), "resources"))
            if not _readable_file(self.p12_path):
                raise MerchantConfigError(_MSG_KEY_FILE, "keys_directory")

    def _validate(self, raw_key_type: Any) -> None:
        if self.run_environment.upper() in _OLD_RUN_ENVIRONMENTS:
            raise DeprecatedRunEnvironmentError(DEPRECATED_RUN_ENVIRONMENT)
        if self.ssl_ca_file is not None and not _readable_file(self.ssl_ca_file):
            raise MerchantConfigError("ssl_ca_file must name a readable PEM file of CA certificates", "ssl_ca_file")
        if self.use_proxy and not self.proxy_address:
            raise MerchantConfigError("proxy_address is required when use_proxy is set", "proxy_address")
        if self.use_proxy and not _has_scheme(self.proxy_address or ""):
            raise MerchantConfigError(_MSG_PROXY_SCHEME, "proxy_address")
        # The official checks, in the official order: the first missing key is reported.
        for applies, name, message in _MANDATORY:
            if applies(self) and not getattr(self, name):
                raise MerchantConfigError(message, _STRING_KEYS[name])
        if self.authentication_type == "jwt" and self.jwt_key_type not in JWT_KEY_TYPES:
            raise MerchantConfigError(_MSG_JWT_KEY_TYPE.format(raw_key_type), "jwt_key_type")
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
        headers = get("default_headers")
        if headers is not None and not isinstance(headers, Mapping):
            raise MerchantConfigError("default_headers must be a dict of header names to values", "default_headers")
        log_config_raw = get("log_config")
        log_config = LogConfiguration.from_object(log_config_raw) if log_config_raw is not None else None
        pool = {name: _pool_number(key, get(key), default) for name, key, default in _POOL_KEYS}
        settings: Dict[str, Any] = {name: _opt_str(get(key)) for name, key in _STRING_KEYS.items()}
        settings.update((name, get(name)) for name, _default in _FLAGS)
        # connect_timeout / read_timeout (seconds) take precedence over timeout (ms); None: the default.
        settings.update((name, _timeout_seconds(name, get(name), 1.0) or timeout) for name in _TIMEOUT_DEFAULTS)
        config = cls(
            **settings,
            default_headers=dict(headers or {}),
            proxy_port=_port(get("proxy_port")),
            max_num_idle_connections=int(pool["max_num_idle_connections"]),
            max_pool_size=max(1, int(pool["max_pool_size"])),
            max_keep_alive_delay=pool["max_keep_alive_delay"],
            max_keep_alive_idle_window=pool["max_keep_alive_idle_window"],
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
        return https_base_url(self.intermediate_host or self.run_environment)

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
            connect_timeout=self.connect_timeout, read_timeout=self.read_timeout, proxy_url=proxy_url,
            proxy_basic_auth=proxy_auth, ssl_verify=self.ssl_verify, ca_certs=self.ssl_ca_file,
            client_cert_file=cert_file, client_key_file=key_file, client_key_password=key_password,
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


def sanitize_merchant_config(config: Mapping[str, Any]) -> Dict[str, Any]:
    """The merchant-config dict as it may be logged.

    Keys of :data:`HIDE_MERCHANT_CONFIG_PROPS` are removed; ``default_headers`` keep their
    names but not their values (they often carry API keys); ``log_config`` is shown as its
    repr; keys this library does not read are shown by name only (the official SDK logs
    custom keys in clear).
    """
    result: Dict[str, Any] = {}
    for key, value in config.items():
        if not isinstance(key, str) or key in HIDE_MERCHANT_CONFIG_PROPS:
            continue
        if key == "default_headers":
            result[key] = {str(k): "***" for k in value} if isinstance(value, Mapping) else "***"
        elif key == "log_config":
            result[key] = repr(value) if isinstance(value, LogConfiguration) else type(value).__name__
        else:
            result[key] = value if key in _LOGGABLE_KEYS else "***"
    return result
