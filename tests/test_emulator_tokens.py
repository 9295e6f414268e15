"""POST /flex/v2/tokens: JWE decryption, payload checks, transient token, limits, TLS, load."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
import threading
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
import urllib3
from cryptography.exceptions import InvalidSignature
from emulator_helpers import (
    CARD_FIELDS,
    Client,
    b64url,
    card_data,
    encrypt_jwe,
    error_reason,
    error_text_without_ids,
    jwt_parts,
    token_request_jwe,
    unb64url,
    verify_rs256,
)

from flex_ext.emulator import EmulatorClock, FlexEmulator, TokenizationError


@pytest.fixture
def emu() -> Iterator[FlexEmulator]:
    with FlexEmulator() as emulator:
        yield emulator


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def context(emu: FlexEmulator, client: Client) -> str:
    return client.capture_context(emu.base_url, emu.merchant())


def flx_jwk(capture_context: str) -> dict[str, str]:
    return dict(jwt_parts(capture_context)[1]["flx"]["jwk"])


def error_details(response: Any) -> list[dict[str, str]]:
    return list(json.loads(response.data)["responseStatus"]["details"])


# -- success ------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RSA-OAEP", "RSA-OAEP-256"])
def test_tokenize_returns_a_transient_token_signed_by_the_session_key(client: Client, context: str, alg: str) -> None:
    response = client.tokenize(context, token_request_jwe(context, card_data(securityCode="123"), alg))
    assert response.status == 200, response.data
    assert response.headers["Content-Type"] == "application/jwt"
    body = response.data
    assert response.headers["Digest"] == "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    token = body.decode()
    header, _ = jwt_parts(token)
    assert header == {"kid": flx_jwk(context)["kid"], "alg": "RS256"}
    claims = verify_rs256(token, flx_jwk(context))
    assert claims["iss"] == "Flex/08"
    assert claims["type"] == "api-0.1.0"
    assert claims["exp"] - claims["iat"] == 900
    assert re.fullmatch(r"[0-9A-Z]{64}", claims["jti"])
    assert claims["content"] == {
        "paymentInformation": {
            "card": {
                "number": {"maskedValue": "XXXXXXXXXXXX1111", "bin": "411111", "detectedCardTypes": ["001"]},
                "expirationMonth": {"value": "12"},
                "expirationYear": {"value": "2099"},
                "securityCode": {},
                "type": {"value": "001"},
            }
        }
    }
    decoded = unb64url(token.split(".")[1])
    assert b"4111111111111111" not in decoded
    # The security code is not kept (the random jti and the timestamps may contain "123" by chance).
    kept = {k: v for k, v in claims.items() if k not in ("jti", "iat", "exp")}
    assert "123" not in json.dumps(kept)


def test_transient_token_does_not_verify_with_the_long_lived_signing_key(
    emu: FlexEmulator, client: Client, context: str
) -> None:
    token = client.tokenize(context, token_request_jwe(context, card_data())).data.decode()
    with pytest.raises(InvalidSignature):
        verify_rs256(token, emu.public_jwk())


def test_jwe_built_by_jwcrypto_is_accepted(client: Client, context: str) -> None:
    from jwcrypto import jwe as jwcrypto_jwe
    from jwcrypto import jwk as jwcrypto_jwk

    key = jwcrypto_jwk.JWK(**flx_jwk(context))
    payload = json.dumps({"data": card_data(), "context": context, "index": 0})
    for alg in ("RSA-OAEP", "RSA-OAEP-256"):
        token = jwcrypto_jwe.JWE(
            payload.encode(), json.dumps({"alg": alg, "enc": "A256GCM", "kid": flx_jwk(context)["kid"]})
        )
        token.add_recipient(key)
        response = client.tokenize(context, token.serialize(compact=True))
        assert response.status == 200, response.data


def test_json_keyid_body_is_accepted(emu: FlexEmulator, client: Client, context: str) -> None:
    jwe = token_request_jwe(context, card_data())
    response = client.request(
        "POST",
        emu.base_url + "/flex/v2/tokens",
        json.dumps({"keyId": jwe}).encode(),
        {"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status == 200, response.data


def test_flat_dotted_keys_and_extra_iat_jti_are_accepted(client: Client, context: str) -> None:
    data = {
        "paymentInformation.card.number": "5555555555554444",
        "paymentInformation.card.expirationMonth": "01",
        "paymentInformation.card.expirationYear": "2099",
        "paymentInformation.card.type": "",
    }
    jwe = token_request_jwe(context, data, iat=1, jti="A" * 32)
    response = client.tokenize(context, jwe)
    assert response.status == 200, response.data
    claims = verify_rs256(response.data.decode(), flx_jwk(context))
    number = claims["content"]["paymentInformation"]["card"]["number"]
    assert number == {"maskedValue": "XXXXXXXXXXXX4444", "bin": "555555", "detectedCardTypes": ["002"]}


def test_pii_shows_as_empty_objects(emu: FlexEmulator, client: Client) -> None:
    fields = {
        "paymentInformation": {"card": {"number": {}}},
        "orderInformation": {"billTo": {"firstName": {}, "email": {"required": False}}},
    }
    context = client.capture_context(emu.base_url, emu.merchant(), fields)
    data = {
        "paymentInformation": {"card": {"number": "378282246310005"}},
        "orderInformation": {"billTo": {"firstName": "Zelda", "email": ""}},
    }
    response = client.tokenize(context, token_request_jwe(context, data))
    assert response.status == 200, response.data
    claims = verify_rs256(response.data.decode(), flx_jwk(context))
    assert claims["content"]["orderInformation"] == {"billTo": {}}
    assert claims["content"]["paymentInformation"]["card"]["number"]["detectedCardTypes"] == ["003"]
    assert b"Zelda" not in unb64url(response.data.decode().split(".")[1])


# -- rejections ------------------------------------------------------------------------------


def _flip_first_char(segment: str) -> str:
    return ("B" if segment[0] == "A" else "A") + segment[1:]


def test_jwe_for_another_sessions_key_is_a_decryption_error(emu: FlexEmulator, client: Client, context: str) -> None:
    other = client.capture_context(emu.base_url, emu.merchant())
    payload = json.dumps({"data": card_data(), "context": context, "index": 0}).encode()
    jwe = encrypt_jwe(payload, flx_jwk(other), kid=flx_jwk(context)["kid"])
    response = client.tokenize(context, jwe)
    assert response.status == 400
    assert error_reason(response) == "DECRYPTION_ERROR"


@pytest.mark.parametrize("part", [1, 2, 3, 4])
def test_tampered_jwe_is_a_decryption_error(client: Client, context: str, part: int) -> None:
    parts = token_request_jwe(context, card_data()).split(".")
    parts[part] = _flip_first_char(parts[part])
    response = client.tokenize(context, ".".join(parts))
    assert response.status == 400
    assert error_reason(response) == "DECRYPTION_ERROR"


def test_tampered_protected_header_is_a_decryption_error(client: Client, context: str) -> None:
    parts = token_request_jwe(context, card_data()).split(".")
    header = json.loads(unb64url(parts[0]))
    header["x"] = 1
    parts[0] = b64url(json.dumps(header).encode())
    response = client.tokenize(context, ".".join(parts))
    assert (response.status, error_reason(response)) == (400, "DECRYPTION_ERROR")


def test_unknown_jwe_kid_is_404(client: Client, context: str) -> None:
    payload = json.dumps({"data": card_data(), "context": context, "index": 0}).encode()
    response = client.tokenize(context, encrypt_jwe(payload, flx_jwk(context), kid="Z" * 32))
    assert (response.status, error_reason(response)) == (404, "CAPTURE_CONTEXT_NOT_FOUND")


@pytest.mark.parametrize(
    "body",
    [b"", b"not.a.jwe", b"a.b.c.d.e", b'{"other": 1}', "é".encode()],
    ids=["empty", "three parts", "garbage five parts", "json without keyId", "non-ascii"],
)
def test_unparseable_bodies_are_validation_errors(emu: FlexEmulator, client: Client, body: bytes) -> None:
    response = client.request("POST", emu.base_url + "/flex/v2/tokens", body, {"Content-Type": "application/jwt"})
    assert (response.status, error_reason(response)) == (400, "VALIDATION_ERROR")
    status = json.loads(response.data)["responseStatus"]
    assert set(status) == {"status", "reason", "message", "correlationId", "details"}
    assert status["status"] == 400


def test_unsupported_algorithms_are_validation_errors(client: Client, context: str) -> None:
    parts = token_request_jwe(context, card_data()).split(".")
    for header in (
        {"kid": flx_jwk(context)["kid"], "alg": "RSA1_5", "enc": "A256GCM"},
        {"kid": flx_jwk(context)["kid"], "alg": "RSA-OAEP-256", "enc": "A128CBC-HS256"},
    ):
        parts[0] = b64url(json.dumps(header).encode())
        response = client.tokenize(context, ".".join(parts))
        assert (response.status, error_reason(response)) == (400, "VALIDATION_ERROR")


def test_context_of_another_session_is_rejected(emu: FlexEmulator, client: Client, context: str) -> None:
    other = client.capture_context(emu.base_url, emu.merchant())
    payload = json.dumps({"data": card_data(), "context": other, "index": 0}).encode()
    response = client.tokenize(context, encrypt_jwe(payload, flx_jwk(context)))
    assert (response.status, error_reason(response)) == (400, "CAPTURE_CONTEXT_INVALID")


def test_context_changed_by_one_character_is_rejected(client: Client, context: str) -> None:
    altered = context[:-1] + ("A" if context[-1] != "A" else "B")
    payload = json.dumps({"data": card_data(), "context": altered, "index": 0}).encode()
    response = client.tokenize(context, encrypt_jwe(payload, flx_jwk(context)))
    assert (response.status, error_reason(response)) == (400, "CAPTURE_CONTEXT_INVALID")


@pytest.mark.parametrize("index", [1, -1, False, "0", None])
def test_index_other_than_zero_is_rejected(client: Client, context: str, index: Any) -> None:
    response = client.tokenize(context, token_request_jwe(context, card_data(), index=index))
    assert (response.status, error_reason(response)) == (400, "VALIDATION_ERROR")
    assert error_details(response)[0]["location"] == "index"


def test_unexpected_top_level_member_is_rejected(client: Client, context: str) -> None:
    response = client.tokenize(context, token_request_jwe(context, card_data(), extra="x"))
    assert (response.status, error_reason(response)) == (400, "VALIDATION_ERROR")


CARD_REJECTIONS = [
    (
        "missing required",
        {"paymentInformation": {"card": {"number": "4111111111111111", "expirationMonth": "12"}}},
        "paymentInformation.card.expirationYear",
    ),
    ("empty required", card_data(expirationYear=""), "paymentInformation.card.expirationYear"),
    ("blank required", card_data(number="   "), "paymentInformation.card.number"),
    (
        "undeclared field",
        {**card_data(), "orderInformation": {"billTo": {"firstName": "A"}}},
        "orderInformation.billTo.firstName",
    ),
    (
        "undeclared empty field",
        {**card_data(), "orderInformation": {"billTo": {"firstName": ""}}},
        "orderInformation.billTo.firstName",
    ),
    ("unknown path", {**card_data(), "paymentInformation.card.pin": "1234"}, "paymentInformation.card.pin"),
    ("luhn failure", card_data(number="4111111111111112"), "paymentInformation.card.number"),
    ("non-digit number", card_data(number="4111-1111-1111-1111"), "paymentInformation.card.number"),
    ("short number", card_data(number="42"), "paymentInformation.card.number"),
    ("month 13", card_data(expirationMonth="13"), "paymentInformation.card.expirationMonth"),
    ("month 00", card_data(expirationMonth="00"), "paymentInformation.card.expirationMonth"),
    ("two-digit year", card_data(expirationYear="99"), "paymentInformation.card.expirationYear"),
    ("year in the past", card_data(expirationYear="2025"), "paymentInformation.card.expirationYear"),
    (
        "month in the past",
        card_data(expirationMonth="05", expirationYear="2026"),
        "paymentInformation.card.expirationMonth",
    ),
    ("bad security code", card_data(securityCode="12"), "paymentInformation.card.securityCode"),
    ("non-string value", card_data(expirationMonth=12), "paymentInformation.card.expirationMonth"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(
    ("data", "location"),
    [(data, location) for _, data, location in CARD_REJECTIONS],
    ids=[name for name, _, _ in CARD_REJECTIONS],
)
def test_data_rejections(emu: FlexEmulator, client: Client, data: Any, location: str) -> None:
    emu.clock.freeze(datetime(2026, 6, 15, tzinfo=timezone.utc))
    context = emu.issue_capture_context(CARD_FIELDS)
    response = client.tokenize(context, token_request_jwe(context, data))
    assert (response.status, error_reason(response)) == (400, "VALIDATION_ERROR")
    assert location in [detail["location"] for detail in error_details(response)]
    assert "4111" not in error_text_without_ids(response)


def test_card_expiring_this_month_is_accepted(emu: FlexEmulator, client: Client) -> None:
    emu.clock.freeze(datetime(2026, 6, 15, tzinfo=timezone.utc))
    context = emu.issue_capture_context(CARD_FIELDS)
    response = client.tokenize(
        context, token_request_jwe(context, card_data(expirationMonth="6", expirationYear="2026"))
    )
    assert response.status == 200, response.data


def test_nothing_non_empty_is_rejected(emu: FlexEmulator, client: Client) -> None:
    fields = {"paymentInformation": {"card": {"number": {"required": False}, "type": {"required": False}}}}
    context = client.capture_context(emu.base_url, emu.merchant(), fields)
    data = {"paymentInformation": {"card": {"number": "", "type": ""}}}
    response = client.tokenize(context, token_request_jwe(context, data))
    assert (response.status, error_reason(response)) == (400, "VALIDATION_ERROR")


# -- limits and expiry -----------------------------------------------------------------------


def test_usage_limit_default_is_five_and_failures_do_not_count(client: Client, context: str) -> None:
    bad = client.tokenize(context, token_request_jwe(context, card_data(number="4111111111111112")))
    assert bad.status == 400
    for _ in range(5):
        assert client.tokenize(context, token_request_jwe(context, card_data())).status == 200
    response = client.tokenize(context, token_request_jwe(context, card_data()))
    assert (response.status, error_reason(response)) == (400, "RESOURCE_QUOTA_EXCEEDED")


def test_usage_limit_is_configurable(client: Client) -> None:
    with FlexEmulator(usage_limit=1) as emu:
        context = client.capture_context(emu.base_url, emu.merchant())
        assert client.tokenize(context, token_request_jwe(context, card_data())).status == 200
        second = client.tokenize(context, token_request_jwe(context, card_data()))
        assert error_reason(second) == "RESOURCE_QUOTA_EXCEEDED"
        emu.usage_limit = 2
        assert client.tokenize(context, token_request_jwe(context, card_data())).status == 200


def test_expired_capture_context_is_rejected(emu: FlexEmulator, client: Client, context: str) -> None:
    emu.clock.freeze()
    emu.clock.advance(899)
    assert client.tokenize(context, token_request_jwe(context, card_data())).status == 200
    emu.clock.advance(1)
    response = client.tokenize(context, token_request_jwe(context, card_data()))
    assert (response.status, error_reason(response)) == (400, "CAPTURE_CONTEXT_EXPIRED")
    emu.clock.advance(3 * 3600)  # long gone: still reported, not mistaken for a valid one
    assert client.tokenize(context, token_request_jwe(context, card_data())).status in (400, 404)


def test_transient_token_times_follow_the_emulator_clock(emu: FlexEmulator, client: Client) -> None:
    emu.clock = EmulatorClock(frozen_at=datetime(2026, 3, 1, tzinfo=timezone.utc))
    context = emu.issue_capture_context()
    token = client.tokenize(context, token_request_jwe(context, card_data())).data.decode()
    claims = verify_rs256(token, flx_jwk(context))
    assert claims["iat"] == int(datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp())


# -- in-process helpers ------------------------------------------------------------------------


def test_in_process_helpers_mint_verifiable_tokens(emu: FlexEmulator) -> None:
    context = emu.issue_capture_context()
    header, claims = jwt_parts(context)
    verify_rs256(context, emu.public_jwk(header["kid"]))
    token = emu.issue_transient_token(card_data(), context)
    assert (
        verify_rs256(token, claims["flx"]["jwk"])["content"]["paymentInformation"]["card"]["number"]["bin"] == "411111"
    )
    quick = emu.issue_transient_token(card_data())
    assert jwt_parts(quick)[1]["iss"] == "Flex/08"
    with pytest.raises(TokenizationError) as caught:
        emu.issue_transient_token(card_data(number="4111111111111112"), context)
    assert caught.value.reason == "VALIDATION_ERROR"
    assert "4111111111111112" not in str(caught.value)


# -- TLS --------------------------------------------------------------------------------------


def test_tls_mode_serves_the_whole_flow_with_its_own_ca() -> None:
    with FlexEmulator(tls=True) as emu:
        assert emu.base_url.startswith("https://127.0.0.1:")
        assert emu.ca_cert_path is not None
        assert emu.run_environment == emu.base_url[len("https://") :]
        client = Client(ca_cert_path=emu.ca_cert_path)
        context = client.capture_context(emu.base_url, emu.merchant())
        assert jwt_parts(context)[1]["flx"]["origin"] == emu.base_url
        response = client.tokenize(context, token_request_jwe(context, card_data()))
        assert response.status == 200
        untrusting = urllib3.PoolManager(
            cert_reqs="CERT_REQUIRED", ca_certs=ssl.get_default_verify_paths().cafile, retries=False
        )
        with pytest.raises(urllib3.exceptions.SSLError):
            untrusting.request("GET", f"{emu.base_url}/flex/v2/public-keys/{emu.signing_kid}")


# -- load -------------------------------------------------------------------------------------


def test_200_tokenizations_across_8_threads() -> None:
    with FlexEmulator() as emu:
        results: list[str] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def worker() -> None:
            client = Client()
            try:
                context = ""
                for count in range(25):
                    if count % 5 == 0:
                        context = client.capture_context(emu.base_url, emu.merchant())
                    alg = "RSA-OAEP" if count % 2 else "RSA-OAEP-256"
                    response = client.tokenize(context, token_request_jwe(context, card_data(), alg))
                    assert response.status == 200, response.data
                    token = response.data.decode()
                    verify_rs256(token, flx_jwk(context))
                    with lock:
                        results.append(jwt_parts(token)[1]["jti"])
            except BaseException as exc:
                with lock:
                    errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors[:3]
        assert len(results) == 200
        assert len(set(results)) == 200
        assert emu.request_count("tokens") == 200
        assert emu.request_count("sessions") == 40
