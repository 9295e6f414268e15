"""The main job: one whole Flex v2 flow, step by step, against the built-in emulator or live.

``python scripts/smoke`` (or ``flex-client smoke``) starts the emulator in-process and runs:
capture context (``POST /flex/v2/sessions`` through the generated ``FlexAPIApi``), its
verification (signature by the public key it names, expiry), tokenization of a test card
(JWE to the context's key, ``POST`` to ``flx.origin + flx.path``) and the verification of
the transient token; then a Payroc Hosted Fields session (bearer token from the identity
call, ``POST .../hosted-fields-sessions`` with an idempotency key) against the built-in
Payroc emulator. Each step prints its status, key id, expiry, masked card and time.

``--live`` runs the same code against the CyberSource test environment with credentials
from the environment: ``CYBERSOURCE_MERCHANT_ID``, ``CYBERSOURCE_KEY_ID``,
``CYBERSOURCE_SECRET_KEY`` and optionally ``CYBERSOURCE_RUN_ENVIRONMENT`` (default
``apitest.cybersource.com``); the Hosted Fields step then needs ``PAYROC_API_KEY`` and
``PAYROC_TERMINAL_ID`` (UAT) and is reported as skipped without them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import ExitStack
from typing import Any, Callable, Optional, Sequence, TextIO, TypeVar

__all__ = ["TEST_CARD", "live_config", "main", "run_smoke"]

#: A Visa test number that passes Luhn (the emulator rejects numbers that do not).
TEST_CARD = "4111111111111111"
#: The Hosted Fields JavaScript library version the smoke asks a session for.
HOSTED_FIELDS_LIB_VERSION = "1.7.0.261457"
_T = TypeVar("_T")


class _Steps:
    """Runs named steps, timing each one and printing one line (or one JSON object) per step."""

    def __init__(self, out: TextIO, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.results: list[dict[str, Any]] = []

    def run(self, name: str, action: Callable[[], _T], describe: Callable[[_T], dict[str, Any]]) -> _T:
        started = time.perf_counter()
        try:
            value = action()
        except Exception as exc:
            elapsed = (time.perf_counter() - started) * 1000
            # The library's messages carry no secrets or card data; show type and message.
            self._emit({"step": name, "ok": False, "ms": round(elapsed, 1), "error": f"{type(exc).__name__}: {exc}"})
            raise
        elapsed = (time.perf_counter() - started) * 1000
        self._emit({"step": name, "ok": True, "ms": round(elapsed, 1), **describe(value)})
        return value

    def skip(self, name: str, why: str) -> None:
        self._emit({"step": name, "ok": True, "ms": 0.0, "skipped": why})

    def _emit(self, record: dict[str, Any]) -> None:
        self.results.append(record)
        if self.as_json:
            return
        status = "skip" if "skipped" in record else "ok  " if record["ok"] else "FAIL"
        details = "  ".join(f"{k}={v}" for k, v in record.items() if k not in ("step", "ok", "ms"))
        print(f"[{status}] {record['step']:<24} {record['ms']:>8.1f} ms  {details}", file=self.out)


def live_config(environ: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """The official-style config for ``--live``, from ``CYBERSOURCE_*`` environment variables."""
    env = dict(os.environ if environ is None else environ)
    missing = [k for k in ("CYBERSOURCE_MERCHANT_ID", "CYBERSOURCE_KEY_ID", "CYBERSOURCE_SECRET_KEY") if not env.get(k)]
    if missing:
        raise SystemExit(f"smoke --live needs these environment variables: {', '.join(missing)}")
    return {
        "authentication_type": "http_signature",
        "merchantid": env["CYBERSOURCE_MERCHANT_ID"],
        "merchant_keyid": env["CYBERSOURCE_KEY_ID"],
        "merchant_secretkey": env["CYBERSOURCE_SECRET_KEY"],
        "run_environment": env.get("CYBERSOURCE_RUN_ENVIRONMENT", "apitest.cybersource.com"),
    }


def run_smoke(live: bool = False, out: TextIO = sys.stdout, as_json: bool = False) -> list[dict[str, Any]]:
    """Run the whole flow; return the step records. Raises on the first failing step."""
    import importlib

    from .client import DEFAULT_CARD_FIELDS, Card, FlexClient, build_sessions_body
    from .hosted_fields import HostedFieldsClient, PayrocConfig

    steps = _Steps(out, as_json)
    with ExitStack() as stack:
        payroc: Optional[PayrocConfig] = None
        terminal_id = "1234001"
        if live:
            config = live_config()
            if os.environ.get("PAYROC_API_KEY") and os.environ.get("PAYROC_TERMINAL_ID"):
                payroc = PayrocConfig(api_key=os.environ["PAYROC_API_KEY"], environment="uat")
                terminal_id = os.environ["PAYROC_TERMINAL_ID"]
        else:
            from .emulator import FlexEmulator, PayrocEmulator

            emulator = stack.enter_context(FlexEmulator())
            payroc_emulator = stack.enter_context(PayrocEmulator())
            payroc = PayrocConfig(api_key=payroc_emulator.api_key, identity_url=payroc_emulator.identity_url,
                                  api_url=payroc_emulator.api_url)
            config = steps.run("start emulators", lambda: emulator.merchant_config(),
                               lambda cfg: {"flex": emulator.base_url, "payroc": payroc_emulator.api_url})
        client = FlexClient(config)
        # The generated package sits on top of flex_ext: reach it by name, lazily.
        # Reuse the client's validated MerchantConfig rather than parsing the dict twice.
        api = importlib.import_module("CyberSource").FlexAPIApi(client.config)
        jwt, status, _ = steps.run(
            "capture context",
            lambda: api.generate_flex_api_capture_context(build_sessions_body(DEFAULT_CARD_FIELDS)),
            lambda result: {"status": result[1]},
        )
        if status != 201:
            raise RuntimeError(f"capture context: expected status 201, got {status}")
        context = steps.run(
            "verify capture context",
            lambda: client.verify_capture_context(jwt),
            lambda ctx: {"kid": ctx.header.get("kid"), "jwk_kid": ctx.kid, "origin": ctx.origin,
                         "expires": ctx.expires_at.isoformat() if ctx.expires_at else None},
        )
        token = steps.run(
            "tokenize test card",
            lambda: client.tokenize(context, Card(TEST_CARD, "12", str(time.gmtime().tm_year + 2),
                                                  security_code="123")),
            lambda tok: {"masked_card": tok.masked_card_number, "type": tok.token_type},
        )
        steps.run(
            "verify transient token",
            lambda: client.verify_transient_token(token.jwt, context),
            lambda tok: {"kid": tok.header.get("kid"), "jti": tok.jti[:8] + "...",
                         "expires": tok.expires_at.isoformat() if tok.expires_at else None},
        )
        if payroc is None:
            steps.skip("hosted fields session", "no PAYROC_API_KEY / PAYROC_TERMINAL_ID")
        else:
            hosted_fields = HostedFieldsClient(payroc)
            steps.run(
                "hosted fields session",
                lambda: hosted_fields.create_hosted_fields_session(terminal_id, "payment", HOSTED_FIELDS_LIB_VERSION),
                lambda session: {"terminal": session.processing_terminal_id,
                                 "expires": session.expires_at.isoformat()},
            )
    return steps.results


def build_parser(parser: Optional[argparse.ArgumentParser] = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="smoke", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--live", action="store_true",
                        help="run against the CyberSource test environment (CYBERSOURCE_* variables)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of step lines")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        results = run_smoke(live=args.live, as_json=args.json)
    except Exception:  # the failing step was already reported
        if args.json:
            print(json.dumps({"ok": False}))
        return 1
    if args.json:
        print(json.dumps({"ok": True, "steps": results}))
    else:
        print(f"smoke: {len(results)} steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
