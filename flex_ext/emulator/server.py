"""The emulator's request dispatch: one route table, faults, error shapes, every endpoint.

:class:`EmulatorApp` is the ``respond`` callable of a :class:`~.loopback.LoopbackServer`.
``ROUTES`` is the one place that maps (method, path) to an endpoint name (the name fault
injection and request counters use) and ``EmulatorApp._handlers`` maps endpoint names to
handlers. A new endpoint is one ``ROUTES`` entry, one ``faults.ENDPOINT_ROUTES`` entry
(its documented name and route template) and one handler ``(request, path parameter) ->
Reply``. The app holds everything a handler may need: the Flex service (keys, capture
contexts, issued transient tokens), the merchants, the Payroc service, the faults, the
clock and the state directory.

Request and response bodies are never logged; the debug log holds method, path and
status only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
import uuid
from typing import Any, Callable, Optional, Union
from urllib.parse import unquote

from .auth import AuthFailure, SignedRequest, authenticate
from .clock import EmulatorClock
from .contexts import ContextSpec, RequestProblem, microform_context, unified_checkout_context
from .faults import ENDPOINT_ROUTES, OVERSIZED_BODY_BYTES, Fault, FaultBoard
from .fields import FieldProblem, parse_session_fields
from .jose import parse_json_object
from .loopback import BodyError, Reply, Request
from .merchants import Merchant, MerchantRegistry
from .payments import PAYMENT_ENDPOINTS, PaymentService
from .payments import ROUTES as PAYMENT_ROUTES
from .payroc import PayrocService, payroc_problem
from .service import FlexService, TokenizationError

__all__ = ["ROUTES", "EmulatorApp"]

_log = logging.getLogger("flex_ext.emulator")

_INFORMATION_LINK = "https://developer.cybersource.com/api/reference/api-reference.html"
_AUTH_HEADERS = ("host", "date", "digest", "signature", "authorization", "v-c-merchant-id")

#: (path pattern, endpoint name, method). A pattern's first group is the path parameter.
ROUTES: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"/flex/v2/sessions"), "sessions", "POST"),
    (re.compile(r"/flex/v2/tokens"), "tokens", "POST"),
    (re.compile(r"/flex/v2/public-keys/([^/]+)"), "public-keys", "GET"),
    (re.compile(r"/microform/v2/sessions"), "microform-sessions", "POST"),
    (re.compile(r"/up/v1/capture-contexts"), "uc-capture-contexts", "POST"),
    (re.compile(r"/uc/v1/sessions"), "uc-sessions", "POST"),
    (re.compile(r"/authorize"), "payroc-authorize", "POST"),
    (re.compile(r"/v1/processing-terminals/([^/]*)/hosted-fields-sessions"), "payroc-sessions", "POST"),
    *PAYMENT_ROUTES,  # the checkout sandbox: payments, follow-ons, TSS, token data
]


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _flat_error(status: int, reason: str, message: str, details: Optional[list[tuple[str, str]]] = None) -> Reply:
    body = {
        "correlationId": str(uuid.uuid4()),
        "details": [{"location": loc, "message": msg} for loc, msg in details or []],
        "informationLink": _INFORMATION_LINK,
        "message": message,
        "reason": reason,
    }
    return Reply(status, {"Content-Type": "application/json", "x-emulator-reason": message}, _json(body))


def _digest_header(body: bytes) -> str:
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def _is_payroc(path: str) -> bool:
    """Payroc's paths answer errors in Payroc's problem shape."""
    return path == "/authorize" or path.startswith("/v1/")


def _route(method: str, path: str) -> tuple[Optional[str], str, str]:
    """(endpoint name, path parameter, allowed methods) of a request: the endpoint is None
    when no route has this path, or when routes have it but none for this method (405)."""
    allowed = []
    for pattern, endpoint, route_method in ROUTES:
        match = pattern.fullmatch(path)
        if match:
            if route_method == method:
                return endpoint, unquote(match.group(1)) if pattern.groups else "", method
            allowed.append(route_method)
    return None, "", ", ".join(allowed)


class EmulatorApp:
    """Routes each request, applies the armed fault, and answers in the service's shapes."""

    def __init__(
        self,
        service: FlexService,
        registry: MerchantRegistry,
        payroc: PayrocService,
        faults: FaultBoard,
        state_dir: str,
        payments: PaymentService,
    ) -> None:
        self.service = service
        self.payments = payments
        self.registry = registry
        self.payroc = payroc
        self.faults = faults
        self.state_dir = state_dir
        self._handlers: dict[str, Callable[[Request, str], Reply]] = {
            "sessions": self._flex_sessions,
            "tokens": self._tokens,
            "public-keys": self._public_key,
            "microform-sessions": lambda request, _: self._product_context(request, microform_context),
            "uc-capture-contexts": lambda request, _: self._product_context(request, unified_checkout_context),
            "uc-sessions": lambda request, _: self._product_context(request, unified_checkout_context),
            "payroc-authorize": lambda request, _: self.payroc.authorize(request),
            "payroc-sessions": self.payroc.create_session,
            **dict.fromkeys(PAYMENT_ENDPOINTS, self._checkout),
        }

    @property
    def clock(self) -> EmulatorClock:
        return self.service.clock

    # -- plumbing -------------------------------------------------------------------------

    def body_error(self, request: Request, error: BodyError) -> Reply:
        """The answer to a request whose body could not be read (bad framing, too large)."""
        if _is_payroc(request.path):
            return payroc_problem(error.status, f"The body is too large or its framing is invalid: {error.message}")
        return _flat_error(error.status, "INVALID_REQUEST", error.message)

    def __call__(self, request: Request) -> Reply:
        endpoint, parameter, allowed = _route(request.method, request.path)
        reply = self._serve(endpoint, parameter, request) if endpoint else self._no_route(request, allowed)
        # The route's template, never the path itself: paths can hold tokens and ids.
        route = ENDPOINT_ROUTES[endpoint] if endpoint else f"{request.method} (no route)"
        _log.debug("%s -> %s", route, "reset" if reply.reset else reply.status)
        return reply

    def _no_route(self, request: Request, allowed: str) -> Reply:
        payroc = _is_payroc(request.path)
        if not allowed:
            if payroc:
                return payroc_problem(404, "No such resource")
            return _flat_error(404, "NOT_FOUND", "no such resource")
        if payroc:
            reply = payroc_problem(405, f"Use {allowed}")
        else:
            reply = _flat_error(405, "METHOD_NOT_ALLOWED", f"use {allowed}")
        reply.headers["Allow"] = allowed
        return reply

    def _serve(self, endpoint: str, parameter: str, request: Request) -> Reply:
        fault = self.faults.on_request(endpoint)
        if fault is not None and fault.latency:
            time.sleep(fault.latency)
        replaces_answer = fault is not None and bool(fault.reset or fault.status)
        handled = fault is None or fault.after_processing or not replaces_answer
        reply = self._handle(endpoint, parameter, request) if handled else None
        if fault is not None:
            reply = self._apply(fault, endpoint, reply)
        assert reply is not None
        if endpoint.startswith("payroc-"):
            self.payroc.record(request, None if reply.reset else reply.status)
        return reply

    def _handle(self, endpoint: str, parameter: str, request: Request) -> Reply:
        try:
            return self._handlers[endpoint](request, parameter)
        except Exception:
            # A bug in the emulator must look like a server error, not a dropped connection.
            # No traceback in the log: locals could hold request data.
            _log.debug("%s %s failed inside the emulator", request.method, endpoint)
            return self._injected_error(endpoint, 500, "emulator internal error")

    def _apply(self, fault: Fault, endpoint: str, reply: Optional[Reply]) -> Reply:
        """The answer once ``fault`` is applied (``reply`` is None when the request was not handled)."""
        if fault.reset:
            return Reply(reset=True)
        if fault.status is not None:
            reply = self._injected_error(endpoint, fault.status)
        assert reply is not None
        # Body effects apply to whichever answer goes out, the real one or the injected error.
        headers, body = dict(reply.headers), reply.body
        if fault.malformed_body:
            body = body[: len(body) // 2] if len(body) > 1 else b"{"
        if fault.oversized_body:
            # Still a valid body (JSON and JWTs allow trailing whitespace): only its size is wrong.
            body = body + b" " * max(0, OVERSIZED_BODY_BYTES - len(body))
        if "Digest" in headers or fault.wrong_digest:
            headers["Digest"] = _digest_header(body + (b"\x00" if fault.wrong_digest else b""))
        return Reply(reply.status, headers, body, truncated=fault.truncated_body)

    def _injected_error(self, endpoint: str, status: int, message: str = "injected fault") -> Reply:
        if endpoint.startswith("payroc-"):
            detail = "We are unable to process your request at this time"
            return payroc_problem(status, detail, [{"message": "Service offline"}])
        if endpoint in PAYMENT_ENDPOINTS:
            return Reply(*self.payments.injected_error(status))
        if endpoint == "tokens":
            reason = "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR"
            error = TokenizationError(status, reason, message)
            headers = {"Content-Type": "application/json", "x-emulator-reason": message}
            return Reply(status, headers, _json(error.body()))
        return _flat_error(status, "SERVER_ERROR" if status >= 500 else "INVALID_REQUEST", message)

    # -- merchant-authenticated capture contexts ------------------------------------------

    def _authenticate(self, request: Request) -> Union[Merchant, Reply]:
        """The merchant that signed ``request``, or the 401 to answer."""
        headers: dict[str, str] = {}
        duplicate: Optional[str] = None
        for name, value in request.headers:
            key = name.lower()
            if key in headers and key in _AUTH_HEADERS:
                duplicate = key
            headers[key] = value
        signed = SignedRequest(method=request.method, target=request.target, headers=headers, body=request.body)
        try:
            if duplicate is not None:
                raise AuthFailure(f"{duplicate} header appears more than once")
            merchant = authenticate(signed, self.registry, self.clock.now())
        except AuthFailure as exc:
            self.registry.record_authentication(None)
            return Reply(
                401,
                {"Content-Type": "application/json", "x-emulator-reason": exc.reason},
                _json({"response": {"rmsg": "Authentication Failed"}}),
            )
        self.registry.record_authentication(merchant.merchant_id)
        return merchant

    def _signed_json(self, request: Request) -> Union[tuple[Merchant, dict[str, Any]], Reply]:
        """The merchant that signed a capture-context request and its JSON object body, or the
        401 / 400 to answer."""
        merchant = self._authenticate(request)
        if isinstance(merchant, Reply):
            return merchant
        parsed = parse_json_object(request.body)
        if parsed is None:
            return _flat_error(400, "UNIFIEDPAYMENTS_VALIDATION_PARAMS", "the request body must be a JSON object")
        return merchant, parsed

    def _flex_sessions(self, request: Request, _: str) -> Reply:
        signed = self._signed_json(request)
        if isinstance(signed, Reply):
            return signed
        merchant, parsed = signed
        try:
            required, optional = parse_session_fields(parsed)
        except FieldProblem as exc:
            return _flat_error(400, "UNIFIEDPAYMENTS_VALIDATION_FIELDS", "invalid fields", exc.details)
        token = self.service.create_capture_context(merchant.merchant_id, required, optional)
        return Reply(201, {"Content-Type": "application/jwt"}, token.encode("ascii"))

    def _product_context(self, request: Request, build: Callable[[dict[str, Any], str], ContextSpec]) -> Reply:
        """Microform / Unified Checkout: the same authentication, then the product's request."""
        signed = self._signed_json(request)
        if isinstance(signed, Reply):
            return signed
        merchant, parsed = signed
        try:
            spec = build(parsed, self.service.origin)
        except RequestProblem as exc:
            return _flat_error(400, "UNIFIEDPAYMENTS_VALIDATION_PARAMS", "invalid request parameters", exc.details)
        token = self.service.create_capture_context(
            merchant.merchant_id, spec.required, spec.optional, spec.context_type, spec.data, spec.flx_extra
        )
        return Reply(201, {"Content-Type": "application/jwt;charset=UTF-8"}, token.encode("ascii"))

    def _checkout(self, request: Request, _: str) -> Reply:
        """The checkout sandbox (payments.py), behind the same merchant authentication."""
        merchant = self._authenticate(request)
        if isinstance(merchant, Reply):
            return merchant
        return Reply(*self.payments.handle(request.method, request.path, merchant.merchant_id, request.body))

    # -- public keys and tokens -----------------------------------------------------------

    def _public_key(self, _: Request, kid: str) -> Reply:
        jwk = self.service.public_jwk(kid)
        if jwk is None:
            return _flat_error(404, "NOT_FOUND", "no public key has this kid")
        return Reply(200, {"Content-Type": "application/json"}, _json(jwk))

    def _tokens(self, request: Request, _: str) -> Reply:
        try:
            token = self.service.tokenize_jwe(self._jwe_from_body(request))
        except TokenizationError as exc:
            headers = {"Content-Type": "application/json", "x-emulator-reason": exc.message}
            return Reply(exc.status, headers, _json(exc.body()))
        payload = token.encode("ascii")
        return Reply(200, {"Content-Type": "application/jwt", "Digest": _digest_header(payload)}, payload)

    @staticmethod
    def _jwe_from_body(request: Request) -> str:
        body = request.body
        content_type = (request.header("Content-Type") or "").lower()
        if content_type.startswith("application/json") or body.lstrip().startswith(b"{"):
            parsed = parse_json_object(body)
            key_id = parsed.get("keyId") if parsed is not None else None
            if not isinstance(key_id, str):
                raise TokenizationError(400, "VALIDATION_ERROR", 'a JSON body must be {"keyId": "<JWE>"}')
            return key_id.strip()
        try:
            text = body.decode("ascii").strip()
        except UnicodeDecodeError:
            text = ""
        if not text:
            raise TokenizationError(400, "VALIDATION_ERROR", "the body must be a compact JWE")
        return text
