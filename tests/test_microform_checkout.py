"""A Microform checkout on the server side, end to end against the emulator: the generated
`MicroformIntegrationApi` creates the context, `FlexClient` verifies it, the emulator mints the
token a browser would get, `FlexClient` verifies the token and spends it once."""

from __future__ import annotations

import pytest
from CyberSource import GenerateCaptureContextRequest, MicroformIntegrationApi

from flex_ext import FlexClient
from flex_ext.emulator import FlexEmulator
from flex_ext.errors import BadRequestError, JWTValidationError


def test_microform_context_token_and_payment(flex_emulator: FlexEmulator) -> None:
    config = flex_emulator.merchant_config()
    client = FlexClient(config)
    request = GenerateCaptureContextRequest(
        client_version="v2", target_origins=["https://shop.example"], allowed_payment_types=["CARD"])
    jwt, status, _ = MicroformIntegrationApi(config).generate_capture_context(request)
    assert status == 201

    context = client.verify_capture_context(jwt)
    assert context.origin == flex_emulator.base_url
    token = client.verify_transient_token(
        flex_emulator.mint_transient_token(jwt, {"number": "5555555555554444", "expirationMonth": "11",
                                                 "expirationYear": "2032"}), context)
    assert token.masked_card_number.endswith("4444")

    payment = client.authorize(token, "42.00", "EUR", reference="ORDER-7")
    assert (payment.status, payment.approved, payment.amount, payment.currency) == ("AUTHORIZED", True, "42.00", "EUR")

    with pytest.raises(BadRequestError) as spent:
        client.authorize(token, "42.00", "EUR")
    assert spent.value.reason == "INVALID_DATA"
    assert ("tokenInformation.jti", "INVALID_DATA") in spent.value.details
    assert token.jwt not in str(spent.value)


def test_a_token_minted_for_another_context_does_not_verify(flex_emulator: FlexEmulator) -> None:
    client = FlexClient(flex_emulator.merchant_config())
    first = client.verify_capture_context(flex_emulator.issue_capture_context())
    other = flex_emulator.mint_transient_token(flex_emulator.issue_capture_context())
    with pytest.raises(JWTValidationError):
        client.verify_transient_token(other, first)
