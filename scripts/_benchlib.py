"""Shared machinery of the benchmarks (``scripts/bench`` and ``scripts/bench_flex.py``).

What is here:

* measurement: interleaved batches (:func:`interleave`), one child process timed with its
  own peak RSS (:func:`spawn_measured`), the :class:`Figure` record and its printing;
* fixtures: distinct, really signed capture contexts (:class:`FlexFixture`);
* two helper programs, run as ``python scripts/_benchlib.py serve DIR`` (a loopback TLS
  server answering ``POST /flex/v2/sessions``) and ``python scripts/_benchlib.py worker``
  (driven over stdin: a capture-context client, or a client running whole tokenizations or
  purchases against the emulator; each ours, the bare floor or the official SDK).

Only the standard library is imported at module level: the worker also runs in the official
SDK's virtualenv, where neither ``flex_ext`` nor this project's ``CyberSource`` exists.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHLIB = os.path.abspath(__file__)
#: What a child needs on sys.path to import this checkout (as tests/conftest.py sets up).
SEARCH_PATH = [ROOT, os.path.join(ROOT, "generated", "cybersource"), os.path.join(ROOT, "generated", "payroc")]

SESSIONS_PATH = "/flex/v2/sessions"
LAST_REQUEST_PATH = "/__bench/last-request"
ENVIRONMENT = "https://apitest.cybersource.com"
#: Distinct capture contexts each side cycles over, so nothing token-specific is memoised.
POOL = 64

CARD = {
    "paymentInformation": {
        "card": {
            "number": "4111111111111111",
            "expirationMonth": "12",
            "expirationYear": "2031",
            "securityCode": "123",
            "type": "001",
        }
    }
}


def use_checkout() -> None:
    """Import ``flex_ext`` and ``CyberSource`` from this checkout."""
    for path in reversed(SEARCH_PATH):
        if path not in sys.path:
            sys.path.insert(0, path)


def child_env(extra: Optional[Dict[str, str]] = None, *, checkout: bool = True) -> Dict[str, str]:
    """The environment of a child: PYTHON* variables dropped, then PYTHONPATH set to this
    checkout (``checkout=True``) so every child, reference runs included, sees the same one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "SSL_CERT_FILE"}
    if checkout:
        env["PYTHONPATH"] = os.pathsep.join(SEARCH_PATH)
    env.update(extra or {})
    return env


# ---------------------------------------------------------------------------------------------
# Measurement


def per_call(fn: Callable[[], Any], number: int) -> float:
    """Seconds per call of ``fn`` over ``number`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def interleave(fns: Sequence[Callable[[], Any]], rounds: int, number: int, warmup: int = 50) -> List[List[float]]:
    """Per-call seconds of each batch of each function.

    Each round runs one batch of ``number`` calls of every function, in alternating order
    (A B, then B A, ...), so a noisy neighbour hits every side alike.
    """
    for fn in fns:
        for _ in range(warmup):
            fn()
    samples: List[List[float]] = [[] for _ in fns]
    order = list(range(len(fns)))
    for index in range(rounds):
        for i in order if index % 2 == 0 else order[::-1]:
            samples[i].append(per_call(fns[i], number))
    return samples


def _peak_rss_reporter(fd: int) -> str:
    """Python source that writes the process's /proc/self/status to ``fd`` (appended to a
    ``-c`` program: ``os`` and ``open`` are already loaded at startup, so it costs ~nothing)."""
    return f"\nimport os as _bench_os\n_bench_os.write({fd}, open('/proc/self/status', 'rb').read())\n"


def spawn_measured(argv: Sequence[str], env: Dict[str, str], cwd: str) -> Tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one ``python -c CODE`` child, spawn to reaping.

    The child is reaped with ``os.wait4`` (its own rusage, not ``RUSAGE_CHILDREN``'s maximum
    over all children so far). Its ``ru_maxrss`` is not used for the peak, though: Linux
    starts an exec'd process's ``maxrss`` at the RSS of the process it was forked (or
    vforked) from, so every child of a 25 MiB parent would read >= 25 MiB. The peak is the
    child's own ``VmHWM`` (high-water RSS of its post-exec address space), which the child
    writes to an inherited pipe as its last statement (``ru_maxrss`` where /proc is absent).
    """
    argv = list(argv)
    if argv[-2] != "-c":
        raise ValueError("spawn_measured runs `python -c CODE` programs")
    proc_status = os.path.exists("/proc/self/status")
    read_fd, write_fd = os.pipe() if proc_status else (-1, -1)
    if proc_status:
        argv[-1] += _peak_rss_reporter(write_fd)
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(write_fd,) if proc_status else (),
        )
        if proc_status:
            os.close(write_fd)
            write_fd = -1
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv!r} exited with status {proc.returncode}")
        peak = usage.ru_maxrss
        if proc_status:
            with os.fdopen(read_fd, "rb") as pipe:
                read_fd = -1
                report = pipe.read().decode("ascii", "replace")
            peak = int(report.split("VmHWM:", 1)[1].split()[0])  # kB
        return wall, peak
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                os.close(fd)


def run_checked(argv: Sequence[str], env: Dict[str, str], cwd: str, timeout: float = 300) -> str:
    """Run a child to completion (untimed); its stdout, or an error with its stderr."""
    done = subprocess.run(list(argv), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{list(argv)!r} exited with status {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


# ---------------------------------------------------------------------------------------------
# Figures


@dataclass
class Figure:
    """One measured figure: ours, the reference measured in the same run, and the target.

    ``value``/``reference`` are in ``unit`` (``s``, ``KiB``, ``bytes`` or ``entries``);
    ``ratio`` is value / reference; ``status`` is OK, MISSED (ratio above ``target``) or
    REPORTED (no target).
    """

    key: str
    label: str
    value: float
    unit: str
    statistic: str
    reference: Optional[float] = None
    reference_label: str = ""
    ratio: Optional[float] = None
    target: Optional[float] = None
    status: str = "REPORTED"
    details: Dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def compared(
    key: str,
    label: str,
    value: float,
    reference: float,
    *,
    unit: str,
    reference_label: str,
    statistic: str,
    target: Optional[float],
    details: Optional[Dict[str, Any]] = None,
) -> Figure:
    """A figure with a ratio; with ``target=None`` the ratio is reported, not judged."""
    ratio = value / reference if reference else float("inf")
    status = "REPORTED" if target is None else ("OK" if ratio <= target else "MISSED")
    return Figure(
        key=key,
        label=label,
        value=value,
        unit=unit,
        statistic=statistic,
        reference=reference,
        reference_label=reference_label,
        ratio=ratio,
        target=target,
        status=status,
        details=details or {},
    )


def show(value: Optional[float], unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        if value >= 1:
            return f"{value:.3f} s"
        if value >= 1e-3:
            return f"{value * 1e3:.2f} ms"
        return f"{value * 1e6:.1f} us"
    if unit == "KiB":
        return f"{value / 1024:.1f} MiB"
    if unit == "bytes":
        return f"{value / 1024:.1f} KiB"
    return f"{value:g} {unit}"


def format_figure(fig: Figure) -> str:
    line = f"{fig.label:<58} {show(fig.value, fig.unit):>11}"
    if fig.reference is not None:
        line += f"   {fig.reference_label:<24} {show(fig.reference, fig.unit):>11}"
    else:
        line += " " * 38
    if fig.ratio is not None:
        line += f"   {fig.ratio:5.2f}x"
    else:
        line += " " * 9
    line += f"   target <= {str(round(fig.target, 2)) + 'x':<5}" if fig.target is not None else " " * 18
    return line + f"  {fig.status:<8}  [{fig.statistic}]"


def batch_stats(samples: List[float]) -> Dict[str, float]:
    return {"best": min(samples), "median": median(samples), "worst": max(samples), "batches": len(samples)}


# ---------------------------------------------------------------------------------------------
# Capture contexts: real RS256 JWTs shaped like the ones Flex issues


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def uint(value: int) -> str:
    return b64u(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def rsa_jwk(key: Any, kid: str, use: str = "enc") -> Dict[str, str]:
    """The public JWK of an RSA private (or public) key."""
    public = key.public_key() if hasattr(key, "public_key") else key
    numbers = public.public_numbers()
    return {"kty": "RSA", "use": use, "kid": kid, "n": uint(numbers.n), "e": uint(numbers.e)}


def new_rsa_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def capture_context_claims(
    session_key: Any, now: int, origin: str = "https://testflex.cybersource.com"
) -> Dict[str, Any]:
    """Claims of a capture context (one-time encryption key ``session_key``), fresh random
    ``jti``, ``data`` and JWK kid, so that no two are alike."""
    return {
        "flx": {
            "path": "/flex/v2/tokens",
            "data": b64u(os.urandom(83)),
            "origin": origin,
            "jwk": rsa_jwk(session_key, b64u(os.urandom(24))),
        },
        "ctx": [
            {
                "data": {
                    "requiredFields": ["paymentInformation.card.number"],
                    "optionalFields": [
                        "paymentInformation.card.expirationYear",
                        "paymentInformation.card.expirationMonth",
                        "paymentInformation.card.type",
                        "paymentInformation.card.securityCode",
                    ],
                },
                "type": "api-0.1.0",
            }
        ],
        "iss": "Flex API",
        # An hour rather than Flex's 15 minutes, so a long benchmark run never sees one expire.
        "exp": now + 3600,
        "iat": now,
        "jti": b64u(os.urandom(12)),
    }


def sign_rs256(claims: Dict[str, Any], key: Any, kid: str) -> Tuple[str, bytes, bytes]:
    """(compact JWT, signing input, signature)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header = {"kid": kid, "alg": "RS256"}
    signing_input = (
        b64u(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64u(json.dumps(claims, separators=(",", ":")).encode())
    ).encode("ascii")
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return signing_input.decode("ascii") + "." + b64u(signature), signing_input, signature


def refuse_fetch(base_url: str, kid: str) -> Dict[str, Any]:
    raise AssertionError(f"benchmark resolver asked to fetch kid {kid!r}: the key should be cached")


class FlexFixture:
    """``POOL`` distinct capture contexts signed by one key (kid ``ts``), a resolver whose
    cache holds that key (and which refuses to fetch), and the contexts verified once, each
    with its encryption key already built (``ctx.encryption_key``)."""

    def __init__(self, pool: int = POOL, session_keys: int = 4) -> None:
        use_checkout()
        from flex_ext.capture_context import verify_capture_context
        from flex_ext.public_keys import InMemoryKeyStore, PublicKeyEntry, PublicKeyResolver

        self.signing = new_rsa_key()
        self.sessions = [new_rsa_key() for _ in range(session_keys)]
        now = int(time.time())
        signed = [
            sign_rs256(capture_context_claims(self.sessions[i % session_keys], now), self.signing, "ts")
            for i in range(pool)
        ]
        self.tokens = [s[0] for s in signed]
        self.inputs = [(s[2], s[1]) for s in signed]
        self.store = InMemoryKeyStore()
        self.resolver = PublicKeyResolver(ENVIRONMENT, store=self.store, fetcher=refuse_fetch)
        self.store.put(self.resolver.environment, "ts", PublicKeyEntry.from_jwk(rsa_jwk(self.signing, "ts")))
        self.contexts = [verify_capture_context(t, resolver=self.resolver) for t in self.tokens]
        for ctx in self.contexts:
            ctx.encryption_key  # noqa: B018 - built once here, as both sides start with a key object

    def verify_pair(self) -> Tuple[Callable[[], Any], Callable[[], Any]]:
        """(ours: verify_capture_context with the cached key, bare: one RSA PKCS#1 v1.5 verify)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        from flex_ext.capture_context import verify_capture_context

        tokens, inputs, resolver = self.tokens, self.inputs, self.resolver
        public = self.signing.public_key()
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        size = len(tokens)
        counter = [0, 0]

        def ours() -> None:
            counter[0] = (counter[0] + 1) % size
            verify_capture_context(tokens[counter[0]], resolver=resolver)

        def bare() -> None:
            counter[1] = (counter[1] + 1) % size
            signature, data = inputs[counter[1]]
            public.verify(signature, data, pkcs1, sha256)

        return ours, bare

    def jwe_pair(self) -> Tuple[Callable[[], Any], Callable[[], Any]]:
        """(ours: encrypt_for_capture_context of a card, bare: RSA-OAEP-256 of a fresh
        256-bit key + AES-256-GCM of the same plaintext), both cycling over the contexts."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        from flex_ext.jwe import build_plaintext, encrypt_for_capture_context

        contexts = self.contexts
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        bare_inputs = []
        for ctx in contexts:
            header = {"kid": ctx.kid, "alg": "RSA-OAEP-256", "enc": "A256GCM"}
            aad = b64u(json.dumps(header, separators=(",", ":")).encode()).encode("ascii")
            bare_inputs.append((ctx.encryption_key, build_plaintext(CARD, ctx.jwt), aad))
        size = len(contexts)
        counter = [0, 0]
        card = CARD
        urandom = os.urandom

        def ours() -> None:
            counter[0] = (counter[0] + 1) % size
            encrypt_for_capture_context(contexts[counter[0]], card)

        def bare() -> None:
            counter[1] = (counter[1] + 1) % size
            key, plaintext, aad = bare_inputs[counter[1]]
            cek = urandom(32)
            key.encrypt(cek, oaep)
            AESGCM(cek).encrypt(urandom(12), plaintext, aad)

        return ours, bare

    def jwcrypto_jwe(self) -> Optional[Callable[[], Any]]:
        """The same JWE (RSA-OAEP-256 + A256GCM, same header, same contexts) made by
        jwcrypto, the test suite's JOSE library, or None when it is not installed. It gets
        the plaintext already built: no field checks, no JSON, so the comparison favours it."""
        try:
            from jwcrypto import jwe, jwk
        except ImportError:
            return None
        from cryptography.hazmat.primitives import serialization

        from flex_ext.jwe import build_plaintext

        inputs = []
        for ctx in self.contexts:
            pem = ctx.encryption_key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            header = json.dumps({"kid": ctx.kid, "alg": "RSA-OAEP-256", "enc": "A256GCM"})
            inputs.append((jwk.JWK.from_pem(pem), build_plaintext(CARD, ctx.jwt), header))
        size = len(inputs)
        counter = [0]

        def jwcrypto() -> str:
            counter[0] = (counter[0] + 1) % size
            key, plaintext, header = inputs[counter[0]]
            token = jwe.JWE(plaintext, protected=header)
            token.add_recipient(key)
            return str(token.serialize(compact=True))

        return jwcrypto

# ---------------------------------------------------------------------------------------------
# Helper process 1: a loopback TLS server for POST /flex/v2/sessions


def _exit_when_parent_goes() -> None:
    # The parent keeps our stdin open; EOF means it is gone (or done): leave no orphan.
    try:
        while sys.stdin.buffer.read(65536):
            pass
    finally:
        os._exit(0)


def serve_main(directory: str) -> int:
    """Serve on 127.0.0.1 (self-signed CA from ``flex_ext.emulator.tls``) until stdin closes.

    Runs on the emulator's loopback server base. ``POST /flex/v2/sessions`` gets a canned
    201 ``application/jwt`` answer (a real, ~1.5 kB capture context); the last such request
    is echoed on ``GET`` of ``LAST_REQUEST_PATH`` so that a bare client can replay its exact
    headers and body. Prints one JSON line: ``port``, ``ca_cert_path``, ``jwt_length``.
    """
    use_checkout()
    from flex_ext.emulator import LoopbackServer, Reply, Request
    from flex_ext.emulator.tls import make_server_context

    context, ca_path = make_server_context(directory)
    last: Dict[str, Request] = {}
    canned: Dict[str, bytes] = {}

    def respond(request: Request) -> Reply:
        if request.method == "POST" and request.target == SESSIONS_PATH:
            last["request"] = request
            headers = {"Content-Type": "application/jwt", "v-c-correlation-id": "0b8e1a4c-0f1d-4bda-9a8b-3c7d5e6f7a8b"}
            return Reply(201, headers, canned["jwt"])
        if request.method == "GET" and request.target == LAST_REQUEST_PATH and "request" in last:
            seen = last["request"]
            payload = json.dumps({"headers": seen.headers, "body": seen.body.decode("utf-8")}).encode()
            return Reply(200, {"Content-Type": "application/json"}, payload)
        return Reply(404)

    server = LoopbackServer(respond, ssl_context=context, name="bench-server")
    jwt = sign_rs256(capture_context_claims(new_rsa_key(), int(time.time()), f"https://127.0.0.1:{server.port}"),
                     new_rsa_key(), "bench-signing-key")[0]
    canned["jwt"] = jwt.encode("ascii")
    server.start()
    sys.stdout.write(json.dumps({"port": server.port, "ca_cert_path": ca_path, "jwt_length": len(jwt)}) + "\n")
    sys.stdout.flush()
    _exit_when_parent_goes()
    return 0


# ---------------------------------------------------------------------------------------------
# Helper process 2: a capture-context client, driven over stdin
#
# Protocol: one JSON line of setup on stdin; the worker answers {"ready": ...} (after one
# checked call) or {"error": ...}. Then each line "N" runs N calls and is answered with
# {"wall": s, "cpu": s} (CPU: time.process_time() of the worker alone); "record" and "rss"
# answer the flow workers' extras (see _record, _rss_kib); "q" or EOF ends it. The protocol
# uses a private copy of stdout: anything the client library prints goes to stderr instead.


def _ours_call(setup: Dict[str, Any]) -> Callable[[], Any]:
    import CyberSource as cs

    api = cs.FlexAPIApi(setup["config"])
    leaf = cs.Flexv2sessionsFieldsOrderInformationAmountDetailsTotalAmount
    request = cs.GenerateFlexAPICaptureContextRequest(
        fields=cs.Flexv2sessionsFields(
            payment_information=cs.Flexv2sessionsFieldsPaymentInformation(
                card=cs.Flexv2sessionsFieldsPaymentInformationCard(
                    number=leaf(required=True),
                    expiration_month=leaf(required=True),
                    expiration_year=leaf(required=True),
                    security_code=leaf(required=False),
                )
            )
        )
    )
    expected = setup["jwt_length"]

    def call() -> None:
        data, status, _ = api.generate_flex_api_capture_context(request)
        if status != 201 or len(data) != expected:
            raise RuntimeError(f"unexpected answer: {status}, {len(data)} characters")

    return call


def _official_call(setup: Dict[str, Any]) -> Callable[[], Any]:
    import warnings

    warnings.filterwarnings("ignore")  # the unverified-HTTPS warning of every call
    import CyberSource

    # Workaround for the official SDK's pkg_resources bug (see tests/test_official_sdk_interop.py):
    # ApiClient.get_client_id cannot run in a plain venv, so FlexAPIApi cannot be built.
    client_id = setup["official_client_id"]
    CyberSource.ApiClient.get_client_id = lambda self: client_id
    config = dict(setup["config"])
    # It trusts only certifi's bundle (no CA-file key), so TLS verification is off; an int,
    # because a bool in the dict crashes its config validation unless file logging is on.
    config["ssl_verify"] = 0
    api = CyberSource.FlexAPIApi(config)
    body = setup["body"]  # the JSON string ours sent (it crashes on model objects and dicts)
    expected = setup["jwt_length"]

    def call() -> None:
        data, status, _ = api.generate_flex_api_capture_context(body)
        if status != 201 or len(data) != expected:
            raise RuntimeError(f"unexpected answer: {status}, {len(data)} characters")

    return call


def _bare_call(setup: Dict[str, Any]) -> Callable[[], Any]:
    import urllib3

    pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=setup["ca_cert_path"])
    url = setup["url"]
    headers = dict(setup["headers"])  # in the order ours sent them, Host and Content-Length included
    body = setup["body"].encode("utf-8")

    def call() -> None:
        response = pool.request("POST", url, body=body, headers=headers, retries=False, redirect=False)
        if response.status != 201 or not response.data:
            raise RuntimeError(f"unexpected answer: {response.status}")

    return call


# ---------------------------------------------------------------------------------------------
# Whole flows against ``python -m flex_ext.emulator`` (another process), one client per worker
#
# A flow is a tokenization (capture context -> verify -> JWE -> POST tokens -> verify token)
# or a purchase (the same, then authorize and capture). Three clients run it:
#
# * ours: FlexClient, as a merchant writes it;
# * the floor (BareFlow): bare urllib3 + hmac + ``cryptography`` doing only what the wire and
#   the security model require, replaying the requests ours sent (recorded from ours in a
#   run before: same header names, order and constant values, same bodies; Date, Digest and
#   Signature are computed afresh the same way, the JWE and the payment body's token are this
#   flow's own, the capture path carries this authorization's id);
# * the official SDK: its FlexAPIApi call and parse_capture_context_response, the floor's
#   tokenization (it has no tokenization client), its PaymentsApi and CaptureApi.

PURCHASE_AMOUNT = ("10.00", "USD")
FLOOR_CARD = {"number": "4111111111111111", "expirationMonth": "12", "expirationYear": "2031",
              "securityCode": "123"}


def _b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _http_date() -> str:
    from email.utils import formatdate

    return formatdate(usegmt=True)


class BareFlow:
    """The floor of a flow: the same requests through bare urllib3, HTTP Signature with
    ``hmac``, and only the mandatory crypto (RSA verify of context and token, RSA-OAEP-256 +
    AES-256-GCM of the same plaintext); the signing key is fetched once and cached, as ours."""

    def __init__(self, setup: Dict[str, Any]) -> None:
        import urllib3

        tls = setup["base_url"].startswith("https:")
        self.pool = (urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=setup["ssl_ca_file"]) if tls
                     else urllib3.PoolManager())
        self.base = setup["base_url"]
        merchant = setup["merchant"]
        self.merchant_id = merchant["merchant_id"]
        self.key_id = merchant["merchant_keyid"]
        self.secret = base64.b64decode(merchant["merchant_secretkey"])
        self.recorded = {request["name"]: request for request in setup["recorded"]["requests"]}
        ours_token = setup["recorded"]["token"].encode("ascii")
        self._payment_parts = self.recorded["payments"]["body"].encode("utf-8").split(ours_token)
        if len(self._payment_parts) != 2:
            raise RuntimeError("the recorded payment body does not hold the recorded token once")
        self.keys: Dict[str, Any] = {}

    def _post(self, name: str, path: str, body: bytes) -> bytes:
        import hashlib
        import hmac

        headers = dict(self.recorded[name]["headers"])  # names, order and constant values as ours sent
        if "Signature" in headers:
            digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
            date = _http_date()
            signing = (f"host: {headers['Host']}\ndate: {date}\nrequest-target: post {path}\n"
                       f"digest: {digest}\nv-c-merchant-id: {self.merchant_id}")
            signature = base64.b64encode(hmac.new(self.secret, signing.encode(), hashlib.sha256).digest()).decode()
            headers.update(Date=date, Digest=digest, Signature=(
                f'keyid="{self.key_id}", algorithm="HmacSHA256", '
                f'headers="host date request-target digest v-c-merchant-id", signature="{signature}"'))
        response = self.pool.request("POST", self.base + path, body=body, headers=headers, retries=False,
                                     redirect=False, timeout=30.0)
        if response.status not in (200, 201):
            raise RuntimeError(f"{name}: HTTP {response.status}: {response.data[:300]!r}")
        data: bytes = response.data
        return data

    def _signing_key(self, kid: str) -> Any:
        key = self.keys.get(kid)
        if key is None:  # once per kid, as ours caches it
            response = self.pool.request("GET", f"{self.base}/flex/v2/public-keys/{kid}", retries=False,
                                         timeout=30.0)
            key = self.keys[kid] = _rsa_from_jwk(json.loads(response.data))
        return key

    @staticmethod
    def verify(jwt: str, key: Any) -> Dict[str, Any]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header, payload, signature = jwt.split(".")
        key.verify(_b64u_decode(signature), f"{header}.{payload}".encode("ascii"), padding.PKCS1v15(),
                   hashes.SHA256())
        claims: Dict[str, Any] = json.loads(_b64u_decode(payload))
        return claims

    def capture_context(self) -> Tuple[str, Dict[str, Any]]:
        jwt = self._post("sessions", SESSIONS_PATH, self.recorded["sessions"]["body"].encode("utf-8")).decode("ascii")
        kid = json.loads(_b64u_decode(jwt.split(".", 1)[0]))["kid"]
        return jwt, self.verify(jwt, self._signing_key(kid))

    def tokenize(self, jwt: str, claims: Dict[str, Any]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        jwk = claims["flx"]["jwk"]
        key = _rsa_from_jwk(jwk)
        plaintext = json.dumps({"data": {"paymentInformation": {"card": dict(FLOOR_CARD)}}, "context": jwt,
                                "index": 0}, separators=(",", ":")).encode("utf-8")
        protected = b64u(json.dumps({"kid": jwk["kid"], "alg": "RSA-OAEP-256", "enc": "A256GCM"},
                                    separators=(",", ":")).encode())
        cek, iv = os.urandom(32), os.urandom(12)
        wrapped = key.encrypt(cek, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
        sealed = AESGCM(cek).encrypt(iv, plaintext, protected.encode("ascii"))
        jwe = ".".join((protected, b64u(wrapped), b64u(iv), b64u(sealed[:-16]), b64u(sealed[-16:])))
        token = self._post("tokens", "/flex/v2/tokens", jwe.encode("ascii")).decode("ascii")
        self.verify(token, key)  # the transient token is signed with the context's one-time key
        return token

    def payment_body(self, token: str) -> bytes:
        return token.encode("ascii").join(self._payment_parts)

    def authorize_and_capture(self, token: str) -> None:
        payment = json.loads(self._post("payments", "/pts/v2/payments", self.payment_body(token)))
        path = f"/pts/v2/payments/{payment['id']}/captures"
        capture = json.loads(self._post("captures", path, self.recorded["captures"]["body"].encode("utf-8")))
        if (payment["status"], capture["status"]) != ("AUTHORIZED", "PENDING"):
            raise RuntimeError(f"unexpected purchase: {payment['status']}, {capture['status']}")


def _rsa_from_jwk(jwk: Dict[str, Any]) -> Any:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

    return RSAPublicNumbers(int.from_bytes(_b64u_decode(jwk["e"]), "big"),
                            int.from_bytes(_b64u_decode(jwk["n"]), "big")).public_key()


def _floor_flow(setup: Dict[str, Any]) -> Callable[[], Any]:
    bare = BareFlow(setup)
    purchase = setup["flow"] == "purchase"

    def call() -> str:
        jwt, claims = bare.capture_context()
        token = bare.tokenize(jwt, claims)
        if purchase:
            bare.authorize_and_capture(token)
        return token

    return call


def _ours_flow(setup: Dict[str, Any]) -> Callable[[], Any]:
    from flex_ext.client import Card, FlexClient

    client = FlexClient(setup["config"])
    purchase = setup["flow"] == "purchase"
    amount, currency = PURCHASE_AMOUNT

    def call() -> Any:
        card = Card(FLOOR_CARD["number"], FLOOR_CARD["expirationMonth"], FLOOR_CARD["expirationYear"],
                    security_code=FLOOR_CARD["securityCode"])
        context = client.create_capture_context()  # POST /sessions, then verified
        token = client.tokenize(context, card)  # JWE, POST /tokens, token verified
        if purchase:
            payment = client.authorize(token, amount, currency)
            if payment.id is None:
                raise RuntimeError(f"an authorization without id: {payment.status}")
            capture = client.capture(payment.id, amount, currency)
            if (payment.status, capture.status) != ("AUTHORIZED", "PENDING"):
                raise RuntimeError(f"unexpected purchase: {payment.status}, {capture.status}")
        return token

    return call


def _record(call: Callable[[], Any]) -> Dict[str, Any]:
    """The requests one flow sends (urllib3 is wrapped for this one flow only): ours, for
    the floor to replay, and the floor's, to show that it sent the same."""
    import urllib3

    requests: List[Dict[str, Any]] = []
    original = urllib3.PoolManager.urlopen

    def urlopen(self: Any, method: str, url: str, redirect: bool = True, **kw: Any) -> Any:
        path = url.split("://", 1)[-1].split("/", 1)[-1]
        name = "captures" if path.endswith("/captures") else path.rsplit("/", 1)[-1]
        body = kw.get("body") or b""
        requests.append({"name": name, "method": method, "path": "/" + path, "headers": dict(kw.get("headers") or {}),
                         "body": body.decode("utf-8") if isinstance(body, bytes) else body})
        return original(self, method, url, redirect=redirect, **kw)

    urllib3.PoolManager.urlopen = urlopen  # type: ignore[method-assign]
    try:
        token = call()
    finally:
        urllib3.PoolManager.urlopen = original  # type: ignore[method-assign]
    return {"requests": requests, "token": getattr(token, "jwt", token)}


def _official_flow(setup: Dict[str, Any]) -> Callable[[], Any]:
    import warnings

    warnings.filterwarnings("ignore")
    import certifi

    # The SDK trusts certifi's bundle only (no CA-file key): a copy with the emulator's CA
    # appended, so that it verifies the emulator's certificate as ours does.
    if setup.get("ssl_ca_file"):
        bundle = os.path.join(setup["work_dir"], "official-ca-bundle.pem")
        with open(certifi.where()) as base, open(setup["ssl_ca_file"]) as extra, open(bundle, "w") as out:
            out.write(base.read() + "\n" + extra.read())
        certifi.where = lambda: bundle
    import CyberSource
    from CyberSource.utilities.flex.CaptureContextParsingUtility import parse_capture_context_response

    client_id = setup["official_client_id"]
    CyberSource.ApiClient.get_client_id = lambda self: client_id  # its pkg_resources bug, as above
    config = {k: v for k, v in setup["config"].items() if k != "ssl_ca_file"}
    flex, payments, captures = (CyberSource.FlexAPIApi(config), CyberSource.PaymentsApi(config),
                                CyberSource.CaptureApi(config))
    bare = BareFlow(setup)
    recorded = bare.recorded
    purchase = setup["flow"] == "purchase"

    def call() -> None:
        jwt, _, _ = flex.generate_flex_api_capture_context(recorded["sessions"]["body"])
        claims = parse_capture_context_response(jwt, flex.api_client.mconfig)
        if isinstance(claims, str):
            claims = json.loads(claims)
        token = bare.tokenize(jwt, claims)  # not the official SDK's cost: it has no tokenization client
        if purchase:
            payment, _, _ = payments.create_payment(bare.payment_body(token).decode("utf-8"))
            capture, _, _ = captures.capture_payment(recorded["captures"]["body"], payment.id)
            if (payment.status, capture.status) != ("AUTHORIZED", "PENDING"):
                raise RuntimeError(f"unexpected purchase: {payment.status}, {capture.status}")

    return call


def _rss_kib() -> int:
    with open("/proc/self/status", "rb") as status:
        return int(status.read().split(b"VmRSS:", 1)[1].split()[0])


def worker_main() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def say(message: Dict[str, Any]) -> None:
        proto.write(json.dumps(message) + "\n")
        proto.flush()

    try:
        setup = json.loads(sys.stdin.readline())
        if setup["mode"] in ("ours", "flow-ours"):
            use_checkout()
        make = {"ours": _ours_call, "bare": _bare_call, "official": _official_call, "flow-ours": _ours_flow,
                "flow-floor": _floor_flow, "flow-official": _official_flow}[setup["mode"]]
        call = make(setup)
        call()
    except Exception:
        say({"error": traceback.format_exc()[-3000:]})
        return 1
    say({"ready": True})
    for line in sys.stdin:
        command = line.strip()
        if command in ("", "q"):
            break
        if command in ("record", "rss"):  # one flow's requests (see _record); this process's RSS
            say(_record(call) if command == "record" else {"rss_kib": _rss_kib()})
            continue
        count = int(command)
        try:
            cpu = time.process_time()
            start = time.perf_counter()
            for _ in range(count):
                call()
            wall = time.perf_counter() - start
            cpu = time.process_time() - cpu
        except Exception:
            say({"error": traceback.format_exc()[-3000:]})
            return 1
        say({"wall": wall, "cpu": cpu})
    return 0


# ---------------------------------------------------------------------------------------------
# The parent side of helper processes


class Helper:
    """A helper process that talks one JSON line at a time on stdout; stderr goes to a file."""

    def __init__(self, argv: Sequence[str], env: Dict[str, str], cwd: str, name: str, terminate: bool = False) -> None:
        self.name = name
        self._terminate = terminate  # stopped by SIGTERM rather than by closing its stdin
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self.proc = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[Optional[str]] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def stderr_tail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-3000:].decode("utf-8", "replace")

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def read(self, timeout: float = 120.0) -> Dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise self._failed(f"no answer within {timeout:.0f} s") from None
        if line is None:
            raise self._failed(f"exited (status {self.proc.poll()})")
        message: Dict[str, Any] = json.loads(line)
        if "error" in message:
            raise self._failed(f"failed:\n{message['error']}")
        return message

    def _failed(self, what: str) -> RuntimeError:
        # The stderr tail is read before close(), which closes its file.
        tail = self.stderr_tail()
        self.close()
        return RuntimeError(f"{self.name} {what}\n{tail}")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                if self._terminate:
                    self.proc.terminate()
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self._stderr.close()


class Worker(Helper):
    """A capture-context client process (see :func:`worker_main`)."""

    def __init__(self, python: str, setup: Dict[str, Any], env: Dict[str, str], cwd: str, name: str,
                 isolated: bool = False) -> None:
        argv = [python] + (["-I"] if isolated else []) + [BENCHLIB, "worker"]
        super().__init__(argv, env, cwd, name)
        self.send(json.dumps(setup))
        self.read()

    def run(self, count: int) -> Tuple[float, float]:
        """(wall seconds per call, CPU seconds per call) of ``count`` calls."""
        self.send(str(count))
        message = self.read()
        return message["wall"] / count, message["cpu"] / count

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.send("q")
        super().close()


def main(argv: Sequence[str]) -> int:
    if len(argv) >= 2 and argv[0] == "serve":
        return serve_main(argv[1])
    if argv[:1] == ["worker"]:
        return worker_main()
    sys.stderr.write("usage: _benchlib.py serve DIR | worker\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
