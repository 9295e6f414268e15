"""The checkout written the way the official CyberSource samples write it, against the emulator.

`tests/official_style/` mirrors the official samples' layout and habits: `data/Configuration.py`
(a class whose `get_configuration()` gives the merchant dict), `from CyberSource import *`,
models nested with `.__dict__`, `del_none(...)` + `json.dumps` bodies, `return_data, status,
body = api.method(...)`, and samples that load other samples with `SourceFileLoader` relative to
the current directory (so the tests run from that root). Each sample's function is called as a
merchant's script would call it, and what it returns is what the merchant reads.
"""

from __future__ import annotations

import json
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from flex_ext.emulator import FlexEmulator

ROOT = Path(__file__).resolve().parent / "official_style"


@pytest.fixture
def samples(monkeypatch: pytest.MonkeyPatch, flex_emulator: FlexEmulator) -> FlexEmulator:
    config = flex_emulator.merchant_config()
    monkeypatch.setenv("CYBERSOURCE_MERCHANT_ID", config["merchantid"])
    monkeypatch.setenv("CYBERSOURCE_KEY_ID", config["merchant_keyid"])
    monkeypatch.setenv("CYBERSOURCE_SECRET_KEY", config["merchant_secretkey"])
    monkeypatch.setenv("CYBERSOURCE_RUN_ENVIRONMENT", config["run_environment"])
    monkeypatch.chdir(ROOT)
    return flex_emulator


def sample(path: str) -> ModuleType:
    name = "sample_" + path.replace("/", "_").replace("-", "_").replace(".", "_")
    return SourceFileLoader(name, str(ROOT / "samples" / path)).load_module()


def test_authorization_then_every_follow_on(samples: FlexEmulator) -> None:
    auth = sample("Payments/Payments/simple-authorizationinternet.py").simple_authorizationinternet(False)
    assert auth.status == "AUTHORIZED" and auth.id
    assert auth.order_information.amount_details.authorized_amount == "102.21"
    assert auth.processor_information.approval_code

    sale = sample("Payments/Payments/simple-authorizationinternet.py").simple_authorizationinternet(True)
    assert sale.status == "AUTHORIZED" and sale.id != auth.id

    capture = sample("Payments/Capture/capture-payment.py").capture_payment()
    assert capture.status == "PENDING"
    assert capture.order_information.amount_details.total_amount == "102.21"

    assert sample("Payments/Refund/refund-payment.py").refund_payment().status == "PENDING"
    assert sample("Payments/Refund/refund-capture.py").refund_capture().status == "PENDING"
    assert sample("Payments/Reversal/process-authorization-reversal.py").process_authorization_reversal().status == (
        "REVERSED"
    )
    for name in ("void-payment", "void-capture", "void-refund"):
        module = sample(f"Payments/Void/{name}.py")
        result = getattr(module, name.replace("-", "_"))()
        assert result.status == "VOIDED", name


def test_transaction_details_tell_what_happened(samples: FlexEmulator) -> None:
    details = sample("TransactionDetails/retrieve-transaction.py").retrieve_transaction()
    assert details.id
    assert details.payment_information.card.suffix == "1111"


def test_microform_context_then_a_payment_with_its_transient_token(samples: FlexEmulator) -> None:
    capture_context, parsed = sample("FlexMicroform/generate-capture-context-accept-card.py").generate_capture_context_accept_card()
    assert parsed["ctx"][0]["type"].startswith("mf-")
    assert parsed["ctx"][0]["data"]["targetOrigins"] == ["https://www.test.com"]
    token = samples.mint_transient_token(
        capture_context,
        {"number": "4111111111111111", "expirationMonth": "12", "expirationYear": "2031", "securityCode": "123"},
    )
    pay = sample("Payments/Payments/payment-with-flex-token.py")
    payment = pay.payment_with_flex_token(token)
    assert payment.status == "AUTHORIZED"

    # One successful authorization spends the token; the next attempt is the real 400.
    from CyberSource.rest import ApiException

    with pytest.raises(ApiException) as refused:
        pay.payment_with_flex_token(token)
    assert refused.value.status == 400
    body: dict[str, Any] = json.loads(refused.value.body)
    assert body["reason"] == "INVALID_DATA"
    assert body["details"][0]["field"] == "tokenInformation.jti"


def test_unified_checkout_context_as_the_sample_builds_it(samples: FlexEmulator) -> None:
    jwt, parsed = sample("UnifiedCheckout/generate-unified-checkout.py").generate_unified_checkout_capture_context()
    assert jwt.count(".") == 2
    data = parsed["ctx"][0]["data"]
    assert parsed["ctx"][0]["type"].startswith("gda-")
    assert data["orderInformation"]["amountDetails"]["totalAmount"] == "21.00"
