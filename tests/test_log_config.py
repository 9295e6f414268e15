"""LogConfiguration compat and configure_logging: files only when asked, always masked."""

from __future__ import annotations

import logging
import logging.handlers
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from flex_ext import log_config as lc
from flex_ext.config import HIDE_MERCHANT_CONFIG_PROPS, MerchantConfig, sanitize_merchant_config
from flex_ext.log_config import LogConfiguration, configure_logging, get_logger

ROOT = Path(__file__).resolve().parents[1]
PAN_SPACES = "4111 1111 1111 1111"
PAN_DASHES = "5555-5555-5555-4444"
SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    configure_logging(None)
    yield
    configure_logging(None)


def _enabled(directory: Path, **attrs: Any) -> LogConfiguration:
    cfg = LogConfiguration()
    cfg.set_enable_log(True)
    cfg.set_log_directory(str(directory))
    cfg.set_log_level("DEBUG")
    for name, value in attrs.items():
        getattr(cfg, "set_" + name)(value)
    return cfg


def _our_file_handlers() -> list[logging.Handler]:
    found: list[logging.Handler] = []
    for name in ("CyberSource", "flex_ext"):
        found += [h for h in logging.getLogger(name).handlers if isinstance(h, logging.FileHandler)]
    return found


def _flush() -> None:
    for handler in _our_file_handlers():
        handler.flush()


# --------------------------------------------------------------------------------------------
# LogConfiguration


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = LogConfiguration()
    assert cfg.enable_log is False
    assert cfg.log_file_name == "cybs"
    assert cfg.log_directory == os.path.join(str(tmp_path), "Logs")  # computed at use
    assert cfg.log_format == "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
    assert cfg.log_date_format == "%Y-%m-%d %H:%M:%S"
    assert cfg.log_maximum_size == 10487560
    assert cfg.log_level == "WARNING"
    assert cfg.enable_masking is True
    assert not (tmp_path / "Logs").exists()


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), ("TRUE", True), ("false", False), ("yes", False), (None, False)]
)
def test_set_enable_log(value: Any, expected: bool) -> None:
    cfg = LogConfiguration()
    cfg.set_enable_log(value)
    assert cfg.enable_log is expected


@pytest.mark.parametrize(("value", "expected"), [(False, False), ("False", False), (True, True), ("junk", True)])
def test_set_enable_masking_really_sets_the_value(value: Any, expected: bool) -> None:
    cfg = LogConfiguration()
    cfg.set_enable_masking(value)
    assert cfg.enable_masking is expected


def test_other_setters_fall_back_to_defaults(tmp_path: Path) -> None:
    cfg = LogConfiguration()
    cfg.set_log_maximum_size("2048")
    assert cfg.log_maximum_size == 2048
    cfg.set_log_maximum_size("")
    assert cfg.log_maximum_size == 10487560
    cfg.set_log_file_name("flex")
    cfg.set_log_level("debug")
    cfg.set_log_directory(str(tmp_path))
    assert (cfg.log_file_name, cfg.log_level, cfg.log_directory) == ("flex", "debug", str(tmp_path))
    for setter in ("log_file_name", "log_level", "log_format", "log_date_format"):
        getattr(cfg, "set_" + setter)(None)
    cfg.set_log_directory("")
    assert cfg.log_file_name == "cybs" and cfg.log_level == "WARNING"
    assert cfg.log_directory == os.path.join(os.getcwd(), "Logs")


# --------------------------------------------------------------------------------------------
# Import-time state


def test_import_attaches_only_null_handlers_and_touches_nothing_else(tmp_path: Path) -> None:
    script = (
        "import logging, os, urllib3\n"
        "root_before = list(logging.getLogger().handlers)\n"
        "u3 = logging.getLogger('urllib3')\n"
        "u3_before = (list(u3.handlers), u3.level, u3.propagate)\n"
        "import flex_ext.log_config, flex_ext.config, flex_ext.auth, flex_ext.redaction\n"
        "for name in ('CyberSource', 'flex_ext'):\n"
        "    hs = logging.getLogger(name).handlers\n"
        "    assert len(hs) == 1 and type(hs[0]) is logging.NullHandler, hs\n"
        "    assert logging.getLogger(name).level == logging.NOTSET\n"
        "assert logging.getLogger().handlers == root_before\n"
        "assert (list(u3.handlers), u3.level, u3.propagate) == u3_before\n"
        "assert not any(type(h) is logging.StreamHandler for h in u3.handlers)\n"
        "logging.getLogger('CyberSource.api_client').error('nothing should appear')\n"
        "assert os.listdir('.') == [], os.listdir('.')\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""  # no lastResort output either


# --------------------------------------------------------------------------------------------
# configure_logging


def test_enabled_logging_writes_masked_file(tmp_path: Path) -> None:
    log_dir = tmp_path / "new" / "Logs"
    configure_logging(_enabled(log_dir, log_file_name="flex"))
    logger = get_logger("CyberSource.api_client")
    logger.info("card %s and %s", PAN_SPACES, PAN_DASHES)
    logger.warning('{"paymentInformation": {"card": {"number": "4111111111111111", "securityCode": "123"}}}')
    logger.info("headers %s", {"Authorization": "Bearer eyJhbGciOi.payload.sig", "Digest": "SHA-256=abc="})
    logger.debug("secret in dict %r", {"merchant_secretkey": SECRET})
    logging.getLogger("flex_ext.jwe").error("child without get_logger: %s", "4012 8888 8888 1881")
    _flush()
    path = log_dir / "flex.log"
    text = path.read_text(encoding="utf-8")
    assert "CyberSource.api_client - INFO - card 4111 11XX XXXX 1111 and 5555-55XX-XXXX-4444" in text
    assert '"securityCode": "XXX"' in text
    assert "flex_ext.jwe - ERROR - child without get_logger: 4012 88XX XXXX 1881" in text
    for secret in (PAN_SPACES, PAN_DASHES, "4111111111111111", "4012 8888 8888 1881", "eyJhbGciOi", SECRET, '"123"'):
        assert secret not in text


def test_log_level_and_date_format_apply(tmp_path: Path) -> None:
    configure_logging(_enabled(tmp_path, log_level="ERROR", log_date_format="%Y"))
    logger = get_logger("flex_ext.test")
    logger.warning("dropped")
    logger.error("kept")
    _flush()
    lines = (tmp_path / "cybs.log").read_text().splitlines()
    assert len(lines) == 1 and lines[0].endswith(" - flex_ext.test - ERROR - kept")
    assert len(lines[0].split(" - ")[0]) == 4  # "%Y"


def test_rotating_handler_settings(tmp_path: Path) -> None:
    configure_logging(_enabled(tmp_path, log_maximum_size="4096"))
    (handler,) = set(_our_file_handlers())
    assert isinstance(handler, logging.handlers.RotatingFileHandler)
    assert handler.maxBytes == 4096
    assert handler.backupCount == 10
    assert handler.baseFilename == str(tmp_path / "cybs.log")


def test_disabled_logging_writes_nothing_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # no pytest capture handler: check stderr itself
    disabled = LogConfiguration()
    disabled.set_log_directory(str(tmp_path / "Logs"))
    configure_logging(disabled)
    MerchantConfig.from_dict(
        {
            "authentication_type": "http_signature",
            "merchantid": "m",
            "merchant_keyid": "k",
            "merchant_secretkey": SECRET,
            "run_environment": "apitest.cybersource.com",
            "log_config": disabled,
        }
    )
    get_logger("CyberSource.api_client").error("error %s", PAN_SPACES)
    logging.getLogger("flex_ext.other").critical("critical")
    assert list(tmp_path.iterdir()) == []
    assert _our_file_handlers() == []
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_repeated_configuration_does_not_duplicate_handlers(tmp_path: Path) -> None:
    cfg = _enabled(tmp_path)
    for _ in range(3):
        configure_logging(cfg)
        configure_logging(_enabled(tmp_path))
    for name in ("CyberSource", "flex_ext"):
        assert len([h for h in logging.getLogger(name).handlers if isinstance(h, logging.FileHandler)]) == 1
    first = _our_file_handlers()[0]
    get_logger("CyberSource").error("once")
    _flush()
    assert (tmp_path / "cybs.log").read_text().count("once") == 1
    # A different file replaces (and closes) the handler instead of adding a second one.
    configure_logging(_enabled(tmp_path / "other"))
    handlers = set(_our_file_handlers())
    assert len(handlers) == 1 and first not in handlers
    configure_logging(None)
    assert _our_file_handlers() == []
    assert logging.getLogger("CyberSource").level == logging.NOTSET


def test_records_reaching_root_handlers_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    # caplog's handler sits on the root logger: records arrive there already masked.
    with caplog.at_level(logging.INFO):
        get_logger("CyberSource.rest").info("Authorization: Bearer %s card %s", "abc.def.ghi", PAN_DASHES)
    assert caplog.messages == ["Authorization: Bearer XXXXX card 5555-55XX-XXXX-4444"]


def test_masking_off_keeps_personal_data_but_not_cards(tmp_path: Path) -> None:
    configure_logging(_enabled(tmp_path, enable_masking=False))
    get_logger("flex_ext.x").info('{"email": "ann@example.test", "number": "4111111111111111"}')
    _flush()
    text = (tmp_path / "cybs.log").read_text()
    assert "ann@example.test" in text
    assert "4111111111111111" not in text


def test_from_dict_applies_log_config_and_hides_sensitive_keys(tmp_path: Path) -> None:
    log_config = _enabled(tmp_path, log_level="INFO")
    secrets = {
        "merchant_secretkey": SECRET,
        "key_password": "p12-pass-0b9e",
        "proxy_password": "proxy-pass-6d1f",
        "proxy_username": "proxy-user-77aa",
        "client_secret": "client-secret-93ad",
        "access_token": "access-token-e07b",
        "refresh_token": "refresh-token-4c11",
        "ssl_key_password": "tls-pass-51c2",
        "private_key": "pk-file-8f2d.pem",
        "responseMlePrivateKeyFilePassword": "mle-pass-1234",
    }
    MerchantConfig.from_dict(
        {
            "authentication_type": "http_signature",
            "merchantid": "merchant-id-visible-nowhere",
            "merchant_keyid": "key-id-4e4e",
            "run_environment": "apitest.cybersource.com",
            "default_headers": {"Ocp-Apim-Subscription-Key": "api-key-5a5a"},
            "custom_thing": "custom-value-6b6b",
            "log_config": log_config,
            **secrets,
        }
    )
    _flush()
    text = (tmp_path / "cybs.log").read_text()
    assert "Mconfig > " in text
    assert "apitest.cybersource.com" in text and "Ocp-Apim-Subscription-Key" in text
    for value in [*secrets.values(), "merchant-id-visible-nowhere", "key-id-4e4e", "api-key-5a5a", "custom-value-6b6b"]:
        assert value not in text


def test_sanitize_merchant_config() -> None:
    out = sanitize_merchant_config(
        {
            "merchantid": "m",
            "run_environment": "h",
            "default_headers": {"X": "secret"},
            "proxy_username": "u",
            "mystery": "v",
        }
    )
    assert out == {"run_environment": "h", "default_headers": {"X": "***"}, "mystery": "***"}
    assert "proxy_username" in HIDE_MERCHANT_CONFIG_PROPS and "private_key" in HIDE_MERCHANT_CONFIG_PROPS


def test_get_logger_only_for_library_names() -> None:
    assert get_logger("CyberSource.x").name == "CyberSource.x"
    with pytest.raises(ValueError, match="library loggers"):
        get_logger("CyberSourceish")


def test_duck_typed_log_config_object_is_accepted(tmp_path: Path) -> None:
    class OfficialLike:
        enable_log = True
        log_directory = str(tmp_path)
        log_file_name = "dt"
        log_level = "INFO"
        log_maximum_size = 10487560
        enable_masking = True
        log_format = None
        log_date_format = None

    configure_logging(OfficialLike())  # type: ignore[arg-type]
    get_logger("flex_ext.y").info("hello")
    _flush()
    assert "hello" in (tmp_path / "dt.log").read_text()
    assert lc.LogConfiguration.from_object({"enable_log": "true"}).enable_log is True


@pytest.mark.parametrize(
    "module",
    ["CyberSource.rest", "CyberSource.api_client", "payroc_hosted_fields.rest", "payroc_hosted_fields.api_client"],
)
def test_generated_module_loggers_mask_records_without_any_configuration(module: str) -> None:
    import importlib
    import io

    logger = importlib.import_module(module).logger
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        logger.warning("card %s", "4111 1111 1111 1111")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "4111 1111 1111 1111" not in text and "1111" in text


@pytest.mark.parametrize(
    ("log_format", "expected"),
    [
        ("%(asctime)s %(nope)s", "'nope'"),
        ("%(message)d", "cannot format a log record"),
        ("%(message)s %(", "cannot format a log record"),
        ("%(asctime)", "not a %-style logging format"),
    ],
)
def test_a_bad_log_format_fails_when_configured_not_when_logging(
    tmp_path: Path, log_format: str, expected: str
) -> None:
    from flex_ext.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as caught:
        configure_logging(_enabled(tmp_path, log_format=log_format))
    assert expected in str(caught.value)
    assert not list(_our_file_handlers())  # nothing half-configured is left behind
    get_logger("flex_ext.test").error("still fine")  # logging keeps working
