"""POST /flex/v2/sessions: merchant authentication, request validation, capture-context shape."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any, Callable, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from emulator_helpers import (
    CARD_FIELDS,
    SESSIONS_PATH,
    VECTOR_BODY,
    VECTOR_DATE,
    VECTOR_DIGEST,
    VECTOR_EPOCH,
    VECTOR_HOST,
    VECTOR_HS256_JWT,
    VECTOR_KEY_ID,
    VECTOR_MERCHANT,
    VECTOR_SECRET,
    VECTOR_SIGNATURE,
    Client,
    b64url,
    body_digest,
    hs256_bearer,
    jws,
    jwt_claims,
    jwt_parts,
    rs256_bearer,
    signature_headers,
)

from flex_ext.emulator import FIELD_PATHS, EmulatorClock, FlexEmulator


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def vector_emu() -> Iterator[FlexEmulator]:
    emu = FlexEmulator(clock=EmulatorClock(frozen_at=VECTOR_EPOCH), default_merchant=False)
    emu.add_merchant(VECTOR_MERCHANT, key_id=VECTOR_KEY_ID, shared_secret=VECTOR_SECRET)
    with emu:
        yield emu


@pytest.fixture
def emu() -> Iterator[FlexEmulator]:
    with FlexEmulator() as emulator:
        yield emulator


def vector_headers() -> dict[str, str]:
    return {
        "Host": VECTOR_HOST,
        "Content-Type": "application/json;charset=utf-8",
        "Accept": "application/jwt",
        "v-c-client-id": "cybs-rest-sdk-python-0.0.80",
        "Accept-Encoding": "*",
        "v-c-merchant-id": VECTOR_MERCHANT,
        "Date": VECTOR_DATE,
        "User-Agent": "Swagger-Codegen/1.0.0/python",
        "Digest": VECTOR_DIGEST,
        "Signature": VECTOR_SIGNATURE,
    }


def post(client: Client, emu: FlexEmulator, body: bytes, headers: dict[str, str]) -> Any:
    return client.request("POST", emu.base_url + SESSIONS_PATH, body, headers)


def assert_401(response: Any, reason_fragment: str) -> None:
    assert response.status == 401
    assert json.loads(response.data) == {"response": {"rmsg": "Authentication Failed"}}
    assert reason_fragment.lower() in response.headers["x-emulator-reason"].lower()


# -- HTTP Signature: the compat §4.1 vector -------------------------------------------------------


def test_vector_body_and_digest_are_the_documented_ones() -> None:
    assert len(VECTOR_BODY) == 298
    assert "SHA-256=" + body_digest(VECTOR_BODY) == VECTOR_DIGEST


def test_official_sdk_vector_request_is_accepted(vector_emu: FlexEmulator, client: Client) -> None:
    response = post(client, vector_emu, VECTOR_BODY, vector_headers())
    assert response.status == 201, response.headers.get("x-emulator-reason")
    assert response.headers["Content-Type"] == "application/jwt"
    _, claims = jwt_parts(response.data.decode())
    assert claims["ctx"][0]["data"]["requiredFields"] == [
        "orderInformation.amountDetails.totalAmount",
        "orderInformation.amountDetails.currency",
        "paymentInformation.card.number",
        "paymentInformation.card.expirationMonth",
        "paymentInformation.card.expirationYear",
    ]
    assert claims["ctx"][0]["data"]["optionalFields"] == ["paymentInformation.card.securityCode"]
    assert claims["iat"] == VECTOR_EPOCH


def test_official_sdk_vector_with_one_secret_byte_changed_is_401(client: Client) -> None:
    secret = bytearray(base64.b64decode(VECTOR_SECRET))
    secret[7] ^= 0x01
    emu = FlexEmulator(clock=EmulatorClock(frozen_at=VECTOR_EPOCH), default_merchant=False)
    emu.add_merchant(VECTOR_MERCHANT, key_id=VECTOR_KEY_ID, shared_secret=base64.b64encode(bytes(secret)).decode())
    with emu:
        assert_401(post(client, emu, VECTOR_BODY, vector_headers()), "signature does not match")


def test_vector_signed_with_a_changed_secret_is_401(vector_emu: FlexEmulator, client: Client) -> None:
    secret = bytearray(base64.b64decode(VECTOR_SECRET))
    secret[0] = 0xFF
    headers = signature_headers(
        VECTOR_MERCHANT, VECTOR_KEY_ID, base64.b64encode(bytes(secret)).decode(), VECTOR_BODY, VECTOR_HOST, VECTOR_DATE
    )
    assert_401(post(client, vector_emu, VECTOR_BODY, headers), "signature does not match")


def test_own_signer_reproduces_the_vector_and_is_accepted(vector_emu: FlexEmulator, client: Client) -> None:
    headers = signature_headers(VECTOR_MERCHANT, VECTOR_KEY_ID, VECTOR_SECRET, VECTOR_BODY, VECTOR_HOST, VECTOR_DATE)
    assert headers["Signature"] == VECTOR_SIGNATURE
    assert post(client, vector_emu, VECTOR_BODY, headers).status == 201


def _signed(**kwargs: Any) -> dict[str, str]:
    args: dict[str, Any] = {
        "merchant_id": VECTOR_MERCHANT,
        "key_id": VECTOR_KEY_ID,
        "secret": VECTOR_SECRET,
        "body": VECTOR_BODY,
        "host": VECTOR_HOST,
        "date": VECTOR_DATE,
    }
    args.update(kwargs)
    return signature_headers(**args)


def _date(offset: int) -> str:
    from email.utils import formatdate

    return formatdate(VECTOR_EPOCH + offset, usegmt=True)


@pytest.mark.parametrize("offset", [-299, 299])
def test_date_within_five_minutes_is_accepted(vector_emu: FlexEmulator, client: Client, offset: int) -> None:
    assert post(client, vector_emu, VECTOR_BODY, _signed(date=_date(offset))).status == 201


def _with(headers: dict[str, str], **changes: str) -> dict[str, str]:
    updated = dict(headers)
    updated.update({name.replace("_", "-"): value for name, value in changes.items()})
    return updated


HTTP_SIGNATURE_REJECTIONS: list[tuple[str, Callable[[], tuple[bytes, dict[str, str]]], str]] = [
    ("stale date", lambda: (VECTOR_BODY, _signed(date=_date(-301))), "5 minutes"),
    ("future date", lambda: (VECTOR_BODY, _signed(date=_date(301))), "5 minutes"),
    ("non-GMT date", lambda: (VECTOR_BODY, _signed(date="Thu, 01 Jan 2026 00:00:00 +0000")), "GMT"),
    ("unparseable date", lambda: (VECTOR_BODY, _signed(date="yesterday")), "date"),
    ("body changed after signing", lambda: (VECTOR_BODY.replace(b"true", b"false", 1), _signed()), "digest"),
    (
        "digest header of another body",
        lambda: (VECTOR_BODY, _with(_signed(), Digest="SHA-256=" + body_digest(b"{}"))),
        "digest",
    ),
    ("unknown key id", lambda: (VECTOR_BODY, _signed(key_id="99999999-1111-2222-3333-444444444444")), "key id"),
    ("unknown merchant", lambda: (VECTOR_BODY, _signed(merchant_id="someone_else")), "merchant"),
    (
        "digest not signed",
        lambda: (VECTOR_BODY, _signed(signed_names="host date request-target v-c-merchant-id")),
        "signed header list",
    ),
    (
        "header list reordered",
        lambda: (VECTOR_BODY, _signed(signed_names="date host request-target digest v-c-merchant-id")),
        "signed header list",
    ),
    (
        "extra header signed",
        lambda: (VECTOR_BODY, _signed(signed_names="host date request-target digest v-c-merchant-id content-type")),
        "signed header list",
    ),
    ("other request target", lambda: (VECTOR_BODY, _signed(target="/flex/v2/tokens")), "signature does not match"),
    ("host changed", lambda: (VECTOR_BODY, _with(_signed(), Host="evil.example")), "signature does not match"),
    (
        "identity line of another merchant",
        lambda: (VECTOR_BODY, _signed(identity="other_merchant")),
        "signature does not match",
    ),
    (
        "other algorithm",
        lambda: (VECTOR_BODY, _with(_signed(), Signature=_signed()["Signature"].replace("HmacSHA256", "HmacSHA512"))),
        "algorithm",
    ),
    (
        "signature bits flipped",
        lambda: (VECTOR_BODY, _with(_signed(), Signature=VECTOR_SIGNATURE.replace("7KE9", "7KE8"))),
        "signature does not match",
    ),
    ("malformed signature header", lambda: (VECTOR_BODY, _with(_signed(), Signature="keyid=abc")), "malformed"),
    (
        "no auth at all",
        lambda: (VECTOR_BODY, {k: v for k, v in _signed().items() if k != "Signature"}),
        "no Signature",
    ),
    (
        "date header missing",
        lambda: (VECTOR_BODY, {k: v for k, v in _signed().items() if k != "Date"}),
        "date header is missing",
    ),
]


@pytest.mark.parametrize(
    ("make", "reason"),
    [(make, reason) for _, make, reason in HTTP_SIGNATURE_REJECTIONS],
    ids=[name for name, _, _ in HTTP_SIGNATURE_REJECTIONS],
)
def test_http_signature_rejections(
    vector_emu: FlexEmulator, client: Client, make: Callable[[], tuple[bytes, dict[str, str]]], reason: str
) -> None:
    body, headers = make()
    assert_401(post(client, vector_emu, body, headers), reason)


def test_meta_key_signing_string_may_name_the_portfolio(client: Client) -> None:
    emu = FlexEmulator(clock=EmulatorClock(frozen_at=VECTOR_EPOCH), default_merchant=False)
    emu.add_merchant("child_a", key_id=VECTOR_KEY_ID, shared_secret=VECTOR_SECRET, portfolio_id="portfolio_1")
    emu.add_merchant("child_b", key_id=VECTOR_KEY_ID, shared_secret=VECTOR_SECRET, portfolio_id="portfolio_1")
    with emu:
        for child in ("child_a", "child_b"):
            ok = _signed(merchant_id=child, identity="portfolio_1")
            assert post(client, emu, VECTOR_BODY, ok).status == 201
        assert_401(
            post(client, emu, VECTOR_BODY, _signed(merchant_id="child_a", identity="portfolio_2")),
            "signature does not match",
        )


def test_several_merchants_at_once(emu: FlexEmulator, client: Client) -> None:
    second = emu.add_merchant("second_merchant")
    assert client.create_session(emu.base_url, emu.merchant()).status == 201
    assert client.create_session(emu.base_url, second).status == 201
    emu.remove_merchant("second_merchant")
    assert client.create_session(emu.base_url, second).status == 401


def test_another_merchants_key_id_cannot_be_reused(emu: FlexEmulator) -> None:
    with pytest.raises(ValueError, match="key id"):
        emu.add_merchant("copycat", key_id=emu.merchant().key_id)


# -- JWT -----------------------------------------------------------------------------------------


def test_official_sdk_hs256_vector_is_accepted(vector_emu: FlexEmulator, client: Client) -> None:
    vector_emu.clock.freeze(VECTOR_EPOCH + 30)
    headers = {"Authorization": f"Bearer {VECTOR_HS256_JWT}", "Content-Type": "application/json;charset=utf-8"}
    response = post(client, vector_emu, VECTOR_BODY, headers)
    assert response.status == 201, response.headers.get("x-emulator-reason")


def test_hs256_vector_after_its_exp_is_401(vector_emu: FlexEmulator, client: Client) -> None:
    vector_emu.clock.freeze(VECTOR_EPOCH + 120)
    headers = {"Authorization": f"Bearer {VECTOR_HS256_JWT}"}
    assert_401(post(client, vector_emu, VECTOR_BODY, headers), "expired")


def test_hs256_vector_with_a_changed_secret_is_401(client: Client) -> None:
    secret = bytearray(base64.b64decode(VECTOR_SECRET))
    secret[31] ^= 0x80
    emu = FlexEmulator(clock=EmulatorClock(frozen_at=VECTOR_EPOCH + 5), default_merchant=False)
    emu.add_merchant(VECTOR_MERCHANT, key_id=VECTOR_KEY_ID, shared_secret=base64.b64encode(bytes(secret)).decode())
    with emu:
        headers = {"Authorization": f"Bearer {VECTOR_HS256_JWT}"}
        assert_401(post(client, emu, VECTOR_BODY, headers), "does not verify")


@pytest.fixture
def p12_emu() -> Iterator[FlexEmulator]:
    with FlexEmulator(default_merchant=False) as emulator:
        emulator.add_merchant("jwt_merchant", p12=True)
        yield emulator


def _body() -> bytes:
    return json.dumps({"fields": CARD_FIELDS}).encode()


def test_rs256_jwt_from_the_generated_p12_is_accepted(p12_emu: FlexEmulator, client: Client) -> None:
    merchant = p12_emu.merchant("jwt_merchant")
    assert merchant.p12_path is not None and merchant.p12_password is not None
    body = _body()
    claims = jwt_claims("jwt_merchant", body, now=p12_emu.clock.now())
    response = post(client, p12_emu, body, rs256_bearer(merchant.p12_path, merchant.p12_password, claims))
    assert response.status == 201, response.headers.get("x-emulator-reason")


def test_p12_merchant_config_names_the_p12(p12_emu: FlexEmulator) -> None:
    config = p12_emu.merchant_config("jwt_merchant", "jwt")
    merchant = p12_emu.merchant("jwt_merchant")
    assert config["authentication_type"] == "jwt"
    assert config["jwt_key_type"] == "P12"
    assert f"{config['keys_directory']}/{config['key_file_name']}.p12" == merchant.p12_path
    assert config["key_alias"] == "jwt_merchant"
    assert config["key_password"] == merchant.p12_password
    assert config["run_environment"] == p12_emu.base_url


def test_p12_friendly_name_has_cybersource_form(p12_emu: FlexEmulator) -> None:
    """The official Node SDK picks the certificate whose friendly name contains ``cn=<alias>``."""
    merchant = p12_emu.merchant("jwt_merchant")
    assert merchant.p12_path is not None and merchant.p12_password is not None
    with open(merchant.p12_path, "rb") as handle:
        loaded = pkcs12.load_pkcs12(handle.read(), merchant.p12_password.encode())
    assert loaded.cert is not None and loaded.cert.friendly_name is not None
    expected = f"serialNumber={merchant.certificate_serial_number},CN=jwt_merchant"
    assert loaded.cert.friendly_name.decode() == expected
    # The official Python SDK picks it by subject CN instead: that stays the key alias.
    [common_name] = loaded.cert.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert common_name.value == "jwt_merchant"


@pytest.mark.parametrize("kind", ["HS256", "RS256"])
def test_lower_case_request_method_is_accepted(p12_emu: FlexEmulator, client: Client, kind: str) -> None:
    """The official Node SDK sends ``"request-method": "post"``; the Python SDK ``"POST"``."""
    merchant = p12_emu.merchant("jwt_merchant")
    body = _body()
    claims = jwt_claims("jwt_merchant", body, now=p12_emu.clock.now(), **{"request-method": "post"})
    if kind == "HS256":
        headers = hs256_bearer(merchant.key_id, merchant.shared_secret, claims)
    else:
        assert merchant.p12_path is not None and merchant.p12_password is not None
        headers = rs256_bearer(merchant.p12_path, merchant.p12_password, claims)
    response = post(client, p12_emu, body, headers)
    assert response.status == 201, response.headers.get("x-emulator-reason")


def _rs256_with_other_key(merchant_id: str, serial: str, claims: dict[str, Any]) -> dict[str, str]:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jws({"alg": "RS256", "kid": serial, "typ": "JWT"}, claims, other)
    return {"Authorization": f"Bearer {token}"}


def test_rs256_jwt_signed_by_another_key_is_401(p12_emu: FlexEmulator, client: Client) -> None:
    merchant = p12_emu.merchant("jwt_merchant")
    assert merchant.certificate_serial_number is not None
    body = _body()
    claims = jwt_claims("jwt_merchant", body, now=p12_emu.clock.now())
    headers = _rs256_with_other_key("jwt_merchant", merchant.certificate_serial_number, claims)
    assert_401(post(client, p12_emu, body, headers), "does not verify")


def test_rs256_jwt_with_unknown_certificate_kid_is_401(p12_emu: FlexEmulator, client: Client) -> None:
    merchant = p12_emu.merchant("jwt_merchant")
    assert merchant.p12_path is not None and merchant.p12_password is not None
    body = _body()
    claims = jwt_claims("jwt_merchant", body, now=p12_emu.clock.now())
    headers = rs256_bearer(merchant.p12_path, merchant.p12_password, claims, kid="12345")
    assert_401(post(client, p12_emu, body, headers), "unknown certificate")


JWT_CLAIM_REJECTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("wrong digest", {"digest": body_digest(b"another body")}, "digest"),
    ("expired", {"iat": -100, "exp": -1}, "expired"),
    ("stale iat", {"iat": -400, "exp": 600}, "iat"),
    ("iat in the future", {"iat": 400, "exp": 600}, "iat"),
    ("wrong path", {"request-resource-path": "/flex/v2/tokens"}, "request-resource-path"),
    ("wrong method", {"request-method": "GET"}, "request-method"),
    ("wrong method in lower case", {"request-method": "get"}, "request-method"),
    ("non-string method", {"request-method": 1}, "request-method"),
    ("wrong digest algorithm", {"digestAlgorithm": "SHA-1"}, "digestAlgorithm"),
    ("iss of someone else", {"iss": "other"}, "iss"),
    ("non-integer iat", {"iat": "now"}, "iat"),
]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [(changes, reason) for _, changes, reason in JWT_CLAIM_REJECTIONS],
    ids=[name for name, _, _ in JWT_CLAIM_REJECTIONS],
)
@pytest.mark.parametrize("kind", ["HS256", "RS256"])
def test_jwt_claim_rejections(
    p12_emu: FlexEmulator, client: Client, kind: str, changes: dict[str, Any], reason: str
) -> None:
    merchant = p12_emu.merchant("jwt_merchant")
    body = _body()
    now = int(p12_emu.clock.now())
    relative = {k: now + v for k, v in changes.items() if k in ("iat", "exp") and isinstance(v, int)}
    claims = jwt_claims("jwt_merchant", body, now=now, **{**changes, **relative})
    if kind == "HS256":
        headers = hs256_bearer(merchant.key_id, merchant.shared_secret, claims)
    else:
        assert merchant.p12_path is not None and merchant.p12_password is not None
        headers = rs256_bearer(merchant.p12_path, merchant.p12_password, claims)
    assert_401(post(client, p12_emu, body, headers), reason)


def test_jwt_shared_secret_with_wrong_key_is_401(emu: FlexEmulator, client: Client) -> None:
    merchant = emu.merchant()
    body = _body()
    claims = jwt_claims(merchant.merchant_id, body, now=emu.clock.now())
    wrong_secret = base64.b64encode(b"\x01" * 32).decode()
    assert_401(post(client, emu, body, hs256_bearer(merchant.key_id, wrong_secret, claims)), "does not verify")
    assert post(client, emu, body, hs256_bearer(merchant.key_id, merchant.shared_secret, claims)).status == 201


def test_jwt_alg_none_and_foreign_merchant_are_401(emu: FlexEmulator, client: Client) -> None:
    merchant = emu.merchant()
    other = emu.add_merchant("other_merchant")
    body = _body()
    claims = jwt_claims(merchant.merchant_id, body, now=emu.clock.now())
    header = b64url(json.dumps({"alg": "none", "kid": merchant.key_id}).encode())
    unsigned = f"{header}.{b64url(json.dumps(claims).encode())}."
    assert_401(post(client, emu, body, {"Authorization": f"Bearer {unsigned}"}), "alg")
    # Signed correctly, but by another merchant's key for this merchant's id.
    assert_401(post(client, emu, body, hs256_bearer(other.key_id, other.shared_secret, claims)), "unknown key id")
    assert_401(post(client, emu, body, {"Authorization": "Basic abc"}), "Bearer")


# -- request body ----------------------------------------------------------------------------------


def _session(emu: FlexEmulator, client: Client, payload: Any) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    merchant = emu.merchant()
    host = emu.base_url.split("://")[1]
    headers = signature_headers(merchant.merchant_id, merchant.key_id, merchant.shared_secret, body, host)
    return post(client, emu, body, headers)


def _assert_400(response: Any, reason: str, location: str | None = None) -> dict[str, Any]:
    assert response.status == 400
    error = json.loads(response.data)
    assert set(error) == {"correlationId", "details", "informationLink", "message", "reason"}
    assert error["reason"] == reason
    if location is not None:
        assert location in [detail["location"] for detail in error["details"]]
    return dict(error)


def test_unknown_field_path_is_400(emu: FlexEmulator, client: Client) -> None:
    fields = {"orderInformation": {"shipTo": {"email": {}, "firstName": {}}}}
    _assert_400(
        _session(emu, client, {"fields": fields}),
        "UNIFIEDPAYMENTS_VALIDATION_FIELDS",
        "fields.orderInformation.shipTo.email",
    )


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"paymentInformation": {"card": {"number": {"required": "yes"}}}}, "fields.paymentInformation.card.number"),
        ({"paymentInformation": {"card": {"number": {"required": None}}}}, "fields.paymentInformation.card.number"),
        ({"paymentInformation": {"card": {"number": {"optional": True}}}}, "fields.paymentInformation.card.number"),
        ({"paymentInformation": {"card": {"number": True}}}, "fields.paymentInformation.card.number"),
        ({"paymentInformation": {"card": "number"}}, "fields.paymentInformation.card"),
        ({"paymentInformation": {"wallet": {}}}, "fields.paymentInformation.wallet"),
        ({}, "fields"),
        ({"paymentInformation": {}}, "fields"),
    ],
)
def test_invalid_fields_are_400(emu: FlexEmulator, client: Client, fields: Any, location: str) -> None:
    _assert_400(_session(emu, client, {"fields": fields}), "UNIFIEDPAYMENTS_VALIDATION_FIELDS", location)


def test_unknown_top_level_member_is_400(emu: FlexEmulator, client: Client) -> None:
    _assert_400(
        _session(emu, client, {"fields": CARD_FIELDS, "targetOrigins": ["x"]}),
        "UNIFIEDPAYMENTS_VALIDATION_FIELDS",
        "targetOrigins",
    )


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b""])
def test_body_that_is_not_a_json_object_is_400(emu: FlexEmulator, client: Client, body: bytes) -> None:
    _assert_400(_session(emu, client, body), "UNIFIEDPAYMENTS_VALIDATION_PARAMS")


def test_unwrapped_fields_are_accepted(emu: FlexEmulator, client: Client) -> None:
    response = _session(emu, client, {"paymentInformation": {"card": {"number": {}}}})
    assert response.status == 201
    _, claims = jwt_parts(response.data.decode())
    assert claims["ctx"][0]["data"]["requiredFields"] == ["paymentInformation.card.number"]


def test_all_31_documented_paths_are_accepted(emu: FlexEmulator, client: Client) -> None:
    assert len(FIELD_PATHS) == 31
    fields: dict[str, Any] = {}
    for index, path in enumerate(FIELD_PATHS):
        node = fields
        *branches, leaf = path.split(".")
        for branch in branches:
            node = node.setdefault(branch, {})
        node[leaf] = {"required": index % 2 == 0} if index % 3 else {}
    response = _session(emu, client, {"fields": fields})
    assert response.status == 201
    _, claims = jwt_parts(response.data.decode())
    data = claims["ctx"][0]["data"]
    assert sorted(data["requiredFields"] + data["optionalFields"]) == sorted(FIELD_PATHS)
    expected_optional = [p for i, p in enumerate(FIELD_PATHS) if i % 3 and i % 2]
    assert data["optionalFields"] == expected_optional


def test_capture_context_shape(emu: FlexEmulator, client: Client) -> None:
    pinned = int(time.time())
    emu.clock.freeze(pinned)
    response = client.create_session(emu.base_url, emu.merchant())
    assert response.status == 201
    token = response.data.decode()
    header, claims = jwt_parts(token)
    assert header == {"kid": emu.signing_kid, "alg": "RS256"}
    assert re.fullmatch(r"[a-z0-9]{2}", header["kid"])
    assert list(claims) == ["flx", "ctx", "iss", "exp", "iat", "jti"]
    assert claims["iss"] == "Flex API"
    assert claims["iat"] == pinned
    assert claims["exp"] - claims["iat"] == 900
    assert re.fullmatch(r"[A-Za-z0-9]{16}", claims["jti"])
    flx = claims["flx"]
    assert flx["path"] == "/flex/v2/tokens"
    assert flx["origin"] == emu.base_url
    assert base64.b64decode(flx["data"], validate=True)
    jwk = flx["jwk"]
    assert set(jwk) == {"kty", "e", "use", "n", "kid"}
    assert (jwk["kty"], jwk["e"], jwk["use"]) == ("RSA", "AQAB", "enc")
    assert re.fullmatch(r"[A-Za-z0-9]{32}", jwk["kid"])
    assert claims["ctx"] == [
        {
            "data": {
                "requiredFields": [
                    "paymentInformation.card.number",
                    "paymentInformation.card.expirationMonth",
                    "paymentInformation.card.expirationYear",
                ],
                "optionalFields": ["paymentInformation.card.securityCode", "paymentInformation.card.type"],
            },
            "type": "api-0.1.0",
        }
    ]


def test_wrong_method_and_unknown_path(emu: FlexEmulator, client: Client) -> None:
    response = client.request("GET", emu.base_url + SESSIONS_PATH)
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    assert client.request("GET", emu.base_url + "/flex/v2/other").status == 404
