"""The payment commands of flex-client (authorize, capture, reverse, refund, void, transaction) as a
merchant runs them by hand against the emulator: results, exit statuses, one-line errors, and no
card number or transient token in anything printed."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from flex_ext import cli
from flex_ext.emulator import FlexEmulator

CARD = "4111111111111111"


@pytest.fixture(autouse=True)
def _no_environment_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CYBERSOURCE_MERCHANT_ID", "CYBERSOURCE_KEY_ID", "CYBERSOURCE_SECRET_KEY", "FLEX_CLIENT_DEBUG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def config(flex_emulator: FlexEmulator, tmp_path: Path) -> str:
    path = tmp_path / "merchant.json"
    path.write_text(json.dumps(flex_emulator.merchant_config()))
    return str(path)


@pytest.fixture
def card_file(tmp_path: Path) -> str:
    path = tmp_path / "card.json"
    path.write_text(json.dumps({"number": CARD, "expiration_month": "12", "expiration_year": "2099",
                                "security_code": "123"}))
    return str(path)


@pytest.fixture
def token(config: str) -> str:
    """A fresh transient token, made the way a merchant makes one on the command line."""
    out = io.StringIO()
    assert cli.main(["capture-context", "--config", config], out=out) == 0
    capture_context = out.getvalue().strip()
    out = io.StringIO()
    assert cli.main(["tokenize", "--capture-context", capture_context, "--config", config], out=out) == 0
    return out.getvalue().strip()


@pytest.fixture
def token_file(token: str, tmp_path: Path) -> str:
    path = tmp_path / "token.jwt"
    path.write_text(token + "\n")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> dict[str, Any]:
    """Run one command with --json; assert its exit status and a clean stderr; return the result."""
    out = io.StringIO()
    assert cli.main([*argv, "--json"], out=out) == code, capsys.readouterr().err
    assert capsys.readouterr().err == ""
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def fails(capsys: pytest.CaptureFixture[str], argv: list[str], code: int, *secrets: str) -> str:
    """Run a command that must fail: nothing on stdout, one error line on stderr, no secret."""
    out = io.StringIO()
    assert cli.main(argv, out=out) == code
    err = capsys.readouterr().err
    assert out.getvalue() == "" and len(err.splitlines()) == 1 and err.startswith("flex-client: error: ")
    for secret in (CARD, *secrets):
        assert secret not in err
    return err


def test_a_purchase_by_hand(capsys: pytest.CaptureFixture[str], config: str, token: str, token_file: str) -> None:
    out = io.StringIO()
    assert cli.main(["authorize", "--token-file", token_file, "--amount", "10.00", "--currency", "USD",
                     "--reference", "order-1", "--config", config], out=out) == 0
    lines = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    assert lines["status"] == "AUTHORIZED" and lines["approved"] == "True" and lines["amount"] == "10.00"
    assert token not in out.getvalue() and "raw" not in lines
    payment_id = lines["id"]

    capture = run(capsys, "capture", payment_id, "--amount", "10", "--currency", "usd", "--config", config)
    assert (capture["status"], capture["approved"], capture["amount"], capture["currency"]) == (
        "PENDING", True, "10.00", "USD")
    assert set(capture) == {"id", "status", "approved", "reason", "message", "amount", "currency", "approval_code",
                            "reconciliation_id", "links", "http_status"}
    refund = run(capsys, "refund", capture["id"], "--of-capture", "--amount", "4.00", "--currency", "USD",
                 "--config", config)
    assert refund["status"] == "PENDING" and refund["amount"] == "4.00"
    assert run(capsys, "refund", payment_id, "--amount", "6.00", "--currency", "USD", "--config", config)[
        "status"] == "PENDING"
    assert run(capsys, "void", refund["id"], "--kind", "refund", "--config", config)["status"] == "VOIDED"

    looked_up = run(capsys, "transaction", payment_id, "--config", config)
    assert looked_up["id"] == payment_id and looked_up["http_status"] == 200


def test_a_sale_with_the_token_from_stdin_then_void(capsys: pytest.CaptureFixture[str], config: str, token: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(token))
    sale = run(capsys, "authorize", "--token-file", "-", "--capture", "--amount", "25", "--currency", "USD",
               "--config", config)
    assert sale["status"] == "AUTHORIZED" and "void" in sale["links"]
    assert run(capsys, "void", sale["id"], "--config", config)["status"] == "VOIDED"


def test_authorize_and_reverse_with_a_card_from_stdin(capsys: pytest.CaptureFixture[str], config: str,
                                                      card_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(Path(card_file).read_text()))
    auth = run(capsys, "authorize", "--card-json", "-", "--amount", "7.50", "--currency", "EUR", "--config", config)
    assert auth["status"] == "AUTHORIZED" and auth["currency"] == "EUR"
    assert run(capsys, "reverse", auth["id"], "--amount", "7.50", "--currency", "EUR", "--config", config)[
        "status"] == "REVERSED"


def test_a_decline_exits_3_and_shows_status_and_reason(capsys: pytest.CaptureFixture[str], config: str,
                                                       card_file: str) -> None:
    out = io.StringIO()
    assert cli.main(["authorize", "--card-json", card_file, "--amount", "4051.00", "--currency", "USD",
                     "--config", config], out=out) == 3
    assert "status: DECLINED" in out.getvalue() and "reason: INSUFFICIENT_FUND" in out.getvalue()
    assert capsys.readouterr().err == "" and CARD not in out.getvalue()

    declined = run(capsys, "authorize", "--card-json", card_file, "--amount", "4051.00", "--currency", "USD",
                   "--config", config, code=3)
    assert (declined["status"], declined["approved"], declined["reason"]) == ("DECLINED", False, "INSUFFICIENT_FUND")
    # Looking a declined payment up is not a decision: it succeeds.
    assert run(capsys, "transaction", declined["id"], "--config", config)["id"] == declined["id"]


def test_a_declined_token_payment_exits_3_and_leaves_the_token_usable(
        capsys: pytest.CaptureFixture[str], config: str, token_file: str) -> None:
    argv = ["authorize", "--token-file", token_file, "--currency", "USD", "--config", config]
    assert run(capsys, *argv, "--amount", "4005.00", code=3)["reason"] == "PROCESSOR_DECLINED"
    assert run(capsys, *argv, "--amount", "10.00")["status"] == "AUTHORIZED"


def test_the_service_refusing_a_follow_on_is_a_remote_error(capsys: pytest.CaptureFixture[str], config: str,
                                                            card_file: str, token: str, token_file: str) -> None:
    auth = run(capsys, "authorize", "--card-json", card_file, "--amount", "5", "--currency", "USD", "--config", config)
    err = fails(capsys, ["capture", auth["id"], "--amount", "6", "--currency", "USD", "--config", config], 1)
    assert "EXCEEDS_AUTH_AMOUNT" in err
    err = fails(capsys, ["transaction", "1234567890", "--config", config], 1)
    assert "NotFoundError" in err and "404" in err
    run(capsys, "authorize", "--token-file", token_file, "--amount", "1", "--currency", "USD", "--config", config)
    err = fails(capsys, ["authorize", "--token-file", token_file, "--amount", "1", "--currency", "USD",
                         "--config", config], 1, token)
    assert "tokenInformation.jti" in err  # a token is spent by its first approval


@pytest.mark.parametrize(("argv", "expected"), [
    (["authorize", "--amount", "1", "--currency", "USD"], "one of the arguments --token-file --card-json is required"),
    (["authorize", "--token-file", "T", "--card-json", "C", "--amount", "1", "--currency", "USD"], "not allowed with"),
    (["authorize", "--token-file", "T", "--currency", "USD"], "the following arguments are required: --amount"),
    (["authorize", "--token-file", "missing.jwt", "--amount", "1", "--currency", "USD"],
     "--token-file missing.jwt: No such file or directory"),
    (["authorize", "--token-file", "EMPTY", "--amount", "1", "--currency", "USD"], "EMPTY: not a transient token"),
    (["authorize", "--token-file", "CARD_AS_TOKEN", "--amount", "1", "--currency", "USD"],
     "CARD_AS_TOKEN: not a transient token; the file must hold only the JWT"),
    (["authorize", "--token-file", "TOKENIZE_JSON", "--amount", "1", "--currency", "USD"], "not a transient token"),
    (["authorize", "--card-json", "BAD_CARD", "--amount", "1", "--currency", "USD"], "fails the Luhn check"),
    (["authorize", "--card-json", "C", "--amount", "10.001", "--currency", "USD"], "more than 2 decimal places"),
    (["authorize", "--card-json", "C", "--amount", "1e400x", "--currency", "USD"], "decimal number"),
    (["authorize", "--card-json", "C", "--amount", "1", "--currency", "US"], "three-letter ISO 4217 code"),
    (["capture", "../x", "--amount", "1", "--currency", "USD"], "payment id must be 1 to 64 letters"),
    (["void", "123", "--kind", "sale"], "invalid choice: 'sale'"),
    (["refund", "123", "--amount", "1"], "the following arguments are required: --currency"),
    (["authorize", "--card-json", "C", "--amount", "1", "--currency", "USD", CARD], "unrecognized arguments"),
])
def test_bad_input_is_a_usage_error(capsys: pytest.CaptureFixture[str], config: str, card_file: str,
                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    argv: list[str], expected: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "EMPTY").write_text("\n")
    (tmp_path / "CARD_AS_TOKEN").write_text(CARD)
    (tmp_path / "TOKENIZE_JSON").write_text(json.dumps({"transient_token": "a.b.c", "jti": "x"}))
    (tmp_path / "BAD_CARD").write_text(json.dumps({"number": "4111111111111112"}))
    argv = [card_file if a == "C" else a for a in argv]
    err = fails(capsys, [*argv, "--config", config], 2, "4111111111111112")
    assert expected in err


def test_no_merchant_config_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    err = fails(capsys, ["transaction", "123"], 2)
    assert "set CYBERSOURCE_MERCHANT_ID" in err and "--config FILE" in err


def test_an_unreachable_service_is_a_remote_error(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                  flex_emulator: FlexEmulator, card_file: str) -> None:
    path = tmp_path / "down.json"
    path.write_text(json.dumps({**flex_emulator.merchant_config(), "run_environment": "http://127.0.0.1:9"}))
    err = fails(capsys, ["authorize", "--card-json", card_file, "--amount", "1", "--currency", "USD",
                         "--config", str(path)], 1)
    assert "127.0.0.1:9" in err


@pytest.mark.parametrize("command", ["authorize", "capture", "reverse", "refund", "void", "transaction"])
def test_every_payment_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([command, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "--json" in text and "--config" in text
    assert ("Exit status 3" in text) == (command != "transaction")


@pytest.mark.parametrize(("option", "content", "expected"), [
    ("--card-json", json.dumps(CARD), "must be a JSON object"),
    ("--token-file", CARD, "not a transient token"),
])
def test_a_file_holding_a_bare_card_number_keeps_it_out_of_the_traceback(
        config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str, content: str, expected: str) -> None:
    path = tmp_path / "pasted"
    path.write_text(content)
    monkeypatch.setenv("FLEX_CLIENT_DEBUG", "1")  # the error propagates with its traceback
    with pytest.raises(cli.UsageError) as raised:
        cli.main(["authorize", option, str(path), "--amount", "1", "--currency", "USD", "--config", config])
    seen, tb = [str(raised.value)], raised.value.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename != __file__:  # this test's own frame holds the content
            seen += [repr(value) for value in tb.tb_frame.f_locals.values()]
        tb = tb.tb_next
    assert expected in seen[0]
    assert not [text for text in seen if CARD in text]
