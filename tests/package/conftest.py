"""Shared fixtures for the package tests: podman storage, a Debian base image for arm64 and amd64 made
offline with mmdebstrap, and images built from the contexts `infer package` writes, once per session.

The Debian root file systems are cached across runs in ~/.cache/infer-tests (or $XDG_CACHE_HOME), one
tarball per mmdebstrap command line; delete that directory to take fresh packages.
"""

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import MODELS
from infer.package.context import PackageResult, write_context
from infer.podman import Podman, host_platform
from infer.runtime.contract import ARCHITECTURES, OCI_PLATFORMS

BASE_REPO = "localhost/infer-test-base"
BASE_TAG = f"{BASE_REPO}:latest"  # a manifest list: the arm64 and the amd64 image
BASE_PYTHON = "3.11"  # Debian bookworm's
SYSTEM_CA = Path("/etc/ssl/certs/ca-certificates.crt")
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "infer-tests"
DEBIAN_PACKAGES = "--include=python3,python3-venv,ca-certificates"


@dataclass
class Built:
    tag: str
    context: PackageResult


@pytest.fixture(autouse=True)
def no_instance_metadata(monkeypatch):
    """botocore must never look for credentials on the network (169.254.169.254)."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _require(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed; make test installs them (apt-get install podman "
                    "buildah mmdebstrap runc uidmap)", pytrace=False)


@pytest.fixture(scope="session")
def podman(tmp_path_factory):
    _require("podman", "runc", "mmdebstrap")
    storage = tmp_path_factory.mktemp("podman")
    engine = Podman(root=str(storage / "root"), runroot=str(storage / "run"))
    yield engine
    engine.run("system", "reset", "--force", check=False, timeout_s=120)
    shutil.rmtree(storage, ignore_errors=True)


def debian_rootfs(arch: str) -> Path:
    """A Debian bookworm root file system with Python for `arch`, as a tarball: made once, then cached.

    The same packages for every architecture. This machine's own is installed (minbase runs the maintainer
    scripts): builds run its Python. Another is only unpacked (extract runs nothing, so needs no emulation):
    nothing of it runs here."""
    platform = OCI_PLATFORMS[arch]
    variant = "minbase" if platform == host_platform() else "extract"
    argv = ["mmdebstrap", "--quiet", "--format=tar", f"--arch={platform.split('/')[1]}", f"--variant={variant}",
            DEBIAN_PACKAGES, "bookworm"]
    tarball = CACHE / f"debian-{arch}-{hashlib.sha256(' '.join(argv).encode()).hexdigest()[:16]}.tar"
    if not tarball.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_name(f"{tarball.name}.{os.getpid()}.partial")
        try:
            subprocess.run([*argv, str(partial)], check=True, capture_output=True, timeout=600)
            partial.replace(tarball)
        finally:
            partial.unlink(missing_ok=True)
    return tarball


@pytest.fixture(scope="session")
def base_tags(podman) -> dict[str, str]:
    """Debian images with Python for every architecture (no registry needed), imported with their platforms."""
    tags = {arch: f"{BASE_REPO}:{arch}" for arch in ARCHITECTURES}
    for arch, tag in tags.items():
        podman.run("import", "--os", "linux", "--arch", OCI_PLATFORMS[arch].split("/")[1], str(debian_rootfs(arch)), tag,
                   timeout_s=300)
    return tags


@pytest.fixture(scope="session")
def debian_base(podman, base_tags) -> str:
    """One name for them all, a manifest list, as the AWS base image is: a build picks the image for each stage's platform."""
    podman.run("manifest", "create", BASE_TAG)
    for tag in base_tags.values():
        podman.run("manifest", "add", BASE_TAG, f"containers-storage:{tag}")
    return BASE_TAG


@pytest.fixture(scope="session")
def build_image(podman, debian_base, tmp_path_factory):
    """build_image(arch, model) -> Built: the context `infer package` writes for `model` on the Debian base, built
    with podman for `arch` (once per session). pip in the build trusts the host's CA bundle (HTTPS here goes
    through an intercepting proxy)."""
    built: dict[tuple[str, str], Built] = {}

    def build(arch: str, model: Path = MODELS / "iris.onnx") -> Built:
        key = (arch, str(model))
        if key not in built:
            out = tmp_path_factory.mktemp("context") / f"{model.stem}-{arch}"
            context = write_context(model, out, arch=arch, python=BASE_PYTHON, base_image=debian_base,
                                    environment={"INFER_THREADS": "1"},
                                    ca_bundle=SYSTEM_CA if SYSTEM_CA.is_file() else None)
            tag = f"localhost/infer-test-{model.stem}:{arch}"
            podman.build(out, tag, OCI_PLATFORMS[arch])
            built[key] = Built(tag, context)
        return built[key]

    return build


@pytest.fixture(scope="session")
def iris_image(build_image) -> str:
    return build_image("x86_64").tag
