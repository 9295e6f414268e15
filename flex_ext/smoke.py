"""The main job: the whole checkout flow as a list of named steps, against the emulators or live.

python scripts/smoke (the same as flex-client smoke) starts one emulator in-process
(Flex, payments and Payroc) and runs the steps of STEPS in order, a whole purchase: a
capture context (POST /flex/v2/sessions through the generated FlexAPIApi), its
verification (signature by the public key it names, expiry), tokenization of a test card
(JWE to the context's key, POST to flx.origin + flx.path), the verification of the
transient token, an authorization spending that token, the capture of it and the refund of
the capture; then a test card at the amount the sandbox declines (the step passes when the
payment is DECLINED) and a Payroc Hosted Fields session (bearer token from the identity
call, then POST .../hosted-fields-sessions with an idempotency key). Each step prints one
line: status, name, time in ms and what it found (key id, expiry, masked card, payment
status, reason, id, amount); the run stops at the first failing step.

A step is one function taking the SmokeRun and decorated with @step("name"): it returns
the details to print (never a secret or card data), keeps on the run what later steps
need, raises to fail, or raises StepSkipped("why") to be reported as skipped.

--live runs the same steps against the CyberSource test environment with the merchant
config from CYBERSOURCE_MERCHANT_ID, CYBERSOURCE_KEY_ID, CYBERSOURCE_SECRET_KEY and
optionally CYBERSOURCE_RUN_ENVIRONMENT (default apitest.cybersource.com); the Hosted
Fields step then needs PAYROC_API_KEY and PAYROC_TERMINAL_ID (UAT) and is skipped without.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, TextIO, TypeVar

from .errors import ConfigurationError, FlexError

if TYPE_CHECKING:
    from .capture_context import CaptureContext
    from .client import Card, FlexClient
    from .hosted_fields import PayrocConfig
    from .payments import PaymentResult
    from .transient_token import TransientToken

__all__ = ["STEPS", "TEST_CARD", "SmokeRun", "StepFailed", "StepReport", "StepSkipped", "live_config", "main",
           "run_smoke", "sample_card", "smoke_command", "step"]

#: A Visa test number that passes Luhn (the emulator rejects numbers that do not).
TEST_CARD = "4111111111111111"
#: The Hosted Fields JavaScript library version the smoke asks a session for.
HOSTED_FIELDS_LIB_VERSION = "1.7.0.261457"
#: What the smoke's purchase authorizes, captures and refunds.
PURCHASE_AMOUNT, CURRENCY = "10.00", "USD"
#: An amount the emulator (and CyberSource's processor simulator) declines: issuer code 51,
#: INSUFFICIENT_FUND (docs/sandbox.md, "Outcome triggers").
DECLINE_AMOUNT = "4051.00"
#: The payer the official samples send: the test environment wants a billing address.
BILL_TO = {"first_name": "John", "last_name": "Doe", "address1": "1 Market St", "locality": "San Francisco",
           "administrative_area": "CA", "postal_code": "94105", "country": "US", "email": "test@cybs.com"}
_T = TypeVar("_T")


def sample_card(security_code: Optional[str] = None) -> Card:
    """The test card, expiring in December two years from now (always in the future)."""
    from .client import Card

    return Card(TEST_CARD, "12", str(time.gmtime().tm_year + 2), security_code=security_code)


class StepFailed(FlexError):
    """A step got an answer that is not what the flow needs (wrong status, missing result)."""


class StepSkipped(Exception):
    """Raised by a step that cannot run in this setting; the message says why."""


@dataclass
class SmokeRun:
    """What the steps share: the clients they call and what earlier steps produced."""

    client: FlexClient
    payroc: Optional[PayrocConfig]
    terminal_id: str
    capture_context_jwt: str = ""
    context: Optional[CaptureContext] = None
    token: Optional[TransientToken] = None
    payment_id: Optional[str] = None
    capture_id: Optional[str] = None


Step = Callable[[SmokeRun], dict[str, Any]]
#: The steps in the order they run: (name, function).
STEPS: list[tuple[str, Step]] = []


def step(name: str) -> Callable[[Step], Step]:
    """Register the decorated function as the next step of the smoke, under ``name``."""

    def register(function: Step) -> Step:
        STEPS.append((name, function))
        return function

    return register


def _need(value: Optional[_T], what: str) -> _T:
    if value is None:
        raise StepFailed(f"needs {what} from an earlier step")
    return value


@step("capture context")
def _create_capture_context(run: SmokeRun) -> dict[str, Any]:
    from .client import DEFAULT_CARD_FIELDS, build_sessions_body

    # Through the generated API, as drop-in code calls it; the generated package sits on top
    # of flex_ext, so it is reached by name. The client's validated config is reused.
    api = importlib.import_module("CyberSource").FlexAPIApi(run.client.config)
    jwt, status, _ = api.generate_flex_api_capture_context(build_sessions_body(DEFAULT_CARD_FIELDS))
    if status != 201:
        raise StepFailed(f"expected HTTP status 201, got {status}")
    run.capture_context_jwt = jwt
    return {"status": status}


@step("verify capture context")
def _verify_capture_context(run: SmokeRun) -> dict[str, Any]:
    ctx = run.context = run.client.verify_capture_context(_need(run.capture_context_jwt or None, "a capture context"))
    # The names of flex-client's JSON output.
    return {"kid": ctx.header.get("kid"), "encryption_kid": ctx.kid, "origin": ctx.origin,
            "expires_at": ctx.expires_at.isoformat() if ctx.expires_at else None}


@step("tokenize test card")
def _tokenize(run: SmokeRun) -> dict[str, Any]:
    token = run.token = run.client.tokenize(_need(run.context, "a verified capture context"), sample_card("123"))
    return {"masked_card": token.masked_card_number, "token_type": token.token_type}


@step("verify transient token")
def _verify_transient_token(run: SmokeRun) -> dict[str, Any]:
    context = _need(run.context, "a verified capture context")
    token = run.client.verify_transient_token(_need(run.token, "a transient token").jwt, context)
    return {"kid": token.header.get("kid"), "jti": token.jti[:8] + "...",
            "expires_at": token.expires_at.isoformat() if token.expires_at else None}


def _payment(result: PaymentResult, expected: str) -> dict[str, Any]:
    """The step's details for a payment answer; fails unless its status is ``expected``."""
    if result.status != expected:
        reason = f" ({result.reason})" if result.reason else ""
        raise StepFailed(f"expected status {expected}, got {result.status}{reason}")
    shown = {"status": result.status, "reason": result.reason, "id": result.id,
             "amount": f"{result.amount} {result.currency}" if result.amount else None}
    return {k: v for k, v in shown.items() if v is not None}


@step("authorize")
def _authorize(run: SmokeRun) -> dict[str, Any]:
    result = run.client.authorize(_need(run.token, "a transient token"), PURCHASE_AMOUNT, CURRENCY, bill_to=BILL_TO)
    run.payment_id = result.id
    return _payment(result, "AUTHORIZED")


@step("capture")
def _capture(run: SmokeRun) -> dict[str, Any]:
    result = run.client.capture(_need(run.payment_id, "an authorization"), PURCHASE_AMOUNT, CURRENCY)
    run.capture_id = result.id
    return _payment(result, "PENDING")


@step("refund")
def _refund(run: SmokeRun) -> dict[str, Any]:
    capture_id = _need(run.capture_id, "a capture")
    return _payment(run.client.refund(capture_id, PURCHASE_AMOUNT, CURRENCY, of_capture=True), "PENDING")


@step("declined card")
def _declined_card(run: SmokeRun) -> dict[str, Any]:
    # A raw test card (the other way to pay) at the amount the sandboxes decline (docs/sandbox.md):
    # the step passes when the payment is refused, as it should be.
    result = run.client.authorize(sample_card("123"), DECLINE_AMOUNT, CURRENCY, bill_to=BILL_TO)
    return _payment(result, "DECLINED")


@step("hosted fields session")
def _hosted_fields_session(run: SmokeRun) -> dict[str, Any]:
    from .hosted_fields import HostedFieldsClient

    if run.payroc is None:
        raise StepSkipped("no PAYROC_API_KEY / PAYROC_TERMINAL_ID")
    session = HostedFieldsClient(run.payroc).create_hosted_fields_session(
        run.terminal_id, "payment", HOSTED_FIELDS_LIB_VERSION)
    return {"processing_terminal_id": session.processing_terminal_id, "expires_at": session.expires_at.isoformat()}


class StepReport:
    """Times each step and prints one line per step (or keeps the records for one JSON document)."""

    def __init__(self, out: TextIO, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.results: list[dict[str, Any]] = []

    def run(self, name: str, action: Callable[[], dict[str, Any]]) -> None:
        started = time.perf_counter()
        try:
            details = action()
        except StepSkipped as skipped:
            details = {"skipped": str(skipped)}
        except Exception as exc:
            from .cli import describe_error

            # The same one-line text the command line prints: library messages and types only.
            self._emit(name, started, ok=False, error=describe_error(exc)[1])
            raise
        self._emit(name, started, ok=True, **details)

    def _emit(self, name: str, started: float, ok: bool, **details: Any) -> None:
        record = {"step": name, "ok": ok, "ms": round((time.perf_counter() - started) * 1000, 1), **details}
        self.results.append(record)
        if not self.as_json:
            status = "skip" if "skipped" in record else "ok  " if ok else "FAIL"
            shown = "  ".join(f"{k}={v}" for k, v in details.items())
            print(f"[{status}] {name:<24} {record['ms']:>8.1f} ms  {shown}", file=self.out)


def live_config(environ: Optional[dict[str, str]] = None, *, alternative: str = "") -> dict[str, Any]:
    """The official-style merchant config from the ``CYBERSOURCE_*`` environment variables."""
    env = dict(os.environ if environ is None else environ)
    missing = [k for k in ("CYBERSOURCE_MERCHANT_ID", "CYBERSOURCE_KEY_ID", "CYBERSOURCE_SECRET_KEY") if not env.get(k)]
    if missing:
        raise ConfigurationError(f"no merchant config: set {', '.join(missing)}{alternative}")
    return {
        "authentication_type": "http_signature",
        "merchantid": env["CYBERSOURCE_MERCHANT_ID"],
        "merchant_keyid": env["CYBERSOURCE_KEY_ID"],
        "merchant_secretkey": env["CYBERSOURCE_SECRET_KEY"],
        "run_environment": env.get("CYBERSOURCE_RUN_ENVIRONMENT", "apitest.cybersource.com"),
    }


def _live_run() -> SmokeRun:
    from .client import FlexClient
    from .hosted_fields import PayrocConfig

    client = FlexClient(live_config())
    api_key, terminal_id = os.environ.get("PAYROC_API_KEY"), os.environ.get("PAYROC_TERMINAL_ID")
    if api_key and terminal_id:
        return SmokeRun(client, PayrocConfig(api_key=api_key, environment="uat"), terminal_id)
    return SmokeRun(client, None, "")


def _emulated_run(stack: ExitStack, report: StepReport) -> SmokeRun:
    from .client import FlexClient
    from .emulator import FlexEmulator
    from .hosted_fields import PayrocConfig

    runs: list[SmokeRun] = []

    def start() -> dict[str, Any]:
        emulator = stack.enter_context(FlexEmulator())  # serves Flex, payments and Payroc
        config = PayrocConfig(**emulator.payroc_config())
        runs.append(SmokeRun(FlexClient(emulator.merchant_config()), config, "1234001"))
        return {"base_url": emulator.base_url}

    report.run("start emulator", start)
    return runs[0]


def run_smoke(report: StepReport, live: bool = False) -> None:
    """Run every step of :data:`STEPS` into ``report``; raise the first failure (already reported)."""
    with ExitStack() as stack:
        run = _live_run() if live else _emulated_run(stack, report)
        for name, function in STEPS:
            report.run(name, partial(function, run))


def smoke_command(live: bool, as_json: bool, out: TextIO) -> int:
    """``flex-client smoke``: run the steps, then print the summary (or the JSON document)."""
    report = StepReport(out, as_json)
    try:
        run_smoke(report, live)
    except Exception:
        if as_json:
            print(json.dumps({"ok": False, "steps": report.results}), file=out)
        raise
    if as_json:
        print(json.dumps({"ok": True, "steps": report.results}), file=out)
    else:
        skipped = sum("skipped" in record for record in report.results)
        print(f"smoke: {len(report.results) - skipped} steps passed, {skipped} skipped", file=out)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python scripts/smoke``: the same as ``flex-client smoke``."""
    from .cli import main as cli_main

    return cli_main(["smoke", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
