"""The main job (scripts/smoke) and the flex-client command line, run as a user runs them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from conftest import _ROOT

from flex_ext import cli, smoke
from flex_ext.emulator import FlexEmulator

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [os.path.join(_ROOT, "generated", "cybersource"), os.path.join(_ROOT, "generated", "payroc"), _ROOT])}


def run(*args: str, env: dict = ENV, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, env=env, input=stdin, cwd=_ROOT)


def test_smoke_runs_a_whole_purchase_against_the_emulator() -> None:
    result = run(sys.executable, "scripts/smoke")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("]")[0] for line in lines[:-1]] == ["[ok  "] * 10
    assert "status=201" in lines[1]
    assert "kid=" in lines[2] and "encryption_kid=" in lines[2] and "expires_at=" in lines[2]
    assert "masked_card=XXXXXXXXXXXX1111" in lines[3]
    assert "authorize" in lines[5] and "status=AUTHORIZED" in lines[5] and "amount=10.00 USD" in lines[5]
    assert "capture" in lines[6] and "status=PENDING" in lines[6] and "amount=10.00 USD" in lines[6]
    assert "refund" in lines[7] and "status=PENDING" in lines[7]
    assert "declined card" in lines[8] and "status=DECLINED  reason=INSUFFICIENT_FUND" in lines[8]
    assert " ms  " in lines[8]
    assert "processing_terminal_id=1234001" in lines[9] and "expires_at=" in lines[9]
    assert lines[-1] == "smoke: 10 steps passed, 0 skipped"
    assert result.stderr == ""
    assert "4111111111111111" not in result.stdout + result.stderr


def test_smoke_json_output() -> None:
    result = run(sys.executable, "scripts/smoke", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert [s["step"] for s in document["steps"]] == [
        "start emulator", "capture context", "verify capture context", "tokenize test card", "verify transient token",
        "authorize", "capture", "refund", "declined card", "hosted fields session",
    ]
    assert all(isinstance(s["ms"], float) for s in document["steps"])
    payments = {s["step"]: s for s in document["steps"][5:9]}
    assert [payments[name]["status"] for name in payments] == ["AUTHORIZED", "PENDING", "PENDING", "DECLINED"]
    assert payments["declined card"]["reason"] == "INSUFFICIENT_FUND"
    assert len({s["id"] for s in payments.values()}) == 4


def test_smoke_live_runs_the_same_purchase_where_the_variables_point(monkeypatch, capsys) -> None:
    # --live against a loopback stand-in for apitest.cybersource.com: the variables are the only input.
    with FlexEmulator() as emulator:
        config = emulator.merchant_config()
        for name, key in (("MERCHANT_ID", "merchantid"), ("KEY_ID", "merchant_keyid"),
                          ("SECRET_KEY", "merchant_secretkey"), ("RUN_ENVIRONMENT", "run_environment")):
            monkeypatch.setenv(f"CYBERSOURCE_{name}", config[key])
        monkeypatch.delenv("PAYROC_API_KEY", raising=False)
        out = io.StringIO()
        assert cli.main(["smoke", "--live", "--json"], out=out) == 0, capsys.readouterr().err
    steps = json.loads(out.getvalue())["steps"]
    assert steps[0]["step"] == "capture context"  # no emulator is started
    assert [(s["step"], s.get("status")) for s in steps[4:8]] == [
        ("authorize", "AUTHORIZED"), ("capture", "PENDING"), ("refund", "PENDING"), ("declined card", "DECLINED")]
    assert steps[-1]["step"] == "hosted fields session"
    assert steps[-1]["skipped"] == "no PAYROC_API_KEY / PAYROC_TERMINAL_ID"


def test_a_payment_step_fails_when_the_status_is_not_the_expected_one(monkeypatch, capsys) -> None:
    # An approval where a decline was due is a failure too: the decline step proves the sandbox declines.
    monkeypatch.setattr(smoke, "DECLINE_AMOUNT", "12.00")
    out = io.StringIO()
    assert cli.main(["smoke"], out=out) == 1
    assert "[FAIL] declined card" in out.getvalue()
    assert capsys.readouterr().err == "flex-client: error: StepFailed: expected status DECLINED, got AUTHORIZED\n"


def test_smoke_live_reports_missing_credentials() -> None:
    env = {k: v for k, v in ENV.items() if not k.startswith("CYBERSOURCE_")}
    result = run(sys.executable, "scripts/smoke", "--live", env=env)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "flex-client: error: ConfigurationError: no merchant config: set CYBERSOURCE_MERCHANT_ID, CYBERSOURCE_KEY_ID, "
        "CYBERSOURCE_SECRET_KEY"
    ]


def test_smoke_fails_with_a_non_zero_exit_and_names_the_step() -> None:
    env = {**ENV, "CYBERSOURCE_MERCHANT_ID": "m", "CYBERSOURCE_KEY_ID": "k",
           "CYBERSOURCE_SECRET_KEY": "c2VjcmV0LXNlY3JldC1zZWNyZXQ=", "CYBERSOURCE_RUN_ENVIRONMENT": "http://127.0.0.1:9"}
    result = run(sys.executable, "scripts/smoke", "--live", env=env)
    assert result.returncode == 1
    assert "[FAIL] capture context" in result.stdout
    [error] = result.stderr.splitlines()
    assert error.startswith("flex-client: error: ") and "127.0.0.1:9" in error
    assert "c2VjcmV0LXNlY3JldC1zZWNyZXQ=" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", ["capture-context", "verify", "tokenize", "hosted-fields-session", "smoke",
                                     "authorize", "capture", "reverse", "refund", "void", "transaction"])
def test_every_command_has_help(command: str) -> None:
    result = run(sys.executable, "-m", "flex_ext.cli", command, "--help")
    assert result.returncode == 0 and "usage" in result.stdout.lower()
    assert "--json" in result.stdout


def test_emulator_command_is_the_emulator() -> None:
    result = run(sys.executable, "-m", "flex_ext.cli", "emulator", "--help")
    assert result.returncode == 0 and "--port" in result.stdout


def test_capture_context_verify_tokenize_through_the_cli(tmp_path) -> None:
    with FlexEmulator() as emulator:
        config_path = tmp_path / "merchant.json"
        config_path.write_text(json.dumps(emulator.merchant_config()))
        out = io.StringIO()
        assert cli.main(["capture-context", "--config", str(config_path), "--json",
                         "--field", "paymentInformation.card.number",
                         "--field", "paymentInformation.card.securityCode:optional"], out=out) == 0
        context = json.loads(out.getvalue())
        assert context["required_fields"] == ["paymentInformation.card.number"]
        assert context["optional_fields"] == ["paymentInformation.card.securityCode"]
        assert context["origin"] == emulator.base_url and context["verified"] is True

        out = io.StringIO()
        assert cli.main(["verify", context["capture_context"], "--config", str(config_path), "--json"], out=out) == 0
        assert json.loads(out.getvalue())["kid"] == context["kid"]

        card = tmp_path / "card.json"
        card.write_text(json.dumps({"number": "5555 5555 5555 4444"}))
        out = io.StringIO()
        assert cli.main(["tokenize", "--capture-context", context["capture_context"], "--config", str(config_path),
                         "--card-json", str(card), "--json"], out=out) == 0
        token = json.loads(out.getvalue())
        assert token["masked_card"].endswith("4444") and "5555555555554444" not in out.getvalue()
        assert len(token["jti"]) == 64


def test_hosted_fields_session_command_against_the_emulator() -> None:
    out = io.StringIO()
    assert cli.main(["hosted-fields-session", "--terminal-id", "1234001", "--emulator", "--json"], out=out) == 0
    session = json.loads(out.getvalue())
    assert session["processing_terminal_id"] == "1234001" and session["token"]
    assert session["expires_at"].endswith("+00:00")


def test_hosted_fields_session_rejects_a_short_terminal_id(capsys) -> None:
    assert cli.main(["hosted-fields-session", "--terminal-id", "123", "--emulator"]) == 2
    assert "processingTerminalId" in capsys.readouterr().err


def test_a_step_is_one_function_and_runs_in_order(monkeypatch) -> None:
    monkeypatch.setattr(smoke, "STEPS", list(smoke.STEPS))
    seen = []

    @smoke.step("look at the token")
    def look(run: smoke.SmokeRun) -> dict:
        seen.append(run.token.masked_card_number)
        return {"card": run.token.masked_card_number}

    out = io.StringIO()
    assert cli.main(["smoke"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[-2].startswith("[ok  ] look at the token") and "card=XXXXXXXXXXXX1111" in lines[-2]
    assert lines[-1] == "smoke: 11 steps passed, 0 skipped"
    assert seen == ["XXXXXXXXXXXX1111"]


def test_a_failing_or_skipped_step_is_reported_by_name(monkeypatch, capsys) -> None:
    monkeypatch.setattr(smoke, "STEPS", list(smoke.STEPS[:1]))

    @smoke.step("not here")
    def skipped(run: smoke.SmokeRun) -> dict:
        raise smoke.StepSkipped("nothing to do")

    @smoke.step("refuses")
    def refuses(run: smoke.SmokeRun) -> dict:
        raise smoke.StepFailed("expected HTTP status 201, got 200")

    @smoke.step("never runs")
    def never(run: smoke.SmokeRun) -> dict:
        raise AssertionError("steps after a failure must not run")

    out = io.StringIO()
    assert cli.main(["smoke", "--json"], out=out) == 1
    document = json.loads(out.getvalue())
    assert document["ok"] is False
    assert [(s["step"], s["ok"]) for s in document["steps"]] == [
        ("start emulator", True), ("capture context", True), ("not here", True), ("refuses", False)]
    assert document["steps"][2]["skipped"] == "nothing to do"
    assert document["steps"][3]["error"] == "StepFailed: expected HTTP status 201, got 200"
    assert capsys.readouterr().err == "flex-client: error: StepFailed: expected HTTP status 201, got 200\n"
