"""Merchant credentials the emulator accepts, and the files (P12) it makes for them.

A merchant always has a shared-secret key (key id + base64 secret): the official SDK uses
that one pair both for HTTP Signature and for JWT with ``jwt_key_type=SHARED_SECRET``. A
merchant may also have an RSA certificate, delivered as a P12 file the way CyberSource's
Business Center does, for JWT with ``jwt_key_type=P12``; the JWT ``kid`` is then the
certificate subject's serialNumber attribute (OID 2.5.4.5), not the X.509 serial.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import os
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

__all__ = ["Merchant", "MerchantRegistry", "decode_shared_secret"]


def decode_shared_secret(secret: str) -> bytes:
    """The HMAC key bytes of a base64 shared secret.

    Decoded non-strictly, like the official SDK (characters outside the alphabet are
    dropped), so any secret the SDK can sign with is one the emulator can check.
    """
    try:
        return base64.b64decode(secret)
    except (binascii.Error, ValueError):
        raise ValueError("the shared secret is not valid base64") from None


@dataclass(frozen=True)
class Merchant:
    """One merchant's credentials. Secrets are kept out of ``repr``."""

    merchant_id: str
    key_id: str
    shared_secret: str = field(repr=False)
    portfolio_id: Optional[str] = None
    #: P12 (JWT/P12 auth), when the merchant has a certificate.
    p12_path: Optional[str] = None
    p12_password: Optional[str] = field(default=None, repr=False)
    certificate_serial_number: Optional[str] = None
    certificate: Optional[x509.Certificate] = field(default=None, repr=False, compare=False)

    @property
    def secret_bytes(self) -> bytes:
        return decode_shared_secret(self.shared_secret)

    def merchant_config(self, run_environment: str, authentication_type: str = "http_signature") -> dict[str, Any]:
        """An official-SDK style merchant-config dict for this merchant.

        ``authentication_type`` is ``"http_signature"``, ``"jwt"`` (P12; needs a
        certificate) or ``"jwt_shared_secret"`` (JWT with ``jwt_key_type=SHARED_SECRET``).
        """
        config: dict[str, Any] = {"merchantid": self.merchant_id, "run_environment": run_environment}
        kind = authentication_type.lower()
        if kind == "http_signature":
            config.update(
                authentication_type="http_signature",
                merchant_keyid=self.key_id,
                merchant_secretkey=self.shared_secret,
            )
        elif kind == "jwt_shared_secret":
            config.update(
                authentication_type="jwt",
                jwt_key_type="SHARED_SECRET",
                merchant_keyid=self.key_id,
                merchant_secretkey=self.shared_secret,
            )
        elif kind == "jwt":
            if self.p12_path is None:
                raise ValueError(f"merchant {self.merchant_id!r} has no P12 certificate")
            directory, file_name = os.path.split(self.p12_path)
            config.update(
                authentication_type="jwt",
                jwt_key_type="P12",
                keys_directory=directory,
                key_file_name=os.path.splitext(file_name)[0],
                key_alias=self.portfolio_id or self.merchant_id,
                key_password=self.p12_password,
            )
        else:
            raise ValueError("authentication_type must be http_signature, jwt or jwt_shared_secret")
        if self.portfolio_id is not None:
            config.update(use_metakey=True, portfolio_id=self.portfolio_id)
        return config

    def public_summary(self) -> dict[str, Any]:
        """Everything a client needs to authenticate as this merchant (includes the secrets)."""
        summary: dict[str, Any] = {
            "merchant_id": self.merchant_id,
            "merchant_keyid": self.key_id,
            "merchant_secretkey": self.shared_secret,
        }
        if self.portfolio_id is not None:
            summary["portfolio_id"] = self.portfolio_id
        if self.p12_path is not None:
            directory, file_name = os.path.split(self.p12_path)
            summary.update(
                p12_path=self.p12_path,
                keys_directory=directory,
                key_file_name=os.path.splitext(file_name)[0],
                key_alias=self.portfolio_id or self.merchant_id,
                key_password=self.p12_password,
                certificate_serial_number=self.certificate_serial_number,
            )
        return summary


def new_shared_secret() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def make_p12(directory: str, merchant_id: str, key_alias: str, password: str) -> tuple[str, str, x509.Certificate]:
    """Write ``<directory>/<merchant_id>.p12`` (RSA-2048 key + self-signed certificate).

    Returns (path, subject serialNumber, certificate). The subject CN is the key alias,
    which is how the official Python SDK picks the certificate out of the P12; the bags'
    friendly name is ``serialNumber=<serial>,CN=<key alias>`` as in CyberSource's own P12
    files, which is how the official Node SDK picks it (``cn=<keyAlias>``, any case).
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    serial_attr = "".join(secrets.choice("0123456789") for _ in range(20))
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, key_alias),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_attr),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Flex emulator merchant"),
        ]
    )
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    data = pkcs12.serialize_key_and_certificates(
        f"serialNumber={serial_attr},CN={key_alias}".encode(),
        key,
        cert,
        None,
        serialization.BestAvailableEncryption(password.encode("utf-8")),
    )
    path = os.path.join(directory, f"{merchant_id}.p12")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path, serial_attr, cert


class MerchantRegistry:
    """Thread-safe lookup of merchants by id, shared-secret key id and certificate serialNumber.

    It also tallies authentications: how many requests verified as each merchant, and how
    many were refused, so a test can prove each request was signed by its own merchant.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Merchant] = {}
        self._authenticated: dict[str, int] = {}
        self._refused = 0

    def record_authentication(self, merchant_id: Optional[str]) -> None:
        """Count one request authenticated as ``merchant_id`` (None: refused)."""
        with self._lock:
            if merchant_id is None:
                self._refused += 1
            else:
                self._authenticated[merchant_id] = self._authenticated.get(merchant_id, 0) + 1

    def authentication_counts(self) -> dict[str, int]:
        """Requests authenticated per merchant id (merchants with none are absent)."""
        with self._lock:
            return dict(self._authenticated)

    def authentication_failures(self) -> int:
        with self._lock:
            return self._refused

    def reset_authentication_counts(self) -> None:
        with self._lock:
            self._authenticated.clear()
            self._refused = 0

    def add(self, merchant: Merchant) -> None:
        decode_shared_secret(merchant.shared_secret)
        with self._lock:
            for other in self._by_id.values():
                if other.merchant_id == merchant.merchant_id or other.key_id != merchant.key_id:
                    continue
                # Only merchants of one portfolio share a (meta) key.
                shared = (
                    merchant.portfolio_id is not None
                    and other.portfolio_id == merchant.portfolio_id
                    and other.shared_secret == merchant.shared_secret
                )
                if not shared:
                    raise ValueError("another merchant already uses this key id")
            self._by_id[merchant.merchant_id] = merchant

    def remove(self, merchant_id: str) -> None:
        with self._lock:
            self._by_id.pop(merchant_id, None)

    def get(self, merchant_id: str) -> Optional[Merchant]:
        with self._lock:
            return self._by_id.get(merchant_id)

    def all(self) -> list[Merchant]:
        with self._lock:
            return list(self._by_id.values())


def new_key_id() -> str:
    return str(uuid.uuid4())
