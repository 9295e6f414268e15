"""``flex-client``: the command line.

    flex-client capture-context [--config FILE | --emulator] [--field PATH[:optional]]... [--json]
    flex-client verify JWT [--config FILE] [--unverified] [--json]
    flex-client tokenize --capture-context JWT [--config FILE] [--card-json FILE|-] [--json]
    flex-client hosted-fields-session --terminal-id ID [--scenario payment|tokenization]
                [--lib-version V] [--secure-token-id T] [--emulator] [--json]
    flex-client emulator [emulator flags]        (same as python -m flex_ext.emulator)
    flex-client smoke [--live] [--json]

``hosted-fields-session`` reads the Payroc API key from ``PAYROC_API_KEY`` (never from
the command line) and uses the UAT environment, or ``--emulator`` for a throwaway local one.

``--config`` is a JSON file holding the official merchant-config dict; without it the
``CYBERSOURCE_*`` variables of ``scripts/smoke --live`` are read. Card data is never taken
from the command line (it would land in shell history and process lists): ``tokenize``
reads a JSON object from ``--card-json`` (``-`` for stdin), or uses a test card.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Optional, Sequence, TextIO

__all__ = ["build_parser", "main"]


def _load_config(path: Optional[str]) -> dict[str, Any]:
    from .smoke import live_config

    if path is None:
        return live_config()
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: the merchant config must be a JSON object")
    return data


def _fields(specs: Sequence[str]) -> Optional[dict[str, bool]]:
    if not specs:
        return None
    result = {}
    for spec in specs:
        path, _, flag = spec.partition(":")
        if flag not in ("", "optional", "required"):
            raise SystemExit(f"--field {spec!r}: use PATH, PATH:required or PATH:optional")
        result[path] = flag != "optional"
    return result


def _context_summary(ctx: Any) -> dict[str, Any]:
    return {
        "kid": ctx.header.get("kid"),
        "origin": ctx.origin,
        "path": ctx.path,
        "encryption_kid": ctx.kid,
        "expires_at": ctx.expires_at.isoformat() if ctx.expires_at else None,
        "required_fields": list(ctx.required_fields),
        "optional_fields": list(ctx.optional_fields),
        "verified": ctx.verified,
    }


def _print(out: TextIO, as_json: bool, payload: dict[str, Any], text: str) -> None:
    print(json.dumps(payload, sort_keys=True) if as_json else text, file=out)


def _cmd_capture_context(args: argparse.Namespace, out: TextIO) -> int:
    from contextlib import ExitStack

    from .client import FlexClient

    with ExitStack() as stack:
        if args.emulator:
            from .emulator import FlexEmulator

            config: dict[str, Any] = stack.enter_context(FlexEmulator()).merchant_config()
        else:
            config = _load_config(args.config)
        ctx = FlexClient(config).create_capture_context(_fields(args.field))
    _print(out, args.json, {"capture_context": ctx.jwt, **_context_summary(ctx)}, ctx.jwt)
    return 0


def _cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    if args.unverified:
        from .capture_context import parse_capture_context_unverified

        ctx = parse_capture_context_unverified(args.jwt)
    else:
        from .client import FlexClient

        ctx = FlexClient(_load_config(args.config)).verify_capture_context(args.jwt)
    summary = _context_summary(ctx)
    _print(out, args.json, summary, "\n".join(f"{k}: {v}" for k, v in summary.items()))
    return 0


def _cmd_tokenize(args: argparse.Namespace, out: TextIO) -> int:
    from .client import Card, FlexClient
    from .smoke import TEST_CARD

    if args.card_json:
        handle = sys.stdin if args.card_json == "-" else open(args.card_json, encoding="utf-8")  # noqa: SIM115
        card: Any = None
        problem: Optional[str] = None
        with handle:
            try:
                card = json.load(handle)
            except json.JSONDecodeError as exc:
                problem = f"line {exc.lineno}, column {exc.colno}"
            except ValueError:
                problem = "not UTF-8"
        if problem is not None:
            # Raised outside the handler, so not chained: a JSONDecodeError keeps the whole
            # document (the card data) in its .doc attribute.
            raise SystemExit(f"--card-json: the card data is not valid JSON ({problem})")
    else:
        card = Card(TEST_CARD, "12", "2099")
    client = FlexClient(_load_config(args.config))
    token = client.tokenize(args.capture_context, card)
    payload = {
        "transient_token": token.jwt,
        "jti": token.jti,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "masked_card": token.masked_card_number,
    }
    _print(out, args.json, payload, token.jwt)
    return 0


def _cmd_hosted_fields_session(args: argparse.Namespace, out: TextIO) -> int:
    import os
    from contextlib import ExitStack

    from .hosted_fields import HostedFieldsClient, PayrocConfig

    with ExitStack() as stack:
        if args.emulator:
            from .emulator import PayrocEmulator

            emulator = stack.enter_context(PayrocEmulator())
            config = PayrocConfig(api_key=emulator.api_key, identity_url=emulator.identity_url,
                                  api_url=emulator.api_url)
        else:
            api_key = os.environ.get("PAYROC_API_KEY")
            if not api_key:
                raise SystemExit("hosted-fields-session needs PAYROC_API_KEY (or --emulator)")
            config = PayrocConfig(api_key=api_key, environment=args.environment)
        session = HostedFieldsClient(config).create_hosted_fields_session(
            args.terminal_id, args.scenario, args.lib_version, args.secure_token_id)
    payload = {
        "processing_terminal_id": session.processing_terminal_id,
        "token": session.token,
        "expires_at": session.expires_at.isoformat(),
        "idempotency_key": session.idempotency_key,
    }
    _print(out, args.json, payload, session.token)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flex-client", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    cc = sub.add_parser("capture-context", help="create a capture context (POST /flex/v2/sessions) and verify it")
    source = cc.add_mutually_exclusive_group()
    source.add_argument("--config", help="JSON file with the official merchant-config dict")
    source.add_argument("--emulator", action="store_true", help="use a throwaway built-in emulator")
    cc.add_argument("--field", action="append", default=[],
                    help="a field path to capture, e.g. paymentInformation.card.number[:optional] (repeatable)")
    cc.add_argument("--json", action="store_true", help="print a JSON object")
    cc.set_defaults(handler=_cmd_capture_context)

    verify = sub.add_parser("verify", help="verify a capture context JWT and show its claims")
    verify.add_argument("jwt")
    verify.add_argument("--config", help="JSON file with the official merchant-config dict")
    verify.add_argument("--unverified", action="store_true",
                        help="parse without checking the signature (documentation examples only)")
    verify.add_argument("--json", action="store_true", help="print a JSON object")
    verify.set_defaults(handler=_cmd_verify)

    tok = sub.add_parser("tokenize", help="encrypt card data to a capture context and get a transient token")
    tok.add_argument("--capture-context", required=True, help="the capture context JWT")
    tok.add_argument("--config", help="JSON file with the official merchant-config dict")
    tok.add_argument("--card-json", help="JSON file (or - for stdin) with number, expiration_month, ...")
    tok.add_argument("--json", action="store_true", help="print a JSON object")
    tok.set_defaults(handler=_cmd_tokenize)

    hf = sub.add_parser("hosted-fields-session", help="create a Payroc Hosted Fields session token")
    hf.add_argument("--terminal-id", required=True, help="the processing terminal id (4-50 characters)")
    hf.add_argument("--scenario", default="payment", choices=["payment", "tokenization"])
    hf.add_argument("--lib-version", default="1.7.0.261457", help="the Hosted Fields JS library version")
    hf.add_argument("--secure-token-id", help="update the payment details behind this secure token")
    hf.add_argument("--environment", default="uat", choices=["uat", "production"])
    hf.add_argument("--emulator", action="store_true", help="use a throwaway built-in Payroc emulator")
    hf.add_argument("--json", action="store_true", help="print a JSON object")
    hf.set_defaults(handler=_cmd_hosted_fields_session)

    emu = sub.add_parser("emulator", help="run the local Flex emulator (see python -m flex_ext.emulator --help)",
                         add_help=False)
    emu.set_defaults(handler=None)

    smoke = sub.add_parser("smoke", help="run the whole flow against the emulator (or --live)")
    from .smoke import build_parser as smoke_parser

    smoke_parser(smoke)
    smoke.set_defaults(handler=None)
    return parser


def main(argv: Optional[Sequence[str]] = None, out: TextIO = sys.stdout) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["emulator"]:
        from .emulator.__main__ import main as emulator_main

        return emulator_main(argv[1:])
    if argv[:1] == ["smoke"]:
        from .smoke import main as smoke_main

        return smoke_main(argv[1:])
    args = build_parser().parse_args(argv)
    from .errors import FlexError

    try:
        return int(args.handler(args, out))
    except FlexError as exc:
        print(f"flex-client {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
