"""Shared fixtures for the deploy tests: no network credential lookups, and stacks synthesised once."""

import os
import shutil

import pytest

from helpers import MODELS
from infer.deploy.deployer import DeployOptions, synthesise

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


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
