"""Microform and Unified Checkout capture contexts, minted transient tokens and the key pool.

Spoken to with the independent test-side helpers (``emulator_helpers``), never the client.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Iterator

import pytest
from emulator_helpers import (
    Client,
    error_reason,
    jwt_parts,
    signature_headers,
    token_request_jwe,
    verify_rs256,
)

from flex_ext.emulator import FlexEmulator, TokenizationError

ACCEPT_CARD = {  # the official sample generate-capture-context-accept-card, as it reaches the wire
    "clientVersion": "v2",
    "targetOrigins": ["https://www.test.com"],
    "allowedCardNetworks": [
        "VISA", "MASTERCARD", "AMEX", "CARNET", "CARTESBANCAIRES", "CUP", "DINERSCLUB", "DISCOVER",
        "EFTPOS", "ELO", "JCB", "JCREW", "MADA", "MAESTRO", "MEEZA",
    ],
    "allowedPaymentTypes": ["CARD"],
}
ACCEPT_CHECK = {"clientVersion": "v2", "targetOrigins": ["https://www.test.com"], "allowedPaymentTypes": ["CHECK"]}
UC_MANDATE = {
    "billingType": "FULL",
    "requestEmail": True,
    "requestPhone": True,
    "requestShipping": True,
    "shipToCountries": ["US", "GB"],
    "showAcceptedNetworkIcons": True,
}
CLICK_TO_PAY = {  # generate-capture-context-for-click-to-pay-dropin-ui
    "clientVersion": "0.23",
    "targetOrigins": ["https://yourCheckoutPage.com"],
    "allowedCardNetworks": ACCEPT_CARD["allowedCardNetworks"],
    "allowedPaymentTypes": ["CLICKTOPAY"],
    "country": "US",
    "locale": "en_US",
    "captureMandate": UC_MANDATE,
    "orderInformation": {"amountDetails": {"totalAmount": "21.00", "currency": "USD"}},
    "completeMandate": {"type": "CAPTURE", "decisionManager": False},
}
BILLING_SHIPPING = {  # generate-unified-checkout-passing-billing-shipping
    **CLICK_TO_PAY,
    "allowedPaymentTypes": ["APPLEPAY", "CHECK", "CLICKTOPAY", "GOOGLEPAY", "PANENTRY", "PAZE"],
    "orderInformation": {
        "amountDetails": {"totalAmount": "21.00", "currency": "USD"},
        "billTo": {
            "address1": "277 Park Avenue", "administrativeArea": "NY", "country": "US", "locality": "New York",
            "postalCode": "10172", "company": {"name": "Visa Inc", "country": "US"}, "email": "john.doe@visa.com",
            "firstName": "John", "lastName": "Doe", "phoneNumber": "1234567890",
        },
        "shipTo": {"address1": "CyberSource", "country": "GB", "locality": "Belfast", "firstName": "Joe"},
    },
}
UC_PATHS = ["/up/v1/capture-contexts", "/uc/v1/sessions"]


@pytest.fixture(scope="module")
def emu() -> Iterator[FlexEmulator]:
    with FlexEmulator() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def client() -> Client:
    return Client()


def post(emu: FlexEmulator, client: Client, path: str, document: Any, secret: str = "") -> Any:
    merchant = emu.merchant()
    body = json.dumps(document).encode()
    headers = signature_headers(
        merchant.merchant_id, merchant.key_id, secret or merchant.shared_secret, body, f"127.0.0.1:{emu.port}",
        target=path,
    )
    return client.request("POST", emu.base_url + path, body, headers)


def verified(emu: FlexEmulator, context: str) -> dict[str, Any]:
    header, _ = jwt_parts(context)
    return verify_rs256(context, emu.public_jwk(header["kid"]))


def check_flx(emu: FlexEmulator, claims: dict[str, Any]) -> None:
    flx = claims["flx"]
    assert flx["origin"] == emu.base_url and flx["path"] == "/flex/v2/tokens"
    assert isinstance(flx["data"], str) and flx["data"]
    assert flx["jwk"]["use"] == "enc" and flx["jwk"]["kty"] == "RSA" and len(flx["jwk"]["kid"]) == 32
    assert claims["exp"] - claims["iat"] == 900 and claims["iss"] == "Flex API"


# -- Microform ------------------------------------------------------------------------------------


def test_microform_sample_body_gives_a_signed_mf_2_1_0_context(emu: FlexEmulator, client: Client) -> None:
    response = post(emu, client, "/microform/v2/sessions", ACCEPT_CARD)
    assert response.status == 201, response.data
    assert response.headers["Content-Type"] == "application/jwt;charset=UTF-8"
    claims = verified(emu, response.data.decode())
    check_flx(emu, claims)
    [ctx] = claims["ctx"]
    assert ctx["type"] == "mf-2.1.0"
    data = ctx["data"]
    assert data["targetOrigins"] == ["https://www.test.com"]
    assert data["mfOrigin"] == emu.base_url
    assert data["allowedCardNetworks"] == ACCEPT_CARD["allowedCardNetworks"]
    assert data["allowedPaymentTypes"] == ["CARD"]
    assert data["clientLibrary"].endswith("/flex-microform.min.js")
    assert data["clientLibraryIntegrity"].startswith("sha256-") and len(data["clientLibraryIntegrity"]) == 51


def test_microform_accept_check_sample_and_the_older_shape(emu: FlexEmulator, client: Client) -> None:
    check = verified(emu, post(emu, client, "/microform/v2/sessions", ACCEPT_CHECK).data.decode())
    assert check["ctx"][0]["type"] == "mf-2.1.0" and check["ctx"][0]["data"]["allowedPaymentTypes"] == ["CHECK"]
    # Without allowedPaymentTypes the real service answers the mf-2.0.0 shape.
    older = verified(emu, post(emu, client, "/microform/v2/sessions", {"targetOrigins": ["http://localhost:3000"]})
                     .data.decode())
    assert older["ctx"][0]["type"] == "mf-2.0.0"
    assert not {"allowedPaymentTypes", "clientLibraryIntegrity"} & set(older["ctx"][0]["data"])


def test_microform_transient_token_response_options_reach_flx(emu: FlexEmulator, client: Client) -> None:
    body = {**ACCEPT_CARD, "transientTokenResponseOptions": {"includeCardPrefix": True}}
    claims = verified(emu, post(emu, client, "/microform/v2/sessions", body).data.decode())
    assert claims["flx"]["transientTokenResponseOptions"] == {"includeCardPrefix": True}


MICROFORM_REJECTIONS = [
    ({}, "targetOrigins"),
    ({"targetOrigins": []}, "targetOrigins"),
    ({"targetOrigins": "https://www.test.com"}, "targetOrigins"),
    ({"targetOrigins": ["http://www.test.com"]}, "targetOrigins"),
    ({"targetOrigins": ["https://www.test.com/path"]}, "targetOrigins"),
    ({**ACCEPT_CARD, "allowedCardNetworks": ["VISA", "BITCOIN"]}, "allowedCardNetworks"),
    ({**ACCEPT_CARD, "allowedPaymentTypes": ["PANENTRY"]}, "allowedPaymentTypes"),
    ({**ACCEPT_CARD, "clientVersion": 2}, "clientVersion"),
    ({**ACCEPT_CARD, "transientTokenResponseOptions": {"includeCardPrefix": "yes"}},
     "transientTokenResponseOptions.includeCardPrefix"),
]


@pytest.mark.parametrize(("document", "location"), MICROFORM_REJECTIONS)
def test_microform_request_validation(emu: FlexEmulator, client: Client, document: Any, location: str) -> None:
    response = post(emu, client, "/microform/v2/sessions", document)
    assert response.status == 400
    body = json.loads(response.data)
    assert body["reason"] == "UNIFIEDPAYMENTS_VALIDATION_PARAMS"
    assert location in [detail["location"] for detail in body["details"]]
    assert set(body) == {"correlationId", "details", "informationLink", "message", "reason"}


@pytest.mark.parametrize("path", ["/microform/v2/sessions", *UC_PATHS])
def test_body_that_is_not_an_object_is_400(emu: FlexEmulator, client: Client, path: str) -> None:
    response = post(emu, client, path, ["targetOrigins"])
    assert response.status == 400 and json.loads(response.data)["reason"] == "UNIFIEDPAYMENTS_VALIDATION_PARAMS"


@pytest.mark.parametrize("path", ["/microform/v2/sessions", *UC_PATHS])
def test_same_authentication_as_flex_sessions(emu: FlexEmulator, client: Client, path: str) -> None:
    before = emu.authentication_failures()
    wrong = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    response = post(emu, client, path, BILLING_SHIPPING if path in UC_PATHS else ACCEPT_CARD, secret=wrong)
    assert response.status == 401
    assert json.loads(response.data) == {"response": {"rmsg": "Authentication Failed"}}
    assert emu.authentication_failures() == before + 1
    assert client.request("POST", emu.base_url + path, b"{}", {"Content-Type": "application/json"}).status == 401


# -- Unified Checkout -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", UC_PATHS)
@pytest.mark.parametrize("document", [CLICK_TO_PAY, BILLING_SHIPPING], ids=["click-to-pay", "billing-shipping"])
def test_unified_checkout_samples_give_a_gda_context_echoing_the_request(
    emu: FlexEmulator, client: Client, path: str, document: dict[str, Any]
) -> None:
    response = post(emu, client, path, document)
    assert response.status == 201, response.data
    claims = verified(emu, response.data.decode())
    check_flx(emu, claims)
    assert claims["flx"]["completePath"] == "/flex/v2/complete"
    assert claims["flx"]["completeUrl"] == emu.base_url + "/flex/v2/complete"
    [ctx] = claims["ctx"]
    assert ctx["type"] == "gda-0.10.0"
    data = ctx["data"]
    assert data["allowedPaymentTypes"] == document["allowedPaymentTypes"]
    assert data["captureMandate"] == UC_MANDATE
    assert data["orderInformation"] == document["orderInformation"]
    assert data["completeMandate"] == document["completeMandate"]
    assert data["targetOrigins"] == document["targetOrigins"]
    assert (data["country"], data["locale"], data["clientVersion"]) == ("US", "en_US", "0.23")
    assert data["serviceOrigin"] == emu.base_url and data["clientLibraryIntegrity"].startswith("sha256-")


UC_REJECTIONS = [
    ({k: v for k, v in CLICK_TO_PAY.items() if k != "orderInformation"}, "orderInformation.amountDetails"),
    ({**CLICK_TO_PAY, "orderInformation": {"amountDetails": {"totalAmount": 21, "currency": "USD"}}},
     "orderInformation.amountDetails.totalAmount"),
    ({**CLICK_TO_PAY, "orderInformation": {"amountDetails": {"totalAmount": "21.00", "currency": "usd"}}},
     "orderInformation.amountDetails.currency"),
    ({**CLICK_TO_PAY, "allowedPaymentTypes": []}, "allowedPaymentTypes"),
    ({**CLICK_TO_PAY, "allowedPaymentTypes": ["CARD"]}, "allowedPaymentTypes"),
    ({**CLICK_TO_PAY, "captureMandate": "FULL"}, "captureMandate"),
    ({**CLICK_TO_PAY, "locale": 5}, "locale"),
]


@pytest.mark.parametrize(("document", "location"), UC_REJECTIONS)
def test_unified_checkout_request_validation(emu: FlexEmulator, client: Client, document: Any, location: str) -> None:
    response = post(emu, client, "/up/v1/capture-contexts", document)
    assert response.status == 400
    body = json.loads(response.data)
    assert body["reason"] == "UNIFIEDPAYMENTS_VALIDATION_PARAMS"
    assert location in [detail["location"] for detail in body["details"]]


# -- tokenizing such contexts ---------------------------------------------------------------------


def test_browser_jwe_for_a_microform_context_gives_a_token_of_its_type(emu: FlexEmulator, client: Client) -> None:
    context = post(emu, client, "/microform/v2/sessions", ACCEPT_CARD).data.decode()
    card = {"paymentInformation": {"card": {"number": "4111111111111111", "securityCode": "123"}}}
    response = client.tokenize(context, token_request_jwe(context, card))
    assert response.status == 200, response.data
    claims = verify_rs256(response.data.decode(), jwt_parts(context)[1]["flx"]["jwk"])
    assert claims["type"] == "mf-2.1.0"
    assert claims["content"]["paymentInformation"]["card"]["number"]["maskedValue"] == "XXXXXXXXXXXX1111"
    assert claims["content"]["paymentInformation"]["card"]["securityCode"] == {}
    # Microform never collects a billing address: such a field is refused.
    billed = {"paymentInformation": card["paymentInformation"], "orderInformation": {"billTo": {"firstName": "Jo"}}}
    refused = client.tokenize(context, token_request_jwe(context, billed))
    assert refused.status == 400 and error_reason(refused) == "VALIDATION_ERROR"


def test_minted_token_verifies_like_a_browser_one(emu: FlexEmulator, client: Client) -> None:
    context = post(emu, client, "/up/v1/capture-contexts", BILLING_SHIPPING).data.decode()
    flx = jwt_parts(context)[1]["flx"]
    token = emu.mint_transient_token(
        context, data={"orderInformation": {"billTo": {"email": "john.doe@visa.com"}}}
    )
    header, _ = jwt_parts(token)
    assert header == {"kid": flx["jwk"]["kid"], "alg": "RS256"}
    claims = verify_rs256(token, flx["jwk"])
    assert claims["type"] == "gda-0.10.0" and claims["exp"] - claims["iat"] == 900
    assert len(claims["jti"]) == 64
    card = claims["content"]["paymentInformation"]["card"]
    assert card["number"] == {"maskedValue": "XXXXXXXXXXXX1111", "bin": "411111", "detectedCardTypes": ["001"]}
    assert int(card["expirationYear"]["value"]) > time.gmtime().tm_year
    assert claims["content"]["orderInformation"] == {"billTo": {}}
    assert "john.doe" not in json.dumps(claims)


def test_minting_runs_the_tokens_endpoint_checks(emu: FlexEmulator) -> None:
    context = emu.issue_capture_context()
    with pytest.raises(TokenizationError) as luhn:
        emu.mint_transient_token(context, card={"number": "4111111111111112", "expirationMonth": "12",
                                                "expirationYear": "2099"})
    assert luhn.value.reason == "VALIDATION_ERROR"
    for _ in range(emu.usage_limit):
        emu.mint_transient_token(context)
    with pytest.raises(TokenizationError) as quota:
        emu.mint_transient_token(context)
    assert quota.value.reason == "RESOURCE_QUOTA_EXCEEDED"
    with pytest.raises(TokenizationError) as unknown:
        emu.mint_transient_token(context[:-2] + "xx")
    assert unknown.value.status == 404


# -- faults and counters on the new routes --------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "path", "document"),
    [
        ("microform-sessions", "/microform/v2/sessions", ACCEPT_CARD),
        ("uc-capture-contexts", "/up/v1/capture-contexts", CLICK_TO_PAY),
        ("uc-sessions", "/uc/v1/sessions", CLICK_TO_PAY),
    ],
)
def test_faults_on_the_capture_context_routes(
    emu: FlexEmulator, client: Client, endpoint: str, path: str, document: Any
) -> None:
    before = emu.request_count(endpoint)
    emu.inject_fault(endpoint, status=503, times=1)
    failed = post(emu, client, path, document)
    assert failed.status == 503 and json.loads(failed.data)["reason"] == "SERVER_ERROR"
    assert post(emu, client, path, document).status == 201
    assert emu.request_count(endpoint) == before + 2
    assert emu.active_fault(endpoint) is None


# -- the key pool ---------------------------------------------------------------------------------


def _pool_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "flex-emulator-keys")


def test_warm_key_pool_makes_capture_contexts_cheap_and_keys_one_time() -> None:
    before_threads = _pool_threads()
    with FlexEmulator(key_pool_size=4) as emu:
        emu.issue_capture_context()  # signing key; a single context makes no spare key
        time.sleep(0.3)
        assert emu.spare_keys == 0 and _pool_threads() == before_threads
        emu.issue_capture_context()  # the second miss starts the refill
        contexts = []
        taken = []  # whether each context found a pooled key (the speed is measured by scripts/bench)
        for _ in range(12):
            deadline = time.monotonic() + 5
            while emu.spare_keys == 0 and time.monotonic() < deadline:
                time.sleep(0.01)  # let the background thread refill
            taken.append(emu.spare_keys >= 1)  # a spare key is there: take() uses it, nothing is made
            contexts.append(emu.issue_capture_context())
        assert _pool_threads() == before_threads + 1
        deadline = time.monotonic() + 5
        while emu.spare_keys == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert 1 <= emu.spare_keys <= 4  # refilled again, within its bound
    assert all(taken), taken  # the background refill kept up: served from the pool every time
    moduli = {jwt_parts(context)[1]["flx"]["jwk"]["n"] for context in contexts}
    assert len(moduli) == len(contexts)
    deadline = time.monotonic() + 5
    while _pool_threads() > before_threads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _pool_threads() == before_threads  # stopped with the emulator


def test_an_emulator_that_issues_no_context_makes_no_key() -> None:
    before_threads = _pool_threads()
    with FlexEmulator() as emu:
        client = Client()
        assert client.request("POST", emu.payroc_identity_url + "/authorize",
                              headers={"x-api-key": emu.payroc_api_key}).status == 200
        assert _pool_threads() == before_threads


# -- the official sample, as written, through the generated package ---------------------------------


def _del_none(d: dict[str, Any]) -> dict[str, Any]:  # the samples' helper
    for key, value in list(d.items()):
        if value is None:
            del d[key]
        elif isinstance(value, dict):
            _del_none(value)
    return d


def test_official_microform_sample_runs_against_the_emulator(emu: FlexEmulator) -> None:
    import CyberSource
    from CyberSource.utilities.flex.CaptureContextParsingUtility import parse_capture_context_response

    request = CyberSource.GenerateCaptureContextRequest(
        client_version="v2",
        target_origins=["https://www.test.com"],
        allowed_card_networks=ACCEPT_CARD["allowedCardNetworks"],
        allowed_payment_types=["CARD"],
    )
    api = CyberSource.MicroformIntegrationApi(emu.merchant_config())
    return_data, status, _ = api.generate_capture_context(json.dumps(_del_none(request.__dict__)))
    assert status == 201
    parsed = parse_capture_context_response(jwt_value=return_data, merchant_config=api.api_client.mconfig)
    assert parsed["ctx"][0]["type"] == "mf-2.1.0"
    assert parsed["ctx"][0]["data"]["allowedCardNetworks"] == ACCEPT_CARD["allowedCardNetworks"]
    token = emu.mint_transient_token(return_data)
    assert verify_rs256(token, parsed["flx"]["jwk"])["type"] == "mf-2.1.0"
