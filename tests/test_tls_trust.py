"""Trusting a private CA (the emulator's TLS mode) through the ``ssl_ca_file`` config key."""

from __future__ import annotations

import os

import pytest

from flex_ext.client import FlexClient
from flex_ext.config import MerchantConfig
from flex_ext.emulator import FlexEmulator
from flex_ext.errors import ConfigurationError, TransportError

CARD = {"number": "4111111111111111", "expiration_month": "12", "expiration_year": "2031", "security_code": "123"}


def test_the_tls_emulator_config_verifies_its_certificate_end_to_end() -> None:
    with FlexEmulator(tls=True) as emulator:
        config = emulator.merchant_config()
        assert config["ssl_ca_file"] == emulator.ca_cert_path
        merchant = MerchantConfig.from_dict(config)
        assert merchant.ssl_verify is True
        assert merchant.transport.ca_certs == emulator.ca_cert_path
        client = FlexClient(config)
        context = client.create_capture_context()
        assert context.tokens_url.startswith("https://127.0.0.1:")
        assert client.tokenize(context, CARD).jti


def test_a_foreign_ca_is_a_tls_failure() -> None:
    with FlexEmulator(tls=True) as emulator, FlexEmulator(tls=True) as other:
        config = emulator.merchant_config()
        config["ssl_ca_file"] = other.ca_cert_path  # trusts a different CA
        with pytest.raises(TransportError, match="TLS"):
            FlexClient(config).create_capture_context()


def test_a_missing_ca_file_is_a_configuration_error(tmp_path: os.PathLike[str]) -> None:
    config = {
        "authentication_type": "http_signature",
        "merchantid": "m",
        "merchant_keyid": "k",
        "merchant_secretkey": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0",
        "run_environment": "apitest.cybersource.com",
        "ssl_ca_file": os.path.join(os.fspath(tmp_path), "nope.pem"),
    }
    with pytest.raises(ConfigurationError, match="ssl_ca_file"):
        MerchantConfig.from_dict(config)
