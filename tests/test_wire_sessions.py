"""What `generate_flex_api_capture_context` really sends and returns, captured on loopback.

The connection goes to a loopback server through `IntermediateHost`, while `Host` and the
signature keep `run_environment` (apitest.cybersource.com), so the compat vectors apply.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import hmac
import json
import threading
import time

import jwt as pyjwt
import pytest

from CyberSource import FlexAPIApi, GenerateFlexAPICaptureContextRequest
from CyberSource.rest import ApiException, ApiTimeoutError, ApiTransportError
from flex_ext import auth
from flex_ext.errors import FlexError, RequestTimeoutError
from test_models_and_bodies import VECTOR_USER_STRING, VECTOR_WIRE, vector_model
from wire import CaptureServer, Reply

MERCHANT = "test_merchant"
KEY_ID = "00000000-1111-2222-3333-444444444444"
SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
VECTOR_TIME = 1767225600.0  # Thu, 01 Jan 2026 00:00:00 GMT
POST_SIGNATURE = (
    'keyid="00000000-1111-2222-3333-444444444444", algorithm="HmacSHA256", '
    'headers="host date request-target digest v-c-merchant-id", '
    'signature="7KE9GBR9tJjDRmQUqa27/aRFrZtJ177BGZOcvL551dA="'
)
GET_SIGNATURE = (
    'keyid="00000000-1111-2222-3333-444444444444", algorithm="HmacSHA256", '
    'headers="host date request-target v-c-merchant-id", '
    'signature="yTbD8kunAbHcnDXL6W/R6QcdrYj6RkmNGbNFVViaIPQ="'
)
HS256_VECTOR = (
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAwMDAwMDAwLTExMTEtMjIyMi0zMzMzLTQ0NDQ0NDQ0NDQ0NCIsInR5cCI6IkpXVCJ9."
    "eyJkaWdlc3QiOiIxVVNZSkpWK01KVHpOTWZ5WElQaU90TnNsZjlWVW9MMUZuWXloaS82Zi9VPSIsImRpZ2VzdEFsZ29yaXRobSI6"
    "IlNIQS0yNTYiLCJleHAiOjE3NjcyMjU3MjAsImlhdCI6MTc2NzIyNTYwMCwiaXNzIjoidGVzdF9tZXJjaGFudCIsImp0aSI6IjEx"
    "MTExMTExLTIyMjItNDMzMy04NDQ0LTU1NTU1NTU1NTU1NSIsInJlcXVlc3QtaG9zdCI6ImFwaXRlc3QuY3liZXJzb3VyY2UuY29t"
    "IiwicmVxdWVzdC1tZXRob2QiOiJQT1NUIiwicmVxdWVzdC1yZXNvdXJjZS1wYXRoIjoiL2ZsZXgvdjIvc2Vzc2lvbnMiLCJ2LWMt"
    "and0LXZlcnNpb24iOiIyIiwidi1jLW1lcmNoYW50LWlkIjoidGVzdF9tZXJjaGFudCJ9."
    "ayPARpyYJgVi0SV3dukYbRw8aOhCXX-PaE6iGAaAR0k"
)


@pytest.fixture
def server():
    with CaptureServer() as srv:
        yield srv


def config(srv: CaptureServer, **extra) -> dict:
    cfg = {
        "authentication_type": "http_signature",
        "merchantid": MERCHANT,
        "run_environment": "apitest.cybersource.com",
        "IntermediateHost": srv.url,
        "merchant_keyid": KEY_ID,
        "merchant_secretkey": SECRET,
    }
    cfg.update(extra)
    return cfg


def pin_clock(api: FlexAPIApi, **signer_kwargs) -> None:
    """Replace the client's signer by the same one with a pinned clock (test vectors)."""
    client = api.api_client
    signer = auth.signer_for(client.mconfig, clock=lambda: VECTOR_TIME, **signer_kwargs)
    client._settings = dataclasses.replace(client._settings, signer=signer)


BODY_FORMS = {
    "sample JSON string": lambda: VECTOR_USER_STRING,
    "model object": vector_model,
    "camelCase dict": lambda: json.loads(VECTOR_WIRE),
    "underscore dict": lambda: json.loads(VECTOR_USER_STRING),
}


@pytest.mark.parametrize("form", sorted(BODY_FORMS))
def test_http_signature_post_matches_the_compat_vector(server: CaptureServer, form: str) -> None:
    api = FlexAPIApi(config(server))
    pin_clock(api)
    data, status, body = api.generate_flex_api_capture_context(BODY_FORMS[form]())
    assert (data, status, body) == (server.reply.body.decode(), 201, server.reply.body.decode())
    sent = server.last
    assert (sent.method, sent.target, sent.body) == ("POST", "/flex/v2/sessions", VECTOR_WIRE)
    assert sent.header("Host") == "apitest.cybersource.com"
    assert sent.header("Date") == "Thu, 01 Jan 2026 00:00:00 GMT"
    assert sent.header("Digest") == "SHA-256=1USYJJV+MJTzNMfyXIPiOtNslf9VUoL1FnYyhi/6f/U="
    assert sent.header("v-c-merchant-id") == MERCHANT
    assert sent.header("Signature") == POST_SIGNATURE
    assert sent.header("Accept") == "application/jwt"
    assert sent.header("Content-Type") == "application/json;charset=utf-8"
    assert sent.header("User-Agent") == "Swagger-Codegen/1.0.0/python"
    assert sent.header("Accept-Encoding") == "*"
    assert sent.header("v-c-client-id").startswith("cybs-rest-sdk-python-")
    assert sent.header("v-c-sdk-telemetry-merchant-id") == MERCHANT


def test_http_signature_get_matches_the_compat_vector(server: CaptureServer) -> None:
    api = FlexAPIApi(config(server))
    pin_clock(api)
    server.reply = Reply(status=200, body=b'{"kty": "RSA"}', headers={"Content-Type": "application/json"})
    api.api_client.call_api("/flex/v2/public-keys/{kid}", "GET", path_params={"kid": "abc123"},
                            header_params={"Accept": "application/json"}, response_type="object",
                            auth_settings=["merchantAuth"])
    sent = server.last
    assert sent.target == "/flex/v2/public-keys/abc123" and sent.body == b""
    assert sent.header("Digest") is None
    assert sent.header("Signature") == GET_SIGNATURE


def test_live_clock_signature_is_valid_for_an_independent_verifier(server: CaptureServer) -> None:
    FlexAPIApi(config(server)).generate_flex_api_capture_context(vector_model())
    sent = server.last
    date = sent.header("Date")
    sent_time = datetime.datetime.strptime(date, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=datetime.timezone.utc)
    assert abs(sent_time.timestamp() - time.time()) < 60
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(sent.body).digest()).decode()
    assert sent.header("Digest") == digest
    text = (f"host: apitest.cybersource.com\ndate: {date}\nrequest-target: post /flex/v2/sessions\n"
            f"digest: {digest}\nv-c-merchant-id: {MERCHANT}")
    expected = base64.b64encode(hmac.new(base64.b64decode(SECRET), text.encode(), hashlib.sha256).digest()).decode()
    assert sent.header("Signature").endswith(f'signature="{expected}"')


def test_meta_key_signs_the_portfolio_but_sends_the_merchant_id(server: CaptureServer) -> None:
    api = FlexAPIApi(config(server, use_metakey=True, portfolio_id="portfolio_1"))
    api.generate_flex_api_capture_context(VECTOR_USER_STRING)
    sent = server.last
    assert sent.header("v-c-merchant-id") == MERCHANT
    text = (f"host: apitest.cybersource.com\ndate: {sent.header('Date')}\nrequest-target: post /flex/v2/sessions\n"
            f"digest: {sent.header('Digest')}\nv-c-merchant-id: portfolio_1")
    expected = base64.b64encode(hmac.new(base64.b64decode(SECRET), text.encode(), hashlib.sha256).digest()).decode()
    assert f'signature="{expected}"' in sent.header("Signature")


def test_jwt_shared_secret_reproduces_the_hs256_vector(server: CaptureServer) -> None:
    api = FlexAPIApi(config(server, authentication_type="JWT", jwt_key_type="shared_secret"))
    pin_clock(api, new_jti=lambda: "11111111-2222-4333-8444-555555555555")
    for form in BODY_FORMS.values():
        api.generate_flex_api_capture_context(form())
        sent = server.last
        assert sent.body == VECTOR_WIRE
        assert sent.header("Authorization") == "Bearer " + HS256_VECTOR
        for absent in ("Signature", "Digest", "Date", "v-c-merchant-id"):
            assert sent.header(absent) is None
        assert sent.header("Host") == server.host  # urllib3's own, from the URL


def _make_p12(tmp_path, merchant: str, password: bytes, serial: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, merchant.upper()),
                      x509.NameAttribute(NameOID.SERIAL_NUMBER, serial)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    data = pkcs12.serialize_key_and_certificates(merchant.encode(), key, cert, None,
                                                 serialization.BestAvailableEncryption(password))
    (tmp_path / f"{merchant}.p12").write_bytes(data)
    return cert


def test_jwt_p12_sends_an_rs256_token_with_the_documented_claims(server: CaptureServer, tmp_path) -> None:
    cert = _make_p12(tmp_path, MERCHANT, b"p12-pass-word", "SERIAL-1234")
    api = FlexAPIApi(config(server, authentication_type="jwt", keys_directory=str(tmp_path),
                            key_password="p12-pass-word"))
    api.generate_flex_api_capture_context(vector_model())
    sent = server.last
    token = sent.header("Authorization").removeprefix("Bearer ")
    header = pyjwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": "SERIAL-1234", "typ": "JWT"}
    claims = pyjwt.decode(token, cert.public_key(), algorithms=["RS256"])
    assert claims["digest"] == base64.b64encode(hashlib.sha256(sent.body).digest()).decode()
    assert claims["exp"] - claims["iat"] == 120
    assert claims["request-host"] == "apitest.cybersource.com"
    assert (claims["request-method"], claims["request-resource-path"]) == ("POST", "/flex/v2/sessions")
    assert (claims["iss"], claims["v-c-merchant-id"], claims["v-c-jwt-version"]) == (MERCHANT, MERCHANT, "2")


def test_wrong_p12_password_is_a_typed_error_without_the_password(server: CaptureServer, tmp_path) -> None:
    _make_p12(tmp_path, MERCHANT, b"right-password", "S1")
    with pytest.raises(FlexError) as info:
        api = FlexAPIApi(config(server, authentication_type="jwt", keys_directory=str(tmp_path),
                                key_password="Wr0ng-Passw0rd-XYZ"))
        api.generate_flex_api_capture_context(vector_model())
    assert "Wr0ng-Passw0rd-XYZ" not in str(info.value) and "Wr0ng-Passw0rd-XYZ" not in repr(info.value)
    assert not server.requests


def test_oauth_and_mutual_auth_headers(server: CaptureServer) -> None:
    FlexAPIApi(config(server, authentication_type="oauth", access_token="tok-123",
                      ssl_client_cert="client.pem")).generate_flex_api_capture_context("{}")
    assert server.last.header("Authorization") == "Bearer tok-123"
    FlexAPIApi(config(server, authentication_type="mutual_auth", client_id="c",
                      client_secret="s")).generate_flex_api_capture_context("{}")
    for absent in ("Authorization", "Signature", "v-c-client-id"):
        assert server.last.header(absent) is None


def test_run_environment_with_scheme_is_the_url_and_not_the_host_header(server: CaptureServer) -> None:
    cfg = config(server)
    del cfg["IntermediateHost"]
    cfg["run_environment"] = server.url
    FlexAPIApi(cfg).generate_flex_api_capture_context("{}")
    assert server.last.header("Host") == server.host  # no scheme leaks into Host


# ---- return shapes, kwargs, errors ----


def test_with_http_info_shapes(server: CaptureServer) -> None:
    api = FlexAPIApi(config(server))
    data, status, headers = api.generate_flex_api_capture_context_with_http_info(vector_model())
    assert (data, status) == (server.reply.body.decode(), 201)
    assert headers["Content-Type"] == "application/jwt"
    data, status, body = api.generate_flex_api_capture_context_with_http_info(
        vector_model(), _return_http_data_only=True)
    assert body == server.reply.body.decode()
    assert api.api_client.last_response.status == 201


def test_callback_runs_in_a_started_thread(server: CaptureServer) -> None:
    api = FlexAPIApi(config(server))
    got: list = []
    thread = api.generate_flex_api_capture_context(vector_model(), callback=got.append)
    assert isinstance(thread, threading.Thread)
    thread.join(10)
    assert got == [server.reply.body.decode()]
    thread = api.generate_flex_api_capture_context_with_http_info(vector_model(), callback=got.append)
    thread.join(10)
    assert got[1][0:2] == (server.reply.body.decode(), 201) and got[1][2]["Content-Type"] == "application/jwt"


def test_kwargs_checks_keep_the_official_texts(server: CaptureServer) -> None:
    api = FlexAPIApi(config(server))
    for method in (api.generate_flex_api_capture_context, api.generate_flex_api_capture_context_with_http_info):
        with pytest.raises(TypeError) as info:
            method(vector_model(), bogus=1)
        assert str(info.value) == (
            "Got an unexpected keyword argument 'bogus' to method generate_flex_api_capture_context")
        with pytest.raises(ValueError) as info:
            method(None)
        assert str(info.value) == ("Missing the required parameter `generate_flex_api_capture_context_request` "
                                   "when calling `generate_flex_api_capture_context`")
    assert not server.requests


@pytest.mark.parametrize(("reply", "expected"), [
    (b'"quoted"', "quoted"), (b'{"a": 1}', "{'a': 1}"), (b"", ""), (b"a.b.c", "a.b.c"),
])
def test_str_responses_deserialise_like_the_official_sdk(server: CaptureServer, reply: bytes, expected: str) -> None:
    server.reply = Reply(status=201, body=reply)
    assert FlexAPIApi(config(server)).generate_flex_api_capture_context("{}")[0] == expected


def test_non_2xx_raises_api_exception_with_the_response(server: CaptureServer) -> None:
    error = b'{"reason": "INVALID_APIKEY", "message": "Merchant APIKEY is invalid"}'
    server.reply = Reply(status=400, body=error,
                         headers={"Content-Type": "application/json", "v-c-correlation-id": "corr-1"})
    with pytest.raises(ApiException) as info:
        FlexAPIApi(config(server)).generate_flex_api_capture_context(vector_model())
    exc = info.value
    assert (exc.status, exc.reason, exc.body) == (400, "Bad Request", error.decode())
    assert exc.headers["v-c-correlation-id"] == "corr-1"
    assert exc.args == ()
    assert str(exc) == ("(400)\nReason: Bad Request\n"
                        f"HTTP response headers: {exc.headers}\nHTTP response body: {error.decode()}\n")


@pytest.mark.parametrize("timeout", [1, 0.3, (0.3, 0.3)])
def test_request_timeout_forms_bound_the_call(server: CaptureServer, timeout) -> None:
    server.reply = Reply(delay=1.5)
    api = FlexAPIApi(config(server))
    started = time.monotonic()
    with pytest.raises(ApiTimeoutError) as info:
        api.generate_flex_api_capture_context(vector_model(), _request_timeout=timeout)
    assert time.monotonic() - started < 1.4
    assert info.value.status == 0
    assert isinstance(info.value, (RequestTimeoutError, TimeoutError, ApiException))


def test_config_timeout_key_is_honoured_in_milliseconds(server: CaptureServer) -> None:
    server.reply = Reply(delay=1.5)
    started = time.monotonic()
    with pytest.raises(ApiTimeoutError):
        FlexAPIApi(config(server, timeout=300)).generate_flex_api_capture_context(vector_model())
    assert time.monotonic() - started < 1.4


def test_connection_refused_is_a_typed_api_exception() -> None:
    with CaptureServer() as srv:
        cfg = config(srv)
    with pytest.raises(ApiTransportError) as info:
        FlexAPIApi(cfg).generate_flex_api_capture_context(vector_model())
    assert info.value.status == 0


def test_default_headers_are_sent_but_cannot_break_the_signature(server: CaptureServer) -> None:
    api = FlexAPIApi(config(server, default_headers={"X-Partner": "p1", "accept": "application/jwt",
                                                     "Date": "Mon, 01 Jan 2001 00:00:00 GMT"}))
    pin_clock(api)
    api.generate_flex_api_capture_context(vector_model())
    sent = server.last
    assert sent.header("X-Partner") == "p1"
    assert sent.header("Date") == "Thu, 01 Jan 2026 00:00:00 GMT"
    assert sent.header("Signature") == POST_SIGNATURE


def test_proxy_settings_route_through_the_proxy(server: CaptureServer) -> None:
    cfg = config(server, use_proxy=True, proxy_address="http://127.0.0.1", proxy_port=str(server.port),
                 proxy_username="user", proxy_password="pass")
    del cfg["IntermediateHost"]
    cfg["run_environment"] = "http://flex.example.test"
    FlexAPIApi(cfg).generate_flex_api_capture_context(vector_model())
    sent = server.last
    assert sent.target == "http://flex.example.test/flex/v2/sessions"
    assert sent.header("Proxy-Authorization") == "Basic " + base64.b64encode(b"user:pass").decode()


def test_preload_content_false_returns_the_response(server: CaptureServer) -> None:
    data, status, _ = FlexAPIApi(config(server)).generate_flex_api_capture_context_with_http_info(
        vector_model(), _preload_content=False)
    assert status == 201 and data.status == 201 and data.data == server.reply.body.decode()


def test_request_model_field_named_fields_is_sent(server: CaptureServer) -> None:
    FlexAPIApi(config(server)).generate_flex_api_capture_context(GenerateFlexAPICaptureContextRequest())
    assert server.last.body == b"{}"


def _tls_server(tmp_path):
    """A CaptureServer wrapped in TLS with a throwaway self-signed certificate."""
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    srv = CaptureServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    srv.server.socket = context.wrap_socket(srv.server.socket, server_side=True)
    srv.url = f"https://{srv.host}"
    return srv


def test_tls_is_verified_unless_ssl_verify_is_false(tmp_path) -> None:
    with _tls_server(tmp_path) as srv:
        with pytest.raises(ApiTransportError) as info:
            FlexAPIApi(config(srv)).generate_flex_api_capture_context(vector_model())
        assert "TLS" in str(info.value)
        assert not srv.requests
        _, status, _ = FlexAPIApi(config(srv, ssl_verify=False)).generate_flex_api_capture_context(vector_model())
        assert status == 201 and srv.last.body == VECTOR_WIRE


def test_nothing_secret_reaches_debug_logs_or_errors(server: CaptureServer, caplog, tmp_path) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    cfg = config(server, proxy_password="Pr0xy-Secret-77", access_token="Access-Secret-88")
    api = FlexAPIApi(cfg)
    api.generate_flex_api_capture_context('{"card_number": "4111 1111 1111 1111"}')
    server.reply = Reply(status=401, body=b'{"response": {"rmsg": "Authentication Failed"}}')
    with pytest.raises(ApiException) as info:
        api.generate_flex_api_capture_context(vector_model())
    signature = server.last.header("Signature").split('signature="')[1].rstrip('"')
    texts = [record.getMessage() for record in caplog.records] + [str(info.value), repr(info.value),
                                                                    repr(api.api_client.mconfig)]
    for secret in (SECRET, "Pr0xy-Secret-77", "Access-Secret-88", "4111 1111 1111 1111", signature):
        assert not any(secret in text for text in texts), secret
