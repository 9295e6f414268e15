"""The Payroc emulator on the wire, spoken to with plain urllib3 (no flex_ext client code)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Optional

import pytest
import urllib3

from flex_ext.emulator import EmulatorClock, FlexEmulator, PayrocEmulator

START = 1_751_462_400.0  # 2025-07-02T13:20:00Z
LIB = "1.7.0.261457"


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@dataclass
class Answer:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def payroc(clock: FakeClock) -> Iterator[PayrocEmulator]:
    with PayrocEmulator(clock=clock) as emulator:
        yield emulator


HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=5))


def call(method: str, url: str, headers: Optional[dict[str, str]] = None, body: Optional[bytes] = None) -> Answer:
    response = HTTP.request(method, url, headers=headers or {}, body=body, retries=False, redirect=False)
    return Answer(response.status, response.headers, response.data)


def authorize(payroc: PayrocEmulator, key: Optional[str] = None) -> Answer:
    headers = {} if key == "" else {"x-api-key": key or payroc.api_key}
    return call("POST", f"{payroc.identity_url}/authorize", headers)


def bearer(payroc: PayrocEmulator) -> str:
    return str(authorize(payroc).json()["access_token"])


def create(
    payroc: PayrocEmulator,
    terminal: str = "1234001",
    body: Any = None,
    key: Optional[str] = "new",
    token: Optional[str] = None,
    content_type: str = "application/json",
    raw: Optional[bytes] = None,
) -> Answer:
    headers = {"Content-Type": content_type}
    if token != "":
        headers["Authorization"] = f"Bearer {token or bearer(payroc)}"
    if key == "new":
        key = str(uuid.uuid4())
    if key is not None:
        headers["Idempotency-Key"] = key
    data = (
        raw
        if raw is not None
        else json.dumps({"libVersion": LIB, "scenario": "payment"} if body is None else body).encode()
    )
    return call("POST", f"{payroc.api_url}/processing-terminals/{terminal}/hosted-fields-sessions", headers, data)


def assert_problem(answer: Answer, status: int, parameters: tuple[str, ...] = ()) -> dict[str, Any]:
    assert answer.status == status
    assert answer.headers["Content-Type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == status
    assert problem["type"].startswith("https://docs.payroc.com/api/errors#")
    assert problem["title"] and problem["detail"]
    if parameters:
        assert tuple(item["parameter"] for item in problem["errors"]) == parameters
    return problem  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------
# /authorize


def test_authorize_returns_a_bearer_token(payroc: PayrocEmulator) -> None:
    answer = authorize(payroc)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    document = answer.json()
    assert set(document) == {"access_token", "expires_in", "scope", "token_type"}
    assert document["expires_in"] == 3600
    assert document["token_type"] == "Bearer"
    assert len(document["access_token"]) >= 32
    assert authorize(payroc).json()["access_token"] != document["access_token"]
    assert payroc.authorize_calls == 2


@pytest.mark.parametrize("key", ["", "wrong", "x"])
def test_authorize_refuses_a_missing_or_wrong_api_key(payroc: PayrocEmulator, key: str) -> None:
    answer = authorize(payroc, key or "")
    assert_problem(answer, 401)
    assert payroc.api_key.encode() not in answer.body


def test_authorize_needs_post(payroc: PayrocEmulator) -> None:
    assert_problem(call("GET", f"{payroc.identity_url}/authorize", {"x-api-key": payroc.api_key}), 405)


def test_chosen_api_key_is_used() -> None:
    with PayrocEmulator(api_key="my-test-key") as payroc:
        assert payroc.api_key == "my-test-key"
        assert authorize(payroc, "my-test-key").status == 200


def test_unknown_path_is_404(payroc: PayrocEmulator) -> None:
    assert_problem(call("POST", f"{payroc.api_url}/processing-terminals/1234001/other"), 404)


# --------------------------------------------------------------------------------------------
# Bearer checks


def test_session_without_bearer_is_401(payroc: PayrocEmulator) -> None:
    assert_problem(create(payroc, token=""), 401)
    assert payroc.sessions_created == 0


@pytest.mark.parametrize("header", ["Bearer not-issued", "Basic abc", "Bearer", "bearer "])
def test_session_with_an_invalid_authorization_is_401(payroc: PayrocEmulator, header: str) -> None:
    headers = {"Authorization": header, "Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
    body = json.dumps({"libVersion": LIB, "scenario": "payment"}).encode()
    url = f"{payroc.api_url}/processing-terminals/1234001/hosted-fields-sessions"
    assert_problem(call("POST", url, headers, body), 401)


def test_api_key_is_not_a_bearer_token(payroc: PayrocEmulator) -> None:
    assert_problem(create(payroc, token=payroc.api_key), 401)


def test_bearer_expires_after_its_lifetime(payroc: PayrocEmulator, clock: FakeClock) -> None:
    token = bearer(payroc)
    clock.now += 3599
    assert create(payroc, token=token).status == 201
    clock.now += 1
    assert_problem(create(payroc, token=token), 401)


def test_revoked_tokens_are_refused(payroc: PayrocEmulator) -> None:
    token = bearer(payroc)
    payroc.revoke_tokens()
    assert_problem(create(payroc, token=token), 401)


# --------------------------------------------------------------------------------------------
# Validation


def test_session_is_created(payroc: PayrocEmulator, clock: FakeClock) -> None:
    key = str(uuid.uuid4())
    answer = create(payroc, key=key)
    assert answer.status == 201
    assert answer.headers["Content-Type"] == "application/json"
    document = answer.json()
    assert set(document) == {"processingTerminalId", "token", "expiresAt"}
    assert document["processingTerminalId"] == "1234001"
    assert document["expiresAt"] == "2025-07-02T13:30:00.000Z"  # START + 10 minutes
    location = answer.headers["location"]
    assert location.startswith(f"{payroc.api_url}/processing-terminals/1234001/hosted-fields-sessions/")
    session = payroc.sessions[0]
    assert session.token == document["token"]
    assert session.idempotency_key == key
    assert session.expires_at == datetime.fromtimestamp(START, tz=timezone.utc) + timedelta(minutes=10)
    assert (session.lib_version, session.scenario, session.secure_token_id) == (LIB, "payment", None)
    assert document["token"] not in repr(session)


@pytest.mark.parametrize(("length", "status"), [(3, 400), (4, 201), (50, 201), (51, 400)])
def test_terminal_id_length(payroc: PayrocEmulator, length: int, status: int) -> None:
    answer = create(payroc, terminal="9" * length)
    assert answer.status == status
    if status == 400:
        assert_problem(answer, 400, ("processingTerminalId",))


@pytest.mark.parametrize(
    ("version", "status"),
    [
        ("1.7.0.261457", 201),
        ("1.2.0-beta.135020", 201),
        ("10.20.30.4", 201),
        ("1.7.0", 400),
        ("1x7x0x261457", 400),
        ("1.7.0.261457\n", 400),
        ("123.1.1.1", 400),
        ("1.7.0-alpha.1", 400),
        (17, 400),
    ],
)
def test_lib_version_pattern(payroc: PayrocEmulator, version: object, status: int) -> None:
    answer = create(payroc, body={"libVersion": version, "scenario": "payment"})
    assert answer.status == status
    if status == 400:
        assert_problem(answer, 400, ("libVersion",))


@pytest.mark.parametrize(("scenario", "status"), [("payment", 201), ("tokenization", 201), ("Payment", 400), ("", 400)])
def test_scenario_enum(payroc: PayrocEmulator, scenario: str, status: int) -> None:
    answer = create(payroc, body={"libVersion": LIB, "scenario": scenario})
    assert answer.status == status
    if status == 400:
        assert_problem(answer, 400, ("scenario",))


@pytest.mark.parametrize(("length", "status"), [(0, 400), (1, 201), (200, 201), (201, 400)])
def test_secure_token_id_length(payroc: PayrocEmulator, length: int, status: int) -> None:
    answer = create(payroc, body={"libVersion": LIB, "scenario": "tokenization", "secureTokenId": "t" * length})
    assert answer.status == status
    if status == 400:
        assert_problem(answer, 400, ("secureTokenId",))
    else:
        assert payroc.sessions[0].secure_token_id == "t" * length


def test_required_body_fields_are_reported_together(payroc: PayrocEmulator) -> None:
    answer = create(payroc, terminal="123", body={})
    problem = assert_problem(answer, 400, ("processingTerminalId", "libVersion", "scenario"))
    assert all(item["detail"] and item["message"] for item in problem["errors"])


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_body_must_be_a_json_object(payroc: PayrocEmulator, raw: bytes) -> None:
    problem = assert_problem(create(payroc, raw=raw), 400)
    assert "body" in [item["parameter"] for item in problem["errors"]]


def test_body_must_be_sent_as_json(payroc: PayrocEmulator) -> None:
    assert_problem(create(payroc, content_type="text/plain"), 415)


def test_missing_idempotency_key_is_400(payroc: PayrocEmulator) -> None:
    assert_problem(create(payroc, key=None), 400, ("Idempotency-Key",))
    assert payroc.sessions_created == 0


@pytest.mark.parametrize(
    "key", [str(uuid.uuid1()), str(uuid.uuid5(uuid.NAMESPACE_DNS, "x")), "not-a-uuid", uuid.uuid4().hex]
)
def test_idempotency_key_must_be_a_uuid_v4(payroc: PayrocEmulator, key: str) -> None:
    assert_problem(create(payroc, key=key), 400, ("Idempotency-Key",))


# --------------------------------------------------------------------------------------------
# Idempotency


def test_same_key_and_body_replays_the_stored_response(payroc: PayrocEmulator, clock: FakeClock) -> None:
    key = str(uuid.uuid4())
    first = create(payroc, key=key)
    clock.now += 30
    again = create(payroc, key=key)  # with another bearer token, later
    assert again.status == 201
    assert again.body == first.body
    assert again.headers["location"] == first.headers["location"]
    assert payroc.sessions_created == 1


def test_same_key_with_another_body_is_409(payroc: PayrocEmulator) -> None:
    key = str(uuid.uuid4())
    assert create(payroc, key=key).status == 201
    assert_problem(create(payroc, key=key, body={"libVersion": LIB, "scenario": "tokenization"}), 409)
    assert_problem(create(payroc, key=key, terminal="7654321"), 409)
    assert payroc.sessions_created == 1


def test_key_comparison_ignores_case(payroc: PayrocEmulator) -> None:
    key = str(uuid.uuid4())
    first = create(payroc, key=key)
    assert create(payroc, key=key.upper()).body == first.body
    assert payroc.sessions_created == 1


def test_a_rejected_request_can_be_resubmitted_with_its_key(payroc: PayrocEmulator) -> None:
    key = str(uuid.uuid4())
    assert create(payroc, key=key, body={"libVersion": "bad", "scenario": "payment"}).status == 400
    assert create(payroc, key=key).status == 201
    assert payroc.sessions_created == 1


# --------------------------------------------------------------------------------------------
# Fault injection and observation


def test_fail_next_answers_5xx_then_recovers(payroc: PayrocEmulator) -> None:
    token = bearer(payroc)
    payroc.fail_next(2, status=503)
    key = str(uuid.uuid4())
    for _ in range(2):
        problem = assert_problem(create(payroc, key=key, token=token), 503)
        assert problem["errors"] == [{"message": "Service offline"}]
    assert payroc.sessions_created == 0
    assert create(payroc, key=key, token=token).status == 201
    assert [r.status for r in payroc.session_requests()] == [503, 503, 201]


def test_fail_after_processing_creates_the_session_but_loses_the_answer(payroc: PayrocEmulator) -> None:
    token = bearer(payroc)
    payroc.fail_next(1, after_processing=True)
    key = str(uuid.uuid4())
    assert create(payroc, key=key, token=token).status == 500
    assert payroc.sessions_created == 1
    replay = create(payroc, key=key, token=token)
    assert replay.status == 201
    assert replay.json()["token"] == payroc.sessions[0].token
    assert payroc.sessions_created == 1


def test_faults_target_their_endpoint(payroc: PayrocEmulator) -> None:
    payroc.fail_next(1, endpoint="authorize", status=502)
    token = None
    assert_problem(authorize(payroc), 502)
    token = bearer(payroc)
    payroc.fail_next(1, endpoint="sessions")
    assert authorize(payroc).status == 200
    assert create(payroc, token=token).status == 500
    payroc.fail_next(1, endpoint="any", status=504)
    assert authorize(payroc).status == 504


def test_reset_next_drops_the_connection(payroc: PayrocEmulator) -> None:
    token = bearer(payroc)
    payroc.reset_next(1)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        create(payroc, token=token)
    assert payroc.session_requests()[-1].status is None
    assert create(payroc, token=token).status == 201


def test_reset_after_processing_still_creates_the_session(payroc: PayrocEmulator) -> None:
    token = bearer(payroc)
    payroc.reset_next(1, after_processing=True)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        create(payroc, token=token)
    assert payroc.sessions_created == 1


def test_bad_fault_endpoint_is_refused(payroc: PayrocEmulator) -> None:
    with pytest.raises(ValueError):
        payroc.fail_next(1, endpoint="everything")


def test_credentials_are_neither_recorded_nor_logged(payroc: PayrocEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = bearer(payroc)
    create(payroc, token=token)
    authorize(payroc, "wrong-key-value")
    payroc.reset_next(1, endpoint="authorize")
    with pytest.raises(urllib3.exceptions.ProtocolError):
        authorize(payroc)
    assert "POST /authorize" in caplog.text
    for request in payroc.requests:
        names = {name.lower() for name in request.headers}
        assert "authorization" not in names and "x-api-key" not in names
        assert token not in repr(request) and payroc.api_key not in repr(request)
    for secret in (token, payroc.api_key, "wrong-key-value"):
        assert secret not in caplog.text
    assert payroc.api_key not in repr(payroc)


def test_stopped_emulator_refuses_connections(clock: FakeClock) -> None:
    with PayrocEmulator(clock=clock) as payroc:
        url = payroc.identity_url
    with pytest.raises(urllib3.exceptions.HTTPError):
        call("POST", f"{url}/authorize")
    with pytest.raises(RuntimeError):
        _ = payroc.identity_url


# --------------------------------------------------------------------------------------------
# One emulator: the Payroc side shares the Flex emulator's port, faults and clock


def test_flex_emulator_serves_payroc_on_its_own_port() -> None:
    with FlexEmulator() as emu:
        assert isinstance(PayrocEmulator(), FlexEmulator)
        settings = emu.payroc_config()
        assert settings["identity_url"] == emu.base_url and settings["api_url"] == emu.base_url + "/v1"
        token = call("POST", f"{emu.payroc_identity_url}/authorize", {"x-api-key": emu.payroc_api_key}).json()
        headers = {
            "Authorization": f"Bearer {token['access_token']}",
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        body = json.dumps({"libVersion": LIB, "scenario": "payment"}).encode()
        url = f"{emu.payroc_api_url}/processing-terminals/1234001/hosted-fields-sessions"
        created = call("POST", url, headers, body)
        assert created.status == 201
        assert created.json()["token"] == emu.payroc_sessions[0].token
        assert emu.payroc_authorize_calls == 1 and len(emu.payroc_requests) == 2
        # The same port still serves Flex.
        assert call("GET", f"{emu.base_url}/flex/v2/public-keys/{emu.signing_kid}").status == 200


def test_payroc_faults_are_the_emulator_faults(payroc: PayrocEmulator) -> None:
    token = bearer(payroc)
    payroc.inject_fault("payroc-sessions", status=503, times=1)
    assert payroc.active_fault("payroc-sessions") is not None
    problem = assert_problem(create(payroc, token=token), 503)
    assert problem["errors"] == [{"message": "Service offline"}]
    assert create(payroc, token=token).status == 201
    assert payroc.request_count("payroc-sessions") == 2
    assert payroc.request_count("payroc-authorize") == 1
    payroc.inject_fault("payroc-authorize", latency=0.2, times=1)
    started = time.monotonic()
    assert authorize(payroc).status == 200
    assert time.monotonic() - started >= 0.2


def test_payroc_follows_the_emulator_clock() -> None:
    with PayrocEmulator(clock=EmulatorClock(frozen_at=START)) as payroc:
        token = bearer(payroc)
        payroc.clock.advance(3600)
        assert_problem(create(payroc, token=token), 401)
        created = create(payroc, token=bearer(payroc))
        expected = datetime.fromtimestamp(START + 3600 + 600, tz=timezone.utc)
        assert created.json()["expiresAt"] == expected.isoformat(timespec="milliseconds").replace("+00:00", "Z")
