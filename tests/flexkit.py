"""Test helpers for the Flex v2 flow: keys, JWT minting and a tiny loopback server.

The server's answers are deliberately independent of ``flex_ext`` (and of the emulator's
Flex logic): it decrypts JWEs with jwcrypto and signs tokens with ``cryptography`` directly,
so a client that is wrong cannot agree with it by sharing code. Only the HTTP plumbing is
the project's one loopback server base.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jwcrypto import jwe as jwc_jwe
from jwcrypto import jwk as jwc_jwk

from flex_ext.emulator import LoopbackServer, Reply, Request

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
    _server: Optional[LoopbackServer] = None

    def key_requests(self, kid: Optional[str] = None) -> List[Recorded]:
        prefix = "/flex/v2/public-keys/"
        return [
            r for r in self.requests
            if r.method == "GET" and r.path.startswith(prefix) and (kid is None or r.path == prefix + kid)
        ]

    def start(self) -> FlexServer:
        # Only the HTTP plumbing is shared (the project's one loopback server base); what
        # the endpoints answer is decided here, independently of the emulator.
        self._server = LoopbackServer(self._respond, name="flexkit-server").start()
        self.base_url = self._server.url
        return self

    def _respond(self, request: Request) -> Reply:
        self.requests.append(Recorded(request.method, request.target, dict(request.headers), request.body))
        if request.method == "GET":
            return self._public_key(request.target)
        if request.method != "POST":
            return Reply(404)
        if request.target == "/flex/v2/sessions":
            if self.sessions_response is not None:
                return Reply(*self.sessions_response)
            assert self.session_factory is not None
            return Reply(201, {"Content-Type": "application/jwt"}, self.session_factory().encode())
        if request.target != "/flex/v2/tokens":
            return Reply(404)
        if self.tokens_response is not None:
            return Reply(*self.tokens_response)
        try:
            self.decrypted.append(decrypt_jwe(request.body.decode("ascii"), session_key()))
        except Exception:
            error = {"responseStatus": {"status": 400, "reason": "DECRYPTION_ERROR", "message": "x"}}
            return Reply(400, {"Content-Type": "application/json"}, json.dumps(error).encode())
        token = mint_transient_token(key=self.token_signer, content=self.token_content).encode()
        headers = {"Content-Type": "application/jwt"}
        if self.send_digest:
            digest = hashlib.sha256(token + (b"x" if self.bad_digest else b"")).digest()
            headers["Digest"] = "SHA-256=" + base64.b64encode(digest).decode()
        return Reply(201, headers, token)

    def _public_key(self, path: str) -> Reply:
        prefix = "/flex/v2/public-keys/"
        if not path.startswith(prefix):
            return Reply(404)
        if self.key_failures:
            return Reply(self.key_failures.pop(0), {"Content-Type": "application/json"}, b"{}")
        jwk = self.public_keys.get(path[len(prefix):])
        if jwk is None:
            return Reply(404, {"Content-Type": "application/json"}, b'{"message":"not found"}')
        raw = jwk if isinstance(jwk, bytes) else json.dumps(jwk).encode()
        return Reply(200, {"Content-Type": "application/json"}, raw)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()


def serve() -> Iterator[FlexServer]:
    """Body of the ``flex_server`` fixture each test module declares (``yield from serve()``)."""
    server = FlexServer(public_keys={SIGNING_KID: public_jwk(signing_key(), SIGNING_KID, "enc")}).start()
    try:
        yield server
    finally:
        server.stop()
