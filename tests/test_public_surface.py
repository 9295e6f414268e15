"""The drop-in surface: what official-SDK user code imports and relies on (compat §1, checklist)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from conftest import _ROOT

FLEX_MODELS = [
    "GenerateFlexAPICaptureContextRequest",
    "Flexv2sessionsFields",
    "Flexv2sessionsFieldsPaymentInformation",
    "Flexv2sessionsFieldsPaymentInformationCard",
    "Flexv2sessionsFieldsOrderInformation",
    "Flexv2sessionsFieldsOrderInformationAmountDetails",
    "Flexv2sessionsFieldsOrderInformationAmountDetailsTotalAmount",
    "Flexv2sessionsFieldsOrderInformationBillTo",
    "Flexv2sessionsFieldsOrderInformationShipTo",
]


def run_python(code: str) -> str:
    """Run code in a fresh interpreter that sees the working tree; return its stdout."""
    paths = [f"{_ROOT}/generated/cybersource", _ROOT]
    prelude = f"import sys; sys.path[:0] = {paths!r}\n"
    result = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_star_import_provides_the_flex_surface() -> None:
    out = run_python(
        """
        import logging
        from CyberSource import *
        names = dict(globals())
        wanted = %r + ["FlexAPIApi", "MicroformIntegrationApi", "GenerateCaptureContextRequest",
                       "ApiClient", "Configuration", "configuration", "rest", "models", "api",
                       "api_client", "utilities"]
        missing = [n for n in wanted if n not in names]
        print("missing", missing)
        # The stdlib logging module is not shadowed (a deliberate difference).
        print("logging", logging.getLogger is not None, logging.__name__)
        print("ApiException", rest.ApiException.__name__)
        """
        % FLEX_MODELS
    )
    assert "missing []" in out
    assert "logging True logging" in out
    assert "ApiException ApiException" in out


def test_cybersource_logging_subpackage_still_importable() -> None:
    import CyberSource
    from CyberSource.logging.log_configuration import LogConfiguration

    assert CyberSource.logging.__name__ == "CyberSource.logging"
    config = LogConfiguration()
    assert config.enable_log is False


def test_compat_imports() -> None:
    from authenticationsdk.util.jwt.JWTExceptions import (
        InvalidJwkException,
        InvalidJwtException,
        JwtSignatureValidationException,
    )
    from authenticationsdk.util.jwt.JWTUtility import get_rsa_public_key_from_jwk, parse, verify_jwt
    from CyberSource.rest import ApiException
    from CyberSource.utilities import FlexSecurityException
    from CyberSource.utilities.flex import PublicKeyApiController
    from CyberSource.utilities.flex.CaptureContextParsingUtility import parse_capture_context_response

    import flex_ext.errors

    assert callable(parse) and callable(verify_jwt) and callable(get_rsa_public_key_from_jwk)
    assert callable(parse_capture_context_response)
    assert callable(PublicKeyApiController.fetch_public_key)
    assert issubclass(FlexSecurityException, Exception)
    # New code can catch the library's base classes.
    for exc in (InvalidJwtException, InvalidJwkException, JwtSignatureValidationException, ApiException):
        assert issubclass(exc, flex_ext.errors.FlexError)


def test_configuration_is_a_singleton_factory() -> None:
    import CyberSource

    assert CyberSource.Configuration() is CyberSource.Configuration()
    assert CyberSource.configuration is CyberSource.Configuration()


def test_import_is_lazy_and_quiet() -> None:
    out = run_python(
        """
        import logging, sys
        import CyberSource
        loaded = sorted(m for m in sys.modules if m.startswith("CyberSource"))
        print("loaded", loaded)
        print("urllib3-handlers", logging.getLogger("urllib3").handlers)
        print("root-handlers", logging.getLogger().handlers)
        print("heavy", [m for m in ("cryptography", "jwt", "urllib3") if m in sys.modules])
        """
    )
    assert "loaded ['CyberSource', 'CyberSource.configuration']" in out
    assert "urllib3-handlers []" in out
    assert "root-handlers []" in out
    assert "heavy []" in out


def test_using_one_model_loads_only_that_model() -> None:
    out = run_python(
        """
        import sys
        from CyberSource import Flexv2sessionsFieldsOrderInformationAmountDetailsTotalAmount as Leaf
        print(Leaf(required=True).to_dict())
        print(sorted(m for m in sys.modules if m.startswith("CyberSource.models.")))
        """
    )
    assert "{'required': True}" in out
    assert "['CyberSource.models.flexv2sessions_fields_order_information_amount_details_total_amount']" in out


def test_api_exception_shape() -> None:
    from CyberSource.rest import ApiException

    bare = ApiException(status=400, reason="Bad Request")
    assert bare.args == ()
    assert (bare.status, bare.reason, bare.body, bare.headers) == (400, "Bad Request", None, None)
    assert str(bare) == "(400)\nReason: Bad Request\n"


def test_flex_api_constructor_forms() -> None:
    from CyberSource import ApiClient, FlexAPIApi

    cfg = {
        "authentication_type": "http_signature",
        "merchantid": "test_merchant",
        "run_environment": "apitest.cybersource.com",
        "merchant_keyid": "00000000-1111-2222-3333-444444444444",
        "merchant_secretkey": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    }
    api = FlexAPIApi(cfg)
    assert api.api_client.mconfig.run_environment == "apitest.cybersource.com"
    assert api.api_client.host == "https://apitest.cybersource.com"
    shared = ApiClient()
    api2 = FlexAPIApi(cfg, api_client=shared)
    assert api2.api_client is shared and shared.mconfig.merchant_id == "test_merchant"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("authentication_type", "AuthenticationType is Mandatory"),
        ("run_environment", "RunEnvironment Is Mandatory."),
        ("merchantid", "MerchantID is mandatory"),
        ("merchant_keyid", "MerchantKeyId is Mandatory"),
        ("merchant_secretkey", " MerchantSecretKey is Mandatory"),
    ],
)
def test_flex_api_reports_missing_keys_with_official_text(missing: str, message: str) -> None:
    from CyberSource import FlexAPIApi

    import flex_ext.errors

    cfg = {
        "authentication_type": "http_signature",
        "merchantid": "m",
        "run_environment": "apitest.cybersource.com",
        "merchant_keyid": "k",
        "merchant_secretkey": "AAAA",
    }
    del cfg[missing]
    with pytest.raises(flex_ext.errors.ConfigurationError) as info:
        FlexAPIApi(cfg)
    assert str(info.value) == message


def test_payroc_package_is_generated_beside_cybersource_and_masks_secrets() -> None:
    import payroc_hosted_fields
    from payroc_hosted_fields import HostedFieldsApi, HostedFieldsCreateSessionRequest, IdentityApi, IdentityToken

    assert "utilities" not in payroc_hosted_fields.__all__
    assert HostedFieldsCreateSessionRequest.attribute_map == {
        "lib_version": "libVersion", "scenario": "scenario", "secure_token_id": "secureTokenId"}
    assert callable(HostedFieldsApi.create_hosted_fields_session) and callable(IdentityApi.authorize)
    token = IdentityToken(access_token="tok-Very-Secret-1", expires_in=3600, token_type="Bearer")
    assert "tok-Very-Secret-1" not in repr(token) and "tok-Very-Secret-1" not in token.to_str()
    assert token.to_dict()["access_token"] == "tok-Very-Secret-1"  # data stays usable
