"""The zip route: wheels for the target, bytecode, the 250 MB check; the zip really unpacked into a clean
directory and run under awslambdaric against the emulator, importing nothing from this environment."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import INFER, MODELS, call
from infer.local.emulator import Emulator
from infer.local.function import FunctionConfig
from infer.package import PackageError, zip_route
from infer.package.zip_route import package_zip, pip_argv
from infer.runtime.contract import HANDLER as RUNTIME_HANDLER

HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# To run a zip here, its wheels must suit this machine's Python and glibc (Lambda's python3.11 has glibc 2.26,
# for which onnxruntime 1.17+ has no wheel: that is checked below, through the command line).
HOST_GLIBC = tuple(int(part) for part in os.confstr("CS_GNU_LIBC_VERSION").split()[1].split(".")[:2])


@pytest.fixture(scope="session")
def iris_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("zip") / "iris.zip"
    return package_zip(MODELS / "iris.onnx", out, arch="x86_64", python=HOST_PYTHON,
                       environment={"INFER_THREADS": "1"}, glibc=HOST_GLIBC)


@pytest.fixture(scope="session")
def lambda_ric(tmp_path_factory) -> Path:
    """What Lambda's managed runtime provides besides the zip: the Runtime Interface Client, alone."""
    target = tmp_path_factory.mktemp("ric")
    from importlib import metadata

    pins = [f"{n}=={metadata.version(n)}" for n in ("awslambdaric", "simplejson", "snapshot-restore-py")]
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), *pins],
                   check=True, timeout=300)
    return target


def test_zip_contents(iris_zip):
    with zipfile.ZipFile(iris_zip.path) as archive:
        names = archive.namelist()
    assert "infer/runtime/handler.py" in names and "model/model.onnx" in names and "model/model.json" in names
    assert any(n.startswith("numpy/") for n in names) and any(n.startswith("onnxruntime/") for n in names)
    assert f"infer/runtime/__pycache__/handler.cpython-{HOST_PYTHON.replace('.', '')}.pyc" in names
    assert not any(n.startswith(("infer/local/", "bin/", "protobuf/")) for n in names)
    assert iris_zip.compiled and iris_zip.unzipped_bytes < zip_route.UNZIPPED_LIMIT_BYTES
    assert iris_zip.environment == {"INFER_THREADS": "1", "INFER_VERIFY_SHA256": "off", "INFER_LOAD_STRATEGY": "eager"}


def test_unpacked_zip_runs_under_awslambdaric(iris_zip, lambda_ric, tmp_path):
    task_root = tmp_path / "task"
    with zipfile.ZipFile(iris_zip.path) as archive:
        archive.extractall(task_root)
    base_python = getattr(sys, "_base_executable", sys.executable)
    environment = {**iris_zip.environment, "PYTHONPATH": f"{task_root}:{lambda_ric}", "PYTHONNOUSERSITE": "1"}
    probe = subprocess.run([base_python, "-c", "import numpy, onnxruntime; print(onnxruntime.__file__)"],
                           env={"PYTHONPATH": environment["PYTHONPATH"], "PYTHONNOUSERSITE": "1"},
                           capture_output=True, text=True, cwd=task_root)
    assert probe.stdout.startswith(str(task_root)), probe  # the zip's wheels, not this environment's
    function = FunctionConfig(name="iris", handler=RUNTIME_HANDLER, task_root=str(task_root),
                              environment=environment, python=base_python)
    with Emulator(function, log=lambda line: None) as emulator:
        reply = call(emulator.url + "/v1/models/iris:predict", "POST", {"instances": [[6.7, 3.0, 5.2, 2.3]]})
        assert reply.status == 200, reply.body
        assert reply.json()["predictions"][0]["label"] == 2
        assert call(emulator.url + "/v2/models/iris").json()["name"] == "iris"  # the manifest came along


def test_over_the_limit_suggests_the_image(monkeypatch, tmp_path):
    monkeypatch.setattr(zip_route, "UNZIPPED_LIMIT_BYTES", 1024 * 1024)
    with pytest.raises(PackageError, match=r"over Lambda's 250 MB limit .* use the container image"):
        package_zip(MODELS / "iris.onnx", tmp_path / "x.zip", arch="x86_64", python=HOST_PYTHON, glibc=HOST_GLIBC)
    assert not (tmp_path / "x.zip").exists()


def test_pip_asks_for_manylinux_wheels_of_the_target():
    argv = pip_argv(Path("/t"), {"numpy": "2.0.0"}, "arm64", "3.12")
    assert argv[1:4] == ["-m", "pip", "install"]
    assert {"--no-deps", "--only-binary=:all:"} <= set(argv)
    assert argv[argv.index("--python-version") + 1] == "3.12"
    assert "manylinux2014_aarch64" in argv and "manylinux_2_28_aarch64" in argv
    assert argv[-1] == "numpy==2.0.0"


def test_zip_command(tmp_path):
    result = subprocess.run([INFER, "package", str(MODELS / "iris.onnx"), "--format", "zip", "-o",
                             str(tmp_path / "f.zip"), "--arch", "x86_64", "--python", "3.12"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "unzipped (Lambda allows 250 MB unzipped)" in result.stdout and (tmp_path / "f.zip").is_file()
    names = zipfile.ZipFile(tmp_path / "f.zip").namelist()
    assert any(name.startswith("onnxruntime/capi/onnxruntime_pybind11_state.cpython-312-x86_64") for name in names)


def test_a_zip_for_python_3_11_says_why_it_cannot_be_built(tmp_path):
    """Lambda's python3.11 runs on Amazon Linux 2 (glibc 2.26): onnxruntime 1.17 and newer have no wheel for it."""
    result = subprocess.run([INFER, "package", str(MODELS / "iris.onnx"), "--format", "zip", "-o",
                             str(tmp_path / "f.zip"), "--arch", "x86_64", "--python", "3.11"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "glibc 2.26" in result.stderr and "--python 3.12" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "f.zip").exists()


def test_wheels_are_chosen_for_the_runtime_os_glibc():
    """python3.11 runs on Amazon Linux 2 (glibc 2.26), 3.12 and newer on Amazon Linux 2023 (glibc 2.34)."""
    from infer.package.zip_route import pip_argv

    def platforms(python):
        argv = pip_argv(Path("/tmp/x"), {"numpy": "2.0.0"}, "arm64", python)
        return [argv[i + 1] for i, a in enumerate(argv) if a == "--platform"]

    assert platforms("3.11")[0] == "manylinux_2_26_aarch64" and "manylinux_2_28_aarch64" not in platforms("3.11")
    assert platforms("3.12")[0] == "manylinux_2_34_aarch64" and "manylinux2014_aarch64" in platforms("3.12")
