"""The built wheel is pure Python (``py3-none-any``, no compiled file) with the four packages
and the licence, and works on its own: installed into a fresh virtualenv, run from outside the
repository, a script written like the official samples talks to a loopback server. Slow (a
wheel build and a virtualenv), so marked ``slow``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest
from conftest import _ROOT
from wire import CaptureServer

pytestmark = pytest.mark.slow

SAMPLE = textwrap.dedent(
    '''
    import json
    import sys

    from CyberSource import *
    from CyberSource.logging.log_configuration import LogConfiguration
    from CyberSource.rest import ApiException
    import CyberSource


    def del_none(d):
        for key, value in list(d.items()):
            if value is None:
                del d[key]
            elif isinstance(value, dict):
                del_none(value)
        return d


    def get_configuration():
        log_config = LogConfiguration()
        log_config.set_enable_log(False)
        return {
            "authentication_type": "http_signature",
            "merchantid": "testrest",
            "run_environment": sys.argv[1],
            "merchant_keyid": "08c94330-f618-42a3-b09d-e1e43be5efda",
            "merchant_secretkey": "yBJxy6LjM2TmcPGu+GaJrHtkke25fPpUX+UY6/L/1tE=",
            "use_metakey": False,
            "timeout": 10000,
            "log_config": log_config,
        }


    def generate_capture_context():
        card = Flexv2sessionsFieldsPaymentInformationCard(
            number=Flexv2sessionsFieldsOrderInformationAmountDetailsTotalAmount(required=True).__dict__,
            security_code=Flexv2sessionsFieldsOrderInformationAmountDetailsTotalAmount(required=False).__dict__,
        )
        fields = Flexv2sessionsFields(
            payment_information=Flexv2sessionsFieldsPaymentInformation(card=card.__dict__).__dict__)
        request = GenerateFlexAPICaptureContextRequest(fields=fields.__dict__)
        body = json.dumps(del_none(request.__dict__))
        try:
            api_instance = FlexAPIApi(get_configuration())
            return_data, status, body = api_instance.generate_flex_api_capture_context(body)
            print("API RESPONSE CODE :", status)
            print("API RESPONSE BODY :", body)
            print("LOADED FROM :", CyberSource.__file__)
            return return_data
        except Exception as e:
            print("Exception when calling FlexAPIApi->generate_flex_api_capture_context: %s" % e)
            sys.exit(1)


    if __name__ == "__main__":
        generate_capture_context()
    '''
)


# A JWE made in the installed package, and a verification that needs PyJWT.
ROUND_TRIP = textwrap.dedent(
    """
    import sys
    from cryptography.hazmat.primitives.asymmetric import rsa
    import flex_ext.jose, flex_ext.jwe
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = flex_ext.jwe.encrypt_compact(b'{"data":{}}', key.public_key(), "kid-1")
    header = flex_ext.jose.b64url_decode(token.split(".")[0])
    print("jwt" in sys.modules, len(token.split(".")), header.decode())
    """
)


def _build_wheel(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), _ROOT],
        capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = list(dist.glob("*.whl"))
    return wheel


def _wheel_venv(tmp_path: Path) -> str:
    """Build a wheel of the checkout, install it into a fresh virtualenv, return its python."""
    wheel = _build_wheel(tmp_path)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "-q", str(wheel)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    return python


def test_the_wheel_is_pure_python_with_the_four_packages_and_the_licence(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    assert wheel.name.endswith("-py3-none-any.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.endswith((".c", ".h", ".so", ".pyd", ".dylib", ".pyi"))]
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"CyberSource", "authenticationsdk", "payroc_hosted_fields", "flex_ext"}
    assert {"flex_ext/py.typed", "flex_ext/emulator/__init__.py", "CyberSource/py.typed"} <= set(names)
    info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    metadata = zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode()
    assert "License-Expression: MIT" in metadata and "Requires-Python: >=3.9" in metadata
    assert "Project-URL: Repository, https://github.com/flex-client/cybersource-flex-client" in metadata
    assert "Copyright (c) 2026 Flex client maintainers" in zipfile.ZipFile(wheel).read(
        f"{info}/licenses/LICENSE").decode()
    requires = sorted(line.split(":", 1)[1].strip() for line in metadata.splitlines()
                      if line.startswith("Requires-Dist:") and "extra ==" not in line)
    assert requires == ["PyJWT>=2.8", "cryptography>=42", "python-dateutil>=2.8", "six>=1.16", "urllib3>=1.26"]
    entry_points = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    assert "flex-client = flex_ext.cli:main" in entry_points and "flex_ext.pytest_plugin" in entry_points


def test_wheel_in_a_fresh_virtualenv_runs_an_official_style_sample(tmp_path) -> None:
    python = _wheel_venv(tmp_path)

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    script = workdir / "generate_capture_context.py"
    script.write_text(SAMPLE)
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    with CaptureServer() as server:
        run = subprocess.run([python, str(script), server.url], cwd=workdir, env=clean_env,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        sent = server.last
    assert "API RESPONSE CODE : 201" in run.stdout
    assert "site-packages" in run.stdout and _ROOT not in run.stdout.split("LOADED FROM :")[1]
    assert sent.body == b'{"fields": {"paymentInformation": {"card": {"number": {"required": true}, ' \
                        b'"securityCode": {"required": false}}}}}'
    assert sent.header("Signature").startswith('keyid="08c94330-f618-42a3-b09d-e1e43be5efda"')
    assert run.stderr == ""  # no warnings, no stray output
    assert not (workdir / "Logs").exists()  # logging disabled writes no file
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([python, "-c", ROUND_TRIP], cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == 'False 5 {"kid":"kid-1","alg":"RSA-OAEP-256","enc":"A256GCM"}'
