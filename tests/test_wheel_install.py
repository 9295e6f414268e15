"""The built wheel works on its own: installed into a fresh virtualenv, run from outside the
repository, a script written like the official samples talks to a loopback server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import venv
from pathlib import Path
from typing import Dict, Optional

from conftest import _ROOT
from wire import CaptureServer

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


# A JWE made and opened in the installed package, and which base64url code made it.
ROUND_TRIP = textwrap.dedent(
    """
    from cryptography.hazmat.primitives.asymmetric import rsa
    import flex_ext.jose, flex_ext.jwe
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = flex_ext.jwe.encrypt_compact(b'{"data":{}}', key.public_key(), "kid-1")
    header = flex_ext.jose.b64url_decode(token.split(".")[0])
    print(flex_ext.jose.C_SPEEDUPS, len(token.split(".")), header.decode())
    """
)


def _wheel_venv(tmp_path: Path, source: str, env: Optional[Dict[str, str]] = None) -> str:
    """Build a wheel of ``source``, install it into a fresh virtualenv, return its python."""
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), source],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = list(dist.glob("*.whl"))

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "-q", str(wheel)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    return python


def _round_trip(python: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("FLEX_EXT_PURE_PYTHON", "PYTHONPATH")}
    run = subprocess.run([python, "-c", ROUND_TRIP], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_without_a_c_compiler_the_package_installs_and_runs_pure_python(tmp_path: Path) -> None:
    # A clean copy (no build/ left over, no extension built in place) and a compiler that fails.
    source = tmp_path / "source"
    shutil.copytree(_ROOT, source, ignore=shutil.ignore_patterns(
        "build", "dist", "*.so", "*.egg-info", ".venv*", ".git", ".cache", ".hypothesis", "__pycache__", "Logs"))
    env = {k: v for k, v in os.environ.items() if k not in ("FLEX_EXT_REQUIRE_SPEEDUPS", "PYTHONPATH")}
    env["CC"] = "/bin/false"
    python = _wheel_venv(tmp_path, str(source), env)
    assert _round_trip(python, tmp_path) == 'False 5 {"kid":"kid-1","alg":"RSA-OAEP-256","enc":"A256GCM"}'


def test_wheel_in_a_fresh_virtualenv_runs_an_official_style_sample(tmp_path) -> None:
    python = _wheel_venv(tmp_path, _ROOT)

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
    # The wheel carries the C base64url wherever this checkout has it built.
    try:
        import flex_ext._speedups  # noqa: F401
        built = "True"
    except ImportError:
        built = "False"
    assert _round_trip(python, workdir).split()[0] == built
