"""The official SDK 0.0.80, in its own virtualenv, runs a whole purchase against the emulator.

The same official-style samples as `tests/test_official_samples.py` (`tests/official_style/`)
run under the official SDK's interpreter: authorization, sale, capture, refunds, reversal,
voids, transaction details, a payment with a transient token minted by the emulator for a
Microform capture context, and the Microform and Unified Checkout capture contexts parsed by the
SDK's own utility. This proves the emulator speaks the official wire contract (paths, media
types, signatures, body shapes), not only this project's client. Slow: it builds (once) and runs
the official SDK's venv.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from CyberSource import GenerateCaptureContextRequest, MicroformIntegrationApi
from official_sdk import SCRIPT_TIMEOUT

from flex_ext.emulator import FlexEmulator

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent / "official_style"
MARKER = "OFFICIAL_PURCHASE "

SCRIPT = r'''
import importlib.metadata
import json
import os
import sys
import warnings
from importlib.machinery import SourceFileLoader

warnings.filterwarnings("ignore")
# The SDK fetches public keys trusting certifi's bundle only (no config key for a CA file):
# for this run certifi's bundle is a copy with the emulator's CA appended.
import certifi

if os.environ.get("SAMPLES_CA_FILE"):
    bundle = os.path.join(os.environ["SAMPLES_LOG_DIRECTORY"], "ca-bundle.pem")
    os.makedirs(os.environ["SAMPLES_LOG_DIRECTORY"], exist_ok=True)
    with open(certifi.where()) as base, open(os.environ["SAMPLES_CA_FILE"]) as extra, open(bundle, "w") as out:
        out.write(base.read() + "\n" + extra.read())
    certifi.where = lambda: bundle
import CyberSource
from CyberSource.rest import ApiException

# The official SDK's pkg_resources lookup of its own version fails in a plain venv
# (see test_official_sdk_interop.py); the same value, read the modern way.
CyberSource.ApiClient.get_client_id = lambda self: "cybs-rest-sdk-python-" + importlib.metadata.version(
    "cybersource-rest-client-python")


def sample(path, function, *args):
    module = SourceFileLoader(path.replace("/", "_").replace("-", "_"), os.path.join("samples", path)).load_module()
    try:
        result = getattr(module, function)(*args)
    except ApiException as error:
        return {"exception": error.status, "body": error.body}
    except Exception as error:
        return {"error": type(error).__name__ + ": " + str(error)[:500]}
    if isinstance(result, tuple):
        return {"jwt": result[0], "parsed": result[1]}
    return {"type": type(result).__name__, "id": result.id, "status": result.status}


results = {
    "authorization": sample("Payments/Payments/simple-authorizationinternet.py", "simple_authorizationinternet", False),
    "sale": sample("Payments/Payments/simple-authorizationinternet.py", "simple_authorizationinternet", True),
    "capture": sample("Payments/Capture/capture-payment.py", "capture_payment"),
    "refund_payment": sample("Payments/Refund/refund-payment.py", "refund_payment"),
    "refund_capture": sample("Payments/Refund/refund-capture.py", "refund_capture"),
    "reversal": sample("Payments/Reversal/process-authorization-reversal.py", "process_authorization_reversal"),
    "void_payment": sample("Payments/Void/void-payment.py", "void_payment"),
    "void_capture": sample("Payments/Void/void-capture.py", "void_capture"),
    "void_refund": sample("Payments/Void/void-refund.py", "void_refund"),
    "transaction": sample("TransactionDetails/retrieve-transaction.py", "retrieve_transaction"),
    "token_payment": sample("Payments/Payments/payment-with-flex-token.py", "payment_with_flex_token",
                            os.environ["SAMPLES_TRANSIENT_TOKEN"]),
    "token_reuse": sample("Payments/Payments/payment-with-flex-token.py", "payment_with_flex_token",
                          os.environ["SAMPLES_TRANSIENT_TOKEN"]),
    "microform": sample("FlexMicroform/generate-capture-context-accept-card.py",
                        "generate_capture_context_accept_card"),
    "unified_checkout": sample("UnifiedCheckout/generate-unified-checkout.py",
                               "generate_unified_checkout_capture_context"),
}
sys.stdout.write("OFFICIAL_PURCHASE " + json.dumps(results, default=str) + "\n")
'''


@pytest.fixture(scope="module")
def purchase(official_sdk_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("official-purchase")
    script = work / "purchase.py"
    script.write_text(SCRIPT, encoding="utf-8")
    with FlexEmulator(tls=True) as emulator:
        config = emulator.merchant_config()
        # A transient token the way a browser gets one: a Microform context, then the card.
        request = GenerateCaptureContextRequest(client_version="v2", target_origins=["https://shop.example"])
        context, _, _ = MicroformIntegrationApi(config).generate_capture_context(request)
        token = emulator.mint_transient_token(
            context, {"number": "4111111111111111", "expirationMonth": "12", "expirationYear": "2031"}
        )
        env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
        env.update(
            CYBERSOURCE_MERCHANT_ID=config["merchantid"],
            CYBERSOURCE_KEY_ID=config["merchant_keyid"],
            CYBERSOURCE_SECRET_KEY=config["merchant_secretkey"],
            CYBERSOURCE_RUN_ENVIRONMENT=config["run_environment"].split("://", 1)[-1],
            SAMPLES_SSL_VERIFY="false",
            SAMPLES_LOG_DIRECTORY=str(work / "logs"),
            SAMPLES_TRANSIENT_TOKEN=token,
            SAMPLES_CA_FILE=config["ssl_ca_file"],
        )
        done = subprocess.run(
            [str(official_sdk_python), "-I", str(script)],
            capture_output=True, text=True, timeout=SCRIPT_TIMEOUT, cwd=ROOT, env=env, check=False,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
        if done.returncode != 0 or len(lines) != 1:
            pytest.fail(f"the official purchase failed (exit {done.returncode})\n"
                        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        yield json.loads(lines[0][len(MARKER):]), emulator


EXPECTED = {
    "authorization": ("PtsV2PaymentsPost201Response", "AUTHORIZED"),
    "sale": ("PtsV2PaymentsPost201Response", "AUTHORIZED"),
    "capture": ("PtsV2PaymentsCapturesPost201Response", "PENDING"),
    "refund_payment": ("PtsV2PaymentsRefundPost201Response", "PENDING"),
    "refund_capture": ("PtsV2PaymentsRefundPost201Response", "PENDING"),
    "reversal": ("PtsV2PaymentsReversalsPost201Response", "REVERSED"),
    "void_payment": ("PtsV2PaymentsVoidsPost201Response", "VOIDED"),
    "void_capture": ("PtsV2PaymentsVoidsPost201Response", "VOIDED"),
    "void_refund": ("PtsV2PaymentsVoidsPost201Response", "VOIDED"),
    "token_payment": ("PtsV2PaymentsPost201Response", "AUTHORIZED"),
}


@pytest.mark.parametrize("step", sorted(EXPECTED))
def test_the_official_sdk_runs_each_step_of_the_purchase(purchase: Any, step: str) -> None:
    results, _ = purchase
    model, status = EXPECTED[step]
    assert results[step].get("type") == model, results[step]
    assert results[step]["status"] == status
    assert results[step]["id"]


def test_the_official_sdk_reads_the_transaction_details(purchase: Any) -> None:
    results, _ = purchase
    assert results["transaction"]["type"] == "TssV2TransactionsGet200Response", results["transaction"]
    assert results["transaction"]["id"]


def test_a_spent_transient_token_is_the_real_400_for_the_official_sdk(purchase: Any) -> None:
    results, _ = purchase
    refused = results["token_reuse"]
    assert refused.get("exception") == 400, refused
    body = json.loads(refused["body"])
    assert (body["status"], body["reason"]) == ("INVALID_REQUEST", "INVALID_DATA")
    assert body["details"][0]["field"] == "tokenInformation.jti"


@pytest.mark.parametrize(("step", "prefix"), [("microform", "mf-"), ("unified_checkout", "gda-")])
def test_the_official_sdk_parses_our_microform_and_unified_checkout_contexts(
    purchase: Any, step: str, prefix: str
) -> None:
    results, _ = purchase
    assert "parsed" in results[step], results[step]
    parsed = results[step]["parsed"]
    if isinstance(parsed, str):
        parsed = json.loads(parsed)
    assert parsed["ctx"][0]["type"].startswith(prefix)
