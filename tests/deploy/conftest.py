"""Shared fixtures for the deploy tests: no network credential lookups, stacks synthesised once, and AWS's
template validators (cfn-lint, checkov) run over many templates at once."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from helpers import MODELS, ROOT
from infer.deploy.deployer import DeployOptions, synthesise

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
CFN_LINT = str(Path(sys.executable).with_name("cfn-lint"))
CHECKOV = os.environ.get("CHECKOV") or str(ROOT / ".tools" / "checkov" / "bin" / "checkov")  # make test sets it


@pytest.fixture(autouse=True)
def isolated_aws(monkeypatch, tmp_path):
    """botocore never goes to the network for credentials (169.254.169.254) nor reads this user's files."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("INFER_CONFIG_DIR", str(tmp_path / "infer-config"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "CDK_DOCKER"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def synthesised(tmp_path_factory):
    """synth(**options) -> SynthResult, cached by options: each stack is synthesised once per session."""
    if shutil.which("node") is None:
        pytest.fail("Node.js is needed to synthesise (jsii); .ci/run installs it", pytrace=False)
    cache = {}

    def synth(**options):
        key = tuple(sorted((k, str(v)) for k, v in options.items()))
        if key not in cache:
            out = tmp_path_factory.mktemp("synth")
            cache[key] = synthesise(MODELS / "iris.onnx", DeployOptions(**options), out, log=lambda line: None)
        return cache[key]

    return synth


@pytest.fixture(scope="session")
def validate():
    """validate(paths) -> {path: {"cfn_lint": [findings], "failed": [checks], "skipped": [checks]}}, one run of each tool.

    cfn-lint reports errors and warnings; checkov runs offline (no download, no vendor API) on CloudFormation."""
    for tool in (CFN_LINT, CHECKOV):
        if not Path(tool).is_file():
            pytest.fail(f"{tool} is missing; make test installs it", pytrace=False)

    def run(paths):
        paths = [str(Path(p).resolve()) for p in paths]
        results = {path: {"cfn_lint": [], "failed": [], "skipped": []} for path in paths}
        lint = subprocess.run([CFN_LINT, "--format", "json", *paths], capture_output=True, text=True, timeout=300)
        assert lint.stdout.strip(), lint.stderr
        for finding in json.loads(lint.stdout):
            results[str(Path(finding["Filename"]).resolve())]["cfn_lint"].append(finding)
        argv = [CHECKOV, *(arg for path in paths for arg in ("-f", path)), "--framework", "cloudformation",
                "--skip-download", "--compact", "-o", "json"]
        checked = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                                 env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
        report = json.loads(checked.stdout)
        assert report["summary"]["parsing_errors"] == 0, report["summary"]
        for kind in ("failed", "skipped"):
            for check in report["results"][f"{kind}_checks"]:
                results[check["file_abs_path"]][kind].append(check)
        return results

    return run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint():
    """moto's server mode on loopback, one per test module (reset it per test: POST /moto-api/reset)."""
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # localhost, not 127.0.0.1: the CDK CLI addresses S3 buckets as BUCKET.localhost
    endpoint = f"http://localhost:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2)
            break
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, "moto_server did not start"
            time.sleep(0.2)
    yield endpoint
    server.terminate()
    server.wait(10)
