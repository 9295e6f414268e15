"""MerchantConfig: the official dict keys, defaults, error texts, host/URL and transport."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from flex_ext import transport
from flex_ext.config import (
    DeprecatedRunEnvironmentError,
    MerchantConfig,
    MerchantConfigError,
    coerce_merchant_config,
)
from flex_ext.errors import ConfigurationError, FlexError
from flex_ext.log_config import LogConfiguration, configure_logging

HOST = "apitest.cybersource.com"


def http_cfg(**overrides: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "authentication_type": "http_signature",
        "merchantid": "test_merchant",
        "merchant_keyid": "00000000-1111-2222-3333-444444444444",
        "merchant_secretkey": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "run_environment": HOST,
    }
    d.update(overrides)
    return d


def _without(d: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != key}


@pytest.fixture(autouse=True)
def _reset_logging() -> Any:
    yield
    configure_logging(None)


# --------------------------------------------------------------------------------------------
# Official error texts


@pytest.mark.parametrize(
    ("config", "text"),
    [
        (_without(http_cfg(), "authentication_type"), "AuthenticationType is Mandatory"),
        (http_cfg(authentication_type=""), "AuthenticationType is Mandatory"),
        (_without(http_cfg(), "run_environment"), "RunEnvironment Is Mandatory."),
        (http_cfg(run_environment=None), "RunEnvironment Is Mandatory."),
        (_without(http_cfg(), "merchantid"), "MerchantID is mandatory"),
        (_without(http_cfg(), "merchant_keyid"), "MerchantKeyId is Mandatory"),
        (http_cfg(merchant_secretkey=""), " MerchantSecretKey is Mandatory"),
        (http_cfg(use_metakey=True), " Portfolio ID is Mandatory"),
        (
            http_cfg(authentication_type="jwt", jwt_key_type="RSA"),
            "Invalid jwtKeyType. Must be 'P12' or 'SHARED_SECRET'. Provided: RSA",
        ),
        (
            _without(http_cfg(authentication_type="jwt", jwt_key_type="shared_secret"), "merchant_secretkey"),
            " MerchantSecretKey is Mandatory",
        ),
        (
            _without(http_cfg(authentication_type="jwt"), "merchantid"),
            "MerchantID is mandatory",
        ),
        (http_cfg(authentication_type="oauth"), "AccessToken is Empty/Null"),
        (http_cfg(authentication_type="oauth", access_token="t"), "RefreshToken is Empty/Null"),
        (http_cfg(authentication_type="mutual_auth"), "Client Id is Empty/Null"),
        (http_cfg(authentication_type="mutual_auth", client_id="c"), "Client Secret is Empty/Null"),
        (http_cfg(enable_client_cert=True), "Client Cert Directory is Empty/Null"),
        (
            http_cfg(use_proxy=True, proxy_address="proxy.local", proxy_port="3128"),
            "proxy_address must include a scheme (http:// or https://). Please add 'http://' or "
            "'https://' as part of the proxy_address value in config dictionary.",
        ),
    ],
)
def test_official_error_texts(config: dict[str, Any], text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigurationError) as info:
        MerchantConfig.from_dict(config)
    assert str(info.value) == text
    assert isinstance(info.value, FlexError)
    # Deliberate deviation: nothing printed to stdout.
    assert capsys.readouterr().out == ""


def test_error_names_the_key_behind_a_misleading_official_text() -> None:
    with pytest.raises(MerchantConfigError) as info:
        MerchantConfig.from_dict(http_cfg(authentication_type="oauth", access_token="t"))
    assert info.value.key == "ssl_client_cert"


def test_missing_p12_file_has_official_text(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        MerchantConfig.from_dict(http_cfg(authentication_type="jwt", keys_directory=str(tmp_path)))
    assert str(info.value) == (
        "Error finding or accessing the Key Directory or Key File. "
        "Please review the values in the merchant configuration."
    )


@pytest.mark.parametrize(
    "env",
    [
        "CyberSource.Environment.SANDBOX",
        "cybersource.environment.production",
        "CyberSource.IN.Environment.SANDBOX",
        "CYBERSOURCE.IN.ENVIRONMENT.PRODUCTION",
    ],
)
def test_deprecated_run_environment_constants(env: str) -> None:
    with pytest.raises(AttributeError) as info:
        MerchantConfig.from_dict(http_cfg(run_environment=env))
    err = info.value
    assert isinstance(err, DeprecatedRunEnvironmentError)
    assert isinstance(err, ConfigurationError)
    assert "deprecated" in str(err)
    assert "apitest.cybersource.com" in str(err) and "api.cybersource.com" in str(err)


def test_unknown_authentication_type_passes_configuration() -> None:
    cfg = MerchantConfig.from_dict({"authentication_type": "Basic", "run_environment": HOST})
    assert cfg.authentication_type == "basic"


# --------------------------------------------------------------------------------------------
# Keys, defaults, coercions


def test_defaults_match_the_official_sdk() -> None:
    cfg = MerchantConfig.from_dict(http_cfg())
    assert cfg.jwt_key_type == "P12"
    assert cfg.use_metakey is False
    assert cfg.use_proxy is False
    assert cfg.ssl_verify is True
    assert cfg.enable_client_cert is False
    assert cfg.max_pool_size == 10
    assert cfg.max_num_idle_connections == 100
    assert cfg.max_keep_alive_delay == 300
    assert cfg.max_keep_alive_idle_window == 60
    assert cfg.is_sdk is False
    assert cfg.default_headers == {}
    assert cfg.log_config is None
    assert (cfg.connect_timeout, cfg.read_timeout) == (
        transport.DEFAULT_CONNECT_TIMEOUT,
        transport.DEFAULT_READ_TIMEOUT,
    )


def test_auth_type_and_jwt_key_type_are_case_insensitive(tmp_path: Path) -> None:
    assert MerchantConfig.from_dict(http_cfg(authentication_type="HTTP_Signature")).authentication_type == (
        "http_signature"
    )
    cfg = MerchantConfig.from_dict(http_cfg(authentication_type="Jwt", jwt_key_type="Shared_Secret"))
    assert (cfg.authentication_type, cfg.jwt_key_type) == ("jwt", "SHARED_SECRET")
    (tmp_path / "test_merchant.p12").write_bytes(b"not checked here")
    p12 = MerchantConfig.from_dict(
        http_cfg(authentication_type="JWT", jwt_key_type="p12", keys_directory=str(tmp_path))
    )
    assert p12.jwt_key_type == "P12"


def test_p12_defaults_and_forced_alias(tmp_path: Path) -> None:
    (tmp_path / "test_merchant.p12").write_bytes(b"x")
    cfg = MerchantConfig.from_dict(
        {
            "authentication_type": "jwt",
            "merchantid": "test_merchant",
            "run_environment": HOST,
            "keys_directory": str(tmp_path),
            "key_alias": "someone_else",
        }
    )
    assert cfg.key_alias == "test_merchant"
    assert cfg.key_password == "test_merchant"
    assert cfg.key_file_name == "test_merchant"
    assert cfg.p12_path == os.path.join(str(tmp_path), "test_merchant.p12")
    (tmp_path / "pf.p12").write_bytes(b"x")
    meta = MerchantConfig.from_dict(
        {
            "authentication_type": "jwt",
            "merchantid": "test_merchant",
            "run_environment": HOST,
            "keys_directory": str(tmp_path),
            "key_file_name": "pf",
            "use_metakey": True,
            "portfolio_id": "pf_id",
        }
    )
    assert meta.key_alias == "pf_id"


def test_keys_directory_defaults_to_cwd_resources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "test_merchant.p12").write_bytes(b"x")
    cfg = MerchantConfig.from_dict(http_cfg(authentication_type="jwt"))
    assert cfg.keys_directory == str(tmp_path / "resources")


def test_bools_nones_and_disabled_log_config_work() -> None:
    # The official SDK crashes on every one of these (ast.literal_eval of the config).
    log_config = LogConfiguration()
    log_config.set_enable_log(False)
    cfg = MerchantConfig.from_dict(
        http_cfg(
            use_metakey=False,
            use_proxy=None,
            ssl_verify=True,
            IntermediateHost=None,
            isSDK=None,
            log_config=log_config,
            portfolio_id=None,
        )
    )
    assert cfg.use_metakey is False and cfg.use_proxy is False and cfg.intermediate_host is None
    assert cfg.log_config is log_config


@pytest.mark.parametrize(
    ("value", "expected"),
    [("false", False), ("False", False), ("0", False), ("", False), (False, False), (0, False), (None, False),
     ("true", True), (True, True), ("yes", True), (1, True)],
)  # fmt: skip
def test_use_metakey_string_false_is_false(value: Any, expected: bool) -> None:
    # Deliberate fix: the official SDK enables the meta key for the *string* "false".
    cfg = MerchantConfig.from_dict(http_cfg(use_metakey=value, portfolio_id="pf"))
    assert cfg.use_metakey is expected


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), ("TRUE", True), ("true", True), ("abc", False), (None, False)]
)
def test_is_sdk_follows_official_rule(value: Any, expected: bool) -> None:
    assert MerchantConfig.from_dict(http_cfg(isSDK=value)).is_sdk is expected


def test_unknown_keys_are_ignored_and_values_stringified() -> None:
    cfg = MerchantConfig.from_dict(http_cfg(merchantid=12345, request_json_path="x", whatever=object()))
    assert cfg.merchant_id == "12345"


def test_default_headers_become_str_dict() -> None:
    cfg = MerchantConfig.from_dict(http_cfg(default_headers={"X-Num": 5, "X-Api-Key": "k"}))
    assert cfg.default_headers == {"X-Num": "5", "X-Api-Key": "k"}
    with pytest.raises(ConfigurationError, match="default_headers"):
        MerchantConfig.from_dict(http_cfg(default_headers=["x"]))


def test_non_numeric_pool_settings_fall_back_to_defaults(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="flex_ext.config"):
        cfg = MerchantConfig.from_dict(http_cfg(maxPoolSize="lots", maxKeepAliveDelay="7", maxNumIdleConnections=None))
    assert cfg.max_pool_size == 10
    assert cfg.max_keep_alive_delay == 7.0
    assert cfg.max_num_idle_connections == 100
    assert "maxPoolSize must be a number" in caplog.text
    assert MerchantConfig.from_dict(http_cfg(maxPoolSize="4")).transport.max_pool_size == 4


def test_mle_keys_are_stored_but_unused() -> None:
    cfg = MerchantConfig.from_dict(http_cfg(useMLEGlobally=False, responseMlePrivateKeyFilePassword="mle-pw-secret"))
    assert cfg.mle_settings == {"useMLEGlobally": False, "responseMlePrivateKeyFilePassword": "mle-pw-secret"}
    assert "mle-pw-secret" not in repr(cfg)


# --------------------------------------------------------------------------------------------
# Timeouts


def test_timeout_key_is_milliseconds_for_connect_and_read() -> None:
    cfg = MerchantConfig.from_dict(http_cfg(timeout=1000))
    assert (cfg.connect_timeout, cfg.read_timeout) == (1.0, 1.0)
    t = cfg.transport.timeout()
    assert (t.connect_timeout, t.read_timeout) == (1.0, 1.0)
    assert MerchantConfig.from_dict(http_cfg(timeout="2500")).read_timeout == 2.5


def test_connect_and_read_timeouts_in_seconds_win_over_timeout() -> None:
    cfg = MerchantConfig.from_dict(http_cfg(timeout=1000, connect_timeout=3, read_timeout=4.5))
    assert (cfg.connect_timeout, cfg.read_timeout) == (3.0, 4.5)
    only_read = MerchantConfig.from_dict(http_cfg(timeout=1000, read_timeout=9))
    assert (only_read.connect_timeout, only_read.read_timeout) == (1.0, 9.0)


@pytest.mark.parametrize("bad", [0, -5, "soon", True, float("nan")])
def test_bad_timeouts_are_rejected(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="timeout must be a positive number"):
        MerchantConfig.from_dict(http_cfg(timeout=bad))


# --------------------------------------------------------------------------------------------
# Host and URL


@pytest.mark.parametrize(
    ("env", "host", "url"),
    [
        ("apitest.cybersource.com", "apitest.cybersource.com", "https://apitest.cybersource.com"),
        ("https://apitest.cybersource.com/", "apitest.cybersource.com", "https://apitest.cybersource.com"),
        ("HTTPS://apitest.cybersource.com", "apitest.cybersource.com", "HTTPS://apitest.cybersource.com"),
        ("http://127.0.0.1:8080", "127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("127.0.0.1:8443/", "127.0.0.1:8443", "https://127.0.0.1:8443"),
    ],
)
def test_request_host_and_base_url(env: str, host: str, url: str) -> None:
    cfg = MerchantConfig.from_dict(http_cfg(run_environment=env))
    assert cfg.request_host == host
    assert cfg.base_url == url
    assert cfg.getRunEnvironment() == env


def test_intermediate_host_changes_url_not_host() -> None:
    cfg = MerchantConfig.from_dict(http_cfg(IntermediateHost="gateway.example.test/"))
    assert cfg.base_url == "https://gateway.example.test"
    assert cfg.request_host == HOST
    assert MerchantConfig.from_dict(http_cfg(IntermediateHost="http://127.0.0.1:9")).base_url == "http://127.0.0.1:9"


# --------------------------------------------------------------------------------------------
# Transport


@pytest.mark.parametrize("port", ["3128", 3128])
def test_proxy_with_str_or_int_port_and_basic_auth(port: Any) -> None:
    cfg = MerchantConfig.from_dict(
        http_cfg(
            use_proxy=True,
            proxy_address="http://proxy.local",
            proxy_port=port,
            proxy_username="user",
            proxy_password="proxy-secret-pw",
        )
    )
    settings = cfg.transport
    assert settings.proxy_url == "http://proxy.local:3128"
    assert settings.proxy_basic_auth == "user:proxy-secret-pw"
    assert "proxy-secret-pw" not in repr(settings)


def test_proxy_only_when_use_proxy_and_auth_only_with_both_parts() -> None:
    off = MerchantConfig.from_dict(http_cfg(use_proxy=False, proxy_address="http://proxy.local", proxy_port="1"))
    assert off.transport.proxy_url is None
    no_pw = MerchantConfig.from_dict(http_cfg(use_proxy="true", proxy_address="https://p.local", proxy_username="u"))
    assert no_pw.transport.proxy_url == "https://p.local"
    assert no_pw.transport.proxy_basic_auth is None


@pytest.mark.parametrize("port", ["http", 0, 70000, True])
def test_bad_proxy_port(port: Any) -> None:
    with pytest.raises(ConfigurationError, match="proxy_port"):
        MerchantConfig.from_dict(http_cfg(use_proxy=True, proxy_address="http://p", proxy_port=port))


def test_proxy_routes_requests_through_the_proxy() -> None:
    # A loopback "proxy" that records the request line proves ProxyManager is used.
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    seen: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            seen.append(data)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    thread = threading.Thread(target=serve)
    thread.start()
    cfg = MerchantConfig.from_dict(
        http_cfg(
            run_environment="http://backend.invalid",
            use_proxy=True,
            proxy_address="http://127.0.0.1",
            proxy_port=str(port),
            proxy_username="u",
            proxy_password="p",
            timeout=5000,
        )
    )
    response = transport.send(cfg.transport, "GET", cfg.base_url + "/flex/v2/x")
    thread.join(5)
    server.close()
    assert response.status == 200
    assert seen[0].startswith(b"GET http://backend.invalid/flex/v2/x HTTP/1.1")
    assert b"proxy-authorization: basic dtpw" in seen[0].lower()


def test_ssl_verify_and_client_cert_settings(tmp_path: Path) -> None:
    cfg = MerchantConfig.from_dict(
        http_cfg(
            ssl_verify=False,
            enable_client_cert=True,
            client_cert_dir=str(tmp_path),
            ssl_client_cert="client.pem",
            private_key="client.key",
            ssl_key_password="tls-key-secret",
            maxPoolSize=3,
        )
    )
    settings = cfg.transport
    assert settings.ssl_verify is False
    assert settings.client_cert_file == os.path.join(str(tmp_path), "client.pem")
    assert settings.client_key_file == os.path.join(str(tmp_path), "client.key")
    assert settings.client_key_password == "tls-key-secret"
    assert settings.max_pool_size == 3
    assert MerchantConfig.from_dict(http_cfg(ssl_verify="false")).transport.ssl_verify is False
    with pytest.raises(ConfigurationError) as info:
        MerchantConfig.from_dict(http_cfg(enable_client_cert=True, client_cert_dir=str(tmp_path)))
    assert str(info.value) == "SSL Client Cert is Empty/Null"


# --------------------------------------------------------------------------------------------
# Secrets, immutability, coercion


SECRETS = {
    "merchant_secretkey": "U2VjcmV0U2hhcmVkS2V5Zm9yVGVzdA==",
    "proxy_password": "proxy-pass-6d1f",
    "proxy_username": "proxy-user-77aa",
    "key_password": "p12-pass-0b9e",
    "ssl_key_password": "tls-pass-51c2",
    "client_secret": "client-secret-93ad",
    "access_token": "access-token-e07b",
    "refresh_token": "refresh-token-4c11",
    "private_key": "private-key-file-8f2d.pem",
}


def test_repr_and_str_never_show_secrets(caplog: pytest.LogCaptureFixture) -> None:
    cfg = MerchantConfig.from_dict(
        http_cfg(**SECRETS, default_headers={"X-Api-Key": "api-key-value-1234"}, client_id="cid")
    )
    logging.getLogger("test").warning("config %r / %s", cfg, cfg)
    for text in (repr(cfg), str(cfg), caplog.text):
        for secret in [*SECRETS.values(), "api-key-value-1234"]:
            assert secret not in text
    assert "X-Api-Key" in repr(cfg)
    assert "test_merchant" in repr(cfg)


def test_errors_never_show_secrets() -> None:
    with pytest.raises(ConfigurationError) as info:
        MerchantConfig.from_dict(_without(http_cfg(**SECRETS), "merchant_keyid"))
    for secret in SECRETS.values():
        assert secret not in str(info.value) and secret not in repr(info.value)


def test_frozen_and_replace_revalidates() -> None:
    cfg = MerchantConfig.from_dict(http_cfg())
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.merchant_id = "x"  # type: ignore[misc]
    with pytest.raises(ConfigurationError, match="MerchantID is mandatory"):
        dataclasses.replace(cfg, merchant_id="")
    assert hash(cfg) == hash(MerchantConfig.from_dict(http_cfg()))
    assert cfg == MerchantConfig.from_dict(http_cfg())


def test_direct_construction_validates_and_normalizes() -> None:
    cfg = MerchantConfig(
        authentication_type="HTTP_SIGNATURE",
        merchant_id="m",
        merchant_key_id="k",
        merchant_secret_key="AAAA",
        run_environment="https://apitest.cybersource.com",
        read_timeout=2,
    )
    assert cfg.authentication_type == "http_signature"
    assert cfg.request_host == HOST
    assert cfg.transport.read_timeout == 2.0
    with pytest.raises(ConfigurationError, match=r"^AuthenticationType is Mandatory$"):
        MerchantConfig(run_environment=HOST)


def test_coerce_merchant_config() -> None:
    cfg = coerce_merchant_config(http_cfg())
    assert isinstance(cfg, MerchantConfig)
    assert coerce_merchant_config(cfg) is cfg
    with pytest.raises(TypeError):
        coerce_merchant_config(["not", "a", "config"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Control characters: refused by key name, the value never shown


@pytest.mark.parametrize("char", ["\r\n", "\n", "\r", "\x00", "\t", "\x7f", "\x85"])
@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"merchant_keyid": "key-id-SECRET{}x"}, "merchant_keyid"),
        ({"merchantid": "merchant-SECRET{}x"}, "merchantid"),
        ({"merchant_secretkey": "AAAA-SECRET{}x"}, "merchant_secretkey"),
        ({"run_environment": "apitest.cybersource.com{}SECRET"}, "run_environment"),
        ({"IntermediateHost": "proxy.example{}SECRET"}, "IntermediateHost"),
        ({"proxy_password": "SECRET{}x"}, "proxy_password"),
        (
            {"authentication_type": "oauth", "access_token": "tok-SECRET{}X-Evil: 1", "ssl_client_cert": "c.pem"},
            "access_token",
        ),
        ({"default_headers": {"X-Api-Key": "api-SECRET{}x"}}, "default_headers"),
        ({"default_headers": {"X-SECRET{}": "v"}}, "default_headers"),
    ],
)
def test_control_characters_are_refused_by_key_never_by_value(
    overrides: dict[str, Any], key: str, char: str
) -> None:
    def fill(value: Any) -> Any:
        if isinstance(value, dict):
            return {fill(k): fill(v) for k, v in value.items()}
        return value.format(char) if "{}" in value else value

    with pytest.raises(MerchantConfigError) as info:
        MerchantConfig.from_dict(http_cfg(**{k: fill(v) for k, v in overrides.items()}))
    error = info.value
    assert isinstance(error, ConfigurationError) and error.key == key
    assert key in str(error) and "control character" in str(error)
    for text in (str(error), repr(error), repr(error.args)):
        assert "SECRET" not in text
    assert error.__cause__ is None and error.__context__ is None


def test_control_characters_are_refused_in_direct_construction() -> None:
    with pytest.raises(MerchantConfigError, match=r"^merchant_keyid contains a control character") as info:
        MerchantConfig(
            authentication_type="http_signature",
            merchant_id="m",
            merchant_key_id="k\r\nX-Injected: 1",
            merchant_secret_key="AAAA",
            run_environment=HOST,
        )
    assert "Injected" not in repr(info.value)


def test_printable_unicode_and_spaces_are_still_accepted() -> None:
    cfg = MerchantConfig.from_dict(http_cfg(solution_id="Solution é 1", default_headers={"X-Name": "a b"}))
    assert cfg.solution_id == "Solution é 1" and cfg.default_headers == {"X-Name": "a b"}
