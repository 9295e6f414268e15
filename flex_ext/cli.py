"""flex-client: capture contexts, transient tokens, payments, Hosted Fields sessions, emulator, smoke.

Every command has --help. "flex-client emulator" is python -m flex_ext.emulator and
"flex-client smoke" is python scripts/smoke.

--config FILE is a JSON file holding the merchant-config dict of the official SDK
(merchantid, merchant_keyid, merchant_secretkey, run_environment, ssl_ca_file, ...).
Without it, merchantid, merchant_keyid and merchant_secretkey come from the variables
CYBERSOURCE_MERCHANT_ID, CYBERSOURCE_KEY_ID and CYBERSOURCE_SECRET_KEY, and
run_environment from CYBERSOURCE_RUN_ENVIRONMENT (default apitest.cybersource.com).

Card data and transient tokens are never taken from the command line (they would land in
shell history and process lists): a card is a JSON object read from --card-json FILE, a
token a JWT read from --token-file FILE (- for stdin). Payment commands print the result's
typed fields, never the raw answer. hosted-fields-session reads PAYROC_API_KEY.

Errors are one line on stderr ("flex-client: error: ..."). Exit status: 0 success (a
payment processed and approved), 1 remote failure (HTTP error such as a refused capture,
no connection, TLS, a token that fails verification) or an unexpected error, 2 usage or
configuration error (bad option, unreadable or invalid config, card or token file, card
data or amount the client rejects, missing variable, port in use), 3 a payment processed
but not approved (DECLINED, AUTHORIZED_PENDING_REVIEW, ...; status and reason printed).
FLEX_CLIENT_DEBUG=1 shows tracebacks."""

from __future__ import annotations

import argparse
import json
import os
import re
import ssl
import sys
from typing import Any, Callable, NoReturn, Optional, Sequence, TextIO

from .errors import AuthenticationError, FlexError, HTTPError, JWEError, JWTValidationError, TransportError

__all__ = ["UsageError", "build_parser", "describe_error", "main"]


class UsageError(FlexError):
    """A command-line option, an option's file or an environment variable cannot be used."""


class _Parser(argparse.ArgumentParser):
    # argparse prints the usage block and exits; one line through main() instead.
    def error(self, message: str) -> NoReturn:
        # A stray argument may be a card number or a token pasted where it does not belong.
        message = re.sub(r"\S{40,}|\d[\d -]{10,}\d", "<not shown>", message)
        raise UsageError(f"{message} (see {self.prog} --help)")


def _read_json(option: str, path: str, load: Callable[[TextIO], Any] = json.load) -> Any:
    problem = "cannot be read"
    try:
        if path == "-":
            return load(sys.stdin)
        with open(path, encoding="utf-8") as handle:
            return load(handle)
    except OSError as exc:
        problem = exc.strerror or problem
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON (line {exc.lineno}, column {exc.colno})"
    except ValueError:
        problem = "not UTF-8 text"
    # Raised outside the handler, so not chained: a JSONDecodeError keeps the whole document
    # (credentials, card data) in its .doc attribute.
    raise UsageError(f"{option} {path}: {problem}")


def _load_config(path: Optional[str]) -> dict[str, Any]:
    if path is None:
        from .smoke import live_config

        return live_config(alternative=" or pass --config FILE (the merchant-config dict as JSON)")
    data = _read_json("--config", path)
    if not isinstance(data, dict):
        raise UsageError(f"--config {path}: the merchant config must be a JSON object")
    return data


def _fields(specs: Sequence[str]) -> Optional[dict[str, bool]]:
    if not specs:
        return None
    result = {}
    for spec in specs:
        path, _, flag = spec.partition(":")
        if flag not in ("", "optional", "required"):
            raise UsageError(f"--field {spec!r}: use PATH, PATH:required or PATH:optional")
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


def _read_card(path: str) -> dict[str, Any]:
    card = _read_json("--card-json", path)
    if isinstance(card, dict):
        return card
    del card  # it may still be a card number: not kept in the traceback's locals
    raise UsageError(f"--card-json {path}: the card data must be a JSON object "
                     '(keys "number", "expiration_month", "expiration_year", "security_code", "type")')


def _cmd_tokenize(args: argparse.Namespace, out: TextIO) -> int:
    from .client import FlexClient
    from .smoke import sample_card

    card: Any = _read_card(args.card_json) if args.card_json else sample_card()  # a bad card file is named first
    token = FlexClient(_load_config(args.config)).tokenize(args.capture_context, card)
    payload = {
        "transient_token": token.jwt,
        "jti": token.jti,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "masked_card": token.masked_card_number,
    }
    _print(out, args.json, payload, token.jwt)
    return 0


def _payment_source(args: argparse.Namespace) -> Any:
    # Returned, never kept in a local of the caller: authorize() masks it at once.
    if args.card_json:
        return _read_card(args.card_json)
    token = _read_json("--token-file", args.token_file, lambda handle: handle.read().strip())
    if re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", token, re.ASCII):
        return token
    del token  # it may be a misplaced card number: not kept in the traceback's locals
    raise UsageError(f"--token-file {args.token_file}: not a transient token; the file must hold only the JWT "
                     "(what tokenize prints without --json)")


def _cmd_payment(args: argparse.Namespace, out: TextIO) -> int:
    from dataclasses import fields

    from .client import FlexClient

    result = args.call(FlexClient(_load_config(args.config)), args)
    # The typed fields only: the raw answer is not printed (it may echo what was sent).
    payload = {f.name: getattr(result, f.name) for f in fields(result) if f.name != "raw"}
    payload["links"] = dict(payload["links"])
    text = "\n".join(f"{k}: {_one_line(str(v))}" for k, v in payload.items() if v is not None and k != "links")
    _print(out, args.json, payload, text)
    # 3: processed but not approved (a decline, a review), so scripts can tell it from an error.
    return 3 if args.command != "transaction" and not result.approved else 0


def _cmd_hosted_fields_session(args: argparse.Namespace, out: TextIO) -> int:
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
                raise UsageError("hosted-fields-session needs the PAYROC_API_KEY environment variable (or --emulator)")
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


def _cmd_smoke(args: argparse.Namespace, out: TextIO) -> int:
    from .smoke import smoke_command

    return smoke_command(args.live, args.json, out)


def _cmd_emulator(argv: Sequence[str]) -> int:
    from .emulator.__main__ import main as emulator_main

    return emulator_main(argv)  # it reports a port in use itself (one line, exit 2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="flex-client", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config_help = "JSON file with the merchant-config dict (default: the CYBERSOURCE_* variables)"
    json_help = "print one JSON object instead of plain text"

    cc = sub.add_parser("capture-context", help="create a capture context (POST /flex/v2/sessions) and verify it")
    source = cc.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="FILE", help=config_help)
    source.add_argument("--emulator", action="store_true", help="use a throwaway built-in emulator")
    cc.add_argument("--field", action="append", default=[], metavar="PATH[:optional]",
                    help="a field to capture, e.g. paymentInformation.card.securityCode:optional (repeatable)")
    cc.add_argument("--json", action="store_true", help=json_help)
    cc.set_defaults(handler=_cmd_capture_context)

    verify = sub.add_parser("verify", help="verify a capture context JWT and show its claims")
    verify.add_argument("jwt", metavar="JWT")
    verify.add_argument("--config", metavar="FILE", help=config_help)
    verify.add_argument("--unverified", action="store_true",
                        help="parse without checking the signature (documentation examples only)")
    verify.add_argument("--json", action="store_true", help=json_help)
    verify.set_defaults(handler=_cmd_verify)

    tok = sub.add_parser("tokenize", help="encrypt card data to a capture context and get a transient token")
    tok.add_argument("--capture-context", required=True, metavar="JWT", help="the capture context JWT")
    tok.add_argument("--config", metavar="FILE", help=config_help)
    tok.add_argument("--card-json", metavar="FILE",
                     help='JSON object file (- for stdin): "number", "expiration_month", "expiration_year", '
                     '"security_code", "type"; default: a test card')
    tok.add_argument("--json", action="store_true", help=json_help)
    tok.set_defaults(handler=_cmd_tokenize)

    hf = sub.add_parser("hosted-fields-session", help="create a Payroc Hosted Fields session token")
    hf.add_argument("--terminal-id", required=True, metavar="ID",
                    help="processingTerminalId, 4 to 50 characters")
    hf.add_argument("--scenario", default="payment", choices=["payment", "tokenization"],
                    help="what the session is for (default payment)")
    hf.add_argument("--lib-version", default="1.7.0.261457", metavar="V",
                    help="libVersion: the Hosted Fields JavaScript library version")
    hf.add_argument("--secure-token-id", metavar="T", help="secureTokenId: update the card behind this token")
    hf.add_argument("--environment", default="uat", choices=["uat", "production"],
                    help="Payroc environment (default uat)")
    hf.add_argument("--emulator", action="store_true", help="use a throwaway built-in Payroc emulator")
    hf.add_argument("--json", action="store_true", help=json_help)
    hf.set_defaults(handler=_cmd_hosted_fields_session)

    # Listed for the overview only: main() hands its arguments to the emulator's own parser.
    sub.add_parser("emulator", help="run the local emulator (flex-client emulator --help)", add_help=False)

    def payment(name: str, summary: str, call: Callable[[Any, argparse.Namespace], Any],
                what: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=summary, description=summary + (
            "" if name == "transaction" else ". Exit status 3: the service answered but did not approve."))
        if what:
            cmd.add_argument("id", metavar="ID", help=what)
        if name not in ("void", "transaction"):
            cmd.add_argument("--amount", required=True, help="decimal amount such as 10.00 (never rounded)")
            cmd.add_argument("--currency", required=True, help="ISO 4217 code such as USD")
        if name != "transaction":
            cmd.add_argument("--reference", metavar="CODE", help="clientReferenceInformation.code (your order id)")
        cmd.add_argument("--config", metavar="FILE", help=config_help)
        cmd.add_argument("--json", action="store_true", help="print the result's fields as one JSON object")
        cmd.set_defaults(handler=_cmd_payment, call=call)
        return cmd

    auth = payment("authorize", "authorize a payment with a transient token or a card (POST /pts/v2/payments)",
                   lambda c, a: c.authorize(_payment_source(a), a.amount, a.currency, capture=a.capture,
                                            reference=a.reference), "")
    pay_with = auth.add_mutually_exclusive_group(required=True)
    pay_with.add_argument("--token-file", metavar="FILE", help="file holding the transient token JWT (- for stdin)")
    pay_with.add_argument("--card-json", metavar="FILE", help="card JSON file as for tokenize (- for stdin)")
    auth.add_argument("--capture", action="store_true", help="a sale: authorize and capture at once")
    payment("capture", "capture (part of) an authorization",
            lambda c, a: c.capture(a.id, a.amount, a.currency, reference=a.reference), "the authorization's id")
    payment("reverse", "release an authorization that was not captured",
            lambda c, a: c.reverse(a.id, a.amount, a.currency, reference=a.reference), "the authorization's id")
    refund = payment("refund", "refund a sale or a capture",
                     lambda c, a: c.refund(a.id, a.amount, a.currency, of_capture=a.of_capture, reference=a.reference),
                     "the sale's (or with --of-capture the capture's) id")
    refund.add_argument("--of-capture", action="store_true", help="ID is a capture (/pts/v2/captures/ID/refunds)")
    void = payment("void", "void a sale, capture, refund or credit before it settles",
                   lambda c, a: c.void(a.id, a.kind, reference=a.reference), "the transaction's id")
    void.add_argument("--kind", default="payment", choices=["payment", "capture", "refund", "credit"],
                      help="what ID is (default payment)")
    payment("transaction", "look a transaction up (GET /tss/v2/transactions/ID)",
            lambda c, a: c.get_transaction(a.id), "the transaction's id")

    smoke = sub.add_parser("smoke", help="run the whole checkout flow step by step against the emulators (or --live)",
                           description="Run the checkout flow step by step, one status line per step; "
                           "exit status 1 when a step fails.")
    smoke.add_argument("--live", action="store_true",
                       help="run against apitest.cybersource.com with the CYBERSOURCE_* variables")
    smoke.add_argument("--json", action="store_true", help="print one JSON document instead of step lines")
    smoke.set_defaults(handler=_cmd_smoke)
    return parser


def describe_error(exc: BaseException) -> tuple[int, str]:
    """The exit status and the one-line message for an error that ended a command.

    Only this library's messages (free of secrets and card data by design) and OS error
    texts are shown; anything else is named by its type alone.
    """
    if isinstance(exc, (HTTPError, TransportError, JWTValidationError, JWEError, ConnectionError, ssl.SSLError)):
        code = 1
    elif isinstance(exc, (UsageError, AuthenticationError, ValueError, OSError)):
        code = 2  # the arguments, the config or the card data must change
    else:
        code = 1
    if isinstance(exc, UsageError):
        text = str(exc)
    elif isinstance(exc, FlexError):
        text = f"{type(exc).__name__}: {str(exc).strip()}"
    elif isinstance(exc, OSError):
        text = f"{exc.filename or type(exc).__name__}: {exc.strerror or 'failed'}"
    else:
        text = f"unexpected {type(exc).__name__}; set FLEX_CLIENT_DEBUG=1 to see the traceback"
    return code, _one_line(text)


def _one_line(text: str) -> str:
    # One line, and no control characters that could rewrite the terminal.
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def main(argv: Optional[Sequence[str]] = None, out: TextIO = sys.stdout) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["emulator"]:
            return _cmd_emulator(argv[1:])
        args = build_parser().parse_args(argv)
        return int(args.handler(args, out))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("FLEX_CLIENT_DEBUG") == "1":
            raise
        code, text = describe_error(exc)
        print(f"flex-client: error: {text}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
