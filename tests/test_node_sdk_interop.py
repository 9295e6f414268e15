"""The official Node.js SDK (``cybersource-rest-client``, pinned) against the emulator over TLS.

Four modes, each a real call of the SDK: HTTP Signature (201, and 401 with a wrong secret),
JWT with the emulator's P12 file, JWT with a shared secret, and the SDK's own
``parseCaptureContextResponse`` verifying our capture context (public key fetched from the
emulator), followed by a JWE built with the ``jose`` package the SDK depends on.

Slow (an ``npm install`` on first run, into ``.cache/node-sdk/``). Skipped, with the
reason shown, only when ``node``/``npm`` are not installed; CI installs Debian's
``nodejs npm`` so the test runs there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from flex_ext.emulator import FlexEmulator

pytestmark = pytest.mark.slow

NODE_SDK = "cybersource-rest-client@0.0.83"
ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "node-sdk"

SCRIPT = r"""
'use strict';
const https = require('https');
const cs = require('cybersource-rest-client');
const jose = require('jose');

const input = JSON.parse(process.argv[2]);
const FIELDS = {fields: {paymentInformation: {card: {
  number: {required: true}, expirationMonth: {required: true}, expirationYear: {required: true},
  securityCode: {required: false}}}}};

function merchantConfig(mode, secret) {
  const config = {
    runEnvironment: input.runEnvironment, merchantID: input.merchantId,
    logConfiguration: {enableLog: false},
  };
  if (mode === 'http_signature') {
    Object.assign(config, {authenticationType: 'http_signature', merchantKeyId: input.keyId,
                           merchantsecretKey: secret || input.secret});
  } else if (mode === 'jwt_shared_secret') {
    Object.assign(config, {authenticationType: 'jwt', jwtKeyType: 'SHARED_SECRET',
                           merchantKeyId: input.keyId, merchantsecretKey: input.secret});
  } else {
    Object.assign(config, {authenticationType: 'jwt', merchantID: input.p12.merchantId,
                           keysDirectory: input.p12.keysDirectory, keyFileName: input.p12.keyFileName,
                           keyAlias: input.p12.keyAlias, keyPass: input.p12.keyPassword});
  }
  return config;
}

function generate(mode, secret) {
  return new Promise((resolve) => {
    const apiClient = new cs.ApiClient();
    const api = new cs.FlexAPIApi(merchantConfig(mode, secret), apiClient);
    try {
      api.generateFlexAPICaptureContext(FIELDS, (error, data, response) => {
        const status = (response && (response.status || response.statusCode)) || (error && error.status) || null;
        resolve({status, data: error ? null : data, error: error ? String(error.message || error) : null,
                 apiClient});
      });
    } catch (e) {
      resolve({status: null, data: null, error: String(e.message || e), apiClient});
    }
  });
}

function parse(jwt, apiClient) {
  return new Promise((resolve) => {
    cs.CaptureContextParsingUtility.parseCaptureContextResponse(jwt, apiClient.merchantConfig, (error, payload) => {
      resolve(error ? {error: String(error.message || error)} : {payload});
    });
  });
}

function post(url, body) {
  return new Promise((resolve, reject) => {
    const request = https.request(url, {method: 'POST', headers: {'Content-Type': 'application/jwt'}, timeout: 10000},
      (response) => {
        let text = '';
        response.on('data', (chunk) => { text += chunk; });
        response.on('end', () => resolve({status: response.statusCode, body: text}));
      });
    request.on('error', reject);
    request.end(body);
  });
}

async function tokenize(payload, jwt) {
  const jwk = payload.flx.jwk;
  const key = await jose.importJWK({kty: jwk.kty, n: jwk.n, e: jwk.e}, 'RSA-OAEP-256');
  const plaintext = JSON.stringify({context: jwt, index: 0, data: {paymentInformation: {card: {
    number: '4111111111111111', expirationMonth: '12', expirationYear: '2099', securityCode: '123'}}}});
  const jwe = await new jose.CompactEncrypt(new TextEncoder().encode(plaintext))
    .setProtectedHeader({alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: jwk.kid}).encrypt(key);
  return post(payload.flx.origin + payload.flx.path, jwe);
}

(async () => {
  const out = {};
  const signature = await generate('http_signature');
  out.http_signature = {status: signature.status, error: signature.error};
  out.wrong_secret = await generate('http_signature', 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=')
    .then((r) => ({status: r.status, error: r.error}));
  out.jwt_p12 = await generate('jwt_p12').then((r) => ({status: r.status, error: r.error}));
  out.jwt_shared_secret = await generate('jwt_shared_secret').then((r) => ({status: r.status, error: r.error}));
  if (signature.data) {
    const parsed = await parse(signature.data, signature.apiClient);
    out.parse = parsed.error ? {error: parsed.error}
      : {origin: parsed.payload.flx.origin, kid: parsed.payload.flx.jwk.kid};
    // A forged context (payload changed, signature kept) must be refused by the SDK's parser.
    const [head, body, sig] = signature.data.split('.');
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
    claims.flx.origin = 'https://attacker.example';
    const forged = [head, Buffer.from(JSON.stringify(claims)).toString('base64url'), sig].join('.');
    out.parse_forged = await parse(forged, signature.apiClient).then((r) => ({refused: Boolean(r.error)}));
    if (parsed.payload) {
      const token = await tokenize(parsed.payload, signature.data);
      out.tokenize = {status: token.status, parts: token.body.split('.').length};
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n');
})().catch((e) => { process.stdout.write(JSON.stringify({fatal: String(e && e.stack || e)}) + '\n'); });
"""


def _node_sdk() -> Path:
    """The installed SDK's directory (``npm install`` on first use), or a skip when Node is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node/npm are not installed (Debian: apt-get install nodejs npm); the Node SDK test cannot run")
    CACHE.mkdir(parents=True, exist_ok=True)
    installed = CACHE / "node_modules" / "cybersource-rest-client" / "package.json"
    pinned = NODE_SDK.rsplit("@", 1)[1]
    if not installed.is_file() or json.loads(installed.read_text())["version"] != pinned:
        package = CACHE / "package.json"
        if not package.is_file():
            package.write_text(json.dumps({"name": "flex-emulator-node-interop", "private": True}))
        subprocess.run(
            [npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--save-exact", NODE_SDK],
            cwd=CACHE, check=True, capture_output=True, timeout=600,
        )
    (CACHE / "interop.js").write_text(SCRIPT, encoding="utf-8")
    return CACHE


@pytest.fixture(scope="module")
def node_result() -> Iterator[dict[str, Any]]:
    directory = _node_sdk()
    with FlexEmulator(tls=True) as emu:
        merchant = emu.merchant()
        p12 = emu.add_merchant("node_p12_merchant", p12=True)
        p12_config = emu.merchant_config("node_p12_merchant", "jwt")
        request = {
            "runEnvironment": emu.run_environment,
            "merchantId": merchant.merchant_id,
            "keyId": merchant.key_id,
            "secret": merchant.shared_secret,
            "p12": {
                "merchantId": p12.merchant_id,
                "keysDirectory": p12_config["keys_directory"],
                "keyFileName": p12_config["key_file_name"],
                "keyAlias": p12_config["key_alias"],
                "keyPassword": p12_config["key_password"],
            },
        }
        assert emu.ca_cert_path is not None
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": emu.ca_cert_path}
        env.pop("NODE_TLS_REJECT_UNAUTHORIZED", None)  # the emulator's CA is trusted, nothing is turned off
        completed = subprocess.run(
            ["node", "interop.js", json.dumps(request)],
            cwd=directory, env=env, capture_output=True, text=True, timeout=120,
        )
        assert completed.returncode == 0, completed.stderr[-2000:]
        result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
        assert "fatal" not in result, result
        result["_emulator"] = {
            "base_url": emu.base_url,
            "authenticated": emu.authenticated_requests(),
            "p12_authenticated": emu.authenticated_requests("node_p12_merchant"),
            "failures": emu.authentication_failures(),
        }
        yield result


def test_http_signature_is_accepted_and_a_wrong_secret_is_401(node_result: dict[str, Any]) -> None:
    assert node_result["http_signature"] == {"status": 201, "error": None}
    assert node_result["wrong_secret"]["status"] == 401
    assert node_result["_emulator"]["failures"] == 1


def test_jwt_with_the_emulator_p12_is_accepted(node_result: dict[str, Any]) -> None:
    # Needs the friendly name "serialNumber=...,CN=<alias>": the SDK picks the certificate by it.
    assert node_result["jwt_p12"] == {"status": 201, "error": None}
    assert node_result["_emulator"]["p12_authenticated"] == 1


def test_jwt_with_a_shared_secret_is_accepted(node_result: dict[str, Any]) -> None:
    # The Node SDK sends "request-method": "post" in lower case.
    assert node_result["jwt_shared_secret"] == {"status": 201, "error": None}
    assert node_result["_emulator"]["authenticated"] == 3


def test_the_sdk_parser_verifies_our_capture_context_and_refuses_a_forged_one(node_result: dict[str, Any]) -> None:
    assert node_result["parse"]["origin"] == node_result["_emulator"]["base_url"], node_result["parse"]
    assert len(node_result["parse"]["kid"]) == 32
    assert node_result["parse_forged"] == {"refused": True}


def test_a_jwe_built_with_jose_tokenizes(node_result: dict[str, Any]) -> None:
    assert node_result["tokenize"] == {"status": 200, "parts": 3}
