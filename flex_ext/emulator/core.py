"""``FlexEmulator``: the in-process handle on a running local sandbox (Flex, Microform,
Unified Checkout and Payroc on one port); ``PayrocEmulator``: the same, named for Payroc."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from types import TracebackType
from typing import Any, Callable, Mapping, Optional, TypedDict, TypeVar, Union

from cryptography.hazmat.primitives.asymmetric import rsa

from .clock import EmulatorClock
from .faults import Fault, FaultBoard
from .fields import parse_session_fields
from .keypool import KeyPool
from .loopback import LoopbackServer
from .merchants import Merchant, MerchantRegistry, make_p12, new_key_id, new_shared_secret
from .payments import PaymentService
from .payroc import CreatedSession, PayrocService, RecordedRequest
from .server import EmulatorApp
from .service import (
    CAPTURE_CONTEXT_LIFETIME,
    DEFAULT_USAGE_LIMIT,
    TRANSIENT_TOKEN_LIFETIME,
    FlexService,
)
from .tls import make_server_context

__all__ = ["DEFAULT_CARD_FIELDS", "DEFAULT_MERCHANT_ID", "FlexEmulator", "PayrocEmulator"]

DEFAULT_MERCHANT_ID = "emulator_merchant"
_Emulator = TypeVar("_Emulator", bound="FlexEmulator")


class PayrocSettings(TypedDict):
    """The ``PayrocConfig`` arguments that reach an emulator (``PayrocConfig(**settings)``)."""

    api_key: str
    identity_url: str
    api_url: str

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
    """A local CyberSource checkout sandbox (and Payroc Hosted Fields) on 127.0.0.1.

    Use as a context manager (``with FlexEmulator() as emu:``) or call ``start()`` and
    ``stop()``. It verifies merchant signatures, issues capture contexts, decrypts JWEs
    and issues transient tokens like the real service (see the package docstring for
    the choices where the real service's behaviour is not documented). The same port
    serves Payroc's ``/authorize`` and hosted-fields sessions (``payroc_*`` members).

    ``clock`` is an :class:`EmulatorClock` or any zero-argument callable returning epoch
    seconds; ``key_pool_size`` bounds the one-time keys made ahead in the background
    (0: every capture context makes its key on the spot).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        tls: bool = False,
        clock: Union[EmulatorClock, Callable[[], float], None] = None,
        usage_limit: int = DEFAULT_USAGE_LIMIT,
        context_lifetime: int = CAPTURE_CONTEXT_LIFETIME,
        token_lifetime: int = TRANSIENT_TOKEN_LIFETIME,
        default_merchant: bool = True,
        state_dir: Optional[str] = None,
        signing_key: Optional[rsa.RSAPrivateKey] = None,
        signing_kid: Optional[str] = None,
        payroc_api_key: Optional[str] = None,
        key_pool_size: int = 8,
    ) -> None:
        self._port = port
        self._tls = tls
        self._own_state_dir = state_dir is None
        self._state_dir = state_dir or tempfile.mkdtemp(prefix="flex-emulator-")
        if clock is None:
            clock = EmulatorClock()
        elif not isinstance(clock, EmulatorClock):
            clock = EmulatorClock(source=clock)
        self._service = FlexService(
            clock,
            usage_limit=usage_limit,
            context_lifetime=context_lifetime,
            token_lifetime=token_lifetime,
            signing_key=signing_key,
            signing_kid=signing_kid,
            key_pool=KeyPool(key_pool_size),
        )
        self._registry = MerchantRegistry()
        self._faults = FaultBoard()
        self._payroc = PayrocService(clock, api_key=payroc_api_key)
        # Payments survive a restart only in a state_dir the caller chose.
        state_file = None if self._own_state_dir else os.path.join(self._state_dir, "payments.jsonl")
        self._payments = PaymentService(clock.now, state_file)
        self._service.on_token_issued = self._payments.register_token
        self._app = EmulatorApp(
            self._service, self._registry, self._payroc, self._faults, self._state_dir, self._payments
        )
        self._server: Optional[LoopbackServer] = None
        self._ca_cert_path: Optional[str] = None
        self._default_merchant_id: Optional[str] = None
        if default_merchant:
            self._default_merchant_id = self.add_merchant(DEFAULT_MERCHANT_ID).merchant_id

    # -- lifecycle ----------------------------------------------------------------------

    def start(self: _Emulator) -> _Emulator:
        """Bind 127.0.0.1 and serve in a background thread. Returns ``self``."""
        if self._server is not None:
            return self
        ssl_context = None
        if self._tls:
            ssl_context, self._ca_cert_path = make_server_context(self._state_dir)
        self._server = LoopbackServer(
            self._app,
            port=self._port,
            ssl_context=ssl_context,
            on_body_error=self._app.body_error,
            name="flex-emulator",
        ).start()
        self._service.origin = self.base_url
        self._payroc.api_url = self.base_url + "/v1"
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections, stop the key pool and delete the files it created."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        self._service.key_pool.stop()
        if self._own_state_dir:
            shutil.rmtree(self._state_dir, ignore_errors=True)

    def __enter__(self: _Emulator) -> _Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def _running(self) -> LoopbackServer:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return self._server

    # -- addresses ----------------------------------------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self._running().port

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
        self._payroc.clock = clock

    @property
    def usage_limit(self) -> int:
        """Successful tokenizations allowed per capture context."""
        return self._service.usage_limit

    @usage_limit.setter
    def usage_limit(self, value: int) -> None:
        if value < 1:
            raise ValueError("usage_limit must be at least 1")
        self._service.usage_limit = value

    @property
    def spare_keys(self) -> int:
        """One-time keys made ahead by the background pool and not yet used."""
        return len(self._service.key_pool)

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
        after_processing: bool = False,
    ) -> Fault:
        """Make ``endpoint`` (a name of :data:`~flex_ext.emulator.faults.ENDPOINTS`:
        "sessions", "public-keys", "tokens", "microform-sessions", "uc-capture-contexts",
        "uc-sessions", "payroc-authorize", "payroc-sessions") misbehave.

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
            after_processing=after_processing,
        )
        self._faults.set(endpoint, fault)
        return fault

    def clear_faults(self, endpoint: Optional[str] = None) -> None:
        self._faults.clear(endpoint)

    def active_fault(self, endpoint: str) -> Optional[Fault]:
        """The fault still armed on ``endpoint`` (``times`` shows what is left)."""
        return self._faults.active(endpoint)

    def request_count(self, endpoint: Optional[str] = None) -> int:
        """Requests received on ``endpoint`` (all endpoints when None), faults included."""
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

    def mint_transient_token(
        self,
        capture_context: str,
        card: Optional[Mapping[str, str]] = None,
        data: Optional[Mapping[str, Any]] = None,
    ) -> str:
        """The transient token a browser (Microform, Unified Checkout or a Flex API client)
        would get for ``capture_context``, without a browser, a JWE or HTTP.

        ``card`` holds ``paymentInformation.card`` members (``number``, ``securityCode``,
        ``expirationMonth``, ``expirationYear``, ``type``); default: the Visa test card
        4111 1111 1111 1111, expiring in December three years from the emulator clock.
        ``data`` adds other members (e.g. ``{"orderInformation": {"billTo": {...}}}``).
        It goes through the tokens endpoint's code: undeclared fields, Luhn, expiry and the
        usage limit raise :class:`TokenizationError` exactly as ``POST /flex/v2/tokens`` does.
        """
        if card is None:
            card = {
                "number": "4111111111111111",
                "expirationMonth": "12",
                "expirationYear": str(self.clock.now_datetime().year + 3),
            }
        tree: dict[str, Any] = dict(data or {})
        payment = dict(tree.get("paymentInformation") or {})
        payment["card"] = {**dict(payment.get("card") or {}), **dict(card)}
        tree["paymentInformation"] = payment
        return self.issue_transient_token(tree, capture_context)

    # -- Payroc (Hosted Fields) -------------------------------------------------------------

    @property
    def payroc_api_key(self) -> str:
        """The API key Payroc's ``/authorize`` accepts."""
        return self._payroc.api_key

    @property
    def payroc_identity_url(self) -> str:
        """Base URL of the Payroc Identity service (``POST {url}/authorize``): the emulator's."""
        return self.base_url

    @property
    def payroc_api_url(self) -> str:
        """Base URL of the Payroc API, with its ``/v1`` prefix."""
        return self.base_url + "/v1"

    def payroc_config(self) -> PayrocSettings:
        """Keyword arguments of :class:`flex_ext.hosted_fields.PayrocConfig` that reach this
        emulator: ``PayrocConfig(**emulator.payroc_config())``."""
        return {
            "api_key": self.payroc_api_key,
            "identity_url": self.payroc_identity_url,
            "api_url": self.payroc_api_url,
        }

    @property
    def payroc_sessions(self) -> list[CreatedSession]:
        """Hosted-fields sessions really created (idempotent replays not counted)."""
        return self._payroc.sessions

    @property
    def payroc_authorize_calls(self) -> int:
        """``/authorize`` requests that reached the handler (accepted or not)."""
        return self._payroc.authorize_calls

    @property
    def payroc_requests(self) -> list[RecordedRequest]:
        """Payroc requests received (the last 1,000), in order, without credential headers."""
        return self._payroc.requests

    def revoke_payroc_tokens(self) -> None:
        """Invalidate every Payroc bearer token issued so far."""
        self._payroc.revoke_tokens()


class PayrocEmulator(FlexEmulator):
    """The emulator under its Payroc names (same server, faults and clock as :class:`FlexEmulator`).

    ``identity_url``, ``api_url``, ``api_key``, ``sessions``, ``sessions_created``,
    ``authorize_calls`` and ``requests`` are the ``payroc_*`` members of the emulator::

        with PayrocEmulator() as payroc:
            config = PayrocConfig(**payroc.payroc_config())
    """

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        clock: Union[EmulatorClock, Callable[[], float], None] = None,
        port: int = 0,
        tls: bool = False,
    ) -> None:
        super().__init__(port=port, tls=tls, clock=clock, default_merchant=False, payroc_api_key=api_key)

    def __repr__(self) -> str:
        return f"PayrocEmulator({self.base_url if self._server is not None else 'stopped'})"

    @property
    def identity_url(self) -> str:
        return self.payroc_identity_url

    @property
    def api_url(self) -> str:
        return self.payroc_api_url

    @property
    def api_key(self) -> str:
        return self.payroc_api_key

    @property
    def sessions(self) -> list[CreatedSession]:
        return self.payroc_sessions

    @property
    def token_lifetime(self) -> int:
        """``expires_in`` of the bearer tokens ``/authorize`` issues (3600 by default)."""
        return self._payroc.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, seconds: int) -> None:
        self._payroc.token_lifetime = seconds

    @property
    def session_lifetime(self) -> int:
        """Seconds until a hosted-fields session token expires (600 by default)."""
        return self._payroc.session_lifetime

    @session_lifetime.setter
    def session_lifetime(self, seconds: int) -> None:
        self._payroc.session_lifetime = seconds

    @property
    def sessions_created(self) -> int:
        return len(self.payroc_sessions)

    @property
    def authorize_calls(self) -> int:
        return self.payroc_authorize_calls

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.payroc_requests

    def session_requests(self) -> list[RecordedRequest]:
        return [r for r in self.payroc_requests if r.path.split("?", 1)[0].endswith("/hosted-fields-sessions")]

    def revoke_tokens(self) -> None:
        self.revoke_payroc_tokens()

    def fail_next(
        self, count: int = 1, *, status: int = 500, endpoint: str = "sessions", after_processing: bool = False
    ) -> None:
        """``inject_fault("payroc-<endpoint>", status=status, times=count, ...)``; endpoint
        ``"sessions"``, ``"authorize"`` or ``"any"`` (both)."""
        for name in self._payroc_endpoints(endpoint):
            self.inject_fault(name, status=status, times=count, after_processing=after_processing)

    def reset_next(self, count: int = 1, *, endpoint: str = "sessions", after_processing: bool = False) -> None:
        """``inject_fault("payroc-<endpoint>", reset=True, times=count, ...)``."""
        for name in self._payroc_endpoints(endpoint):
            self.inject_fault(name, reset=True, times=count, after_processing=after_processing)

    @staticmethod
    def _payroc_endpoints(endpoint: str) -> tuple[str, ...]:
        if endpoint not in ("sessions", "authorize", "any"):
            raise ValueError("endpoint must be 'sessions', 'authorize' or 'any'")
        return ("payroc-sessions", "payroc-authorize") if endpoint == "any" else (f"payroc-{endpoint}",)
