"""No card data or credential ever reaches a log record, an exception or a repr.

Every public operation (capture context, verification, tokenization, the generated
``FlexAPIApi``, the compat utilities, Hosted Fields, the CLI) runs with logging at DEBUG,
once through stdlib logging (a handler on the root logger) and once through the official
``log_config`` (a log file), on success paths and on failure paths. Everything observable
is collected: each log record (message, args, exception and stack text), each file the
library wrote, stdout and stderr, every exception raised (``str``, ``repr``, ``args``,
attributes, the ``__cause__``/``__context__`` chain and the formatted traceback) and
``repr``/``str`` of every object returned. None of it may hold:

* the card number (digits only, with spaces, with dashes), also a Luhn-invalid one;
* the security code, the expiry month/year combination;
* the shared secret (base64, the decoded bytes' repr and hex), the P12 key password (right
  and wrong), the Payroc API key (right and wrong);
* any bearer token or signature the library put on the wire (Flex JWT auth, the HTTP
  Signature value, Payroc access tokens), recorded while signing;
* the JWE plaintext (recorded while it is built).

Masked forms (``492938XXXXXX0039``, ``************0039``) are allowed.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest

import flex_ext.auth as auth_module
import flex_ext.hosted_fields as hosted_module
import flex_ext.jwe as jwe_module
from flex_ext.cli import main as cli_main
from flex_ext.client import Card, FlexClient
from flex_ext.emulator import FlexEmulator, PayrocEmulator
from flex_ext.errors import (
    AuthenticationError,
    CardValidationError,
    FieldValidationError,
    FlexError,
    HTTPError,
    JWTValidationError,
    KeyPasswordError,
    RequestTimeoutError,
    TokenExpiredError,
    TransportError,
)
from flex_ext.log_config import configure_logging

ROOT = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------------------ the secrets

PAN = "4929381572640039"  # Luhn-valid, not a published test number
PAN_SPACES = "4929 3815 7264 0039"
PAN_DASHES = "4929-3815-7264-0039"
BAD_PAN = "5273184609152733"  # fails the Luhn check
BAD_PAN_SPACES = "5273 1846 0915 2733"
SECURITY_CODE = "7319"
EXP_MONTH, EXP_YEAR = "07", "2037"
SHARED_SECRET_BYTES = bytes(range(0x51, 0x71))  # 32 bytes
SHARED_SECRET = base64.b64encode(SHARED_SECRET_BYTES).decode("ascii")
WRONG_SECRET_BYTES = bytes(range(0x91, 0xB1))
WRONG_SECRET = base64.b64encode(WRONG_SECRET_BYTES).decode("ascii")
KEY_PASSWORD = "Zebra-KeyPw-4471-q"
WRONG_KEY_PASSWORD = "Okapi-WrongPw-8820-z"
API_KEY = "payroc-ApiKey-Quokka-99317c"
WRONG_API_KEY = "payroc-ApiKey-Wombat-55102d"
MERCHANT = "sec_merchant"

_STATIC = {
    "card number": [PAN, PAN_SPACES, PAN_DASHES, BAD_PAN, BAD_PAN_SPACES, BAD_PAN.replace("", "-")[1:-1]],
    "expiry": [f"{EXP_MONTH}/{EXP_YEAR}", f"{EXP_MONTH}/{EXP_YEAR[2:]}", f"{EXP_YEAR}-{EXP_MONTH}",
               f"{EXP_YEAR}/{EXP_MONTH}", f"{EXP_MONTH}-{EXP_YEAR}"],
    "shared secret": [SHARED_SECRET, repr(SHARED_SECRET_BYTES), SHARED_SECRET_BYTES.hex(), WRONG_SECRET,
                      repr(WRONG_SECRET_BYTES), WRONG_SECRET_BYTES.hex(),
                      base64.urlsafe_b64encode(SHARED_SECRET_BYTES).decode().rstrip("=")],
    "key password": [KEY_PASSWORD, WRONG_KEY_PASSWORD],
    "API key": [API_KEY, WRONG_API_KEY],
}
_PATTERNS = {
    # Alone, not inside a longer word, number or UUID group.
    "security code": re.compile(r"(?<![0-9A-Za-z-])" + SECURITY_CODE + r"(?![0-9A-Za-z-])"),
    "expiry": re.compile(
        r"(?i)expiration_?month\W{0,6}" + EXP_MONTH + r"\b|expiration_?year\W{0,6}" + EXP_YEAR + r"\b"
    ),
}


class Secrets:
    """The fixed secrets plus those recorded while the library signs and encrypts."""

    def __init__(self) -> None:
        self.dynamic: dict[str, set[str]] = {
            "bearer token": set(), "signature": set(), "JWE plaintext": set(), "API key": set()
        }

    def add(self, kind: str, value: str) -> None:
        if value:
            self.dynamic[kind].add(value)

    def found_in(self, text: str) -> list[str]:
        found = [kind for kind, needles in _STATIC.items() if any(n in text for n in needles)]
        found += [kind for kind, pattern in _PATTERNS.items() if pattern.search(text)]
        found += [kind for kind, needles in self.dynamic.items() if any(n in text for n in needles)]
        return found


# ------------------------------------------------------------------------------ the observer


class _Sink(logging.Handler):
    def __init__(self, watch: Watch) -> None:
        super().__init__(logging.DEBUG)
        self.watch = watch

    def emit(self, record: logging.LogRecord) -> None:
        self.watch.records.append(record.name)
        parts = [str(record.msg), repr(record.args)]
        try:
            parts.append(record.getMessage())
        except Exception:
            parts.append("<unformattable>")
        if record.exc_info:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
        parts += [record.exc_text or "", record.stack_info or ""]
        self.watch.texts.append((f"log record {record.name}", "\n".join(parts)))


class Watch:
    """Collects everything observable and scans it for the secrets."""

    def __init__(self, log_dir: Path, mode: str = "stdlib") -> None:
        self.mode = mode
        self.secrets = Secrets()
        self.texts: list[tuple[str, str]] = []
        self.records: list[str] = []
        self.exceptions = 0
        self.log_dir = log_dir
        self.api_key_paths: list[str] = []  # request paths the Payroc API key was signed onto

    def see(self, where: str, *objects: Any) -> None:
        for obj in objects:
            self.texts.append((f"repr/str of {where}", repr(obj) + "\n" + str(obj)))

    def see_exception(self, where: str, exc: BaseException) -> None:
        self.exceptions += 1
        seen: set[int] = set()
        pending: list[Optional[BaseException]] = [exc]
        while pending:
            current = pending.pop()
            if current is None or id(current) in seen:
                continue
            seen.add(id(current))
            text = [str(current), repr(current), repr(current.args), repr(getattr(current, "__dict__", {}))]
            text.append("".join(traceback.format_exception(type(current), current, current.__traceback__)))
            self.texts.append((f"exception from {where} ({type(current).__name__})", "\n".join(text)))
            pending += [current.__cause__, current.__context__]

    def raises(
        self, kind: type[BaseException], where: str, call: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> BaseException:
        with pytest.raises(kind) as info:
            call(*args, **kwargs)
        self.see_exception(where, info.value)
        return info.value

    def check(self, capsys: pytest.CaptureFixture[str], *, expect_library_records: bool = True) -> None:
        for handler in _library_file_handlers():
            handler.flush()
        for path in sorted(self.log_dir.rglob("*")):
            if path.is_file():
                self.texts.append((f"log file {path.name}", path.read_text(encoding="utf-8", errors="replace")))
        out, err = capsys.readouterr()
        self.texts += [("stdout", out), ("stderr", err)]
        leaks = [(where, kinds) for where, text in self.texts if (kinds := self.secrets.found_in(text))]
        assert not leaks, f"secrets leaked: {leaks}"
        if expect_library_records:
            assert any(n.startswith(("flex_ext", "CyberSource", "payroc")) for n in self.records), (
                "no DEBUG record from the library was captured: the check would prove nothing"
            )
            if self.mode == "log_config":
                assert any(where.startswith("log file") and "DEBUG" in text for where, text in self.texts), (
                    "log_config wrote no DEBUG line: the check would prove nothing"
                )


def _library_file_handlers() -> list[logging.Handler]:
    found: list[logging.Handler] = []
    for name in ("CyberSource", "flex_ext"):
        found += [h for h in logging.getLogger(name).handlers if isinstance(h, logging.FileHandler)]
    return found


@pytest.fixture(params=["stdlib", "log_config"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def watch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> Iterator[Watch]:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    observer = Watch(log_dir, mode)
    secrets = observer.secrets

    # Record every credential and plaintext the library produces, so they can be searched for.
    original_http_sign = auth_module.HttpSignatureSigner.sign
    original_jwt_sign = auth_module._JwtSigner.sign
    original_payroc_sign = hosted_module.PayrocSigner.sign
    original_seal = jwe_module.encrypt_compact

    def http_sign(self: Any, method: str, path: str, body: Optional[bytes]) -> dict[str, str]:
        headers = original_http_sign(self, method, path, body)
        secrets.add("signature", re.search(r'signature="([^"]+)"', headers["Signature"]).group(1))  # type: ignore[union-attr]
        return headers

    def jwt_sign(self: Any, method: str, path: str, body: Optional[bytes]) -> dict[str, str]:
        headers = original_jwt_sign(self, method, path, body)
        token = headers["Authorization"].split(" ", 1)[1]
        secrets.add("bearer token", token)
        secrets.add("signature", token.rsplit(".", 1)[1])
        return headers

    def payroc_sign(self: Any, method: str, path: str, body: Optional[bytes]) -> dict[str, str]:
        headers = original_payroc_sign(self, method, path, body)
        if "Authorization" in headers:
            secrets.add("bearer token", headers["Authorization"].split(" ", 1)[1])
        if "x-api-key" in headers:
            secrets.add("API key", headers["x-api-key"])
            observer.api_key_paths.append(path.split("?", 1)[0])
        return headers

    def seal(plaintext: bytes, *args: Any) -> str:
        # Every JWE is sealed here.
        secrets.add("JWE plaintext", plaintext.decode("utf-8"))
        data_tree = json.loads(plaintext)["data"]
        secrets.add("JWE plaintext", json.dumps(data_tree, separators=(",", ":")))
        secrets.add("JWE plaintext", json.dumps(data_tree))
        return original_seal(plaintext, *args)

    monkeypatch.setattr(auth_module.HttpSignatureSigner, "sign", http_sign)
    monkeypatch.setattr(auth_module._JwtSigner, "sign", jwt_sign)
    monkeypatch.setattr(hosted_module.PayrocSigner, "sign", payroc_sign)
    monkeypatch.setattr(jwe_module, "encrypt_compact", seal)

    root = logging.getLogger()
    sink = _Sink(observer)
    old_level = root.level
    root.addHandler(sink)
    root.setLevel(logging.DEBUG)
    configure_logging(None)
    if mode == "log_config":
        configure_logging(official_log_config(log_dir))
    try:
        yield observer
    finally:
        root.removeHandler(sink)
        root.setLevel(old_level)
        configure_logging(None)


def official_log_config(log_dir: Path) -> dict[str, Any]:
    """The official ``log_config`` keys, at DEBUG, masking on, into ``log_dir``."""
    return {
        "enable_log": True,
        "log_level": "DEBUG",
        "log_directory": str(log_dir),
        "log_file_name": "cybs-security",
        "enable_masking": True,
        "log_maximum_size": 10 * 1024 * 1024,
    }


# ------------------------------------------------------------------------------ emulators


@pytest.fixture(scope="module")
def emu() -> Iterator[FlexEmulator]:
    with FlexEmulator() as emulator:
        emulator.add_merchant(MERCHANT, shared_secret=SHARED_SECRET, p12=True, p12_password=KEY_PASSWORD)
        yield emulator


@pytest.fixture(autouse=True)
def _clean_emulator(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "emu" in request.fixturenames:
        emulator: FlexEmulator = request.getfixturevalue("emu")
        emulator.clear_faults()
        emulator.clock.unfreeze()


def merchant_config(
    emu: FlexEmulator, mode: str, watch: Watch, auth: str = "http_signature", **extra: Any
) -> dict[str, Any]:
    config = emu.merchant_config(MERCHANT, auth)
    if mode == "log_config":
        config["log_config"] = official_log_config(watch.log_dir)
    config.update(extra)
    return config


def card(**overrides: Any) -> Card:
    values: dict[str, Any] = {"number": PAN_SPACES, "expiration_month": EXP_MONTH, "expiration_year": EXP_YEAR,
                              "security_code": SECURITY_CODE}
    values.update(overrides)
    return Card(**values)


def expired_context(emu: FlexEmulator) -> str:
    emu.clock.freeze(time.time() - 7200)
    try:
        return emu.issue_capture_context()
    finally:
        emu.clock.unfreeze()


# ------------------------------------------------------------------------------ the observer works


def test_the_observer_finds_each_kind_of_secret(tmp_path: Path) -> None:
    secrets = Secrets()
    secrets.add("bearer token", "eyJhbGciOi.abc.def")
    samples = {
        "card number": [f"card {PAN}", PAN_DASHES, f"x {PAN_SPACES} y", BAD_PAN_SPACES],
        "security code": [f'"securityCode": "{SECURITY_CODE}"', f"cvv={SECURITY_CODE}"],
        "expiry": [f"{EXP_MONTH}/{EXP_YEAR[2:]}", f"expirationMonth='{EXP_MONTH}'", f'"expirationYear":"{EXP_YEAR}"'],
        "shared secret": [SHARED_SECRET, repr(SHARED_SECRET_BYTES)],
        "key password": [KEY_PASSWORD],
        "API key": [API_KEY],
        "bearer token": ["Bearer eyJhbGciOi.abc.def"],
    }
    for kind, texts in samples.items():
        for text in texts:
            assert kind in secrets.found_in(text), (kind, text)
    harmless = [
        "492938XXXXXX0039", "************0039", "XXXXXXXXXXXX0039", "port 57319", "a7319b",
        "c56e7319-1a2b-4c3d-8e9f-0123456789ab", "expires 2037-08-01", "2037", "07",
    ]
    for text in harmless:
        assert secrets.found_in(text) == [], text


def test_a_planted_leak_fails_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    observer = Watch(tmp_path)
    root = logging.getLogger()
    sink = _Sink(observer)
    old_level = root.level
    root.addHandler(sink)
    root.setLevel(logging.DEBUG)
    try:
        logging.getLogger("tests.planted").debug("card %s", PAN_DASHES)
    finally:
        root.removeHandler(sink)
        root.setLevel(old_level)
    with pytest.raises(AssertionError, match="card number"):
        observer.check(capsys, expect_library_records=False)


# ------------------------------------------------------------------------------ FlexClient


@pytest.mark.parametrize("auth", ["http_signature", "jwt"])
def test_flex_client_success_path(
    emu: FlexEmulator, watch: Watch, mode: str, auth: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = FlexClient(merchant_config(emu, mode, watch, auth))
    ctx = client.create_capture_context()
    again = client.verify_capture_context(ctx.jwt)
    cards = [card(), card(number=PAN_DASHES), card(number=PAN)]
    token = client.tokenize(ctx, cards[0])
    from_mapping = client.tokenize(ctx.jwt, {"number": PAN_DASHES, "expirationMonth": EXP_MONTH,
                                             "expirationYear": EXP_YEAR, "securityCode": SECURITY_CODE})
    verified = client.verify_transient_token(token.jwt, ctx)
    assert token.masked_card_number is not None and token.masked_card_number.endswith("0039")
    api = client._flex_api()
    watch.see("FlexClient", client, client.config, client.config.transport, client._resolver,
              client._resolver.store, api.api_client, api.api_client.mconfig, api.api_client._settings,
              api.api_client._settings.signer)
    watch.see("capture context", ctx, again, ctx.header, ctx.claims, ctx.jwk)
    watch.see("card", *cards, *[c.to_fields()["paymentInformation"]["card"]["number"][-4:] for c in cards])
    watch.see("transient token", token, from_mapping, verified, token.masked_card_number)
    assert watch.secrets.dynamic["JWE plaintext"], "the JWE plaintext was not recorded"
    assert watch.secrets.dynamic["bearer token" if auth == "jwt" else "signature"]
    watch.check(capsys)


@pytest.mark.parametrize("auth", ["http_signature", "jwt"])
def test_flex_client_failure_paths(
    emu: FlexEmulator, watch: Watch, mode: str, auth: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = merchant_config(emu, mode, watch, auth)
    client = FlexClient(config)
    ctx = client.create_capture_context()

    # wrong credentials: a 401 from the server, or a P12 that does not open
    if auth == "http_signature":
        wrong = FlexClient(dict(config, merchant_secretkey=WRONG_SECRET))
        watch.raises(HTTPError, "wrong shared secret", wrong.create_capture_context)
        watch.raises(AuthenticationError, "secret that is not base64",
                     FlexClient(dict(config, merchant_secretkey=SHARED_SECRET[:-3] + "!!=")).create_capture_context)
    else:
        wrong = FlexClient(dict(config, key_password=WRONG_KEY_PASSWORD))
        watch.raises(KeyPasswordError, "wrong key password", wrong.create_capture_context)
        shared = FlexClient(dict(config, jwt_key_type="SHARED_SECRET", merchant_keyid="nope",
                                 merchant_secretkey=WRONG_SECRET))
        watch.raises(HTTPError, "JWT shared secret unknown to the server", shared.create_capture_context)

    # card data the server or the client refuses
    watch.raises(CardValidationError, "Luhn failure", card, number=BAD_PAN_SPACES)
    watch.raises(CardValidationError, "Luhn failure (mapping)", client.tokenize, ctx,
                 {"number": BAD_PAN_SPACES, "expiration_month": EXP_MONTH, "expiration_year": EXP_YEAR})
    watch.raises(FieldValidationError, "missing expiry", client.tokenize, ctx,
                 Card(PAN_DASHES, security_code=SECURITY_CODE))
    watch.raises(FieldValidationError, "undeclared field", client.tokenize, ctx, card(),
                 bill_to={"email": "a@b.example"})
    watch.raises(FieldValidationError, "not digits", Card, PAN_SPACES[:-1] + "X", EXP_MONTH, EXP_YEAR,
                 security_code=SECURITY_CODE)
    watch.raises(FieldValidationError, "bad security code", Card, PAN, EXP_MONTH, EXP_YEAR,
                 security_code=SECURITY_CODE + "99")
    watch.raises(FieldValidationError, "bad month", Card, PAN, EXP_YEAR, EXP_MONTH)
    watch.raises(FieldValidationError, "number typed as a key", client.tokenize, ctx,
                 {PAN: EXP_MONTH, "number": PAN, "expirationYear": EXP_YEAR})
    watch.raises(FieldValidationError, "number typed as an address key", client.tokenize, ctx, card(),
                 bill_to={PAN_DASHES: SECURITY_CODE})
    watch.raises(FieldValidationError, "number typed as an amount key", client.tokenize, ctx, card(),
                 amount={PAN: "1.00"})
    watch.raises(TypeError, "card of the wrong type", client.tokenize, ctx, [PAN, EXP_MONTH, EXP_YEAR])

    # an expired capture context, given as a string and as a parsed object
    expired = expired_context(emu)
    watch.raises(TokenExpiredError, "expired context (verify)", client.verify_capture_context, expired)
    watch.raises(TokenExpiredError, "expired context (tokenize)", client.tokenize, expired, card())
    old = client.verify_capture_context(expired, allow_expired=True)
    watch.see("expired capture context", old)
    watch.raises(TokenExpiredError, "expired context object", client.tokenize, old, card())

    # transport faults on each call
    emu.inject_fault("tokens", reset=True, times=1)
    watch.raises(TransportError, "reset on tokens", client.tokenize, ctx, card())
    emu.inject_fault("tokens", status=502, times=1)
    watch.raises(HTTPError, "502 on tokens", client.tokenize, ctx, card())
    emu.inject_fault("tokens", malformed_body=True, times=1)
    watch.raises(FlexError, "truncated token", client.tokenize, ctx, card())
    emu.inject_fault("tokens", wrong_digest=True, times=1)
    watch.raises(HTTPError, "wrong Digest", client.tokenize, ctx, card())
    emu.inject_fault("tokens", latency=0.5, times=1)
    watch.raises(RequestTimeoutError, "timeout on tokens", FlexClient(config, timeout=0.15).tokenize, ctx, card())
    emu.inject_fault("sessions", status=503, times=1)
    watch.raises(HTTPError, "503 on sessions", client.create_capture_context)
    emu.inject_fault("sessions", reset=True, times=1)
    watch.raises(TransportError, "reset on sessions", client.create_capture_context)
    emu.inject_fault("sessions", malformed_body=True, times=1)
    watch.raises(JWTValidationError, "truncated capture context", client.create_capture_context)
    tampered = ctx.jwt[:-6] + ("AAAAAA" if not ctx.jwt.endswith("AAAAAA") else "BBBBBB")
    watch.raises(JWTValidationError, "tampered capture context", client.verify_capture_context, tampered)
    assert watch.exceptions >= 20
    watch.check(capsys)


# ------------------------------------------------------------------------------ generated API


def test_generated_flex_api_official_style(
    emu: FlexEmulator, watch: Watch, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import CyberSource
    from CyberSource.rest import ApiException, ApiTimeoutError, ApiTransportError

    config = merchant_config(emu, mode, watch)
    leaf = CyberSource.Flexv2sessionsFieldsOrderInformationAmountDetailsTotalAmount
    request = CyberSource.GenerateFlexAPICaptureContextRequest(fields=CyberSource.Flexv2sessionsFields(
        payment_information=CyberSource.Flexv2sessionsFieldsPaymentInformation(
            card=CyberSource.Flexv2sessionsFieldsPaymentInformationCard(
                number=leaf(required=True), security_code=leaf(required=False),
                expiration_month=leaf(required=True), expiration_year=leaf(required=True)))))
    api = CyberSource.FlexAPIApi(config)
    _jwt, status, _body = api.generate_flex_api_capture_context(request)
    _data, status2, headers = api.generate_flex_api_capture_context_with_http_info(request)
    assert status == status2 == 201
    watch.see("generated API", api, api.api_client, api.api_client.mconfig, api.api_client.configuration,
              api.api_client.configuration.to_debug_report(), api.api_client.rest_client.transport_settings,
              api.api_client.last_response, headers, request, CyberSource.Configuration())

    wrong = CyberSource.FlexAPIApi(dict(config, merchant_secretkey=WRONG_SECRET))
    watch.raises(ApiException, "wrong secret (generated)", wrong.generate_flex_api_capture_context, request)
    emu.inject_fault("sessions", status=500, times=1)
    watch.raises(ApiException, "500 (generated)", api.generate_flex_api_capture_context, request)
    emu.inject_fault("sessions", reset=True, times=1)
    watch.raises(ApiTransportError, "reset (generated)", api.generate_flex_api_capture_context, request)
    emu.inject_fault("sessions", latency=0.5, times=1)
    watch.raises(ApiTimeoutError, "timeout (generated)", api.generate_flex_api_capture_context, request,
                 _request_timeout=0.15)
    emu.inject_fault("sessions", latency=0.5, times=1)
    watch.raises(ApiTimeoutError, "timeout key in the config",
                 CyberSource.FlexAPIApi(dict(config, timeout=150)).generate_flex_api_capture_context, request)
    watch.raises(Exception, "bad timeout key", CyberSource.FlexAPIApi, dict(config, timeout="soon"))
    watch.raises(Exception, "mandatory key missing", CyberSource.FlexAPIApi,
                 {k: v for k, v in config.items() if k != "merchant_keyid"})
    if mode == "log_config":
        assert any(p.is_file() for p in watch.log_dir.rglob("*.log")), "log_config wrote no file"
    watch.check(capsys)


def test_generated_flex_api_with_p12_and_wrong_password(
    emu: FlexEmulator, watch: Watch, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import CyberSource

    config = merchant_config(emu, mode, watch, "jwt")
    api = CyberSource.FlexAPIApi(config)
    body = {"fields": {"paymentInformation": {"card": {"number": {}}}}}
    _jwt, status, _ = api.generate_flex_api_capture_context(body)
    assert status == 201
    watch.see("generated API (P12)", api.api_client.mconfig, api.api_client._settings)
    watch.raises(KeyPasswordError, "wrong P12 password (generated)", CyberSource.FlexAPIApi,
                 dict(config, key_password=WRONG_KEY_PASSWORD))
    watch.raises(FlexError, "missing P12 file", CyberSource.FlexAPIApi,
                 dict(config, key_file_name="absent"))
    watch.check(capsys)


# ------------------------------------------------------------------------------ compat utilities


def test_compat_utilities(emu: FlexEmulator, watch: Watch, mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    import CyberSource
    from authenticationsdk.util.jwt import JWTUtility
    from authenticationsdk.util.jwt.JWTExceptions import InvalidJwtException, JwtSignatureValidationException
    from CyberSource.utilities.flex.CaptureContextParsingUtility import parse_capture_context_response
    from CyberSource.utilities.flex.PublicKeyApiController import fetch_public_key

    api = CyberSource.FlexAPIApi(merchant_config(emu, mode, watch))
    jwt, _, _ = api.generate_flex_api_capture_context({"fields": {"paymentInformation": {"card": {"number": {}}}}})
    payload = parse_capture_context_response(jwt, api.api_client.mconfig)
    jwk = fetch_public_key(emu.signing_kid, emu.run_environment)
    parsed = JWTUtility.parse(jwt)
    watch.see("compat results", payload, jwk, parsed, JWTUtility.verify_jwt(jwt, jwk))

    expired = expired_context(emu)
    watch.raises(JwtSignatureValidationException, "expired (compat)", parse_capture_context_response,
                 expired, api.api_client.mconfig)
    watch.raises(JwtSignatureValidationException, "tampered (compat)", JWTUtility.verify_jwt, jwt[:-4] + "AAAA", jwk)
    watch.raises(InvalidJwtException, "garbage (compat)", JWTUtility.parse, PAN_SPACES)
    emu.inject_fault("public-keys", status=503)
    watch.raises(Exception, "public key 503 (compat)", fetch_public_key, emu.signing_kid + "x", emu.run_environment)
    emu.clear_faults()
    watch.raises(ValueError, "unsafe kid", fetch_public_key, "../flex/v2/sessions", emu.run_environment)
    watch.check(capsys)


# ------------------------------------------------------------------------------ Hosted Fields


def test_hosted_fields(
    watch: Watch, mode: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import payroc_hosted_fields

    from flex_ext.hosted_fields import (
        HostedFieldsAuthenticationError,
        HostedFieldsClient,
        HostedFieldsHTTPError,
        HostedFieldsValidationError,
        PayrocConfig,
    )

    with PayrocEmulator(api_key=API_KEY) as payroc:
        def config(key: str = API_KEY, **extra: Any) -> PayrocConfig:
            return PayrocConfig(api_key=key, identity_url=payroc.identity_url, api_url=payroc.api_url,
                                backoff_initial=0.0, **extra)

        good = config()
        client = HostedFieldsClient(good, sleep=lambda _: None)
        session = client.create_hosted_fields_session("1234001", "payment", "1.7.0.261457", "secure-token-1")
        identity = payroc_hosted_fields.IdentityApi(config())
        token_model, _status, _ = identity.authorize(_host=payroc.identity_url)
        watch.secrets.add("bearer token", token_model.access_token)
        watch.see("hosted fields", good, client, client.token_provider, session, token_model, identity.api_client,
                  good.client_settings(), good.client_settings().signer)

        watch.raises(HostedFieldsAuthenticationError, "wrong API key",
                     HostedFieldsClient(config(WRONG_API_KEY)).create_hosted_fields_session,
                     "1234001", "payment", "1.7.0.261457")
        payroc.fail_next(3, status=503)
        watch.raises(HostedFieldsHTTPError, "503 three times", client.create_hosted_fields_session,
                     "1234001", "payment", "1.7.0.261457")
        payroc.reset_next(3)
        watch.raises(TransportError, "reset three times", client.create_hosted_fields_session,
                     "1234001", "payment", "1.7.0.261457")
        payroc.revoke_tokens()
        watch.raises(HostedFieldsAuthenticationError, "revoked bearer token", client.create_hosted_fields_session,
                     "1234001", "payment", "1.7.0.261457")
        payroc.fail_next(3, status=500, endpoint="authorize")
        watch.raises(HostedFieldsAuthenticationError, "identity 500", client.create_hosted_fields_session,
                     "1234001", "payment", "1.7.0.261457")
        watch.raises(HostedFieldsValidationError, "terminal id holding a card number",
                     client.create_hosted_fields_session, PAN * 4, "payment", "1.7.0.261457")
        watch.raises(HostedFieldsValidationError, "secure token id too long",
                     client.create_hosted_fields_session, "1234001", "payment", "1.7.0.261457", PAN * 13)
        watch.raises(HostedFieldsValidationError, "idempotency key holding the API key",
                     client.create_hosted_fields_session, "1234001", "payment", "1.7.0.261457",
                     idempotency_key=API_KEY)
        watch.raises(FlexError, "API key with a space", PayrocConfig, api_key=API_KEY + " x")
        watch.raises(payroc_hosted_fields.rest.ApiException, "generated identity call, wrong key",
                     payroc_hosted_fields.IdentityApi(config(WRONG_API_KEY)).authorize, _host=payroc.identity_url)
        # A slow answer: the emulator's handler sleeps, so the client times out.
        payroc.inject_fault("payroc-sessions", latency=0.3, times=1)
        watch.raises(RequestTimeoutError, "timeout",
                     HostedFieldsClient(config(read_timeout=0.05, max_attempts=1)).create_hosted_fields_session,
                     "1234001", "payment", "1.7.0.261457")
    assert watch.secrets.dynamic["bearer token"] and watch.secrets.dynamic["API key"]
    assert set(watch.api_key_paths) == {"/authorize"}  # the API key goes to the Identity call only
    watch.check(capsys)


# ------------------------------------------------------------------------------ CLI


def test_cli(emu: FlexEmulator, watch: Watch, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> None:
    config_file = tmp_path / "merchant.json"
    config_file.write_text(json.dumps(merchant_config(emu, mode, watch)), encoding="utf-8")
    wrong_file = tmp_path / "wrong.json"
    wrong_file.write_text(json.dumps(dict(merchant_config(emu, mode, watch), merchant_secretkey=WRONG_SECRET)))
    card_file = tmp_path / "card.json"
    card_file.write_text(json.dumps({"number": PAN_DASHES, "expiration_month": EXP_MONTH,
                                     "expiration_year": EXP_YEAR, "security_code": SECURITY_CODE}))
    bad_card = tmp_path / "bad-card.json"
    bad_card.write_text(json.dumps({"number": BAD_PAN_SPACES, "expiration_month": EXP_MONTH,
                                    "expiration_year": EXP_YEAR, "security_code": SECURITY_CODE}))
    short_card = tmp_path / "short-card.json"
    short_card.write_text(json.dumps({"number": PAN, "security_code": SECURITY_CODE}))
    broken_card = tmp_path / "broken-card.json"
    broken_card.write_text('{"number": "' + PAN + '", "security_code": ' + SECURITY_CODE + ",,}")

    def run(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        code = cli_main(list(argv), out=out)
        watch.texts.append((f"CLI stdout of {argv[0]}", out.getvalue()))
        return code, out.getvalue()

    code, printed = run("capture-context", "--config", str(config_file), "--json")
    assert code == 0
    jwt = json.loads(printed)["capture_context"]
    base = ("tokenize", "--capture-context", jwt, "--config", str(config_file), "--json")
    code, printed = run(*base, "--card-json", str(card_file))
    assert code == 0 and json.loads(printed)["masked_card"].endswith("0039")
    monkeypatch.setattr(sys, "stdin", io.StringIO(card_file.read_text()))
    assert run(*base, "--card-json", "-")[0] == 0
    assert run(*base, "--card-json", str(bad_card))[0] == 2
    assert run(*base, "--card-json", str(short_card))[0] == 2  # card data the client rejects: a usage error
    assert run("capture-context", "--config", str(wrong_file))[0] == 1
    assert run("verify", expired_context(emu), "--config", str(config_file))[0] == 1
    emu.inject_fault("tokens", reset=True, times=1)
    assert run(*base, "--card-json", str(card_file))[0] == 1
    assert run(*base, "--card-json", str(broken_card))[0] == 2
    code, _ = run("hosted-fields-session", "--terminal-id", "1234001", "--emulator", "--json")
    assert code == 0
    watch.check(capsys)


def test_cli_as_a_process(emu: FlexEmulator, watch: Watch, mode: str, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    """The real entry point: stdout and stderr of a separate process, success and failure."""
    config_file = tmp_path / "merchant.json"
    config = merchant_config(emu, mode, watch)
    if mode == "log_config":
        config["log_config"] = dict(config["log_config"], log_directory=str(watch.log_dir / "cli"))
    config_file.write_text(json.dumps(config), encoding="utf-8")
    card_json = json.dumps({"number": PAN_SPACES, "expiration_month": EXP_MONTH, "expiration_year": EXP_YEAR,
                            "security_code": SECURITY_CODE})
    bad_json = json.dumps({"number": BAD_PAN, "expiration_month": EXP_MONTH, "expiration_year": EXP_YEAR,
                           "security_code": SECURITY_CODE})
    context = emu.issue_capture_context(merchant_id=MERCHANT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), str(ROOT / "generated" / "cybersource"), str(ROOT / "generated" / "payroc")]))
    for card_text, expected in ((card_json, 0), (bad_json, 2)):
        done = subprocess.run(
            [sys.executable, "-m", "flex_ext.cli", "tokenize", "--capture-context", context,
             "--config", str(config_file), "--card-json", "-", "--json"],
            input=card_text, capture_output=True, text=True, env=env, timeout=60, check=False,
        )
        assert done.returncode == expected, done.stderr
        watch.texts += [("CLI process stdout", done.stdout), ("CLI process stderr", done.stderr)]
    watch.check(capsys, expect_library_records=False)


def test_library_loggers_mask_without_any_configuration() -> None:
    """A fresh process that never applies a merchant or log configuration (a Hosted Fields
    only user, say): records of the library's module loggers reach the root handlers masked."""
    code = (
        "import logging, sys\n"
        "seen = []\n"
        "class Keep(logging.Handler):\n"
        "    def emit(self, record): seen.append(record.getMessage())\n"
        "logging.getLogger().addHandler(Keep()); logging.getLogger().setLevel(logging.DEBUG)\n"
        "import flex_ext.hosted_fields, flex_ext.seam, flex_ext.config\n"
        "for name in ('flex_ext.hosted_fields', 'flex_ext.seam', 'flex_ext.config'):\n"
        "    logging.getLogger(name).debug('card %s cvv=%s', sys.argv[1], sys.argv[2])\n"
        "print('\\n'.join(seen))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), str(ROOT / "generated" / "cybersource"), str(ROOT / "generated" / "payroc")]))
    done = subprocess.run([sys.executable, "-c", code, PAN_SPACES, SECURITY_CODE], capture_output=True, text=True,
                          env=env, timeout=60, check=True)
    lines = done.stdout.splitlines()
    assert len(lines) == 3, done.stdout + done.stderr
    assert all("4929 38XX XXXX 0039" in line for line in lines)  # masked, not dropped
    assert Secrets().found_in(done.stdout + done.stderr) == []


# ------------------------------------------------------------------------------ checks SECURITY.md states


def test_tokenize_refuses_an_unverified_capture_context_object(emu: FlexEmulator) -> None:
    from flex_ext.capture_context import parse_capture_context_unverified

    emu.reset_request_counts()
    ctx = parse_capture_context_unverified(emu.issue_capture_context())
    with pytest.raises(JWTValidationError, match="unverified"):
        FlexClient(emu.merchant_config()).tokenize(ctx, card())
    assert emu.request_count("tokens") == 0


def test_tokenize_rechecks_the_allow_list_for_a_context_verified_elsewhere(emu: FlexEmulator) -> None:
    ctx = FlexClient(emu.merchant_config()).verify_capture_context(emu.issue_capture_context())
    strict = FlexClient(emu.merchant_config(), allowed_origins=["https://testflex.cybersource.com"])
    emu.reset_request_counts()
    with pytest.raises(JWTValidationError, match="allowed origins"):
        strict.tokenize(ctx, card())
    assert emu.request_count("tokens") == 0


def test_exp_before_iat_is_refused() -> None:
    from flex_ext.jose import check_time_claims

    now = time.time()
    with pytest.raises(JWTValidationError, match="before 'iat'"):
        check_time_claims({"exp": now + 10, "iat": now + 20}, now=now)
