"""The Payroc Hosted Fields client: validation, bearer tokens, idempotent retries, redaction.

Wire tests run against flex_ext.emulator (its Payroc side) on 127.0.0.1, with one controllable clock
shared by the client's token provider and the emulator, and a recording sleep.
"""

from __future__ import annotations

import enum
import json
import logging
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest
from conftest import _ROOT

from flex_ext.emulator import PayrocEmulator
from flex_ext.errors import AuthenticationError, ConfigurationError, FlexError, HTTPError, TransportError
from flex_ext.hosted_fields import (
    BearerTokenProvider,
    HostedFieldsAuthenticationError,
    HostedFieldsClient,
    HostedFieldsHTTPError,
    HostedFieldsSession,
    HostedFieldsValidationError,
    IdempotencyConflictError,
    PayrocConfig,
    create_hosted_fields_session,
    parse_expires_at,
    validate_idempotency_key,
    validate_lib_version,
    validate_scenario,
    validate_secure_token_id,
    validate_terminal_id,
)
from flex_ext.transport import TransportSettings

START = 1_751_462_400.0  # 2025-07-02T13:20:00Z
LIB = "1.7.0.261457"
TERMINAL = "1234001"


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Sleeps(list):  # type: ignore[type-arg]
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def payroc(clock: FakeClock) -> Iterator[PayrocEmulator]:
    with PayrocEmulator(clock=clock) as emulator:
        yield emulator


@pytest.fixture
def config(payroc: PayrocEmulator) -> PayrocConfig:
    return PayrocConfig(api_key=payroc.api_key, identity_url=payroc.identity_url, api_url=payroc.api_url)


@pytest.fixture
def tokens(config: PayrocConfig, clock: FakeClock) -> BearerTokenProvider:
    return BearerTokenProvider(config, clock=clock)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(config: PayrocConfig, tokens: BearerTokenProvider, sleeps: Sleeps) -> HostedFieldsClient:
    return HostedFieldsClient(config, token_provider=tokens, sleep=sleeps)


def sent_body(payroc: PayrocEmulator, index: int = -1) -> dict[str, object]:
    return json.loads(payroc.session_requests()[index].body)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------
# Validation of each constraint (no network)


@pytest.mark.parametrize("length", [4, 5, 49, 50])
def test_terminal_id_of_4_to_50_characters_is_accepted(length: int) -> None:
    assert validate_terminal_id("7" * length) == "7" * length


@pytest.mark.parametrize("value", ["", "123", "1" * 51, "x" * 200])
def test_terminal_id_outside_4_to_50_characters_is_rejected(value: str) -> None:
    with pytest.raises(HostedFieldsValidationError) as info:
        validate_terminal_id(value)
    assert info.value.field == "processingTerminalId"
    assert info.value.argument == "terminal_id"
    assert f"got {len(value)}" in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, FlexError)


def test_terminal_id_must_be_a_string() -> None:
    with pytest.raises(HostedFieldsValidationError, match="must be a string, got int"):
        validate_terminal_id(1234001)


def test_terminal_id_length_counts_characters_not_bytes() -> None:
    assert validate_terminal_id("ééé1") == "ééé1"  # 4 characters, 7 UTF-8 bytes


@pytest.mark.parametrize(
    "value",
    [
        "0b9a5e2c-3f1d-4a7b-8c6d-1e2f3a4b5c6d",
        "0B9A5E2C-3F1D-4A7B-9C6D-1E2F3A4B5C6D",
        "0b9a5e2c-3f1d-4a7b-ac6d-1e2f3a4b5c6d",
        "0b9a5e2c-3f1d-4a7b-bc6d-1e2f3a4b5c6d",
    ],
)
def test_uuid_v4_keys_are_accepted_and_lowercased(value: str) -> None:
    assert validate_idempotency_key(value) == value.lower()


def test_uuid_object_is_accepted() -> None:
    key = uuid.uuid4()
    assert validate_idempotency_key(key) == str(key)


@pytest.mark.parametrize(
    "value",
    [
        str(uuid.uuid1()),  # version 1
        str(uuid.uuid3(uuid.NAMESPACE_DNS, "payroc.com")),  # version 3
        str(uuid.uuid5(uuid.NAMESPACE_DNS, "payroc.com")),  # version 5
        "0b9a5e2c-3f1d-4a7b-cc6d-1e2f3a4b5c6d",  # variant bits wrong
        "0b9a5e2c3f1d4a7b8c6d1e2f3a4b5c6d",  # no hyphens
        "{0b9a5e2c-3f1d-4a7b-8c6d-1e2f3a4b5c6d}",
        "urn:uuid:0b9a5e2c-3f1d-4a7b-8c6d-1e2f3a4b5c6d",
        "0b9a5e2c-3f1d-4a7b-8c6d-1e2f3a4b5c6d\n",
        "0b9a5e2c-3f1d-4a7b-8c6d-1e2f3a4b5c6",  # one digit short
        "0g9a5e2c-3f1d-4a7b-8c6d-1e2f3a4b5c6d",  # not hex
        "",
    ],
)
def test_non_v4_keys_are_rejected(value: str) -> None:
    with pytest.raises(HostedFieldsValidationError) as info:
        validate_idempotency_key(value)
    assert info.value.field == "Idempotency-Key"


@pytest.mark.parametrize(
    "value",
    ["1.7.0.261457", "1.7.0.261471", "1.6.0.172441", "1.1.0.123456", "1.2.0-beta.135020", "10.20.30.1", "0.0.0.0"],
)
def test_lib_versions_of_the_documented_form_are_accepted(value: str) -> None:
    assert validate_lib_version(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "1.7.0",  # three parts
        "1.7.0.261457.1",  # five parts
        "1x7x0x261457",  # the published pattern's unescaped dots would let this through
        "1.7.0.261457\n",  # `$` would let a trailing newline through
        "123.7.0.261457",  # major of three digits
        "1.7.0-alpha.261457",
        "1.7.0-beta261457",
        "1.7.0.",
        "v1.7.0.261457",
        " 1.7.0.261457",
        "\u0661.\u0667.\u0660.\u0662",  # Arabic-Indic digits match \d without re.ASCII
        "",
    ],
)
def test_lib_versions_of_another_form_are_rejected(value: str) -> None:
    with pytest.raises(HostedFieldsValidationError) as info:
        validate_lib_version(value)
    assert info.value.field == "libVersion"
    assert info.value.argument == "lib_version"


class Scenario(str, enum.Enum):
    PAYMENT = "payment"


@pytest.mark.parametrize("value", ["payment", "tokenization"])
def test_scenario_values_are_accepted(value: str) -> None:
    assert validate_scenario(value) == value


def test_scenario_str_enum_member_is_sent_as_its_value() -> None:
    result = validate_scenario(Scenario.PAYMENT)
    assert result == "payment" and type(result) is str


@pytest.mark.parametrize("value", ["Payment", "PAYMENT", "refund", "", " payment", "tokenisation", None])
def test_other_scenarios_are_rejected(value: object) -> None:
    with pytest.raises(HostedFieldsValidationError) as info:
        validate_scenario(value)
    assert info.value.field == "scenario"


@pytest.mark.parametrize("length", [1, 2, 199, 200])
def test_secure_token_id_of_1_to_200_characters_is_accepted(length: int) -> None:
    assert validate_secure_token_id("s" * length) == "s" * length


def test_secure_token_id_none_means_not_sent() -> None:
    assert validate_secure_token_id(None) is None


@pytest.mark.parametrize("length", [0, 201, 1000])
def test_secure_token_id_outside_1_to_200_characters_is_rejected(length: int) -> None:
    value = ("SECRETREF" * 200)[:length]
    with pytest.raises(HostedFieldsValidationError) as info:
        validate_secure_token_id(value)
    assert info.value.field == "secureTokenId"
    assert f"got {length}" in str(info.value)
    assert "SECRETREF" not in str(info.value)  # the value itself is not echoed


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"terminal_id": "123"}, "processingTerminalId"),
        ({"terminal_id": "1" * 51}, "processingTerminalId"),
        ({"scenario": "refund"}, "scenario"),
        ({"lib_version": "1.7.0"}, "libVersion"),
        ({"secure_token_id": ""}, "secureTokenId"),
        ({"secure_token_id": "t" * 201}, "secureTokenId"),
        ({"idempotency_key": str(uuid.uuid1())}, "Idempotency-Key"),
    ],
)
def test_client_validates_before_sending_anything(
    client: HostedFieldsClient, payroc: PayrocEmulator, kwargs: dict[str, str], field: str
) -> None:
    arguments: dict[str, object] = {"terminal_id": TERMINAL, "scenario": "payment", "lib_version": LIB}
    arguments.update(kwargs)
    with pytest.raises(HostedFieldsValidationError) as info:
        client.create_hosted_fields_session(**arguments)  # type: ignore[arg-type]
    assert info.value.field == field
    assert field in str(info.value)
    assert payroc.requests == []  # not even the token was fetched


# --------------------------------------------------------------------------------------------
# Creating sessions


def test_session_is_created_with_the_documented_body_and_headers(
    client: HostedFieldsClient, payroc: PayrocEmulator, clock: FakeClock
) -> None:
    session = client.create_hosted_fields_session(TERMINAL, "payment", LIB)

    assert isinstance(session, HostedFieldsSession)
    assert session.processing_terminal_id == TERMINAL
    assert session.token == payroc.sessions[0].token
    assert session.expires_at.tzinfo is not None
    assert session.expires_at == datetime.fromtimestamp(clock.now, tz=timezone.utc) + timedelta(minutes=10)
    assert (
        session.location is not None and f"/processing-terminals/{TERMINAL}/hosted-fields-sessions/" in session.location
    )
    assert payroc.sessions_created == 1

    request = payroc.session_requests()[0]
    assert request.path == f"/v1/processing-terminals/{TERMINAL}/hosted-fields-sessions"
    assert sent_body(payroc) == {"libVersion": LIB, "scenario": "payment"}  # no secureTokenId when None
    assert request.idempotency_key == session.idempotency_key
    assert uuid.UUID(session.idempotency_key).version == 4
    assert request.headers["Content-Type"] == "application/json"


def test_secure_token_id_is_sent_when_given(client: HostedFieldsClient, payroc: PayrocEmulator) -> None:
    client.create_hosted_fields_session(TERMINAL, "tokenization", "1.2.0-beta.135020", secure_token_id="MREF-1")
    assert sent_body(payroc) == {
        "libVersion": "1.2.0-beta.135020",
        "scenario": "tokenization",
        "secureTokenId": "MREF-1",
    }


def test_each_logical_request_gets_its_own_key(client: HostedFieldsClient, payroc: PayrocEmulator) -> None:
    first = client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    second = client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    assert first.idempotency_key != second.idempotency_key
    assert first.token != second.token
    assert payroc.sessions_created == 2


def test_repeating_a_request_with_its_key_returns_the_original_session(
    client: HostedFieldsClient, payroc: PayrocEmulator
) -> None:
    key = str(uuid.uuid4())
    first = client.create_hosted_fields_session(TERMINAL, "payment", LIB, idempotency_key=key)
    again = client.create_hosted_fields_session(TERMINAL, "payment", LIB, idempotency_key=key)
    assert again == first
    assert payroc.sessions_created == 1


def test_module_function_uses_the_config_token_provider(config: PayrocConfig, payroc: PayrocEmulator) -> None:
    create_hosted_fields_session(config, TERMINAL, "payment", LIB)
    create_hosted_fields_session(config, TERMINAL, "tokenization", LIB)
    assert payroc.sessions_created == 2
    assert payroc.authorize_calls == 1


def test_generated_api_classes_accept_the_config_directly(config: PayrocConfig, payroc: PayrocEmulator) -> None:
    from payroc_hosted_fields import HostedFieldsApi, HostedFieldsCreateSessionRequest, IdentityApi

    data, status, _body = IdentityApi(config).authorize(_host=config.identity_url)
    assert status == 200 and data.token_type == "Bearer"

    key = str(uuid.uuid4())
    request = HostedFieldsCreateSessionRequest(lib_version=LIB, scenario="payment")
    session, status, _body = HostedFieldsApi(config).create_hosted_fields_session(TERMINAL, key, request)
    assert status == 201
    assert session.processing_terminal_id == TERMINAL
    assert payroc.sessions_created == 1


# --------------------------------------------------------------------------------------------
# Retries and idempotency


def test_retry_after_5xx_reuses_the_key_and_creates_one_session(
    client: HostedFieldsClient, payroc: PayrocEmulator, sleeps: Sleeps
) -> None:
    payroc.fail_next(1, status=503)
    session = client.create_hosted_fields_session(TERMINAL, "payment", LIB)

    requests = payroc.session_requests()
    assert [r.status for r in requests] == [503, 201]
    assert requests[0].idempotency_key == requests[1].idempotency_key == session.idempotency_key
    assert payroc.sessions_created == 1
    assert sleeps == [0.5]


def test_retry_after_a_lost_response_replays_the_created_session(
    client: HostedFieldsClient, payroc: PayrocEmulator
) -> None:
    # The server created the session, then the answer was lost as a 500.
    payroc.fail_next(1, status=500, after_processing=True)
    session = client.create_hosted_fields_session(TERMINAL, "payment", LIB)

    assert payroc.sessions_created == 1
    assert session.token == payroc.sessions[0].token
    keys = {r.idempotency_key for r in payroc.session_requests()}
    assert keys == {session.idempotency_key}


@pytest.mark.parametrize("after_processing", [False, True])
def test_retry_after_a_connection_reset_reuses_the_key(
    client: HostedFieldsClient, payroc: PayrocEmulator, sleeps: Sleeps, after_processing: bool
) -> None:
    payroc.reset_next(1, after_processing=after_processing)
    session = client.create_hosted_fields_session(TERMINAL, "payment", LIB)

    requests = payroc.session_requests()
    assert [r.status for r in requests] == [None, 201]
    assert {r.idempotency_key for r in requests} == {session.idempotency_key}
    assert payroc.sessions_created == 1
    assert session.token == payroc.sessions[0].token
    assert sleeps == [0.5]


def test_retries_stop_after_max_attempts_with_exponential_backoff(
    client: HostedFieldsClient, payroc: PayrocEmulator, sleeps: Sleeps
) -> None:
    payroc.fail_next(5, status=500)
    with pytest.raises(HostedFieldsHTTPError) as info:
        client.create_hosted_fields_session(TERMINAL, "payment", LIB)

    error = info.value
    assert error.status == 500 and error.attempts == 3
    assert isinstance(error, HTTPError)
    assert error.problem is not None and error.problem["title"] == "Api error"
    assert sleeps == [0.5, 1.0]
    requests = payroc.session_requests()
    assert len(requests) == 3
    assert {r.idempotency_key for r in requests} == {error.idempotency_key}
    assert payroc.sessions_created == 0


def test_backoff_is_bounded(payroc: PayrocEmulator, clock: FakeClock) -> None:
    config = PayrocConfig(
        api_key=payroc.api_key,
        identity_url=payroc.identity_url,
        api_url=payroc.api_url,
        max_attempts=6,
        backoff_initial=1.0,
        backoff_max=3.0,
    )
    sleeps = Sleeps()
    client = HostedFieldsClient(config, token_provider=BearerTokenProvider(config, clock=clock), sleep=sleeps)
    payroc.fail_next(5, status=502)
    session = client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    assert sleeps == [1.0, 2.0, 3.0, 3.0, 3.0]
    assert session.token == payroc.sessions[0].token


@pytest.mark.parametrize("status", [400, 403, 404, 406, 409, 415, 422, 429])
def test_no_retry_on_4xx(client: HostedFieldsClient, payroc: PayrocEmulator, sleeps: Sleeps, status: int) -> None:
    payroc.fail_next(1, status=status)
    with pytest.raises(HostedFieldsHTTPError) as info:
        client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    assert info.value.status == status
    assert info.value.attempts == 1
    assert len(payroc.session_requests()) == 1
    assert sleeps == []


def test_same_key_with_another_body_is_a_409_conflict_and_not_retried(
    client: HostedFieldsClient, payroc: PayrocEmulator, sleeps: Sleeps
) -> None:
    key = str(uuid.uuid4())
    client.create_hosted_fields_session(TERMINAL, "payment", LIB, idempotency_key=key)
    with pytest.raises(IdempotencyConflictError) as info:
        client.create_hosted_fields_session(TERMINAL, "tokenization", LIB, idempotency_key=key)

    error = info.value
    assert error.status == 409
    assert error.idempotency_key == key
    assert error.parameters == ("Idempotency-Key",)
    assert "409" in str(error)
    assert len(payroc.session_requests()) == 2
    assert payroc.sessions_created == 1
    assert sleeps == []


def test_400_from_the_server_names_the_parameters(client: HostedFieldsClient, payroc: PayrocEmulator) -> None:
    payroc.fail_next(1, status=400)
    with pytest.raises(HostedFieldsHTTPError) as info:
        client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    assert info.value.status == 400
    assert info.value.problem is not None and info.value.problem["status"] == 400


def test_connection_failures_are_retried_then_raised_as_transport_errors(
    config: PayrocConfig, clock: FakeClock, sleeps: Sleeps
) -> None:
    with PayrocEmulator(clock=clock) as other:
        dead = PayrocConfig(api_key="k" * 20, identity_url=other.identity_url, api_url=other.api_url)
    # `other` is stopped: nothing listens on its port any more.
    client = HostedFieldsClient(dead, token_provider=BearerTokenProvider(dead, clock=clock), sleep=sleeps)
    with pytest.raises(TransportError):
        client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    assert sleeps == [0.5, 1.0]


def test_401_is_not_retried_and_the_next_call_fetches_a_new_token(
    client: HostedFieldsClient, payroc: PayrocEmulator, sleeps: Sleeps
) -> None:
    client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    payroc.revoke_tokens()
    with pytest.raises(HostedFieldsAuthenticationError) as info:
        client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    assert info.value.status == 401
    assert isinstance(info.value, AuthenticationError)
    assert sleeps == []
    assert payroc.authorize_calls == 1

    client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    assert payroc.authorize_calls == 2
    assert payroc.sessions_created == 2


# --------------------------------------------------------------------------------------------
# Bearer tokens


def test_token_is_reused_until_two_minutes_before_expiry(
    tokens: BearerTokenProvider, payroc: PayrocEmulator, clock: FakeClock
) -> None:
    first = tokens.token()
    assert tokens.token() == first
    clock.advance(3600 - 120 - 1)
    assert tokens.token() == first
    assert payroc.authorize_calls == 1

    clock.advance(1)  # exactly 2 minutes of life left: refresh
    second = tokens.token()
    assert second != first
    assert payroc.authorize_calls == 2
    assert tokens.fetch_count == 2
    clock.advance(3479)
    assert tokens.token() == second
    assert payroc.authorize_calls == 2


def test_sessions_across_a_token_lifetime_refresh_once(
    client: HostedFieldsClient, payroc: PayrocEmulator, clock: FakeClock
) -> None:
    client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    clock.advance(3479)
    client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    assert payroc.authorize_calls == 1
    clock.advance(1)
    client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    assert payroc.authorize_calls == 2
    clock.advance(3600)  # the old token is now expired on the server too
    client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    assert payroc.authorize_calls == 3
    assert payroc.sessions_created == 4


def test_short_lived_token_uses_half_its_life_as_margin(payroc: PayrocEmulator, clock: FakeClock) -> None:
    payroc.token_lifetime = 100
    config = PayrocConfig(api_key=payroc.api_key, identity_url=payroc.identity_url, api_url=payroc.api_url)
    provider = BearerTokenProvider(config, clock=clock)
    first = provider.token()
    clock.advance(49)
    assert provider.token() == first
    clock.advance(1)
    assert provider.token() != first
    assert payroc.authorize_calls == 2


def test_concurrent_callers_share_one_fetch(tokens: BearerTokenProvider, payroc: PayrocEmulator) -> None:
    threads_count = 12
    barrier = threading.Barrier(threads_count)
    results: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        token = tokens.token()
        with lock:
            results.append(token)

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == threads_count
    assert len(set(results)) == 1
    assert payroc.authorize_calls == 1


def test_concurrent_sessions_share_one_token(client: HostedFieldsClient, payroc: PayrocEmulator) -> None:
    threads = [
        threading.Thread(target=client.create_hosted_fields_session, args=(TERMINAL, "payment", LIB)) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert payroc.sessions_created == 8
    assert payroc.authorize_calls == 1


def test_wrong_api_key_is_an_authentication_error_without_retry(
    payroc: PayrocEmulator, clock: FakeClock, sleeps: Sleeps
) -> None:
    wrong = "wrong-key-" + "Z" * 20
    config = PayrocConfig(api_key=wrong, identity_url=payroc.identity_url, api_url=payroc.api_url)
    client = HostedFieldsClient(config, token_provider=BearerTokenProvider(config, clock=clock), sleep=sleeps)
    with pytest.raises(HostedFieldsAuthenticationError) as info:
        client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    error = info.value
    assert error.status == 401
    assert "/authorize" in str(error)
    assert wrong not in str(error) and wrong not in repr(error) and wrong not in (error.body or "")
    assert error.__cause__ is None and error.__suppress_context__
    assert payroc.authorize_calls == 1
    assert payroc.session_requests() == []
    assert sleeps == []


def test_identity_5xx_is_retried(client: HostedFieldsClient, payroc: PayrocEmulator, sleeps: Sleeps) -> None:
    payroc.fail_next(1, status=503, endpoint="authorize")
    client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    assert payroc.authorize_calls == 1  # the faulted call never reached the handler's count
    assert [r.status for r in payroc.requests if r.path == "/authorize"] == [503, 200]
    assert payroc.sessions_created == 1
    assert sleeps == [0.5]


def test_unusable_identity_answer_is_rejected(config: PayrocConfig, clock: FakeClock, payroc: PayrocEmulator) -> None:
    payroc.token_lifetime = 0  # expires_in must be positive
    with pytest.raises(HostedFieldsAuthenticationError, match="usable bearer token"):
        BearerTokenProvider(config, clock=clock).token()


# --------------------------------------------------------------------------------------------
# expiresAt


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-07-02T15:30:00.000+02:00", datetime(2025, 7, 2, 13, 30, tzinfo=timezone.utc)),
        ("2025-07-02T13:30:00Z", datetime(2025, 7, 2, 13, 30, tzinfo=timezone.utc)),
        ("2025-07-02T13:30:00.000Z", datetime(2025, 7, 2, 13, 30, tzinfo=timezone.utc)),
        ("2025-07-02T13:30:00", datetime(2025, 7, 2, 13, 30, tzinfo=timezone.utc)),  # no offset: UTC
        ("2025-07-02T08:30:00-05:00", datetime(2025, 7, 2, 13, 30, tzinfo=timezone.utc)),
    ],
)
def test_expires_at_is_parsed_to_an_aware_utc_datetime(text: str, expected: datetime) -> None:
    parsed = parse_expires_at(text)
    assert parsed == expected
    assert parsed.tzinfo is timezone.utc


@pytest.mark.parametrize("text", ["tomorrow", "", "2025-13-02T13:30:00Z"])
def test_unparseable_expires_at_is_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_expires_at(text)


def test_expires_at_on_the_wire_is_ten_minutes_ahead(client: HostedFieldsClient, clock: FakeClock) -> None:
    clock.advance(12.5)
    session = client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    assert session.expires_at - datetime.fromtimestamp(clock.now, tz=timezone.utc) == timedelta(minutes=10)
    assert session.expires_at.tzinfo is timezone.utc


# --------------------------------------------------------------------------------------------
# Configuration


def test_environments_select_the_documented_hosts() -> None:
    uat = PayrocConfig(api_key="key")
    assert (uat.identity_url, uat.api_url) == ("https://identity.uat.payroc.com", "https://api.uat.payroc.com/v1")
    prod = PayrocConfig(api_key="key", environment="production")
    assert (prod.identity_url, prod.api_url) == ("https://identity.payroc.com", "https://api.payroc.com/v1")
    assert prod.client_settings().base_url == "https://api.payroc.com/v1"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_key": ""},
        {"api_key": "   "},
        {"api_key": "has space"},
        {"api_key": "key", "environment": "sandbox"},
        {"api_key": "key", "api_url": "http://api.example.com/v1"},  # clear text to a remote host
        {"api_key": "key", "identity_url": "ftp://identity.example.com"},
        {"api_key": "key", "api_url": "https://user:pw@api.example.com/v1"},
        {"api_key": "key", "max_attempts": 0},
        {"api_key": "key", "max_attempts": 11},
        {"api_key": "key", "backoff_initial": -1},
        {"api_key": "key", "read_timeout": 0},
    ],
)
def test_unusable_configuration_is_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        PayrocConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("char", ["\r\n", "\n", "\t", "\x00", "\x7f"])
@pytest.mark.parametrize("name", ["api_key", "identity_url", "api_url"])
def test_control_characters_are_refused_by_name_never_by_value(name: str, char: str) -> None:
    value = {"api_key": "key-SECRET{}x", "identity_url": "https://id.example{}SECRET", "api_url": "https://api.example{}SECRET"}
    kwargs = {"api_key": "key", name: value[name].format(char)}
    with pytest.raises(ConfigurationError, match=f"^{name} ") as info:
        PayrocConfig(**kwargs)  # type: ignore[arg-type]
    assert "control character" in str(info.value)
    assert "SECRET" not in str(info.value) and "SECRET" not in repr(info.value.args)
    assert info.value.__cause__ is None and info.value.__context__ is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 3.0},
        {"max_attempts": True},
        {"connect_timeout": float("nan")},
        {"read_timeout": 10**400},
        {"backoff_max": float("inf")},
        {"backoff_initial": "1"},
    ],
)
def test_numbers_of_the_wrong_type_are_rejected_by_name(kwargs: dict[str, object]) -> None:
    (name,) = kwargs
    with pytest.raises(ConfigurationError, match=f"^{name} must be "):
        PayrocConfig(api_key="key", **kwargs)  # type: ignore[arg-type]


def test_plain_http_is_allowed_for_loopback_only() -> None:
    config = PayrocConfig(api_key="key", identity_url="http://127.0.0.1:9/", api_url="http://localhost:9/v1/")
    assert config.identity_url == "http://127.0.0.1:9"
    assert config.api_url == "http://localhost:9/v1"


def test_timeouts_override_the_transport_settings() -> None:
    config = PayrocConfig(
        api_key="key", transport=TransportSettings(proxy_url="http://proxy:3128"), connect_timeout=2, read_timeout=7.5
    )
    assert config.transport.connect_timeout == 2.0
    assert config.transport.read_timeout == 7.5
    assert config.transport.proxy_url == "http://proxy:3128"
    assert config.client_settings().transport == config.transport


def test_import_is_cheap() -> None:
    code = (
        f"import sys; sys.path[:0] = [{_ROOT + '/generated/payroc'!r}, {_ROOT!r}]\n"
        "import flex_ext.hosted_fields\n"
        "print(sorted(m for m in ('payroc_hosted_fields', 'dateutil', 'CyberSource') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------
# Secrets stay secret


def test_api_key_and_bearer_token_never_reach_logs_errors_or_reprs(
    payroc: PayrocEmulator,
    config: PayrocConfig,
    tokens: BearerTokenProvider,
    client: HostedFieldsClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    session = client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    payroc.fail_next(1, status=500)
    client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    payroc.reset_next(3)
    try:
        client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    except TransportError as exc:
        errors.append(exc)
    payroc.fail_next(3, status=503)
    try:
        client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    except HostedFieldsHTTPError as exc:
        errors.append(exc)
    token = tokens.token()
    payroc.revoke_tokens()
    try:
        client.create_hosted_fields_session(TERMINAL, "payment", LIB)
    except HostedFieldsAuthenticationError as exc:
        errors.append(exc)
    assert len(errors) == 3
    assert caplog.records, "debug logging was captured"

    from payroc_hosted_fields import HostedFieldsApi

    api = HostedFieldsApi(config)
    shown = [
        caplog.text,
        repr(config),
        str(config),
        repr(tokens),
        repr(client),
        repr(config.client_settings()),
        repr(config.client_settings().signer),
        repr(api.api_client.mconfig),
        repr(session),
        str(session),
        *(text for error in errors for text in (str(error), repr(error), str(error.args))),
    ]
    for text in shown:
        assert payroc.api_key not in text
        assert token not in text
    assert session.token not in repr(session)
    assert session.token not in caplog.text


def test_wrong_api_key_is_not_logged(
    payroc: PayrocEmulator, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-key-" + "Q" * 16
    config = PayrocConfig(api_key=wrong, identity_url=payroc.identity_url, api_url=payroc.api_url)
    with pytest.raises(HostedFieldsAuthenticationError):
        BearerTokenProvider(config, clock=clock).token()
    assert "/authorize" in caplog.text
    assert wrong not in caplog.text
