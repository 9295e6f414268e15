"""``FlexEmulator``: the in-process handle on a running local Flex sandbox."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
from types import TracebackType
from typing import Any, Mapping, Optional

from cryptography.hazmat.primitives.asymmetric import rsa

from .clock import EmulatorClock
from .faults import Fault, FaultBoard
from .fields import parse_session_fields
from .merchants import Merchant, MerchantRegistry, make_p12, new_key_id, new_shared_secret
from .payments import PaymentService
from .server import FlexHTTPServer
from .service import (
    CAPTURE_CONTEXT_LIFETIME,
    DEFAULT_USAGE_LIMIT,
    TRANSIENT_TOKEN_LIFETIME,
    FlexService,
)
from .tls import make_server_context

__all__ = ["DEFAULT_CARD_FIELDS", "DEFAULT_MERCHANT_ID", "FlexEmulator"]

DEFAULT_MERCHANT_ID = "emulator_merchant"

#: The sessions ``fields`` used when a helper is given none: a card with expiry, and an
#: optional security code and type.
DEFAULT_CARD_FIELDS: dict[str, Any] = {
    "paymentInformation": {
        "card": {
            "number": {},
            "expirationMonth": {},
            "expirationYear": {},
            "securityCode": {"required": False},
            "type": {"required": False},
        }
    }
}


class FlexEmulator:
    """A local CyberSource Flex API v2 sandbox on 127.0.0.1.

    Use as a context manager (``with FlexEmulator() as emu:``) or call ``start()`` and
    ``stop()``. It verifies merchant signatures, issues capture contexts, decrypts JWEs
    and issues transient tokens like the real service (see the package docstring for
    the choices where the real service's behaviour is not documented).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        tls: bool = False,
        clock: Optional[EmulatorClock] = None,
        usage_limit: int = DEFAULT_USAGE_LIMIT,
        context_lifetime: int = CAPTURE_CONTEXT_LIFETIME,
        token_lifetime: int = TRANSIENT_TOKEN_LIFETIME,
        default_merchant: bool = True,
        state_dir: Optional[str] = None,
        signing_key: Optional[rsa.RSAPrivateKey] = None,
        signing_kid: Optional[str] = None,
    ) -> None:
        self._port = port
        self._tls = tls
        self._own_state_dir = state_dir is None
        self._state_dir = state_dir or tempfile.mkdtemp(prefix="flex-emulator-")
        self._service = FlexService(
            clock or EmulatorClock(),
            usage_limit=usage_limit,
            context_lifetime=context_lifetime,
            token_lifetime=token_lifetime,
            signing_key=signing_key,
            signing_kid=signing_kid,
        )
        # Payments survive a restart only in a state_dir the caller chose.
        state_file = None if self._own_state_dir else os.path.join(self._state_dir, "payments.jsonl")
        self._payments = PaymentService(lambda: self._service.clock.now(), state_file)
        self._service.on_token_issued = self._payments.register_token
        self._registry = MerchantRegistry()
        self._faults = FaultBoard()
        self._server: Optional[FlexHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._ca_cert_path: Optional[str] = None
        self._default_merchant_id: Optional[str] = None
        if default_merchant:
            self._default_merchant_id = self.add_merchant(DEFAULT_MERCHANT_ID).merchant_id

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> FlexEmulator:
        """Bind 127.0.0.1 and serve in a background thread. Returns ``self``."""
        if self._server is not None:
            return self
        ssl_context = None
        if self._tls:
            ssl_context, self._ca_cert_path = make_server_context(self._state_dir)
        server = FlexHTTPServer(self._port, self._service, self._registry, self._faults, ssl_context, self._payments)
        self._server = server
        self._service.origin = self.base_url
        # A short poll interval keeps stop() fast (shutdown waits for one poll).
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="flex-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and delete the files it created."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._own_state_dir:
            shutil.rmtree(self._state_dir, ignore_errors=True)

    def __enter__(self) -> FlexEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def _running(self) -> FlexHTTPServer:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return self._server

    # -- addresses ----------------------------------------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._running().server_address[1])

    @property
    def tls(self) -> bool:
        return self._tls

    @property
    def base_url(self) -> str:
        """``http(s)://127.0.0.1:<port>``: also the ``flx.origin`` of its capture contexts."""
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def run_environment(self) -> str:
        """The merchant-config ``run_environment`` that reaches this emulator.

        The official SDK prefixes ``https://`` unless the value has a scheme, so the
        plain-HTTP emulator needs an explicit ``http://``.
        """
        return f"127.0.0.1:{self.port}" if self._tls else self.base_url

    @property
    def ca_cert_path(self) -> Optional[str]:
        """PEM file of the CA that signed the TLS certificate (None without TLS)."""
        return self._ca_cert_path

    @property
    def state_dir(self) -> str:
        """Directory of the files the emulator writes (CA certificate, P12 files)."""
        return self._state_dir

    # -- clock and limits ---------------------------------------------------------------

    @property
    def clock(self) -> EmulatorClock:
        return self._service.clock

    @clock.setter
    def clock(self, clock: EmulatorClock) -> None:
        self._service.clock = clock

    @property
    def usage_limit(self) -> int:
        """Successful tokenizations allowed per capture context."""
        return self._service.usage_limit

    @usage_limit.setter
    def usage_limit(self, value: int) -> None:
        if value < 1:
            raise ValueError("usage_limit must be at least 1")
        self._service.usage_limit = value

    # -- merchants ----------------------------------------------------------------------

    def add_merchant(
        self,
        merchant_id: str,
        *,
        key_id: Optional[str] = None,
        shared_secret: Optional[str] = None,
        portfolio_id: Optional[str] = None,
        p12: bool = False,
        p12_password: Optional[str] = None,
    ) -> Merchant:
        """Register (or replace) a merchant. Missing credentials are generated.

        The key id + base64 shared secret serve HTTP Signature and JWT/SHARED_SECRET.
        With ``p12=True`` an RSA certificate is made too, written to
        ``<state_dir>/<merchant_id>.p12`` for JWT/P12 auth.
        """
        if not merchant_id or "/" in merchant_id or merchant_id.startswith("."):
            raise ValueError("merchant_id must be a non-empty plain name")
        p12_path = serial = None
        certificate = None
        if p12:
            p12_password = p12_password or secrets.token_urlsafe(12)
            p12_path, serial, certificate = make_p12(
                self._state_dir, merchant_id, portfolio_id or merchant_id, p12_password
            )
        merchant = Merchant(
            merchant_id=merchant_id,
            key_id=key_id or new_key_id(),
            shared_secret=shared_secret or new_shared_secret(),
            portfolio_id=portfolio_id,
            p12_path=p12_path,
            p12_password=p12_password if p12 else None,
            certificate_serial_number=serial,
            certificate=certificate,
        )
        self._registry.add(merchant)
        return merchant

    def remove_merchant(self, merchant_id: str) -> None:
        self._registry.remove(merchant_id)
        if merchant_id == self._default_merchant_id:
            self._default_merchant_id = None

    def merchant(self, merchant_id: Optional[str] = None) -> Merchant:
        """A registered merchant (default: the default merchant, else the first one)."""
        if merchant_id is None:
            merchant_id = self._default_merchant_id
        found = self._registry.get(merchant_id) if merchant_id is not None else None
        if found is None and merchant_id is None and self._registry.all():
            found = self._registry.all()[0]
        if found is None:
            raise KeyError("no such merchant")
        return found

    @property
    def merchants(self) -> list[Merchant]:
        return self._registry.all()

    def merchant_config(
        self, merchant_id: Optional[str] = None, authentication_type: str = "http_signature"
    ) -> dict[str, Any]:
        """Official-SDK merchant-config dict that authenticates against this emulator.

        ``authentication_type``: ``http_signature``, ``jwt`` (P12) or ``jwt_shared_secret``.
        In TLS mode it also carries ``ssl_ca_file`` (the emulator's CA), so clients verify
        the emulator's certificate instead of turning verification off.
        """
        config = self.merchant(merchant_id).merchant_config(self.run_environment, authentication_type)
        if self._ca_cert_path is not None:
            config["ssl_ca_file"] = self._ca_cert_path  # our extension key; the official SDK ignores it
        return config

    # -- keys -----------------------------------------------------------------------------

    @property
    def signing_kid(self) -> str:
        """kid of the key that signs new capture contexts."""
        return self._service.signing_kid

    def rotate_signing_key(self) -> str:
        """Sign new capture contexts with a fresh key; old kids keep being served."""
        return self._service.rotate_signing_key()

    def public_jwk(self, kid: Optional[str] = None) -> dict[str, str]:
        jwk = self._service.public_jwk(kid or self.signing_kid)
        if jwk is None:
            raise KeyError("unknown kid")
        return jwk

    # -- faults -----------------------------------------------------------------------

    def inject_fault(
        self,
        endpoint: str,
        *,
        latency: float = 0.0,
        status: Optional[int] = None,
        reset: bool = False,
        malformed_body: bool = False,
        wrong_digest: bool = False,
        times: Optional[int] = None,
        oversized_body: bool = False,
        truncated_body: bool = False,
    ) -> Fault:
        """Make ``endpoint`` (one of :data:`~flex_ext.emulator.faults.ENDPOINTS`) misbehave.

        ``times=N`` affects the next N requests only; ``None`` until ``clear_faults``.
        See :class:`~flex_ext.emulator.faults.Fault` for the effects.
        """
        fault = Fault(
            latency=latency,
            status=status,
            reset=reset,
            malformed_body=malformed_body,
            wrong_digest=wrong_digest,
            times=times,
            oversized_body=oversized_body,
            truncated_body=truncated_body,
        )
        self._faults.set(endpoint, fault)
        return fault

    def clear_faults(self, endpoint: Optional[str] = None) -> None:
        self._faults.clear(endpoint)

    def active_fault(self, endpoint: str) -> Optional[Fault]:
        """The fault still armed on ``endpoint`` (``times`` shows what is left)."""
        return self._faults.active(endpoint)

    def request_count(self, endpoint: Optional[str] = None) -> int:
        """Requests received on ``endpoint`` (all Flex endpoints when None), faults included."""
        return self._faults.count(endpoint)

    def reset_request_counts(self) -> None:
        """Zero the request counters and the authentication tallies."""
        self._faults.reset_counts()
        self._registry.reset_authentication_counts()

    def authenticated_requests(self, merchant_id: Optional[str] = None) -> int:
        """``POST /flex/v2/sessions`` requests whose credentials verified as ``merchant_id``
        (as any merchant when None). Each request counts for the merchant whose credentials
        verified it; one that does not verify counts in :meth:`authentication_failures`."""
        counts = self._registry.authentication_counts()
        return sum(counts.values()) if merchant_id is None else counts.get(merchant_id, 0)

    def authentication_failures(self) -> int:
        """Sessions requests refused with 401 (authentication failed)."""
        return self._registry.authentication_failures()

    def capture_context_merchant(self, kid: str) -> Optional[str]:
        """The merchant a capture context was issued to, by its ``flx.jwk`` kid (None if unknown)."""
        session = self._service.session(kid)
        return None if session is None else session.merchant_id

    # -- checkout sandbox (payments.py, docs/sandbox.md) ---------------------------------

    def transaction(self, transaction_id: str) -> Optional[dict[str, Any]]:
        """What ``GET /tss/v2/transactions/{id}`` shows for any merchant's transaction (None if unknown)."""
        return self._payments.transaction(None, transaction_id)

    def settle_payments(self) -> None:
        """Settle every capture, sale, refund and credit now: from then on they cannot be voided."""
        self._payments.settle()

    # -- in-process helpers -------------------------------------------------------------

    def issue_capture_context(
        self, fields: Optional[Mapping[str, Any]] = None, merchant_id: Optional[str] = None
    ) -> str:
        """A capture context as ``POST /flex/v2/sessions`` would return it, without HTTP.

        ``fields`` is the sessions ``fields`` tree (default :data:`DEFAULT_CARD_FIELDS`).
        Needs ``start()`` first, because ``flx.origin`` is the emulator's address.
        """
        self._running()
        required, optional = parse_session_fields({"fields": dict(fields or DEFAULT_CARD_FIELDS)})
        merchant = merchant_id or self._default_merchant_id or ""
        return self._service.create_capture_context(merchant, required, optional)

    def issue_transient_token(self, data: Mapping[str, Any], capture_context: Optional[str] = None) -> str:
        """A transient token for ``data`` (nested tree or dotted paths), without JWE or HTTP.

        Runs the tokens endpoint's checks (declared/required fields, Luhn, expiry, usage
        limit) and raises :class:`TokenizationError` on failure. Without a capture
        context, one declaring :data:`DEFAULT_CARD_FIELDS` is issued.
        """
        context = capture_context or self.issue_capture_context()
        return self._service.tokenize_data(context, data)
