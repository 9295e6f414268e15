"""flex-client errors as a user meets them: one line on stderr, the right exit status, no traceback,
no secret and no card number anywhere in the output."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
from typing import Iterator

import pytest
from conftest import _ROOT

from flex_ext import cli
from flex_ext.emulator import FlexEmulator
from flex_ext.errors import (
    ConfigurationError,
    FieldValidationError,
    HTTPError,
    JWEError,
    JWTValidationError,
    KeyPasswordError,
    RequestTimeoutError,
    TransportError,
)

SECRET = base64.b64encode(b"do-not-print-this-secret-32-byte").decode()
CARD = "4111111111111111"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [os.path.join(_ROOT, "generated", "cybersource"), os.path.join(_ROOT, "generated", "payroc"), _ROOT])}


@pytest.fixture(scope="module")
def emulator() -> Iterator[FlexEmulator]:
    with FlexEmulator() as running:
        yield running


@pytest.fixture(autouse=True)
def _no_environment_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CYBERSOURCE_MERCHANT_ID", "CYBERSOURCE_KEY_ID", "CYBERSOURCE_SECRET_KEY", "PAYROC_API_KEY",
                 "FLEX_CLIENT_DEBUG"):
        monkeypatch.delenv(name, raising=False)


def fails(capsys: pytest.CaptureFixture[str], argv: list[str], code: int) -> str:
    """Run the CLI in-process; assert the exit status and one clean error line; return that line."""
    out = io.StringIO()
    assert cli.main(argv, out=out) == code
    captured = capsys.readouterr()
    assert out.getvalue() == "" and captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("flex-client: error: ")
    assert "Traceback" not in captured.err
    for secret in (SECRET, CARD, "4111 1111 1111 1111", "do-not-print"):
        assert secret not in captured.err
    return lines[0]


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def config_file(tmp_path, emulator: FlexEmulator, **changes: str) -> str:
    config = {**emulator.merchant_config(), **changes}
    return write(tmp_path, "merchant.json", json.dumps(config))


# --- usage and configuration errors: exit 2 ------------------------------------------------------


def test_missing_config_file(capsys, tmp_path) -> None:
    missing = str(tmp_path / "nope.json")
    line = fails(capsys, ["verify", "a.b.c", "--config", missing], 2)
    assert line == f"flex-client: error: --config {missing}: No such file or directory"


def test_config_file_that_is_not_json_is_reported_without_its_content(capsys, tmp_path) -> None:
    path = write(tmp_path, "merchant.json", f'{{"merchantid": "m",\n "merchant_secretkey": "{SECRET}",}}')
    line = fails(capsys, ["capture-context", "--config", path], 2)
    assert line.startswith(f"flex-client: error: --config {path}: not valid JSON (line 2, column ")


def test_config_file_that_is_not_utf8(capsys, tmp_path) -> None:
    path = tmp_path / "merchant.json"
    path.write_bytes(b'{"merchantid": "\xff"}')
    assert fails(capsys, ["verify", "a.b.c", "--config", str(path)], 2).endswith(": not UTF-8 text")


def test_config_file_holding_an_array(capsys, tmp_path) -> None:
    path = write(tmp_path, "merchant.json", json.dumps([{"merchant_secretkey": SECRET}]))
    assert "must be a JSON object" in fails(capsys, ["verify", "a.b.c", "--config", path], 2)


def test_without_config_names_the_option_and_variables_not_the_smoke(capsys) -> None:
    line = fails(capsys, ["verify", "a.b.c"], 2)
    assert "--config FILE" in line
    assert "CYBERSOURCE_MERCHANT_ID, CYBERSOURCE_KEY_ID, CYBERSOURCE_SECRET_KEY" in line
    assert "smoke" not in line and "--live" not in line


def test_invalid_merchant_config_values_are_configuration_errors(capsys, tmp_path, emulator) -> None:
    path = config_file(tmp_path, emulator, authentication_type="kerberos")
    assert "Authentication Type" in fails(capsys, ["capture-context", "--config", path], 2)


def test_missing_card_file(capsys, tmp_path, emulator) -> None:
    missing = str(tmp_path / "card.json")
    line = fails(capsys, ["tokenize", "--capture-context", "a.b.c", "--card-json", missing], 2)
    assert line == f"flex-client: error: --card-json {missing}: No such file or directory"


def test_card_file_holding_an_array(capsys, tmp_path, emulator) -> None:
    card = write(tmp_path, "card.json", json.dumps([CARD, "12", "2031"]))
    line = fails(capsys, ["tokenize", "--capture-context", "a.b.c", "--config", config_file(tmp_path, emulator),
                          "--card-json", card], 2)
    assert "the card data must be a JSON object" in line


def test_card_file_that_is_not_json_is_reported_without_its_content(capsys, tmp_path, emulator) -> None:
    card = write(tmp_path, "card.json", f'{{"number": {CARD}, "security_code": 123')
    line = fails(capsys, ["tokenize", "--capture-context", "a.b.c", "--card-json", card], 2)
    assert line.startswith(f"flex-client: error: --card-json {card}: not valid JSON (line 1, column ")


def test_card_from_stdin_holding_a_string(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(CARD)))
    assert "--card-json -: the card data must be a JSON object" in fails(
        capsys, ["tokenize", "--capture-context", "a.b.c", "--card-json", "-"], 2)


def test_card_data_that_does_not_fit_is_named_by_field(capsys, tmp_path, emulator) -> None:
    config = config_file(tmp_path, emulator)
    out = io.StringIO()
    assert cli.main(["capture-context", "--config", config], out=out) == 0
    card = write(tmp_path, "card.json", json.dumps({"number": CARD, "cvv": "123"}))
    line = fails(capsys, ["tokenize", "--capture-context", out.getvalue().strip(), "--config", config,
                          "--card-json", card], 2)
    assert "FieldValidationError" in line and "cvv" in line


@pytest.mark.parametrize("argv", [
    [],
    ["bogus"],
    ["verify"],
    ["tokenize", "--card-json", "card.json"],
    ["capture-context", "--config", "x.json", "--emulator"],
    ["capture-context", "--emulator", "--field", "paymentInformation.card.number:maybe"],
    ["hosted-fields-session", "--terminal-id", "1234001", "--scenario", "refund"],
])
def test_bad_arguments_are_one_line_with_exit_2(capsys, argv) -> None:
    line = fails(capsys, argv, 2)
    assert "--help" in line or "--field" in line


def test_hosted_fields_session_without_an_api_key(capsys) -> None:
    assert "PAYROC_API_KEY" in fails(capsys, ["hosted-fields-session", "--terminal-id", "1234001"], 2)


def test_emulator_port_in_use_is_one_line_with_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = subprocess.run([sys.executable, "-m", "flex_ext.cli", "emulator", "--port", port],
                                capture_output=True, text=True, timeout=60, env=ENV)
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    # The emulator's own entry point answers it: one line naming the port, no traceback.
    assert "is already in use" in line and port in line


@pytest.mark.parametrize("argv", [
    ["verify", "a.b.c", "--config", "no-such-merchant.json"],
    ["tokenize", "--capture-context", "a.b.c", "--card-json", "-"],
])
def test_no_traceback_from_a_real_process(argv) -> None:
    result = subprocess.run([sys.executable, "-m", "flex_ext.cli", *argv], capture_output=True, text=True,
                            timeout=60, env=ENV, input=json.dumps([CARD]), cwd=_ROOT)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert CARD not in result.stderr


# --- remote failures: exit 1 ---------------------------------------------------------------------


def test_wrong_secret_is_an_http_error(capsys, tmp_path, emulator) -> None:
    line = fails(capsys, ["capture-context", "--config", config_file(tmp_path, emulator, merchant_secretkey=SECRET)],
                 1)
    assert "401" in line


def test_connection_refused_is_a_transport_error(capsys, tmp_path, emulator) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    path = config_file(tmp_path, emulator, run_environment=f"http://127.0.0.1:{port}", timeout="2000")
    # Its type is being corrected (refused is not a timeout); it stays a remote failure either way.
    assert f"POST http://127.0.0.1:{port}/flex/v2/sessions" in fails(capsys, ["capture-context", "--config", path], 1)


def test_untrusted_tls_certificate_points_at_ssl_ca_file(capsys, tmp_path) -> None:
    with FlexEmulator(tls=True) as tls_emulator:
        config = tls_emulator.merchant_config()
        config.pop("ssl_ca_file")
        path = write(tmp_path, "merchant.json", json.dumps(config))
        line = fails(capsys, ["capture-context", "--config", path], 1)
    assert "TLS" in line and "set ssl_ca_file in the merchant config" in line


def test_a_forged_capture_context_fails_verification(capsys, tmp_path, emulator) -> None:
    config = config_file(tmp_path, emulator)
    out = io.StringIO()
    assert cli.main(["capture-context", "--config", config], out=out) == 0
    header, payload, signature = out.getvalue().strip().split(".")
    forged = ".".join([header, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")])
    assert "JWTValidationError" in fails(capsys, ["verify", forged, "--config", config], 1)


def test_unparseable_jwt_is_a_verification_failure(capsys) -> None:
    assert fails(capsys, ["verify", "not-a-jwt", "--unverified"], 1).startswith(
        "flex-client: error: JWTValidationError: ")


# --- the top-level handler -----------------------------------------------------------------------


def test_unexpected_errors_are_one_line_without_their_message(capsys, monkeypatch) -> None:
    def boom(args, out):
        raise RuntimeError(f"card {CARD} secret {SECRET}")

    monkeypatch.setattr(cli, "_cmd_verify", boom)
    line = fails(capsys, ["verify", "a.b.c", "--unverified"], 1)
    assert line == "flex-client: error: unexpected RuntimeError; set FLEX_CLIENT_DEBUG=1 to see the traceback"
    monkeypatch.setenv("FLEX_CLIENT_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main(["verify", "a.b.c", "--unverified"])


@pytest.mark.parametrize(("error", "code"), [
    (HTTPError("HTTP 502", status=502), 1),
    (TransportError("connection refused"), 1),
    (RequestTimeoutError("no response"), 1),
    (JWTValidationError("bad signature"), 1),
    (JWEError("bad key"), 1),
    (ConfigurationError("MerchantID is mandatory"), 2),
    (KeyPasswordError("wrong password"), 2),
    (FieldValidationError("card number must be 12 to 19 digits"), 2),
    (cli.UsageError("--field x"), 2),
    (FileNotFoundError(2, "No such file or directory", "x.json"), 2),
    (ConnectionResetError(104, "Connection reset by peer"), 1),
    (ValueError(f"bad {SECRET}"), 2),
    (KeyError(SECRET), 1),
])
def test_exit_status_by_error_kind(error, code) -> None:
    status, text = cli.describe_error(error)
    assert status == code
    assert SECRET not in text and "\n" not in text


def test_os_errors_show_the_file_and_the_reason_only() -> None:
    assert cli.describe_error(PermissionError(13, "Permission denied", "merchant.json")) == (
        2, "merchant.json: Permission denied")
    assert cli.describe_error(OSError(f"secret {SECRET}")) == (2, "OSError: failed")


def test_multi_line_and_control_characters_become_one_printable_line() -> None:
    _, text = cli.describe_error(HTTPError("(401)\nReason: Unauthorized\x1b[2J\r\n"))
    assert text == "HTTPError: (401) Reason: Unauthorized [2J"


@pytest.mark.parametrize("command", ["capture-context", "verify", "tokenize", "hosted-fields-session", "smoke"])
def test_help_texts_are_plain_text(capsys, command) -> None:
    for argv in (["--help"], [command, "--help"]):
        with pytest.raises(SystemExit) as exited:
            cli.main(argv)
        assert exited.value.code == 0
        text = capsys.readouterr().out
        assert "usage: flex-client" in text
        for markup in ("``", ":class:", ":meth:", ":data:", ":func:"):
            assert markup not in text
