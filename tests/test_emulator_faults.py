"""Fault injection: latency, error statuses, resets, malformed bodies, wrong Digest, recovery."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Iterator

import pytest
import urllib3
from emulator_helpers import Client, card_data, jwt_parts, token_request_jwe

from flex_ext.emulator import FlexEmulator


@pytest.fixture
def emu() -> Iterator[FlexEmulator]:
    with FlexEmulator() as emulator:
        yield emulator


@pytest.fixture
def client() -> Client:
    return Client()


def key_url(emu: FlexEmulator) -> str:
    return f"{emu.base_url}/flex/v2/public-keys/{emu.signing_kid}"


def sha256_digest(body: bytes) -> str:
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def test_latency_delays_only_the_chosen_endpoint(emu: FlexEmulator, client: Client) -> None:
    emu.inject_fault("public-keys", latency=0.4)
    started = time.monotonic()
    assert client.request("GET", key_url(emu)).status == 200
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    assert client.create_session(emu.base_url, emu.merchant()).status == 201
    assert time.monotonic() - started < 0.4


def test_error_status_n_times_then_recover(emu: FlexEmulator, client: Client) -> None:
    emu.inject_fault("public-keys", status=503, times=2)
    first = client.request("GET", key_url(emu))
    assert first.status == 503
    assert json.loads(first.data)["reason"] == "SERVER_ERROR"
    assert client.request("GET", key_url(emu)).status == 503
    assert client.request("GET", key_url(emu)).status == 200
    assert emu.request_count("public-keys") == 3
    assert emu.active_fault("public-keys") is None


def test_error_status_on_tokens_uses_the_response_status_shape(emu: FlexEmulator, client: Client) -> None:
    context = client.capture_context(emu.base_url, emu.merchant())
    emu.inject_fault("tokens", status=500)
    response = client.tokenize(context, token_request_jwe(context, card_data()))
    assert response.status == 500
    assert json.loads(response.data)["responseStatus"]["reason"] == "INTERNAL_ERROR"
    emu.clear_faults("tokens")
    assert client.tokenize(context, token_request_jwe(context, card_data())).status == 200


def test_sessions_fault_applies_before_authentication(emu: FlexEmulator, client: Client) -> None:
    emu.inject_fault("sessions", status=502, times=1)
    assert client.request("POST", emu.base_url + "/flex/v2/sessions", b"{}").status == 502
    assert client.request("POST", emu.base_url + "/flex/v2/sessions", b"{}").status == 401


@pytest.mark.parametrize("endpoint", ["sessions", "public-keys", "tokens"])
def test_connection_reset_then_recover(emu: FlexEmulator, client: Client, endpoint: str) -> None:
    context = emu.issue_capture_context()

    def call() -> urllib3.BaseHTTPResponse:
        if endpoint == "sessions":
            return client.create_session(emu.base_url, emu.merchant())
        if endpoint == "tokens":
            return client.tokenize(context, token_request_jwe(context, card_data()))
        return client.request("GET", key_url(emu))

    emu.inject_fault(endpoint, reset=True, times=1)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        call()
    assert call().status in (200, 201)
    assert emu.request_count(endpoint) == 2


def test_malformed_body_on_sessions_and_tokens(emu: FlexEmulator, client: Client) -> None:
    emu.inject_fault("sessions", malformed_body=True, times=1)
    broken = client.create_session(emu.base_url, emu.merchant())
    assert broken.status == 201
    with pytest.raises(ValueError):
        jwt_parts(broken.data.decode())
    context = client.capture_context(emu.base_url, emu.merchant())
    emu.inject_fault("tokens", malformed_body=True)
    response = client.tokenize(context, token_request_jwe(context, card_data()))
    assert response.status == 200
    with pytest.raises(ValueError):
        jwt_parts(response.data.decode())
    assert response.headers["Digest"] == sha256_digest(response.data)


def test_malformed_body_on_public_keys_is_not_json(emu: FlexEmulator, client: Client) -> None:
    emu.inject_fault("public-keys", malformed_body=True)
    response = client.request("GET", key_url(emu))
    assert response.status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.data)


def test_wrong_digest_on_tokens(emu: FlexEmulator, client: Client) -> None:
    context = client.capture_context(emu.base_url, emu.merchant())
    emu.inject_fault("tokens", wrong_digest=True, times=1)
    response = client.tokenize(context, token_request_jwe(context, card_data()))
    assert response.status == 200
    jwt_parts(response.data.decode())  # the body itself is intact
    assert response.headers["Digest"].startswith("SHA-256=")
    assert response.headers["Digest"] != sha256_digest(response.data)
    again = client.tokenize(context, token_request_jwe(context, card_data()))
    assert again.headers["Digest"] == sha256_digest(again.data)


def test_clear_faults_restores_every_endpoint(emu: FlexEmulator, client: Client) -> None:
    emu.inject_fault("public-keys", status=500)
    emu.inject_fault("sessions", status=500)
    emu.clear_faults()
    assert client.request("GET", key_url(emu)).status == 200
    assert client.create_session(emu.base_url, emu.merchant()).status == 201
    emu.reset_request_counts()
    assert emu.request_count() == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"endpoint": "no-such-endpoint", "status": 500},
        {"endpoint": "tokens", "status": 200},
        {"endpoint": "tokens", "status": 500, "times": 0},
        {"endpoint": "tokens", "latency": -1.0},
        {"endpoint": "tokens"},
    ],
)
def test_invalid_faults_are_refused(emu: FlexEmulator, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        emu.inject_fault(**kwargs)  # type: ignore[arg-type]


def test_an_internal_error_answers_500_instead_of_dropping_the_connection(
    emu: FlexEmulator, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(kid: str) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(emu._service, "public_jwk", broken)
    response = client.request("GET", key_url(emu))
    assert response.status == 500
    assert json.loads(response.data)["reason"] == "SERVER_ERROR"
