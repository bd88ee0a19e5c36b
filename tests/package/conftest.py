"""Shared fixtures for the package tests: podman storage, a Debian base image made offline with
mmdebstrap, and the iris image built once per session from the context `infer package` writes."""

import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import MODELS
from infer.package.context import write_context
from infer.podman import Podman

BASE_TAG = "localhost/infer-test-base:latest"
IMAGE_TAG = "localhost/infer-test-iris:latest"
SYSTEM_CA = Path("/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture(autouse=True)
def no_instance_metadata(monkeypatch):
    """botocore must never look for credentials on the network (169.254.169.254)."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _require(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed; .ci/run installs them (apt-get install podman "
                    "buildah mmdebstrap runc uidmap)", pytrace=False)


@pytest.fixture(scope="session")
def podman(tmp_path_factory):
    _require("podman", "runc", "mmdebstrap")
    storage = tmp_path_factory.mktemp("podman")
    engine = Podman(root=str(storage / "root"), runroot=str(storage / "run"))
    yield engine
    engine.run("system", "reset", "--force", check=False, timeout_s=120)
    shutil.rmtree(storage, ignore_errors=True)


@pytest.fixture(scope="session")
def debian_base(podman, tmp_path_factory) -> str:
    """A Debian bookworm image with Python (no registry needed): mmdebstrap, then podman import."""
    tarball = tmp_path_factory.mktemp("base") / "base.tar"
    subprocess.run(["mmdebstrap", "--quiet", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
                    "bookworm", str(tarball)], check=True, capture_output=True, timeout=600)
    podman.run("import", str(tarball), BASE_TAG, timeout_s=300)
    tarball.unlink()
    return BASE_TAG


@pytest.fixture(scope="session")
def iris_context(tmp_path_factory, debian_base):
    """The build context for models/iris.onnx on the Debian base; pip in the build trusts the host's CA
    bundle (HTTPS here goes through an intercepting proxy)."""
    out = tmp_path_factory.mktemp("context") / "iris"
    return write_context(MODELS / "iris.onnx", out, arch="x86_64", base_image=debian_base,
                         environment={"INFER_THREADS": "1"},
                         ca_bundle=SYSTEM_CA if SYSTEM_CA.is_file() else None)


@pytest.fixture(scope="session")
def iris_image(podman, iris_context) -> str:
    podman.build(iris_context.out, IMAGE_TAG, "linux/amd64")
    return IMAGE_TAG
