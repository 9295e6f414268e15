"""A local checkout sandbox for offline integration tests: CyberSource Flex API v2,
Microform and Unified Checkout capture contexts, and Payroc Hosted Fields, on one port.

Start it in-process (``with FlexEmulator() as emu: ...``), from the command line
(``python -m flex_ext.emulator --port 0``) or through the pytest plugin
(``flex_ext.pytest_plugin``: ``flex_emulator``, ``flex_merchant_config``, ``payroc_config``,
...). Layout: :mod:`.loopback` (the one loopback HTTP server base), :mod:`.server` (the
route table, faults, error shapes), :mod:`.service` (keys, capture contexts, tokenization),
:mod:`.contexts` (Microform / Unified Checkout requests), :mod:`.payroc`, :mod:`.auth`,
:mod:`.faults`, :mod:`.clock`, :mod:`.keypool`.

``POST /microform/v2/sessions``, ``POST /up/v1/capture-contexts`` and ``POST /uc/v1/sessions``
authenticate exactly like ``/flex/v2/sessions`` and answer 201 with a capture context of
type ``mf-2.1.0`` (``mf-2.0.0`` without ``allowedPaymentTypes``) or ``gda-0.10.0``; a bad
request is a 400 in the flat shape, reason ``UNIFIEDPAYMENTS_VALIDATION_PARAMS``, one
``details`` entry per problem. Payroc: see :mod:`.payroc`.

It verifies what the real service verifies, with its own code (never the client's):

* ``POST /flex/v2/sessions``: HTTP Signature (``Date`` within ±5 minutes, ``Digest`` over
  the raw body, known key id / secret / ``v-c-merchant-id``, exactly the signed header
  list ``host date request-target digest v-c-merchant-id``) or JWT (``Authorization:
  Bearer``; RS256 by the merchant certificate, kid = subject serialNumber; or HS256 by the
  shared secret, kid = key id; ``digest``, ``request-method``, ``request-resource-path``,
  ``iat`` within ±5 minutes, ``exp`` not passed, ``v-c-merchant-id``). Failure: 401
  ``{"response": {"rmsg": "Authentication Failed"}}`` with an ``x-emulator-reason``
  header. Then the body: ``{"fields": {...}}`` (the unwrapped tree is accepted too);
  unknown paths, non-boolean ``required``, extra leaf members or no field at all give 400
  in the flat error shape, reason ``UNIFIEDPAYMENTS_VALIDATION_FIELDS`` (a body that is
  not a JSON object: ``UNIFIEDPAYMENTS_VALIDATION_PARAMS``). Success: 201
  ``application/jwt``, the capture context.
* ``GET /flex/v2/public-keys/{kid}``: 200 JWK, 404 (flat shape, ``NOT_FOUND``) if unknown.
* ``POST /flex/v2/tokens``: bare compact JWE (``application/jwt``) or JSON
  ``{"keyId": "<JWE>"}``. Success: **200** ``application/jwt`` with a ``Digest`` header.
  Errors (``responseStatus`` shape): 400 ``VALIDATION_ERROR`` (unparseable JWE, bad
  payload, ``index`` not 0, missing/undeclared fields, Luhn, expiry, security code),
  400 ``DECRYPTION_ERROR`` (wrong key, tampering), 404 ``CAPTURE_CONTEXT_NOT_FOUND``
  (unknown JWE ``kid``), 400 ``CAPTURE_CONTEXT_INVALID`` (``context`` is not the exact
  JWT of that key's session), 400 ``CAPTURE_CONTEXT_EXPIRED``, 400
  ``RESOURCE_QUOTA_EXCEEDED`` (more than ``usage_limit`` successful tokenizations of
  one capture context; default 5; failed attempts do not count).
"""

from __future__ import annotations

from .clock import EmulatorClock
from .core import DEFAULT_CARD_FIELDS, DEFAULT_MERCHANT_ID, FlexEmulator, PayrocEmulator
from .faults import ENDPOINT_ROUTES, ENDPOINTS, Fault
from .fields import FIELD_PATHS
from .loopback import LoopbackServer, Reply, Request
from .merchants import Merchant
from .payroc import CreatedSession, RecordedRequest
from .service import DEFAULT_USAGE_LIMIT, TokenizationError

__all__ = [
    "DEFAULT_CARD_FIELDS",
    "DEFAULT_MERCHANT_ID",
    "DEFAULT_USAGE_LIMIT",
    "ENDPOINTS",
    "ENDPOINT_ROUTES",
    "FIELD_PATHS",
    "CreatedSession",
    "EmulatorClock",
    "Fault",
    "FlexEmulator",
    "LoopbackServer",
    "Merchant",
    "PayrocEmulator",
    "RecordedRequest",
    "Reply",
    "Request",
    "TokenizationError",
]
