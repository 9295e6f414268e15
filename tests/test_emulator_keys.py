"""GET /flex/v2/public-keys/{kid} and the keys behind capture contexts."""

from __future__ import annotations

import json
import re
from typing import Iterator

import pytest
from cryptography.exceptions import InvalidSignature
from emulator_helpers import Client, jwt_parts, unb64url, verify_rs256

from flex_ext.emulator import FlexEmulator


@pytest.fixture
def emu() -> Iterator[FlexEmulator]:
    with FlexEmulator() as emulator:
        yield emulator


@pytest.fixture
def client() -> Client:
    return Client()


def test_public_key_is_served_unauthenticated_as_a_jwk(emu: FlexEmulator, client: Client) -> None:
    response = client.request("GET", f"{emu.base_url}/flex/v2/public-keys/{emu.signing_kid}")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    jwk = json.loads(response.data)
    assert list(jwk) == ["kty", "use", "kid", "n", "e"]
    assert (jwk["kty"], jwk["use"], jwk["kid"], jwk["e"]) == ("RSA", "enc", emu.signing_kid, "AQAB")
    assert int.from_bytes(unb64url(jwk["n"]), "big").bit_length() == 2048
    assert re.fullmatch(r"[a-z0-9]{2}", jwk["kid"])


def test_capture_context_verifies_with_the_served_key(emu: FlexEmulator, client: Client) -> None:
    context = client.capture_context(emu.base_url, emu.merchant())
    kid = jwt_parts(context)[0]["kid"]
    jwk = json.loads(client.request("GET", f"{emu.base_url}/flex/v2/public-keys/{kid}").data)
    assert verify_rs256(context, jwk)["iss"] == "Flex API"


def test_capture_context_verifies_with_jwcrypto(emu: FlexEmulator, client: Client) -> None:
    from jwcrypto import jwk as jwcrypto_jwk
    from jwcrypto import jws as jwcrypto_jws

    context = client.capture_context(emu.base_url, emu.merchant())
    token = jwcrypto_jws.JWS()
    token.deserialize(context)
    # Like the real service, the signing key is published with use=enc, which jwcrypto
    # refuses for verification; a verifier has to look at kty/n/e only (protocol A3).
    served = emu.public_jwk()
    assert served["use"] == "enc"
    token.verify(jwcrypto_jwk.JWK(kty=served["kty"], n=served["n"], e=served["e"]), alg="RS256")
    assert json.loads(token.payload)["flx"]["origin"] == emu.base_url


@pytest.mark.parametrize("kid", ["zz9", "unknown", "%2e%2e"])
def test_unknown_kid_is_404(emu: FlexEmulator, client: Client, kid: str) -> None:
    if kid == emu.signing_kid:  # pragma: no cover - two-character kids cannot collide with these
        pytest.fail("collision")
    response = client.request("GET", f"{emu.base_url}/flex/v2/public-keys/{kid}")
    assert response.status == 404
    assert json.loads(response.data)["reason"] == "NOT_FOUND"


def test_public_keys_only_answers_get(emu: FlexEmulator, client: Client) -> None:
    response = client.request("POST", f"{emu.base_url}/flex/v2/public-keys/{emu.signing_kid}", b"{}")
    assert response.status == 405
    assert client.request("GET", f"{emu.base_url}/flex/v2/public-keys/").status == 404


def test_rotation_keeps_old_kids_served(emu: FlexEmulator, client: Client) -> None:
    old_context = client.capture_context(emu.base_url, emu.merchant())
    old_kid = emu.signing_kid
    new_kid = emu.rotate_signing_key()
    assert new_kid != old_kid and emu.signing_kid == new_kid
    new_context = client.capture_context(emu.base_url, emu.merchant())
    assert jwt_parts(new_context)[0]["kid"] == new_kid
    for context, kid in ((old_context, old_kid), (new_context, new_kid)):
        jwk = json.loads(client.request("GET", f"{emu.base_url}/flex/v2/public-keys/{kid}").data)
        verify_rs256(context, jwk)
    with pytest.raises(InvalidSignature):
        verify_rs256(new_context, emu.public_jwk(old_kid))


def test_each_session_gets_a_fresh_encryption_key(emu: FlexEmulator, client: Client) -> None:
    jwks = [jwt_parts(client.capture_context(emu.base_url, emu.merchant()))[1]["flx"]["jwk"] for _ in range(3)]
    assert len({jwk["kid"] for jwk in jwks}) == 3
    assert len({jwk["n"] for jwk in jwks}) == 3
    signing_n = emu.public_jwk()["n"]
    for jwk in jwks:
        assert jwk["n"] != signing_n
        assert int.from_bytes(unb64url(jwk["n"]), "big").bit_length() == 2048
        assert jwk["use"] == "enc"


def test_signing_key_and_kid_can_be_supplied(client: Client) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with FlexEmulator(signing_key=key, signing_kid="k1") as emu:
        assert emu.signing_kid == "k1"
        context = client.capture_context(emu.base_url, emu.merchant())
        jwk = json.loads(client.request("GET", f"{emu.base_url}/flex/v2/public-keys/k1").data)
        verify_rs256(context, jwk)
        assert int.from_bytes(unb64url(jwk["n"]), "big") == key.public_key().public_numbers().n
