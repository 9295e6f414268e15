"""Test helpers for the Flex v2 flow: keys, JWT minting and a tiny loopback server.

The server is deliberately small and independent of ``flex_ext`` (and of the emulator): it
decrypts JWEs with jwcrypto and signs tokens with ``cryptography`` directly, so a client
that is wrong cannot agree with it by sharing code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jwcrypto import jwe as jwc_jwe
from jwcrypto import jwk as jwc_jwk

SIGNING_KID = "ts"
SESSION_KID = "SessionKid0123456789abcdefABCDEF"  # 32 characters, like the real ones
REQUIRED = ("paymentInformation.card.number",)
OPTIONAL = (
    "paymentInformation.card.expirationMonth",
    "paymentInformation.card.expirationYear",
    "paymentInformation.card.securityCode",
    "paymentInformation.card.type",
)
CARD_NUMBER = "4111111111111111"
SECURITY_CODE = "737"

# The capture context from CyberSource's developer guide (seed 001, "Response Payload").
DOC_CAPTURE_CONTEXT = (
    "eyJraWQiOiJzbiIsImFsZyI6IlJTMjU2In0.eyJmbHgiOnsicGF0aCI6Ii9mbGV4L3YyL3Rva2VucyIsImRhdGEiOiJOVGFUSDI3cVpVbE9EeFJVQkVLSXJoQUFFRkFBbHJoOHkxN2doTlpueVlWUWI4dnpCR05QV1NtbHpuelBxQzkzWGZ1TUpiK3M3RFR5a1o1USt5alBvRjAzQmxjenQ1VnZpSUdVY0toNjBjU2dzSElcdTAwM2QiLCJvcmlnaW4iOiJodHRwczovL3NsNzNmbHhhcHEwMDIudmlzYS5jb206ODQ0MyIsImp3ayI6eyJrdHkiOiJSU0EiLCJlIjoiQVFBQiIsInVzZSI6ImVuYyIsIm4iOiJwRnJBNUxzbDIycDNnTkw1aVBqQk9ZRXVYczd6OVAtZHY3QUlDVEd6bGdOeU52eWZGX3RXR2FMcVMtbGYyUWdEdlZXM2NVMG1xVnhKWExFMUZjSlpqNzFkMXNnWkIxbjRpcldzcVBxNTRjZndFeDQyNURERlphaXdRX0Z2MXYxbUFOM1RSVDJrYVFLLV8yZFlNTkxJV0hxajkzYXdfYkxUUVRfem8xamNhTFRSamU2eHo3VDRDcUlRWjZLQl9XMjF0Y3NNREdVYkotdjZ5VXBZMkVtbWNMcF92cUlwc0VCaUNOb2NER2xudk1KZFJ5aEJiOHRocWlYclpqVExvT29XdGlhSG9BbExXTDNjVW9HUlZHdFdkRWYtSS1IZlBEcE8ySEJGaUZ1bHdidjU0UGphY19zVm9HRnpHZ2xHcndJV0IyNDFjOTV1LWJaVWVkcE5fNmlnMFEiLCJraWQiOiIwMFN2SWFHSWZ5YXc4OTdyRGVHOWVGZE9ES2FDS2MxcSJ9fSwiY3R4IjpbeyJkYXRhIjp7InJlcXVpcmVkRmllbGRzIjpbInBheW1lbnRJbmZvcm1hdGlvbi5jYXJkLm51bWJlciJdLCJvcHRpb25hbEZpZWxkcyI6WyJwYXltZW50SW5mb3JtYXRpb24uY2FyZC5leHBpcmF0aW9uWWVhciIsInBheW1lbnRJbmZvcm1hdGlvbi5jYXJkLmV4cGlyYXRpb25Nb250aCIsInBheW1lbnRJbmZvcm1hdGlvbi5jYXJkLnR5cGUiLCJwYXltZW50SW5mb3JtYXRpb24uY2FyZC5zZWN1cml0eUNvZGUiXX0sInR5cGUiOiJhcGktMC4xLjAifV0sImlzcyI6IkZsZXggQVBJIiwiZXhwIjoxNjE0NzkyMjY4LCJpYXQiOjE2MTQ3OTEzNjgsImp0aSI6InJPQWtzR2NwOEJnZzZXTGoifQ."
    "uHMrYZFoqqDiiic-s-29GAI0V5Ex1361Izzhxiqt6eMZcTW-bApAxgfTe0eBK3vi9s6VZbm1fgE1dh8BdMeo2AkF-_Q4c3wch2YPOMhcuOpstZyLj22tnrmaLXmcHwTorDBMA3fVH_8EIn8T4gonZ-ItTa05sxAk5rLVEWywlau5-Gi74tuxtDQOPIc7F9SzmqwGmLCuUZ6JuJf8bExAyL5ChiqQ9MDsbP6Q2jtDXok4VAHVkJR3uRJvmblHfgRM1LRVH8XGv9GX69b30_rQ4Md5xOugvI6Hu7X30qo9fFpfT3v9qQ6wocnJpowKe2v0u7rcid_GqqjZckbEVb47VQ"
)


# --------------------------------------------------------------------------------------- keys


@lru_cache(maxsize=None)  # noqa: UP033 - functools.cache is 3.9+ only in name
def rsa_key(name: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    """A private key per name, generated once per test session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def signing_key() -> rsa.RSAPrivateKey:
    return rsa_key("signing")


def session_key() -> rsa.RSAPrivateKey:
    return rsa_key("session")


def foreign_key() -> rsa.RSAPrivateKey:
    return rsa_key("foreign")


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int) -> str:
    return b64u(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def public_jwk(key: rsa.RSAPrivateKey, kid: Optional[str] = None, use: Optional[str] = "enc") -> Dict[str, str]:
    numbers = key.public_key().public_numbers()
    jwk: Dict[str, str] = {"kty": "RSA"}
    if use is not None:
        jwk["use"] = use
    if kid is not None:
        jwk["kid"] = kid
    jwk["n"] = _uint(numbers.n)
    jwk["e"] = _uint(numbers.e)
    return jwk


# ---------------------------------------------------------------------------------------- JWT


def mint_jwt(
    header: Dict[str, Any],
    claims: Dict[str, Any],
    key: Optional[rsa.RSAPrivateKey] = None,
    *,
    hmac_secret: Optional[bytes] = None,
) -> str:
    """Sign with RS256/384/512 (``key``), PS256 (``key``), HS256 (``hmac_secret``) or nothing."""
    signing_input = (
        b64u(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64u(json.dumps(claims, separators=(",", ":")).encode())
    )
    alg = header.get("alg")
    data = signing_input.encode("ascii")
    if alg == "HS256":
        assert hmac_secret is not None
        sig = hmac.new(hmac_secret, data, hashlib.sha256).digest()
    elif alg in ("RS256", "RS384", "RS512"):
        assert key is not None
        algo = {"RS256": hashes.SHA256(), "RS384": hashes.SHA384(), "RS512": hashes.SHA512()}[alg]
        sig = key.sign(data, padding.PKCS1v15(), algo)
    elif alg == "PS256":
        assert key is not None
        sig = key.sign(
            data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
        )
    else:
        sig = b""
    return signing_input + "." + b64u(sig)


def capture_context_claims(
    origin: str,
    *,
    now: Optional[float] = None,
    lifetime: int = 900,
    session: Optional[rsa.RSAPrivateKey] = None,
    session_kid: str = SESSION_KID,
    jwk_use: str = "enc",
    required: Tuple[str, ...] = REQUIRED,
    optional: Tuple[str, ...] = OPTIONAL,
    path: str = "/flex/v2/tokens",
) -> Dict[str, Any]:
    issued = int(time.time() if now is None else now)
    return {
        "flx": {
            "path": path,
            "data": "opaque",
            "origin": origin,
            "jwk": public_jwk(session or session_key(), session_kid, jwk_use),
        },
        "ctx": [{"data": {"requiredFields": list(required), "optionalFields": list(optional)}, "type": "api-0.1.0"}],
        "iss": "Flex API",
        "exp": issued + lifetime,
        "iat": issued,
        "jti": "rOAksGcp8Bgg6WLj",
    }


def mint_capture_context(
    origin: str,
    *,
    signer: Optional[rsa.RSAPrivateKey] = None,
    kid: Optional[str] = SIGNING_KID,
    alg: str = "RS256",
    **claim_kwargs: Any,
) -> str:
    header: Dict[str, Any] = {"alg": alg}
    if kid is not None:
        header = {"kid": kid, "alg": alg}
    return mint_jwt(header, capture_context_claims(origin, **claim_kwargs), signer or signing_key())


def mint_transient_token(
    *,
    key: Optional[rsa.RSAPrivateKey] = None,
    kid: str = SESSION_KID,
    now: Optional[float] = None,
    lifetime: int = 900,
    content: Optional[Dict[str, Any]] = None,
) -> str:
    issued = int(time.time() if now is None else now)
    claims: Dict[str, Any] = {
        "iss": "Flex/00",
        "exp": issued + lifetime,
        "type": "api-0.1.0",
        "iat": issued,
        "jti": "1D0V31P1KLE3W7SVJBYTM8UG1XM2KIOEHIVWAIDOJHK62IHT1QQ5603FC760609C",
    }
    if content is not None:
        claims["content"] = content
    return mint_jwt({"kid": kid, "alg": "RS256"}, claims, key or session_key())


MASKED_CONTENT = {
    "paymentInformation": {
        "card": {
            "number": {"maskedValue": "XXXXXXXXXXXX1111", "bin": "411111", "detectedCardTypes": ["001"]},
            "securityCode": {},
        }
    }
}


def decrypt_jwe(token: str, key: rsa.RSAPrivateKey) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Decrypt with jwcrypto (the independent JOSE library): (protected header, payload)."""
    jwk = jwc_jwk.JWK.from_pyca(key)
    obj = jwc_jwe.JWE()
    obj.deserialize(token, key=jwk)
    header = json.loads(obj.objects["protected"])
    return header, json.loads(obj.payload)


# ------------------------------------------------------------------------------------- server


@dataclass
class Recorded:
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes


@dataclass
class FlexServer:
    """Loopback stand-in for the public-keys, tokens and sessions endpoints."""

    public_keys: Dict[str, Any] = field(default_factory=dict)
    requests: List[Recorded] = field(default_factory=list)
    #: statuses answered (in order) before the real answer to public-key GETs
    key_failures: List[int] = field(default_factory=list)
    #: overrides the tokens answer: (status, headers, body)
    tokens_response: Optional[Tuple[int, Dict[str, str], bytes]] = None
    token_signer: Optional[rsa.RSAPrivateKey] = None
    token_content: Optional[Dict[str, Any]] = None
    send_digest: bool = True
    bad_digest: bool = False
    decrypted: List[Tuple[Dict[str, Any], Dict[str, Any]]] = field(default_factory=list)
    session_factory: Optional[Callable[[], str]] = None
    sessions_response: Optional[Tuple[int, Dict[str, str], bytes]] = None
    base_url: str = ""
    _server: Optional[ThreadingHTTPServer] = None

    def key_requests(self, kid: Optional[str] = None) -> List[Recorded]:
        prefix = "/flex/v2/public-keys/"
        return [
            r for r in self.requests
            if r.method == "GET" and r.path.startswith(prefix) and (kid is None or r.path == prefix + kid)
        ]

    def start(self) -> FlexServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _read(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _answer(self, status: int, headers: Dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _record(self, body: bytes) -> None:
                outer.requests.append(Recorded(self.command, self.path, dict(self.headers.items()), body))

            def do_GET(self) -> None:
                self._record(b"")
                prefix = "/flex/v2/public-keys/"
                if not self.path.startswith(prefix):
                    self._answer(404, {}, b"")
                    return
                if outer.key_failures:
                    self._answer(outer.key_failures.pop(0), {"Content-Type": "application/json"}, b"{}")
                    return
                jwk = outer.public_keys.get(self.path[len(prefix):])
                if jwk is None:
                    self._answer(404, {"Content-Type": "application/json"}, b'{"message":"not found"}')
                    return
                raw = jwk if isinstance(jwk, bytes) else json.dumps(jwk).encode()
                self._answer(200, {"Content-Type": "application/json"}, raw)

            def do_POST(self) -> None:
                body = self._read()
                self._record(body)
                if self.path == "/flex/v2/sessions":
                    if outer.sessions_response is not None:
                        self._answer(*outer.sessions_response)
                        return
                    assert outer.session_factory is not None
                    jwt = outer.session_factory().encode()
                    self._answer(201, {"Content-Type": "application/jwt"}, jwt)
                    return
                if self.path != "/flex/v2/tokens":
                    self._answer(404, {}, b"")
                    return
                if outer.tokens_response is not None:
                    self._answer(*outer.tokens_response)
                    return
                try:
                    outer.decrypted.append(decrypt_jwe(body.decode("ascii"), session_key()))
                except Exception:
                    error = {"responseStatus": {"status": 400, "reason": "DECRYPTION_ERROR", "message": "x"}}
                    self._answer(400, {"Content-Type": "application/json"}, json.dumps(error).encode())
                    return
                token = mint_transient_token(key=outer.token_signer, content=outer.token_content).encode()
                headers = {"Content-Type": "application/jwt"}
                if outer.send_digest:
                    digest = hashlib.sha256(token + (b"x" if outer.bad_digest else b"")).digest()
                    headers["Digest"] = "SHA-256=" + base64.b64encode(digest).decode()
                self._answer(201, headers, token)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def serve() -> Iterator[FlexServer]:
    """Body of the ``flex_server`` fixture each test module declares (``yield from serve()``)."""
    server = FlexServer(public_keys={SIGNING_KID: public_jwk(signing_key(), SIGNING_KID, "enc")}).start()
    try:
        yield server
    finally:
        server.stop()
