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


# The whole export surface, pinned so that nothing disappears silently (a new name is added here
# on purpose). API classes, then models: Flex, then checkout.md §3-§4 in the official SDK's names.
API_CLASSES = [
    "CaptureApi", "CreditApi", "FlexAPIApi", "FlexPublicKeysApi", "FlexTokensApi", "MicroformIntegrationApi",
    "PaymentsApi", "RefundApi", "ReversalApi", "TransactionDetailsApi", "TransientTokenDataV2Api",
    "UnifiedCheckoutCaptureContextApi", "VoidApi",
]
MODELS = """
    AuthReversalRequest AuthenticationFailedResponse AuthenticationFailedResponseBody CapturePaymentRequest
    CreateCreditRequest CreatePaymentRequest FlexV2PublicKey Flexv2sessionsErrorDetail Flexv2sessionsErrorResponse
    Flexv2sessionsFields Flexv2sessionsFieldsOrderInformation Flexv2sessionsFieldsOrderInformationAmountDetails
    Flexv2sessionsFieldsOrderInformationAmountDetailsTotalAmount Flexv2sessionsFieldsOrderInformationBillTo
    Flexv2sessionsFieldsOrderInformationShipTo Flexv2sessionsFieldsPaymentInformation
    Flexv2sessionsFieldsPaymentInformationCard Flexv2tokensErrorResponse Flexv2tokensResponseStatus
    GenerateCaptureContextRequest GenerateFlexAPICaptureContextRequest GenerateUnifiedCheckoutCaptureContextRequest
    IncrementAuthRequest Microformv2sessionsTransientTokenResponseOptions MitReversalRequest MitVoidRequest
    ProcessingInfoAuthorizationOptions ProcessingInfoAuthorizationOptionsInitiator PtsV2CreditsPost201Response
    PtsV2CreditsPost201ResponseCreditAmountDetails PtsV2IncrementalAuthorizationPatch201Response
    PtsV2IncrementalAuthorizationPatch201ResponseClientReferenceInformation
    PtsV2IncrementalAuthorizationPatch201ResponseErrorInformation PtsV2IncrementalAuthorizationPatch201ResponseLinks
    PtsV2IncrementalAuthorizationPatch201ResponseOrderInformation
    PtsV2IncrementalAuthorizationPatch201ResponseProcessorInformation PtsV2IncrementalAuthorizationPatch400Response
    PtsV2PaymentsCapturesPost201Response PtsV2PaymentsCapturesPost201ResponseLinks
    PtsV2PaymentsCapturesPost201ResponseOrderInformation
    PtsV2PaymentsCapturesPost201ResponseOrderInformationAmountDetails
    PtsV2PaymentsCapturesPost201ResponseOrderInformationInvoiceDetails
    PtsV2PaymentsCapturesPost201ResponsePointOfSaleInformation
    PtsV2PaymentsCapturesPost201ResponseProcessingInformation
    PtsV2PaymentsCapturesPost201ResponseProcessorInformation PtsV2PaymentsCapturesPost400Response
    PtsV2PaymentsPost201Response PtsV2PaymentsPost201ResponseClientReferenceInformation
    PtsV2PaymentsPost201ResponseErrorInformation PtsV2PaymentsPost201ResponseErrorInformationDetails
    PtsV2PaymentsPost201ResponseLinks PtsV2PaymentsPost201ResponseLinksSelf
    PtsV2PaymentsPost201ResponseOrderInformation PtsV2PaymentsPost201ResponseOrderInformationAmountDetails
    PtsV2PaymentsPost201ResponseOrderInformationInvoiceDetails PtsV2PaymentsPost201ResponsePaymentAccountInformation
    PtsV2PaymentsPost201ResponsePaymentAccountInformationCard
    PtsV2PaymentsPost201ResponsePaymentAccountInformationTokenizedCard
    PtsV2PaymentsPost201ResponsePaymentInformation PtsV2PaymentsPost201ResponsePaymentInformationAccountFeatures
    PtsV2PaymentsPost201ResponsePaymentInformationInstrumentIdentifier
    PtsV2PaymentsPost201ResponsePointOfSaleInformation PtsV2PaymentsPost201ResponseProcessingInformation
    PtsV2PaymentsPost201ResponseProcessingInformationCaptureOptions PtsV2PaymentsPost201ResponseProcessorInformation
    PtsV2PaymentsPost201ResponseProcessorInformationAvs
    PtsV2PaymentsPost201ResponseProcessorInformationCardVerification
    PtsV2PaymentsPost201ResponseProcessorInformationMerchantAdvice PtsV2PaymentsPost201ResponseTokenInformation
    PtsV2PaymentsPost201ResponseTokenInformationCustomer
    PtsV2PaymentsPost201ResponseTokenInformationInstrumentIdentifier
    PtsV2PaymentsPost201ResponseTokenInformationPaymentInstrument
    PtsV2PaymentsPost201ResponseTokenInformationShippingAddress PtsV2PaymentsPost400Response
    PtsV2PaymentsPost502Response PtsV2PaymentsRefundPost201Response
    PtsV2PaymentsRefundPost201ResponseClientReferenceInformation PtsV2PaymentsRefundPost201ResponseErrorInformation
    PtsV2PaymentsRefundPost201ResponseLinks PtsV2PaymentsRefundPost201ResponseOrderInformation
    PtsV2PaymentsRefundPost201ResponseOrderInformationAmountDetails
    PtsV2PaymentsRefundPost201ResponseProcessorInformation
    PtsV2PaymentsRefundPost201ResponseProcessorInformationMerchantAdvice
    PtsV2PaymentsRefundPost201ResponseRefundAmountDetails PtsV2PaymentsRefundPost400Response
    PtsV2PaymentsReversalsPost201Response PtsV2PaymentsReversalsPost201ResponseAuthorizationInformation
    PtsV2PaymentsReversalsPost201ResponsePointOfSaleInformation
    PtsV2PaymentsReversalsPost201ResponseProcessorInformation
    PtsV2PaymentsReversalsPost201ResponseReversalAmountDetails PtsV2PaymentsReversalsPost400Response
    PtsV2PaymentsVoidsPost201Response PtsV2PaymentsVoidsPost201ResponseProcessorInformation
    PtsV2PaymentsVoidsPost201ResponseVoidAmountDetails PtsV2PaymentsVoidsPost400Response
    Ptsv2creditsProcessingInformation Ptsv2creditsTokenInformation Ptsv2paymentsClientReferenceInformation
    Ptsv2paymentsClientReferenceInformationPartner Ptsv2paymentsConsumerAuthenticationInformation
    Ptsv2paymentsInstallmentInformation Ptsv2paymentsMerchantInformation
    Ptsv2paymentsMerchantInformationMerchantDescriptor Ptsv2paymentsOrderInformation
    Ptsv2paymentsOrderInformationAmountDetails Ptsv2paymentsOrderInformationBillTo
    Ptsv2paymentsOrderInformationBillToCompany Ptsv2paymentsOrderInformationInvoiceDetails
    Ptsv2paymentsOrderInformationLineItems Ptsv2paymentsOrderInformationShipTo Ptsv2paymentsPaymentInformation
    Ptsv2paymentsPaymentInformationCard Ptsv2paymentsPaymentInformationCustomer
    Ptsv2paymentsPaymentInformationFluidData Ptsv2paymentsPaymentInformationInstrumentIdentifier
    Ptsv2paymentsPaymentInformationPaymentInstrument Ptsv2paymentsPaymentInformationPaymentType
    Ptsv2paymentsPaymentInformationShippingAddress Ptsv2paymentsPaymentInformationTokenizedCard
    Ptsv2paymentsPointOfSaleInformation Ptsv2paymentsPointOfSaleInformationEmv Ptsv2paymentsProcessingInformation
    Ptsv2paymentsProcessingInformationCaptureOptions Ptsv2paymentsPromotionInformation Ptsv2paymentsTokenInformation
    Ptsv2paymentsTokenInformationPaymentInstrument Ptsv2paymentsTokenInformationShippingAddress
    Ptsv2paymentsTravelInformation Ptsv2paymentsTravelInformationLodging Ptsv2paymentsTravelInformationLodgingRoom
    Ptsv2paymentsidClientReferenceInformation Ptsv2paymentsidClientReferenceInformationPartner
    Ptsv2paymentsidMerchantInformation Ptsv2paymentsidOrderInformation Ptsv2paymentsidOrderInformationAmountDetails
    Ptsv2paymentsidProcessingInformation Ptsv2paymentsidProcessingInformationAuthorizationOptions
    Ptsv2paymentsidProcessingInformationAuthorizationOptionsInitiator Ptsv2paymentsidTravelInformation
    Ptsv2paymentsidcapturesOrderInformation Ptsv2paymentsidcapturesOrderInformationAmountDetails
    Ptsv2paymentsidcapturesOrderInformationBillTo Ptsv2paymentsidcapturesOrderInformationInvoiceDetails
    Ptsv2paymentsidcapturesOrderInformationShipTo Ptsv2paymentsidcapturesPaymentInformation
    Ptsv2paymentsidcapturesPaymentInformationCard Ptsv2paymentsidcapturesProcessingInformation
    Ptsv2paymentsidcapturesProcessingInformationCaptureOptions Ptsv2paymentsidrefundsClientReferenceInformation
    Ptsv2paymentsidrefundsOrderInformation Ptsv2paymentsidrefundsOrderInformationLineItems
    Ptsv2paymentsidrefundsPaymentInformation Ptsv2paymentsidrefundsPaymentInformationCard
    Ptsv2paymentsidrefundsProcessingInformation Ptsv2paymentsidreversalsClientReferenceInformation
    Ptsv2paymentsidreversalsClientReferenceInformationPartner Ptsv2paymentsidreversalsOrderInformation
    Ptsv2paymentsidreversalsOrderInformationLineItems Ptsv2paymentsidreversalsReversalInformation
    Ptsv2paymentsidreversalsReversalInformationAmountDetails Ptsv2paymentsidvoidsOrderInformation
    Ptsv2paymentsidvoidsPaymentInformation Ptsv2paymentsidvoidsProcessingInformation RefundCaptureRequest
    RefundPaymentRequest Riskv1decisionsProcessorInformationCardVerification TssV2TransactionsGet200Response
    TssV2TransactionsGet200ResponseApplicationInformation
    TssV2TransactionsGet200ResponseApplicationInformationApplications
    TssV2TransactionsGet200ResponseClientReferenceInformation
    TssV2TransactionsGet200ResponseClientReferenceInformationPartner TssV2TransactionsGet200ResponseErrorInformation
    TssV2TransactionsGet200ResponseLinks TssV2TransactionsGet200ResponseOrderInformation
    TssV2TransactionsGet200ResponseOrderInformationAmountDetails
    TssV2TransactionsGet200ResponseOrderInformationBillTo
    TssV2TransactionsGet200ResponseOrderInformationInvoiceDetails
    TssV2TransactionsGet200ResponseOrderInformationLineItems TssV2TransactionsGet200ResponseOrderInformationShipTo
    TssV2TransactionsGet200ResponsePaymentInformation
    TssV2TransactionsGet200ResponsePaymentInformationAccountFeatures
    TssV2TransactionsGet200ResponsePaymentInformationCard TssV2TransactionsGet200ResponsePaymentInformationCustomer
    TssV2TransactionsGet200ResponsePaymentInformationInstrumentIdentifier
    TssV2TransactionsGet200ResponsePaymentInformationPaymentType
    TssV2TransactionsGet200ResponseProcessingInformation
    TssV2TransactionsGet200ResponseProcessingInformationAuthorizationOptions
    TssV2TransactionsGet200ResponseProcessingInformationCaptureOptions
    TssV2TransactionsGet200ResponseProcessorInformation TssV2TransactionsGet200ResponseProcessorInformationProcessor
    TssV2TransactionsGet200ResponseTokenInformation Upv1capturecontextsCaptureMandate
    Upv1capturecontextsCaptureMandateCPF Upv1capturecontextsCompleteMandate Upv1capturecontextsCompleteMandateTms
    Upv1capturecontextsDataOrderInformationBillTo Upv1capturecontextsDataOrderInformationBillToCompany
    Upv1capturecontextsDataOrderInformationShipTo Upv1capturecontextsOrderInformation
    Upv1capturecontextsOrderInformationAmountDetails Upv1capturecontextsOrderInformationBillTo
    Upv1capturecontextsOrderInformationBillToCompany VoidCaptureRequest VoidCreditRequest VoidPaymentRequest
    VoidRefundRequest
""".split()  # noqa: SIM905 - one name per word reads better than 190 quoted items


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


def test_the_export_surface_is_pinned() -> None:
    import CyberSource
    from CyberSource import api, models

    assert sorted(api.__all__) == API_CLASSES
    assert sorted(models.__all__) == MODELS
    assert set(API_CLASSES) | set(MODELS) <= set(CyberSource.__all__)
    for name in ("PaymentsApi", "PtsV2PaymentsPost201Response"):
        assert getattr(CyberSource, name) is getattr(api if name.endswith("Api") else models, name)


def test_package_init_does_not_grow_with_the_surface() -> None:
    # `import CyberSource` reads one small module; the name tables are those of
    # CyberSource.api and CyberSource.models, read on first use.
    import CyberSource

    with open(CyberSource.__file__, encoding="utf-8") as init:
        source = init.read()
    assert "PtsV2PaymentsPost201Response" not in source and "FlexAPIApi" not in source
    assert len(source) < 4000


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
