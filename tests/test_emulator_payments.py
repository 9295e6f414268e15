"""The emulator's checkout sandbox over HTTP on loopback: payments with transient tokens or
test cards, the documented triggers, the follow-on state machine, TSS, persistence,
faults and redaction. Requests are signed by the client's own signer."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import Any, Optional

import pytest
import urllib3
from cryptography.hazmat.primitives.asymmetric import rsa

from flex_ext.auth import signer_for
from flex_ext.emulator import FlexEmulator
from flex_ext.seam import client_settings

CARD = {"number": "4111111111111111", "expirationMonth": "12", "expirationYear": "2031", "securityCode": "987"}
_http = urllib3.PoolManager(retries=False)


def call(
    emu: FlexEmulator, method: str, path: str, body: Optional[Any] = None, config: Optional[dict[str, Any]] = None
) -> tuple[int, Any, urllib3.BaseHTTPResponse]:
    settings = client_settings(config or emu.merchant_config())
    # Signed on the emulator's clock, so tests can move it (token expiry, settlement).
    settings = dataclasses.replace(settings, signer=signer_for(settings.merchant_config, clock=emu.clock.now))
    raw = json.dumps(body).encode() if body is not None else None
    headers = settings.headers_for(
        method, path, raw, {"Content-Type": "application/json", "Accept": "application/hal+json"}, True
    )
    response = _http.request(method, emu.base_url + path, body=raw, headers=headers, timeout=10)
    return response.status, json.loads(response.data) if response.data else None, response


def order(amount: str = "10.00", currency: str = "USD") -> dict[str, Any]:
    return {"amountDetails": {"totalAmount": amount, "currency": currency}}


def card_payment(amount: str = "10.00", capture: bool = False, **card: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "clientReferenceInformation": {"code": "ORDER-42"},
        "paymentInformation": {"card": {**CARD, **card}},
        "orderInformation": order(amount),
    }
    if capture:
        body["processingInformation"] = {"capture": True}
    return body


def pay(emu: FlexEmulator, amount: str = "10.00", capture: bool = False) -> dict[str, Any]:
    status, body, _ = call(emu, "POST", "/pts/v2/payments", card_payment(amount, capture))
    assert status == 201, body
    return body  # type: ignore[no-any-return]


def token_for(emu: FlexEmulator, **card: str) -> str:
    return emu.issue_transient_token({"paymentInformation": {"card": {**CARD, **card}}})


def assert_refused(result: tuple[int, Any, Any], reason: str, field: Optional[str] = None) -> None:
    status, body, response = result
    assert status == 400, body
    assert response.headers["Content-Type"] == "application/json"
    assert body["status"] == "INVALID_REQUEST"
    assert body["reason"] == reason
    assert len(body["id"]) == 22 and body["id"].isdigit()
    if field is None:
        assert "details" not in body
    else:
        assert body["details"] == [{"field": field, "reason": reason}]


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def emu(signing_key: rsa.RSAPrivateKey) -> Any:
    # One signing key for the module: a fresh emulator per test without a key generation each.
    with FlexEmulator(signing_key=signing_key, signing_kid="zu") as emulator:
        yield emulator


# -- payments with transient tokens -----------------------------------------------------------


def test_token_payment_is_authorized_in_the_real_shape(emu: FlexEmulator) -> None:
    token = token_for(emu)
    request = {
        "clientReferenceInformation": {"code": "ORDER-1"},
        "tokenInformation": {"transientTokenJwt": token},
        "orderInformation": order("10"),
    }
    status, body, response = call(emu, "POST", "/pts/v2/payments", request)
    assert status == 201
    assert response.headers["Content-Type"] == "application/hal+json"
    payment_id = body["id"]
    assert len(payment_id) == 22 and payment_id.isdigit()
    # The first 12 digits are the emulator time in ms minus 10^12, like the real ids.
    assert abs(int(payment_id[:12]) - (emu.clock.now() * 1000 - 10**12)) < 60_000
    assert body["status"] == "AUTHORIZED"
    assert body["clientReferenceInformation"] == {"code": "ORDER-1"}
    assert body["orderInformation"]["amountDetails"] == {"authorizedAmount": "10.00", "currency": "USD"}
    assert set(body["_links"]) == {"self", "authReversal", "capture"}
    assert body["_links"]["capture"] == {"method": "POST", "href": f"/pts/v2/payments/{payment_id}/captures"}
    processor = body["processorInformation"]
    assert processor["approvalCode"] == "888888" and processor["responseCode"] == "100"
    assert processor["avs"]["code"] == "X" and processor["cardVerification"]["resultCode"] == "M"
    assert len(processor["transactionId"]) == 15
    assert body["paymentAccountInformation"]["card"]["type"] == "001"
    assert len(body["reconciliationId"]) == 16
    assert "errorInformation" not in body
    assert list(body) == sorted(body)


def test_payment_by_jti_then_the_token_is_spent(emu: FlexEmulator) -> None:
    token = token_for(emu)
    jti = json.loads(__import__("base64").urlsafe_b64decode(token.split(".")[1] + "=="))["jti"]
    request = {"tokenInformation": {"jti": jti}, "orderInformation": order()}
    assert call(emu, "POST", "/pts/v2/payments", request)[0] == 201
    assert_refused(call(emu, "POST", "/pts/v2/payments", request), "INVALID_DATA", "tokenInformation.jti")
    by_jwt = {"tokenInformation": {"transientTokenJwt": token}, "orderInformation": order()}
    assert_refused(call(emu, "POST", "/pts/v2/payments", by_jwt), "INVALID_DATA", "tokenInformation.jti")


def test_a_declined_payment_does_not_spend_the_token(emu: FlexEmulator) -> None:
    token = token_for(emu)
    request = {"tokenInformation": {"transientTokenJwt": token}, "orderInformation": order("4051.00")}
    status, body, _ = call(emu, "POST", "/pts/v2/payments", request)
    assert (status, body["status"]) == (201, "DECLINED")
    request["orderInformation"] = order("20.00")
    status, body, _ = call(emu, "POST", "/pts/v2/payments", request)
    assert (status, body["status"]) == (201, "AUTHORIZED")


@pytest.mark.parametrize(
    "token_information",
    [
        {"jti": "1C" + "0" * 62},
        {"transientTokenJwt": "eyJhbGciOiJSUzI1NiJ9.eyJqdGkiOiJYIn0.c2ln"},
        {"transientTokenJwt": "not a jwt"},
    ],
)
def test_unknown_token_is_refused(emu: FlexEmulator, token_information: dict[str, str]) -> None:
    request = {"tokenInformation": token_information, "orderInformation": order()}
    assert_refused(call(emu, "POST", "/pts/v2/payments", request), "INVALID_DATA", "tokenInformation.jti")


def test_altered_token_with_a_known_jti_is_refused(emu: FlexEmulator) -> None:
    token = token_for(emu)
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    request = {"tokenInformation": {"transientTokenJwt": forged}, "orderInformation": order()}
    assert_refused(call(emu, "POST", "/pts/v2/payments", request), "INVALID_DATA", "tokenInformation.jti")


def test_expired_token_is_refused(emu: FlexEmulator) -> None:
    token = token_for(emu)
    emu.clock.advance(901)
    request = {"tokenInformation": {"transientTokenJwt": token}, "orderInformation": order()}
    assert_refused(call(emu, "POST", "/pts/v2/payments", request), "INVALID_DATA", "tokenInformation.jti")


def test_another_merchants_token_is_refused(emu: FlexEmulator) -> None:
    emu.add_merchant("other_merchant")
    token = token_for(emu)
    request = {"tokenInformation": {"transientTokenJwt": token}, "orderInformation": order()}
    result = call(emu, "POST", "/pts/v2/payments", request, config=emu.merchant_config("other_merchant"))
    assert_refused(result, "INVALID_DATA", "tokenInformation.jti")
    # The issuing merchant can still use it.
    assert call(emu, "POST", "/pts/v2/payments", request)[0] == 201


def test_token_carrying_the_amount_needs_none_in_the_request(emu: FlexEmulator) -> None:
    token = emu.issue_transient_token(
        {"paymentInformation": {"card": CARD}, "orderInformation": {"amountDetails": order("12.5")["amountDetails"]}},
        emu.issue_capture_context(
            {"paymentInformation": {"card": {"number": {}, "expirationMonth": {}, "expirationYear": {},
                                             "securityCode": {}}},
             "orderInformation": {"amountDetails": {"totalAmount": {}, "currency": {}}}}
        ),
    )
    status, body, _ = call(emu, "POST", "/pts/v2/payments", {"tokenInformation": {"transientTokenJwt": token}})
    assert status == 201
    assert body["orderInformation"]["amountDetails"] == {"authorizedAmount": "12.50", "currency": "USD"}


# -- triggers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "extra", "status", "reason"),
    [
        ("10.00", {}, "AUTHORIZED", None),
        ("4051.00", {}, "DECLINED", "INSUFFICIENT_FUND"),
        ("4004.00", {}, "DECLINED", "STOLEN_LOST_CARD"),
        ("4005.00", {}, "DECLINED", "PROCESSOR_DECLINED"),
        ("4001.00", {}, "DECLINED", "CONTACT_PROCESSOR"),
        ("4082.00", {}, "DECLINED", "CVN_NOT_MATCH"),
        ("4054.00", {}, "DECLINED", "EXPIRED_CARD"),
        ("6001.00", {}, "AUTHORIZED_PENDING_REVIEW", "AVS_FAILED"),
        ("6001.00", {"authorizationOptions": {"ignoreAvsResult": True}}, "AUTHORIZED", None),
        ("6002.00", {}, "AUTHORIZED_PENDING_REVIEW", "CV_FAILED"),
        ("7012.00", {}, "DECLINED", "PROCESSOR_DECLINED"),
        ("10.00", {"actionList": ["DECISION"]}, "AUTHORIZED_RISK_DECLINED", "DECLINED"),
    ],
)
def test_amount_triggers(emu: FlexEmulator, amount: str, extra: dict[str, Any], status: str, reason: Any) -> None:
    request = card_payment(amount)
    request["processingInformation"] = extra
    code, body, _ = call(emu, "POST", "/pts/v2/payments", request)
    assert code == 201
    assert body["status"] == status
    if reason is None:
        assert "errorInformation" not in body
    else:
        assert body["errorInformation"]["reason"] == reason
        assert body["errorInformation"]["message"]
    if status == "DECLINED":
        assert set(body) == {"clientReferenceInformation", "errorInformation", "id", "status"}
    if reason == "AVS_FAILED":
        assert body["processorInformation"]["avs"]["code"] == "N"
    if reason == "CV_FAILED":
        assert body["processorInformation"]["cardVerification"]["resultCode"] == "N"


def test_partial_authorization(emu: FlexEmulator) -> None:
    request = card_payment("7012.00")
    request["processingInformation"] = {"authorizationOptions": {"partialAuthIndicator": True}}
    status, body, _ = call(emu, "POST", "/pts/v2/payments", request)
    assert (status, body["status"]) == (201, "PARTIAL_AUTHORIZED")
    assert body["orderInformation"]["amountDetails"] == {
        "authorizedAmount": "500.00", "totalAmount": "7012.00", "currency": "USD"
    }
    assert set(body["_links"]) == {"self"}
    capture = {"orderInformation": order("500.01")}
    assert_refused(call(emu, "POST", f"/pts/v2/payments/{body['id']}/captures", capture), "EXCEEDS_AUTH_AMOUNT")
    assert call(emu, "POST", f"/pts/v2/payments/{body['id']}/captures", {"orderInformation": order("500")})[0] == 201


def test_expired_card_is_a_201_decline(emu: FlexEmulator) -> None:
    status, body, _ = call(emu, "POST", "/pts/v2/payments", card_payment(expirationMonth="01", expirationYear="2020"))
    assert (status, body["status"], body["errorInformation"]["reason"]) == (201, "DECLINED", "EXPIRED_CARD")
    assert body["errorInformation"]["message"].startswith("Decline - Expired card.")


def test_processor_error_is_a_502(emu: FlexEmulator) -> None:
    status, body, response = call(emu, "POST", "/pts/v2/payments", card_payment("4006.00"))
    assert status == 502
    assert response.headers["Content-Type"] == "application/json"
    assert (body["status"], body["reason"]) == ("SERVER_ERROR", "SYSTEM_ERROR")
    assert body["message"] == "Error - General system failure."


@pytest.mark.parametrize(
    ("mutate", "reason", "field"),
    [
        (lambda b: b["orderInformation"]["amountDetails"].pop("totalAmount"), "MISSING_FIELD",
         "orderInformation.amountDetails.totalAmount"),
        (lambda b: b["orderInformation"]["amountDetails"].update(totalAmount="-1.00"), "INVALID_DATA",
         "orderInformation.amountDetails.totalAmount"),
        (lambda b: b["orderInformation"]["amountDetails"].update(totalAmount="ten"), "INVALID_DATA",
         "orderInformation.amountDetails.totalAmount"),
        (lambda b: b["orderInformation"]["amountDetails"].update(totalAmount="1.001"), "INVALID_DATA",
         "orderInformation.amountDetails.totalAmount"),
        (lambda b: b["orderInformation"]["amountDetails"].update(currency="US"), "INVALID_DATA",
         "orderInformation.amountDetails.currency"),
        (lambda b: b["orderInformation"]["amountDetails"].pop("currency"), "MISSING_FIELD",
         "orderInformation.amountDetails.currency"),
        (lambda b: b["paymentInformation"]["card"].pop("number"), "MISSING_FIELD", "paymentInformation.card.number"),
        (lambda b: b.pop("paymentInformation"), "MISSING_FIELD", "paymentInformation.card.number"),
        (lambda b: b["paymentInformation"]["card"].update(number="4111111111111112"), "INVALID_DATA",
         "paymentInformation.card.number"),
        (lambda b: b["paymentInformation"]["card"].pop("expirationMonth"), "MISSING_FIELD",
         "paymentInformation.card.expirationMonth"),
        (lambda b: b["paymentInformation"]["card"].update(expirationMonth="13"), "INVALID_DATA",
         "paymentInformation.card.expirationMonth"),
        (lambda b: b["paymentInformation"]["card"].update(expirationYear="31"), "INVALID_DATA",
         "paymentInformation.card.expirationYear"),
        (lambda b: b["paymentInformation"]["card"].update(securityCode="12"), "INVALID_DATA",
         "paymentInformation.card.securityCode"),
    ],
)
def test_validation_errors(emu: FlexEmulator, mutate: Any, reason: str, field: str) -> None:
    request = card_payment()
    mutate(request)
    assert_refused(call(emu, "POST", "/pts/v2/payments", request), reason, field)


def test_body_that_is_not_a_json_object_is_refused(emu: FlexEmulator) -> None:
    assert_refused(call(emu, "POST", "/pts/v2/payments", ["not", "an", "object"]), "INVALID_DATA")


def test_unsigned_request_is_401(emu: FlexEmulator) -> None:
    response = _http.request("POST", emu.base_url + "/pts/v2/payments", body=b"{}", timeout=10)
    assert response.status == 401


def test_jwt_authentication_works_on_gets(emu: FlexEmulator) -> None:
    payment = pay(emu)
    config = emu.merchant_config(authentication_type="jwt_shared_secret")
    assert call(emu, "GET", f"/tss/v2/transactions/{payment['id']}", config=config)[0] == 200


# -- the state machine -------------------------------------------------------------------------


def test_partial_captures_up_to_the_authorized_amount(emu: FlexEmulator) -> None:
    payment_id = pay(emu, "10.00")["id"]
    path = f"/pts/v2/payments/{payment_id}/captures"
    status, first, _ = call(emu, "POST", path, {"clientReferenceInformation": {"code": "C1"},
                                                "orderInformation": order("6.00")})
    assert (status, first["status"]) == (201, "PENDING")
    assert first["orderInformation"]["amountDetails"] == {"totalAmount": "6.00", "currency": "USD"}
    assert first["clientReferenceInformation"] == {"code": "C1"}
    assert set(first["_links"]) == {"self", "void"}
    assert first["_links"]["void"]["href"] == f"/pts/v2/captures/{first['id']}/voids"
    assert_refused(call(emu, "POST", path, {"orderInformation": order("4.01")}), "EXCEEDS_AUTH_AMOUNT")
    assert call(emu, "POST", path, {"orderInformation": order("4.00")})[0] == 201
    assert_refused(call(emu, "POST", path, {"orderInformation": order("0.01")}), "EXCEEDS_AUTH_AMOUNT")


def test_capture_needs_an_amount_and_a_live_authorization(emu: FlexEmulator) -> None:
    payment_id = pay(emu)["id"]
    assert_refused(call(emu, "POST", f"/pts/v2/payments/{payment_id}/captures", {}), "MISSING_FIELD",
                   "orderInformation.amountDetails.totalAmount")
    capture = {"orderInformation": order("1.00")}
    assert_refused(call(emu, "POST", "/pts/v2/payments/1234567890123456789012/captures", capture), "MISSING_AUTH")
    declined = call(emu, "POST", "/pts/v2/payments", card_payment("4005.00"))[1]
    assert_refused(call(emu, "POST", f"/pts/v2/payments/{declined['id']}/captures", capture), "MISSING_AUTH")


def test_another_merchants_payment_is_unknown(emu: FlexEmulator) -> None:
    emu.add_merchant("other_merchant")
    payment_id = pay(emu)["id"]
    other = emu.merchant_config("other_merchant")
    capture = {"orderInformation": order("1.00")}
    assert_refused(call(emu, "POST", f"/pts/v2/payments/{payment_id}/captures", capture, other), "MISSING_AUTH")
    assert call(emu, "GET", f"/tss/v2/transactions/{payment_id}", config=other)[0] == 404


def test_reversal_once_and_no_capture_after_it(emu: FlexEmulator) -> None:
    payment_id = pay(emu)["id"]
    path = f"/pts/v2/payments/{payment_id}/reversals"
    reversal = {"reversalInformation": {"amountDetails": {"totalAmount": "10.00"}, "reason": "testing"}}
    status, body, _ = call(emu, "POST", path, reversal)
    assert (status, body["status"]) == (201, "REVERSED")
    assert body["reversalAmountDetails"] == {"reversedAmount": "10.00", "currency": "USD"}
    assert body["_links"] == {"self": {"method": "GET", "href": f"/pts/v2/reversals/{body['id']}"}}
    assert "reconciliationId" not in body
    assert_refused(call(emu, "POST", path, reversal), "AUTH_ALREADY_REVERSED")
    capture = {"orderInformation": order("1.00")}
    assert_refused(call(emu, "POST", f"/pts/v2/payments/{payment_id}/captures", capture), "AUTH_ALREADY_REVERSED")


def test_reversal_rules(emu: FlexEmulator) -> None:
    payment_id = pay(emu)["id"]
    path = f"/pts/v2/payments/{payment_id}/reversals"
    assert_refused(call(emu, "POST", path, {}), "MISSING_FIELD", "reversalInformation.amountDetails.totalAmount")
    too_much = {"reversalInformation": {"amountDetails": {"totalAmount": "10.01"}}}
    assert_refused(call(emu, "POST", path, too_much), "INVALID_AMOUNT")
    call(emu, "POST", f"/pts/v2/payments/{payment_id}/captures", {"orderInformation": order("5.00")})
    reversal = {"reversalInformation": {"amountDetails": {"totalAmount": "10.00"}}}
    assert_refused(call(emu, "POST", path, reversal), "TRANSACTION_ALREADY_REVERSED_OR_SETTLED")


def test_void_of_an_uncaptured_authorization_releases_it(emu: FlexEmulator) -> None:
    # The official void-payment sample voids a plain authorization and expects 201.
    payment_id = pay(emu)["id"]
    status, body, _ = call(emu, "POST", f"/pts/v2/payments/{payment_id}/voids", {})
    assert (status, body["status"]) == (201, "VOIDED")
    assert body["voidAmountDetails"]["voidAmount"] == "10.00"
    capture = {"orderInformation": order("5.00")}
    assert_refused(call(emu, "POST", f"/pts/v2/payments/{payment_id}/captures", capture),
                   "TRANSACTION_ALREADY_REVERSED_OR_SETTLED")
    assert_refused(call(emu, "POST", f"/pts/v2/payments/{payment_id}/voids", {}), "NOT_VOIDABLE")


def test_void_of_a_captured_or_reversed_authorization_is_refused(emu: FlexEmulator) -> None:
    captured = pay(emu)["id"]
    call(emu, "POST", f"/pts/v2/payments/{captured}/captures", {"orderInformation": order("5.00")})
    assert_refused(call(emu, "POST", f"/pts/v2/payments/{captured}/voids", {}), "NOT_VOIDABLE")
    reversed_id = pay(emu)["id"]
    reversal = {"reversalInformation": {"amountDetails": {"totalAmount": "10.00"}}}
    assert call(emu, "POST", f"/pts/v2/payments/{reversed_id}/reversals", reversal)[0] == 201
    assert_refused(call(emu, "POST", f"/pts/v2/payments/{reversed_id}/voids", {}), "NOT_VOIDABLE")


def test_sale_void_and_no_second_void(emu: FlexEmulator) -> None:
    sale = pay(emu, "25.00", capture=True)
    assert sale["status"] == "AUTHORIZED"
    assert set(sale["_links"]) == {"self", "void"}
    assert sale["orderInformation"]["amountDetails"] == {
        "authorizedAmount": "25.00", "totalAmount": "25.00", "currency": "USD"
    }
    path = f"/pts/v2/payments/{sale['id']}/voids"
    status, body, _ = call(emu, "POST", path, {"clientReferenceInformation": {"code": "V1"}})
    assert (status, body["status"]) == (201, "VOIDED")
    assert body["voidAmountDetails"] == {"voidAmount": "25.00", "currency": "usd"}
    assert body["_links"] == {"self": {"method": "GET", "href": f"/pts/v2/voids/{body['id']}"}}
    assert_refused(call(emu, "POST", path, {}), "NOT_VOIDABLE")
    # The voided sale has nothing left to refund.
    refund = {"orderInformation": order("1.00")}
    assert_refused(call(emu, "POST", f"/pts/v2/payments/{sale['id']}/refunds", refund), "INVALID_AMOUNT")


def test_refunds_up_to_what_was_captured(emu: FlexEmulator) -> None:
    sale_id = pay(emu, "30.00", capture=True)["id"]
    path = f"/pts/v2/payments/{sale_id}/refunds"
    status, body, _ = call(emu, "POST", path, {"orderInformation": order("20.00")})
    assert (status, body["status"]) == (201, "PENDING")
    assert body["refundAmountDetails"] == {"refundAmount": "20.00", "currency": "USD"}
    assert set(body["_links"]) == {"self", "void"}
    assert_refused(call(emu, "POST", path, {"orderInformation": order("10.01")}), "INVALID_AMOUNT")
    assert call(emu, "POST", path, {"orderInformation": order("10.00")})[0] == 201
    # Voiding a refund gives its amount back.
    status, void, _ = call(emu, "POST", f"/pts/v2/refunds/{body['id']}/voids", {})
    assert (status, void["status"]) == (201, "VOIDED")
    assert call(emu, "POST", path, {"orderInformation": order("20.00")})[0] == 201


def test_refund_of_an_uncaptured_authorization_is_refused(emu: FlexEmulator) -> None:
    payment_id = pay(emu)["id"]
    refund = {"orderInformation": order("1.00")}
    assert_refused(call(emu, "POST", f"/pts/v2/payments/{payment_id}/refunds", refund), "INVALID_AMOUNT")


def test_capture_refund_and_void_rules(emu: FlexEmulator) -> None:
    payment_id = pay(emu, "50.00")["id"]
    capture = call(emu, "POST", f"/pts/v2/payments/{payment_id}/captures", {"orderInformation": order("40.00")})[1]
    refunds = f"/pts/v2/captures/{capture['id']}/refunds"
    assert_refused(call(emu, "POST", refunds, {"orderInformation": order("40.01")}), "INVALID_AMOUNT")
    refund = call(emu, "POST", refunds, {"orderInformation": order("15.00")})[1]
    # A capture with a live refund cannot be voided; void the refund first.
    assert_refused(call(emu, "POST", f"/pts/v2/captures/{capture['id']}/voids", {}), "NOT_VOIDABLE")
    assert call(emu, "POST", f"/pts/v2/refunds/{refund['id']}/voids", {})[0] == 201
    assert call(emu, "POST", f"/pts/v2/captures/{capture['id']}/voids", {})[0] == 201
    assert_refused(call(emu, "POST", refunds, {"orderInformation": order("1.00")}), "CAPTURE_ALREADY_VOIDED")
    # The voided capture's amount can be captured again.
    assert call(emu, "POST", f"/pts/v2/payments/{payment_id}/captures", {"orderInformation": order("50.00")})[0] == 201


def test_refunds_on_the_payment_and_on_its_captures_share_one_balance(emu: FlexEmulator) -> None:
    payment_id = pay(emu, "10.00")["id"]
    capture = call(emu, "POST", f"/pts/v2/payments/{payment_id}/captures", {"orderInformation": order("10.00")})[1]
    assert call(emu, "POST", f"/pts/v2/payments/{payment_id}/refunds", {"orderInformation": order("8.00")})[0] == 201
    refunds = f"/pts/v2/captures/{capture['id']}/refunds"
    assert_refused(call(emu, "POST", refunds, {"orderInformation": order("2.01")}), "INVALID_AMOUNT")
    # Voiding the capture would leave the payment's refund uncovered.
    assert_refused(call(emu, "POST", f"/pts/v2/captures/{capture['id']}/voids", {}), "NOT_VOIDABLE")
    assert call(emu, "POST", refunds, {"orderInformation": order("2.00")})[0] == 201


def test_no_void_after_settlement(emu: FlexEmulator) -> None:
    payment_id = pay(emu)["id"]
    capture = call(emu, "POST", f"/pts/v2/payments/{payment_id}/captures", {"orderInformation": order("10.00")})[1]
    sale_id = pay(emu, capture=True)["id"]
    emu.clock.advance(86400)
    assert_refused(call(emu, "POST", f"/pts/v2/captures/{capture['id']}/voids", {}), "NOT_VOIDABLE")
    assert_refused(call(emu, "POST", f"/pts/v2/payments/{sale_id}/voids", {}), "NOT_VOIDABLE")
    # Settled money is refunded instead.
    refund = {"orderInformation": order("10.00")}
    assert call(emu, "POST", f"/pts/v2/captures/{capture['id']}/refunds", refund)[0] == 201


def test_settle_payments_now(emu: FlexEmulator) -> None:
    sale_id = pay(emu, capture=True)["id"]
    emu.settle_payments()
    assert_refused(call(emu, "POST", f"/pts/v2/payments/{sale_id}/voids", {}), "NOT_VOIDABLE")


def test_void_of_an_unknown_id_is_invalid_data(emu: FlexEmulator) -> None:
    assert_refused(call(emu, "POST", "/pts/v2/captures/1234567890123456789012/voids", {}), "INVALID_DATA")


def test_credit_and_its_void(emu: FlexEmulator) -> None:
    request = {"paymentInformation": {"card": CARD}, "orderInformation": order("7.00")}
    status, credit, response = call(emu, "POST", "/pts/v2/credits", request)
    assert (status, credit["status"]) == (201, "PENDING")
    assert response.headers["Content-Type"] == "application/hal+json"
    assert credit["creditAmountDetails"] == {"creditAmount": "7.00", "currency": "USD"}
    assert credit["_links"]["self"]["href"] == f"/pts/v2/credits/{credit['id']}"
    status, void, _ = call(emu, "POST", f"/pts/v2/credits/{credit['id']}/voids", {})
    assert (status, void["status"]) == (201, "VOIDED")
    assert_refused(call(emu, "POST", f"/pts/v2/credits/{credit['id']}/voids", {}), "NOT_VOIDABLE")


def test_timeout_reversal_finds_the_authorization_by_transaction_id(emu: FlexEmulator) -> None:
    request = card_payment()
    request["clientReferenceInformation"]["transactionId"] = "913000000001"
    payment_id = call(emu, "POST", "/pts/v2/payments", request)[1]["id"]
    reversal = {"clientReferenceInformation": {"transactionId": "913000000001"},
                "reversalInformation": {"amountDetails": {"totalAmount": "10.00"}}}
    status, body, _ = call(emu, "POST", "/pts/v2/reversals", reversal)
    assert (status, body["status"]) == (201, "REVERSED")
    assert body["clientReferenceInformation"]["transactionId"] == "913000000001"
    assert len(body["clientReferenceInformation"]["code"]) == 13
    capture = {"orderInformation": order("1.00")}
    assert_refused(call(emu, "POST", f"/pts/v2/payments/{payment_id}/captures", capture), "AUTH_ALREADY_REVERSED")
    assert_refused(call(emu, "POST", "/pts/v2/reversals", reversal), "AUTH_ALREADY_REVERSED")
    # An authorization the emulator never saw: nothing to undo, still 201.
    reversal["clientReferenceInformation"] = {"transactionId": "913000000002"}
    assert call(emu, "POST", "/pts/v2/reversals", reversal)[1]["status"] == "REVERSED"
    assert_refused(call(emu, "POST", "/pts/v2/reversals", {"reversalInformation": reversal["reversalInformation"]}),
                   "MISSING_FIELD", "clientReferenceInformation.transactionId")


def test_timeout_void_finds_the_sale_by_transaction_id(emu: FlexEmulator) -> None:
    request = card_payment(capture=True)
    request["clientReferenceInformation"]["transactionId"] = "913000000003"
    sale_id = call(emu, "POST", "/pts/v2/payments", request)[1]["id"]
    void = {"clientReferenceInformation": {"transactionId": "913000000003"}}
    status, body, _ = call(emu, "POST", "/pts/v2/voids", void)
    assert (status, body["status"]) == (201, "VOIDED")
    assert body["voidAmountDetails"]["voidAmount"] == "10.00"
    assert_refused(call(emu, "POST", f"/pts/v2/payments/{sale_id}/voids", {}), "NOT_VOIDABLE")
    void["clientReferenceInformation"] = {"transactionId": "913000000004"}
    assert call(emu, "POST", "/pts/v2/voids", void)[1]["status"] == "VOIDED"


def test_incremental_authorization_raises_what_can_be_captured(emu: FlexEmulator) -> None:
    payment_id = pay(emu, "20.00")["id"]
    increment = {"orderInformation": {"amountDetails": {"additionalAmount": "22.49", "currency": "USD"}}}
    status, body, _ = call(emu, "PATCH", f"/pts/v2/payments/{payment_id}", increment)
    assert (status, body["status"]) == (201, "AUTHORIZED")
    assert body["orderInformation"]["amountDetails"] == {
        "totalAmount": "42.49", "authorizedAmount": "22.49", "currency": "USD"
    }
    assert body["reconciliationId"] == body["id"] != payment_id
    assert body["_links"]["capture"]["href"] == f"/pts/v2/payments/{payment_id}/captures"
    declined = {"orderInformation": {"amountDetails": {"additionalAmount": "4051.00", "currency": "USD"}}}
    status, body, _ = call(emu, "PATCH", f"/pts/v2/payments/{payment_id}", declined)
    assert (status, body["status"], body["errorInformation"]["reason"]) == (201, "DECLINED", "INSUFFICIENT_FUND")
    path = f"/pts/v2/payments/{payment_id}/captures"
    assert_refused(call(emu, "POST", path, {"orderInformation": order("42.50")}), "EXCEEDS_AUTH_AMOUNT")
    assert call(emu, "POST", path, {"orderInformation": order("42.49")})[0] == 201
    unknown = call(emu, "PATCH", "/pts/v2/payments/1234567890123456789012", increment)
    assert_refused(unknown, "INVALID_PAYMENT_ID")
    step = emu.transaction(payment_id)
    assert step is not None and step["orderInformation"]["amountDetails"]["authorizedAmount"] == "42.49"


def test_wrong_method_is_405(emu: FlexEmulator) -> None:
    assert call(emu, "GET", "/pts/v2/payments")[0] == 405


# -- transaction details and token data -------------------------------------------------------


def test_tss_shows_what_happened(emu: FlexEmulator) -> None:
    payment_id = pay(emu, "10.00")["id"]
    capture = call(emu, "POST", f"/pts/v2/payments/{payment_id}/captures", {"orderInformation": order("10.00")})[1]
    refund = call(emu, "POST", f"/pts/v2/captures/{capture['id']}/refunds", {"orderInformation": order("3.00")})[1]
    status, auth_view, response = call(emu, "GET", f"/tss/v2/transactions/{payment_id}")
    assert status == 200
    assert response.headers["Content-Type"].startswith("application/hal+json")
    assert auth_view["id"] == auth_view["rootId"] == payment_id
    assert auth_view["merchantId"] == "emulator_merchant"
    step = auth_view["applicationInformation"]["applications"][0]
    assert (step["name"], step["reasonCode"], step["rCode"], step["rFlag"]) == ("ics_auth", "100", "1", "SOK")
    assert auth_view["orderInformation"]["amountDetails"]["authorizedAmount"] == "10.00"
    assert auth_view["paymentInformation"]["card"] == {
        "prefix": "411111", "suffix": "1111", "type": "001", "expirationMonth": "12", "expirationYear": "2031"
    }
    assert auth_view["clientReferenceInformation"]["code"] == "ORDER-42"
    assert [r["href"] for r in auth_view["_links"]["relatedTransactions"]] == [f"/tss/v2/transactions/{capture['id']}"]
    capture_view = call(emu, "GET", f"/tss/v2/transactions/{capture['id']}")[1]
    assert capture_view["rootId"] == payment_id
    assert capture_view["applicationInformation"]["applications"][0]["name"] == "ics_bill"
    assert {r["href"].rsplit("/", 1)[1] for r in capture_view["_links"]["relatedTransactions"]} == {
        payment_id, refund["id"]
    }
    refund_view = call(emu, "GET", f"/tss/v2/transactions/{refund['id']}")[1]
    assert refund_view["applicationInformation"]["applications"][0]["name"] == "ics_credit"
    assert refund_view["orderInformation"]["amountDetails"]["totalAmount"] == "3.00"
    assert emu.transaction(refund["id"]) == refund_view


def test_tss_of_a_decline_and_of_a_sale(emu: FlexEmulator) -> None:
    declined = call(emu, "POST", "/pts/v2/payments", card_payment("4051.00"))[1]
    step = call(emu, "GET", f"/tss/v2/transactions/{declined['id']}")[1]["applicationInformation"]["applications"][0]
    assert (step["reasonCode"], step["rCode"], step["rFlag"]) == ("204", "0", "DCARDREFUSED")
    sale = pay(emu, capture=True)
    names = [a["name"] for a in call(emu, "GET", f"/tss/v2/transactions/{sale['id']}")[1]["applicationInformation"]
             ["applications"]]
    assert names == ["ics_auth", "ics_bill"]


def test_tss_unknown_id_is_404(emu: FlexEmulator) -> None:
    status, body, response = call(emu, "GET", "/tss/v2/transactions/1234567890123456789012")
    assert status == 404
    assert body["message"] == "The requested resource does not exist"
    assert response.headers["Content-Type"] == "application/hal+json"
    assert emu.transaction("1234567890123456789012") is None


def test_payment_details_by_token_and_by_jti(emu: FlexEmulator) -> None:
    token = emu.issue_transient_token(
        {"paymentInformation": {"card": {**CARD, "number": "378282246310005", "securityCode": "1234"}},
         "orderInformation": {"billTo": {"firstName": "Ada", "country": "GB"}}},
        emu.issue_capture_context(
            {"paymentInformation": {"card": {"number": {}, "expirationMonth": {}, "expirationYear": {},
                                             "securityCode": {}}},
             "orderInformation": {"billTo": {"firstName": {}, "country": {}}}}
        ),
    )
    status, body, response = call(emu, "GET", f"/up/v1/payment-details/{token}")
    assert status == 200 and response.headers["Content-Type"] == "application/json"
    assert body == {
        "paymentInformation": {"card": {"number": "378282XXXXX0005", "expirationMonth": "12",
                                        "expirationYear": "2031", "type": "003"}},
        "orderInformation": {"billTo": {"firstName": "Ada", "country": "GB"}},
    }
    jti = json.loads(__import__("base64").urlsafe_b64decode(token.split(".")[1] + "=="))["jti"]
    assert call(emu, "GET", f"/flex/v2/payment-details/{jti}")[1] == body
    emu.add_merchant("other_merchant")
    assert call(emu, "GET", f"/flex/v2/payment-details/{jti}", config=emu.merchant_config("other_merchant"))[0] == 404
    assert call(emu, "GET", "/flex/v2/payment-details/UNKNOWN")[0] == 404
    emu.clock.advance(901)
    assert call(emu, "GET", f"/up/v1/payment-details/{token}")[0] == 404


# -- persistence, faults, redaction, speed ---------------------------------------------------------


def test_payments_survive_a_restart_on_the_same_state_dir(tmp_path: Any) -> None:
    state_dir = str(tmp_path)
    with FlexEmulator(state_dir=state_dir) as first:
        merchant = first.merchant()
        payment_id = pay(first, "10.00")["id"]
        call(first, "POST", f"/pts/v2/payments/{payment_id}/captures", {"orderInformation": order("4.00")})
        before = call(first, "GET", f"/tss/v2/transactions/{payment_id}")[1]
    assert sorted(os.listdir(state_dir)) == ["payments.jsonl"]
    with FlexEmulator(state_dir=state_dir, default_merchant=False) as second:
        second.add_merchant(merchant.merchant_id, key_id=merchant.key_id, shared_secret=merchant.shared_secret)
        assert call(second, "GET", f"/tss/v2/transactions/{payment_id}")[1] == before
        path = f"/pts/v2/payments/{payment_id}/captures"
        assert_refused(call(second, "POST", path, {"orderInformation": order("6.01")}), "EXCEEDS_AUTH_AMOUNT")
        assert call(second, "POST", path, {"orderInformation": order("6.00")})[0] == 201


def test_a_torn_last_line_loses_only_that_change(tmp_path: Any, signing_key: rsa.RSAPrivateKey) -> None:
    with FlexEmulator(state_dir=str(tmp_path), signing_key=signing_key) as first:
        payment_id = pay(first)["id"]
    with open(tmp_path / "payments.jsonl", "ab") as journal:
        journal.write(b'{"id": "12345')
    with FlexEmulator(state_dir=str(tmp_path), signing_key=signing_key) as second:
        assert second.transaction(payment_id) is not None
    assert b"12345" not in (tmp_path / "payments.jsonl").read_bytes()  # compacted at start


def test_a_corrupt_state_file_is_reported(tmp_path: Any) -> None:
    (tmp_path / "payments.jsonl").write_text("{not json\n{}\n")
    with pytest.raises(ValueError, match=r"payments\.jsonl is not a payments state file"):
        FlexEmulator(state_dir=str(tmp_path))


@pytest.mark.parametrize(
    ("endpoint", "method", "path"),
    [("payments", "POST", "/pts/v2/payments"), ("transactions", "GET", "/tss/v2/transactions/1")],
)
def test_fault_injection_on_sandbox_endpoints(emu: FlexEmulator, endpoint: str, method: str, path: str) -> None:
    emu.inject_fault(endpoint, status=502, times=1)
    status, body, _ = call(emu, method, path, card_payment() if method == "POST" else None)
    assert status == 502
    assert (body["status"], body["reason"]) == ("SERVER_ERROR", "SYSTEM_ERROR")
    assert call(emu, method, path, card_payment() if method == "POST" else None)[0] in (201, 404)
    assert emu.request_count(endpoint) == 2


def test_faults_on_follow_ons_and_latency(emu: FlexEmulator) -> None:
    payment_id = pay(emu)["id"]
    emu.inject_fault("captures", status=400, times=1)
    status, body, _ = call(emu, "POST", f"/pts/v2/payments/{payment_id}/captures", {"orderInformation": order("1")})
    assert (status, body["status"]) == (400, "INVALID_REQUEST")
    emu.inject_fault("reversals", latency=0.2, times=1)
    started = time.monotonic()
    reversal = {"reversalInformation": {"amountDetails": {"totalAmount": "10.00"}}}
    assert call(emu, "POST", f"/pts/v2/payments/{payment_id}/reversals", reversal)[0] == 201
    assert time.monotonic() - started >= 0.2


def test_no_card_number_or_security_code_leaks(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    number, code = "5555555555554444", "739"
    seen: list[bytes] = []
    with FlexEmulator(state_dir=str(tmp_path)) as emu:
        token = token_for(emu, number=number, securityCode=code)
        requests = [
            ("POST", "/pts/v2/payments",
             {"tokenInformation": {"transientTokenJwt": token}, "orderInformation": order()}),
            ("POST", "/pts/v2/payments", card_payment(number=number, securityCode=code)),
            ("POST", "/pts/v2/payments", card_payment("4051.00", number=number, securityCode=code)),
            ("POST", "/pts/v2/credits",
             {"paymentInformation": {"card": {**CARD, "number": number, "securityCode": code}},
              "orderInformation": order()}),
            ("POST", "/pts/v2/payments", card_payment(number="4111111111111112", securityCode=code)),
        ]
        ids = []
        for method, path, body in requests:
            _, parsed, response = call(emu, method, path, body)
            seen.append(response.data)
            ids.append(parsed["id"])
        for txn_id in ids:
            seen.append(call(emu, "GET", f"/tss/v2/transactions/{txn_id}")[2].data)
        seen.append(call(emu, "GET", f"/up/v1/payment-details/{token}")[2].data)
        state = (tmp_path / "payments.jsonl").read_bytes()
    for blob in [*seen, state, caplog.text.encode()]:
        assert number.encode() not in blob
        assert b"4111111111111112" not in blob
        assert b"securityCode" not in blob

    def leaves(node: Any) -> list[Any]:
        if isinstance(node, dict):
            return [leaf for value in node.values() for leaf in leaves(value)]
        if isinstance(node, list):
            return [leaf for value in node for leaf in leaves(value)]
        return [node]

    for blob in [*seen, *state.splitlines()]:
        assert code not in leaves(json.loads(blob))


def test_the_journal_grows_by_one_line_per_payment(tmp_path: Any, signing_key: rsa.RSAPrivateKey) -> None:
    # The cost of a payment must not grow with the payments stored: each one appends one line
    # to the journal, never a rewrite (the speed itself is measured by scripts/bench).
    with FlexEmulator(state_dir=str(tmp_path), signing_key=signing_key) as emu:
        journal = tmp_path / "payments.jsonl"
        for count in range(1, 51):
            assert call(emu, "POST", "/pts/v2/payments", card_payment())[0] == 201
            assert len(journal.read_text().splitlines()) == count


def test_concurrent_captures_never_exceed_the_authorization(emu: FlexEmulator) -> None:
    from concurrent.futures import ThreadPoolExecutor

    payment_id = pay(emu, "10.00")["id"]
    path = f"/pts/v2/payments/{payment_id}/captures"
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: call(emu, "POST", path, {"orderInformation": order("1.00")})[0], range(16)))
    assert statuses.count(201) == 10
    assert statuses.count(400) == 6


# -- the official SDK's payment classes against the sandbox ---------------------------------------

# Runs in the official SDK's own venv (see test_official_sdk_interop.py): the checkout chain
# the official samples run, with bodies built the samples' way (models, .__dict__, json.dumps).
OFFICIAL_PAYMENTS_SCRIPT = r'''
import importlib.metadata, json, sys, warnings
warnings.filterwarnings("ignore", message="Unverified HTTPS request")
import CyberSource as m
from CyberSource.logging.log_configuration import LogConfiguration
from CyberSource.rest import ApiException

# The interop test's workaround for the SDK's pkg_resources crash (compat notes 1.2).
m.ApiClient.get_client_id = lambda self: "cybs-rest-sdk-python-" + importlib.metadata.version(
    "cybersource-rest-client-python")


def del_none(d):
    for key, value in list(d.items()):
        if value is None:
            del d[key]
        elif isinstance(value, dict):
            del_none(value)
    return d


def body(model):
    return json.dumps(del_none(model.__dict__))


def call(method, *args):
    try:
        data, status, raw = method(*args, _request_timeout=(10, 60))
    except ApiException as error:
        return {"status": error.status, "body": json.loads(error.body)}
    return {"status": status, "body": json.loads(raw) if raw else None,
            "id": getattr(data, "id", None), "model_status": getattr(data, "status", None)}


def payment(config, amount, capture=False, jti=None):
    card = m.Ptsv2paymentsPaymentInformationCard(
        number="4111111111111111", expiration_month="12", expiration_year="2031").__dict__
    request = m.CreatePaymentRequest(
        client_reference_information=m.Ptsv2paymentsClientReferenceInformation(code="TC50171_3").__dict__,
        processing_information=m.Ptsv2paymentsProcessingInformation(capture=capture).__dict__,
        payment_information=None if jti else m.Ptsv2paymentsPaymentInformation(card=card).__dict__,
        token_information=m.Ptsv2paymentsTokenInformation(jti=jti).__dict__ if jti else None,
        order_information=m.Ptsv2paymentsOrderInformation(amount_details=m.Ptsv2paymentsOrderInformationAmountDetails(
            total_amount=amount, currency="USD").__dict__).__dict__,
    )
    return call(m.PaymentsApi(config).create_payment, body(request))


def amount_order(model, amount):
    return model(amount_details=m.Ptsv2paymentsidcapturesOrderInformationAmountDetails(
        total_amount=amount, currency="USD").__dict__).__dict__


def main():
    case = json.load(sys.stdin)
    config = dict(case["config"], ssl_verify=False)
    log_config = LogConfiguration()
    log_config.set_enable_log(True)
    log_config.set_log_directory(case["log_directory"])
    config["log_config"] = log_config
    out = {"auth": payment(config, "102.21")}
    auth_id = out["auth"]["id"]
    out["capture"] = call(m.CaptureApi(config).capture_payment, body(m.CapturePaymentRequest(
        order_information=amount_order(m.Ptsv2paymentsidcapturesOrderInformation, "102.21"))), auth_id)
    out["over_capture"] = call(m.CaptureApi(config).capture_payment, body(m.CapturePaymentRequest(
        order_information=amount_order(m.Ptsv2paymentsidcapturesOrderInformation, "1.00"))), auth_id)
    out["refund"] = call(m.RefundApi(config).refund_capture, body(m.RefundCaptureRequest(
        order_information=amount_order(m.Ptsv2paymentsidrefundsOrderInformation, "10.00"))), out["capture"]["id"])
    void = body(m.VoidRefundRequest(
        client_reference_information=m.Ptsv2paymentsidreversalsClientReferenceInformation(code="test_void").__dict__))
    out["void_refund"] = call(m.VoidApi(config).void_refund, void, out["refund"]["id"])
    second = payment(config, "102.21")["id"]
    out["reversal"] = call(m.ReversalApi(config).auth_reversal, second, body(m.AuthReversalRequest(
        reversal_information=m.Ptsv2paymentsidreversalsReversalInformation(
            amount_details=m.Ptsv2paymentsidreversalsReversalInformationAmountDetails(total_amount="102.21").__dict__,
            reason="testing").__dict__)))
    out["void_reversed"] = call(m.VoidApi(config).void_payment, void, second)
    out["void_auth"] = call(m.VoidApi(config).void_payment, void, payment(config, "102.21")["id"])
    sale = payment(config, "102.21", capture=True)["id"]
    out["void_sale"] = call(m.VoidApi(config).void_payment, void, sale)
    out["decline"] = payment(config, "4051.00")
    third = payment(config, "20.00")["id"]
    out["increment"] = call(m.PaymentsApi(config).increment_auth, third, body(m.IncrementAuthRequest(
        order_information=m.Ptsv2paymentsidOrderInformation(amount_details=m.Ptsv2paymentsidOrderInformationAmountDetails(
            additional_amount="22.49", currency="USD").__dict__).__dict__)))
    timeout_reference = m.Ptsv2paymentsClientReferenceInformation(transaction_id="913000000009").__dict__
    out["timeout_reversal"] = call(m.ReversalApi(config).mit_reversal, body(m.MitReversalRequest(
        client_reference_information=timeout_reference,
        reversal_information=m.Ptsv2paymentsidreversalsReversalInformation(
            amount_details=m.Ptsv2paymentsidreversalsReversalInformationAmountDetails(total_amount="102.21").__dict__,
            reason="34").__dict__)))
    out["timeout_void"] = call(m.VoidApi(config).mit_void, body(m.MitVoidRequest(
        client_reference_information=timeout_reference)))
    out["tss"] = call(m.TransactionDetailsApi(config).get_transaction, auth_id)
    out["token_payment"] = payment(config, "15.00", jti=case["jti"])
    out["token_details"] = call(m.TransientTokenDataV2Api(config).get_transaction_for_transient_token, case["token"])
    sys.stdout.write("OFFICIAL_SDK_RESULT " + json.dumps(out) + "\n")


main()
'''


@pytest.mark.slow
def test_the_official_sdk_runs_the_checkout_chain_against_the_sandbox(tmp_path: Any, official_sdk_python: Any) -> None:
    import subprocess

    python = official_sdk_python
    script = tmp_path / "official_payments.py"
    script.write_text(OFFICIAL_PAYMENTS_SCRIPT, encoding="utf-8")
    with FlexEmulator(tls=True) as emu:
        token = token_for(emu)
        jti = json.loads(__import__("base64").urlsafe_b64decode(token.split(".")[1] + "=="))["jti"]
        case = {"config": emu.merchant_config(), "token": token, "jti": jti, "log_directory": str(tmp_path / "logs")}
        env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
        done = subprocess.run(
            [str(python), "-I", str(script)], input=json.dumps(case), capture_output=True, text=True,
            timeout=300, cwd=tmp_path, env=env, check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("OFFICIAL_SDK_RESULT ")]
    assert done.returncode == 0 and len(lines) == 1, done.stderr[-3000:]
    out = json.loads(lines[0][len("OFFICIAL_SDK_RESULT "):])
    assert (out["auth"]["status"], out["auth"]["model_status"]) == (201, "AUTHORIZED")
    assert len(out["auth"]["id"]) == 22
    assert (out["capture"]["status"], out["capture"]["model_status"]) == (201, "PENDING")
    assert (out["over_capture"]["status"], out["over_capture"]["body"]["reason"]) == (400, "EXCEEDS_AUTH_AMOUNT")
    assert (out["refund"]["status"], out["refund"]["model_status"]) == (201, "PENDING")
    assert (out["void_refund"]["status"], out["void_refund"]["model_status"]) == (201, "VOIDED")
    assert (out["reversal"]["status"], out["reversal"]["model_status"]) == (201, "REVERSED")
    assert (out["void_reversed"]["status"], out["void_reversed"]["body"]["reason"]) == (400, "NOT_VOIDABLE")
    assert (out["void_auth"]["status"], out["void_auth"]["model_status"]) == (201, "VOIDED")
    assert (out["void_sale"]["status"], out["void_sale"]["model_status"]) == (201, "VOIDED")
    assert out["decline"]["body"]["errorInformation"]["reason"] == "INSUFFICIENT_FUND"
    assert (out["increment"]["status"], out["increment"]["model_status"]) == (201, "AUTHORIZED")
    assert out["increment"]["body"]["orderInformation"]["amountDetails"]["totalAmount"] == "42.49"
    assert (out["timeout_reversal"]["status"], out["timeout_reversal"]["model_status"]) == (201, "REVERSED")
    assert (out["timeout_void"]["status"], out["timeout_void"]["model_status"]) == (201, "VOIDED")
    assert (out["tss"]["status"], out["tss"]["id"]) == (200, out["auth"]["id"])
    assert (out["token_payment"]["status"], out["token_payment"]["model_status"]) == (201, "AUTHORIZED")
    assert out["token_details"]["status"] == 200
    assert out["token_details"]["body"]["paymentInformation"]["card"]["number"] == "411111XXXXXX1111"
