"""The main job: the whole checkout flow as a list of named steps, against the emulators or live.

python scripts/smoke (the same as flex-client smoke) starts the Flex and Payroc emulators
in-process and runs the steps of STEPS in order: a capture context (POST /flex/v2/sessions
through the generated FlexAPIApi), its verification (signature by the public key it names,
expiry), tokenization of a test card (JWE to the context's key, POST to flx.origin +
flx.path), the verification of the transient token, and a Payroc Hosted Fields session
(bearer token from the identity call, then POST .../hosted-fields-sessions with an
idempotency key). Each step prints one line: status, name, time in ms and what it found
(key id, expiry, masked card); the run stops at the first failing step.

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
    from .transient_token import TransientToken

__all__ = ["STEPS", "TEST_CARD", "SmokeRun", "StepFailed", "StepReport", "StepSkipped", "live_config", "main",
           "run_smoke", "sample_card", "smoke_command", "step"]

#: A Visa test number that passes Luhn (the emulator rejects numbers that do not).
TEST_CARD = "4111111111111111"
#: The Hosted Fields JavaScript library version the smoke asks a session for.
HOSTED_FIELDS_LIB_VERSION = "1.7.0.261457"
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


# Payment steps (authorize -> capture -> refund, and a declined card) belong here, one @step
# function each, spending run.token and keeping the ids they need in new SmokeRun fields,
# once FlexClient can pay; not before: a step that cannot really pay must not report "ok".


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
