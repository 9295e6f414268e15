"""The emulator's own small JOSE toolkit: base64url, compact JWS (RS256/HS256), RSA JWKs, JWE decryption.

Deliberately independent of ``flex_ext.jose``/``flex_ext.jwe`` (the client's code): the
emulator is the judge of what the client produces, so it must not share its mistakes.
Only what the Flex protocol needs is here; anything else is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import string
from typing import Any, Optional

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "DecryptionError",
    "JoseError",
    "b64url_decode",
    "b64url_encode",
    "decrypt_compact_jwe",
    "parse_json_object",
    "parse_jwe_header",
    "random_alnum",
    "rsa_public_jwk",
    "sign_rs256",
    "split_jws",
    "verify_hs256",
    "verify_rs256",
]

_ALNUM = string.ascii_letters + string.digits


class JoseError(ValueError):
    """A JOSE object is malformed or does not verify. The message never holds key or plaintext bytes."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or any(c not in _B64URL_ALPHABET for c in text) or len(text) % 4 == 1:
        raise JoseError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise JoseError("not base64url") from None


_B64URL_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_")


def random_alnum(length: int, alphabet: str = _ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _int_to_b64url(value: int) -> str:
    return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def rsa_public_jwk(key: rsa.RSAPublicKey, kid: str, use: str = "enc") -> dict[str, str]:
    """The JWK members in the order CyberSource's public-keys endpoint uses."""
    numbers = key.public_numbers()
    return {"kty": "RSA", "use": use, "kid": kid, "n": _int_to_b64url(numbers.n), "e": _int_to_b64url(numbers.e)}


def _json_segment(value: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def sign_rs256(header: dict[str, Any], payload: dict[str, Any], key: rsa.RSAPrivateKey) -> str:
    """A compact JWS; member order of ``header`` and ``payload`` is kept as given."""
    signing_input = f"{_json_segment(header)}.{_json_segment(payload)}"
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url_encode(signature)}"


def split_jws(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, payload, signing input, signature) of a compact JWS, unverified."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JoseError("a JWS has three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = json.loads(b64url_decode(parts[1]))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise JoseError("JWS header or payload is not JSON") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise JoseError("JWS header and payload must be JSON objects")
    return header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), b64url_decode(parts[2])


def verify_rs256(signing_input: bytes, signature: bytes, key: rsa.RSAPublicKey) -> None:
    try:
        key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise JoseError("signature does not verify") from None


def verify_hs256(signing_input: bytes, signature: bytes, secret: bytes) -> None:
    expected = hmac.new(secret, signing_input, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise JoseError("signature does not verify")


_OAEP = {
    "RSA-OAEP": padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),  # noqa: S303
    "RSA-OAEP-256": padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
}


class DecryptionError(JoseError):
    """The JWE is well formed but does not decrypt with the key (wrong key or tampered)."""


def parse_jwe_header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWE, after structural checks (no key needed)."""
    parts = token.split(".")
    if len(parts) != 5:
        raise JoseError("a compact JWE has five dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise JoseError("JWE header is not JSON") from None
    if not isinstance(header, dict):
        raise JoseError("JWE header must be a JSON object")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in _OAEP:
        raise JoseError("JWE alg must be RSA-OAEP or RSA-OAEP-256")
    if header.get("enc") != "A256GCM":
        raise JoseError("JWE enc must be A256GCM")
    if "zip" in header or "crit" in header:
        raise JoseError("JWE zip and crit are not supported")
    if not isinstance(header.get("kid"), str):
        raise JoseError("JWE header has no kid")
    return header


def decrypt_compact_jwe(token: str, key: rsa.RSAPrivateKey) -> bytes:
    """Plaintext of an RSA-OAEP(-256) + A256GCM compact JWE. Raises JoseError/DecryptionError."""
    header = parse_jwe_header(token)
    protected, encrypted_key, iv, ciphertext, tag = token.split(".")
    ek, iv_bytes, ct, tag_bytes = (b64url_decode(p) for p in (encrypted_key, iv, ciphertext, tag))
    if len(iv_bytes) != 12 or len(tag_bytes) != 16:
        raise JoseError("A256GCM needs a 96-bit IV and a 128-bit tag")
    try:
        cek = key.decrypt(ek, _OAEP[header["alg"]])
    except ValueError:
        raise DecryptionError("the content key does not decrypt with this key") from None
    if len(cek) != 32:
        raise DecryptionError("the content key is not 256 bits")
    try:
        return AESGCM(cek).decrypt(iv_bytes, ct + tag_bytes, protected.encode("ascii"))
    except InvalidTag:
        raise DecryptionError("the ciphertext does not authenticate") from None


def parse_json_object(raw: bytes) -> Optional[dict[str, Any]]:
    """A JSON object from bytes, or None when it is not one."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
