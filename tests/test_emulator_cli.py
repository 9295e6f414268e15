"""``python -m flex_ext.emulator`` and the pytest plugin, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from types import SimpleNamespace
from typing import Any, Iterator, Optional

import pytest
from emulator_helpers import (
    CARD_FIELDS,
    VECTOR_KEY_ID,
    VECTOR_SECRET,
    Client,
    card_data,
    jwt_claims,
    rs256_bearer,
    token_request_jwe,
)

pytest_plugins = ["pytester"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Running:
    def __init__(self, process: subprocess.Popen[str], info: dict[str, Any]) -> None:
        self.process = process
        self.info = info


def _read_line(process: subprocess.Popen[str], timeout: float = 30.0) -> str:
    line: list[str] = []
    assert process.stdout is not None
    stdout = process.stdout
    reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert line and line[0], "the emulator printed no line"
    return line[0]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEX_EMULATOR_")}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _start(*args: str, **env: str) -> Running:
    process = subprocess.Popen(
        [sys.executable, "-m", "flex_ext.emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_env(**env),
    )
    try:
        return Running(process, json.loads(_read_line(process)))
    except BaseException:
        process.kill()
        process.communicate()
        raise


def _stop(running: Running, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
    running.process.send_signal(sig)
    out, err = running.process.communicate(timeout=15)
    return running.process.returncode, out, err


@pytest.fixture
def cli() -> Iterator[Running]:
    running = _start()
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.communicate()


def _merchant(summary: dict[str, Any]) -> Any:
    return SimpleNamespace(
        merchant_id=summary["merchant_id"],
        key_id=summary["merchant_keyid"],
        shared_secret=summary["merchant_secretkey"],
    )


def test_cli_prints_one_json_line_and_serves_until_sigterm(cli: Running) -> None:
    info = cli.info
    assert info["base_url"].startswith("http://127.0.0.1:")
    assert info["tls"] is False and "ssl_ca_file" not in info and "ca_cert_path" not in info
    assert info["run_environment"] == info["base_url"]
    assert info["pid"] == cli.process.pid
    [merchant] = info["merchants"]
    assert merchant["merchant_id"] == "emulator_merchant"
    client = Client()
    assert client.request("GET", f"{info['base_url']}/flex/v2/public-keys/{info['signing_kid']}").status == 200
    context = client.capture_context(info["base_url"], _merchant(merchant))
    assert client.tokenize(context, token_request_jwe(context, card_data())).status == 200
    code, out, err = _stop(cli)
    assert code == 0
    assert out == ""  # nothing after the one JSON line
    assert "4111" not in err


def test_cli_serves_payroc_on_the_same_port_with_the_printed_key(cli: Running) -> None:
    payroc = cli.info["payroc"]
    assert set(payroc) == {"api_key", "identity_url", "api_url"}
    assert payroc["identity_url"] == cli.info["base_url"]
    assert payroc["api_url"] == cli.info["base_url"] + "/v1"
    client = Client()
    refused = client.request("POST", f"{payroc['identity_url']}/authorize", headers={"x-api-key": "wrong"})
    assert refused.status == 401
    answer = client.request("POST", f"{payroc['identity_url']}/authorize", headers={"x-api-key": payroc["api_key"]})
    assert answer.status == 200 and json.loads(answer.data)["token_type"] == "Bearer"
    _stop(cli)


def test_cli_port_in_use_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "flex_ext.emulator", "--port", str(port)],
            capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=60,
        )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and f"port {port}" in result.stderr and "in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_exits_cleanly_on_sigint() -> None:
    running = _start()
    code, out, _ = _stop(running, signal.SIGINT)
    assert code == 0 and out == ""


def test_cli_tls_mode_exposes_its_ca_and_cleans_up() -> None:
    running = _start("--tls")
    try:
        info = running.info
        assert info["tls"] is True
        assert info["base_url"].startswith("https://127.0.0.1:")
        ca_path: Optional[str] = info["ssl_ca_file"]
        assert ca_path is not None and os.path.isfile(ca_path)
        client = Client(ca_cert_path=ca_path)
        response = client.request("GET", f"{info['base_url']}/flex/v2/public-keys/{info['signing_kid']}")
        assert response.status == 200
    finally:
        code, _, _ = _stop(running)
    assert code == 0
    assert not os.path.exists(ca_path)


def test_cli_merchants_from_environment_and_flags() -> None:
    running = _start(
        "--merchant",
        "flag_merchant",
        "--p12-merchant",
        "p12_merchant",
        "--usage-limit",
        "1",
        FLEX_EMULATOR_MERCHANTS=f"env_merchant:{VECTOR_KEY_ID}:{VECTOR_SECRET}",
    )
    try:
        info = running.info
        assert info["usage_limit"] == 1
        by_id = {m["merchant_id"]: m for m in info["merchants"]}
        assert set(by_id) == {"flag_merchant", "env_merchant", "p12_merchant"}
        assert by_id["env_merchant"]["merchant_keyid"] == VECTOR_KEY_ID
        assert by_id["env_merchant"]["merchant_secretkey"] == VECTOR_SECRET
        client = Client()
        for merchant_id in ("flag_merchant", "env_merchant"):
            assert client.create_session(info["base_url"], _merchant(by_id[merchant_id])).status == 201
        p12 = by_id["p12_merchant"]
        assert os.path.isfile(p12["p12_path"])
        assert p12["p12_path"] == os.path.join(p12["keys_directory"], p12["key_file_name"] + ".p12")
        body = json.dumps({"fields": CARD_FIELDS}).encode()
        import time

        headers = rs256_bearer(p12["p12_path"], p12["key_password"], jwt_claims("p12_merchant", body, now=time.time()))
        response = client.request("POST", info["base_url"] + "/flex/v2/sessions", body, headers)
        assert response.status == 201, response.headers.get("x-emulator-reason")
        context = response.data.decode()
        assert client.tokenize(context, token_request_jwe(context, card_data())).status == 200
        assert client.tokenize(context, token_request_jwe(context, card_data())).status == 400
    finally:
        assert _stop(running)[0] == 0


@pytest.mark.parametrize(
    "args",
    [["--merchant", "a:b"], ["--usage-limit", "0"], ["--port", "70000"]],
    ids=["bad merchant spec", "zero usage limit", "bad port"],
)
def test_cli_rejects_bad_arguments_without_printing(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flex_ext.emulator", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stdout == ""


def test_cli_help_documents_the_environment_variables() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flex_ext.emulator", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
        timeout=30,
    )
    assert result.returncode == 0
    for name in (
        "FLEX_EMULATOR_PORT",
        "FLEX_EMULATOR_TLS",
        "FLEX_EMULATOR_MERCHANTS",
        "FLEX_EMULATOR_P12_MERCHANTS",
        "FLEX_EMULATOR_PAYROC_API_KEY",
    ):
        assert name in result.stdout


# -- the pytest plugin -------------------------------------------------------------------------


def _plugin_name() -> str:
    """The name to pass to ``-p``: the installed pytest11 entry point if any, else the module."""
    from importlib.metadata import entry_points

    found = entry_points()
    # Python 3.9 returns a dict of group -> entry points; 3.10+ an EntryPoints with select().
    group = found.select(group="pytest11") if hasattr(found, "select") else found.get("pytest11", ())
    for entry in group:
        if entry.value == "flex_ext.pytest_plugin":
            return entry.name
    return "flex_ext.pytest_plugin"


def test_pytest_plugin_fixtures(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", ROOT)
    pytester.makepyfile(
        """
        import json
        import urllib3

        def test_emulator(flex_emulator, flex_merchant_config):
            assert flex_emulator.base_url.startswith("http://127.0.0.1:")
            assert flex_merchant_config["authentication_type"] == "http_signature"
            assert flex_merchant_config["run_environment"] == flex_emulator.base_url
            assert flex_merchant_config["merchantid"] == flex_emulator.merchant().merchant_id
            url = flex_emulator.base_url + "/flex/v2/public-keys/" + flex_emulator.signing_kid
            assert json.loads(urllib3.request("GET", url).data)["kty"] == "RSA"

        def test_tls(flex_emulator_tls):
            pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=flex_emulator_tls.ca_cert_path)
            url = flex_emulator_tls.base_url + "/flex/v2/public-keys/" + flex_emulator_tls.signing_kid
            assert pool.request("GET", url).status == 200

        def test_shared_once(flex_emulator_shared):
            pytest_shared = flex_emulator_shared.base_url
            assert pytest_shared.startswith("http://")

        def test_shared_twice(flex_emulator_shared):
            assert flex_emulator_shared.request_count() == 0

        def test_payroc_config_reaches_the_same_emulator(flex_emulator, payroc_config, flex_merchant_config):
            from flex_ext.hosted_fields import HostedFieldsClient

            session = HostedFieldsClient(payroc_config).create_hosted_fields_session(
                "1234001", "payment", "1.7.0.261457")
            assert session.token == flex_emulator.payroc_sessions[0].token
            assert payroc_config.identity_url == flex_merchant_config["run_environment"]

        def test_payroc_emulator(payroc_emulator):
            answer = urllib3.request("POST", payroc_emulator.identity_url + "/authorize",
                                     headers={"x-api-key": payroc_emulator.api_key})
            assert answer.status == 200 and payroc_emulator.authorize_calls == 1
        """
    )
    result = pytester.runpytest_subprocess("-p", _plugin_name(), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)
