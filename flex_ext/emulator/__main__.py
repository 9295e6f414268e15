"""``python -m flex_ext.emulator``: run the local sandbox (Flex, Microform, Unified
Checkout and Payroc Hosted Fields, one port) until SIGINT/SIGTERM.

Prints exactly one JSON line on stdout once it is listening: ``base_url``,
``run_environment``, ``tls``, ``ssl_ca_file`` (TLS only; the merchant-config key of the
same name), ``signing_kid``, ``pid``, ``usage_limit``, ``merchants`` (each with
``merchant_id``, ``merchant_keyid``, ``merchant_secretkey`` and, for P12 merchants,
``keys_directory``, ``key_file_name``, ``key_alias``, ``key_password``, ``p12_path``,
``certificate_serial_number``) and ``payroc`` (``api_key``, ``identity_url``,
``api_url``: the arguments of ``PayrocConfig``). A port already in use: one line on
stderr, exit status 2.

Merchant specs (``--merchant``, or ``FLEX_EMULATOR_MERCHANTS`` separated by commas or
spaces) are ``MERCHANT_ID`` or ``MERCHANT_ID:KEY_ID:BASE64_SECRET`` or
``MERCHANT_ID:KEY_ID:BASE64_SECRET:PORTFOLIO_ID``. Prefer the environment variable for
secrets: command lines are visible to other local users.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import signal
import sys
import threading
from types import FrameType
from typing import Any, Optional, Sequence

from .core import DEFAULT_MERCHANT_ID, FlexEmulator
from .service import DEFAULT_USAGE_LIMIT

_TRUE = {"1", "true", "yes", "on"}


def _merchant_spec(text: str) -> tuple[str, Optional[str], Optional[str], Optional[str]]:
    parts = text.split(":")
    if len(parts) == 1 and parts[0]:
        return parts[0], None, None, None
    if len(parts) in (3, 4) and all(parts):
        return parts[0], parts[1], parts[2], parts[3] if len(parts) == 4 else None
    raise argparse.ArgumentTypeError(
        "a merchant is MERCHANT_ID, MERCHANT_ID:KEY_ID:SECRET or MERCHANT_ID:KEY_ID:SECRET:PORTFOLIO_ID"
    )


def _env_list(name: str) -> list[str]:
    return [item for item in re.split(r"[,\s]+", os.environ.get(name, "")) if item]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flex_ext.emulator",
        description="Local checkout sandbox on 127.0.0.1: CyberSource Flex API v2, Microform and "
        "Unified Checkout capture contexts, and Payroc Hosted Fields, on one port. Prints one JSON "
        "line (base_url, ssl_ca_file with --tls, merchants, payroc), then serves until SIGINT or SIGTERM.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("FLEX_EMULATOR_PORT", "0")),
        help="TCP port on 127.0.0.1; 0 picks a free one (env FLEX_EMULATOR_PORT)",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        default=os.environ.get("FLEX_EMULATOR_TLS", "").lower() in _TRUE,
        help="serve HTTPS with a generated CA; its path is ssl_ca_file in the JSON line (env FLEX_EMULATOR_TLS=1)",
    )
    parser.add_argument(
        "--merchant",
        action="append",
        type=_merchant_spec,
        default=[],
        metavar="SPEC",
        help="merchant accepted for HTTP Signature / JWT shared secret; repeatable "
        "(env FLEX_EMULATOR_MERCHANTS). Without any, one merchant "
        f"{DEFAULT_MERCHANT_ID!r} with generated credentials",
    )
    parser.add_argument(
        "--p12-merchant",
        action="append",
        default=[],
        metavar="MERCHANT_ID",
        help="merchant with a generated RSA certificate in a P12 file for JWT/P12 auth; repeatable "
        "(env FLEX_EMULATOR_P12_MERCHANTS)",
    )
    parser.add_argument(
        "--usage-limit",
        type=int,
        default=int(os.environ.get("FLEX_EMULATOR_USAGE_LIMIT", str(DEFAULT_USAGE_LIMIT))),
        help="successful tokenizations per capture context (env FLEX_EMULATOR_USAGE_LIMIT)",
    )
    parser.add_argument(
        "--state-dir",
        default=os.environ.get("FLEX_EMULATOR_STATE_DIR"),
        help="directory for the CA certificate and P12 files (default: a temporary directory "
        "removed on exit; env FLEX_EMULATOR_STATE_DIR)",
    )
    parser.add_argument(
        "--payroc-api-key",
        default=os.environ.get("FLEX_EMULATOR_PAYROC_API_KEY"),
        help="API key Payroc's /authorize accepts (default: a random one, printed in the JSON line; "
        "env FLEX_EMULATOR_PAYROC_API_KEY)",
    )
    return parser


def describe(emulator: FlexEmulator) -> dict[str, Any]:
    info: dict[str, Any] = {
        "base_url": emulator.base_url,
        "run_environment": emulator.run_environment,
        "tls": emulator.tls,
    }
    if emulator.ca_cert_path is not None:
        info["ssl_ca_file"] = emulator.ca_cert_path
    info.update(
        signing_kid=emulator.signing_kid,
        usage_limit=emulator.usage_limit,
        pid=os.getpid(),
        merchants=[merchant.public_summary() for merchant in emulator.merchants],
        payroc=emulator.payroc_config(),
    )
    return info


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    specs = list(args.merchant)
    try:
        specs += [_merchant_spec(item) for item in _env_list("FLEX_EMULATOR_MERCHANTS")]
    except argparse.ArgumentTypeError as exc:
        parser.error(f"FLEX_EMULATOR_MERCHANTS: {exc}")
    p12_ids = list(args.p12_merchant) + _env_list("FLEX_EMULATOR_P12_MERCHANTS")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be 0..65535")
    if args.usage_limit < 1:
        parser.error("--usage-limit must be at least 1")
    if args.state_dir:
        os.makedirs(args.state_dir, exist_ok=True)

    emulator = FlexEmulator(
        port=args.port,
        tls=args.tls,
        usage_limit=args.usage_limit,
        default_merchant=not specs and not p12_ids,
        state_dir=args.state_dir,
        payroc_api_key=args.payroc_api_key,
    )
    try:
        for merchant_id, key_id, secret, portfolio_id in specs:
            emulator.add_merchant(merchant_id, key_id=key_id, shared_secret=secret, portfolio_id=portfolio_id)
        for merchant_id in p12_ids:
            emulator.add_merchant(merchant_id, p12=True)
    except ValueError as exc:
        emulator.stop()
        parser.error(str(exc))

    stopping = threading.Event()

    def _on_signal(signum: int, frame: Optional[FrameType]) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        emulator.start()
    except OSError as exc:
        emulator.stop()
        if exc.errno != errno.EADDRINUSE:
            raise
        sys.stderr.write(f"python -m flex_ext.emulator: port {args.port} on 127.0.0.1 is already in use\n")
        return 2
    try:
        sys.stdout.write(json.dumps(describe(emulator)) + "\n")
        sys.stdout.flush()
        while not stopping.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
