"""infer as a user gets it: the wheel installed with [deploy] into a fresh virtual environment, and used
from a directory that has nothing to do with this checkout."""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from helpers import MODELS, ROOT, ServeProcess


def run(argv, cwd, timeout_s=900, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout_s, **kwargs)
    assert done.returncode == 0, f"{argv[:3]}: {done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    build = tmp_path_factory.mktemp("build")  # setuptools writes build/ and egg-info beside the sources: copy them
    source = build / "infer"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".tools", "node_modules", "build", "*.egg-info", "__pycache__", ".pytest_cache", "cdk.out"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out, source], cwd=build)
    run([sys.executable, "-c", "import sys, setuptools.build_meta as b; b.build_sdist(sys.argv[1])", out], cwd=source)
    return out


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel and its deploy extra; returns its bin directory."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", venv], cwd=venv)
    wheel = next(dist.glob("infer-*.whl"))
    run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"{wheel}[deploy]"],
        cwd=venv)
    return venv / "bin"


@pytest.fixture
def workdir(tmp_path) -> Path:
    """An unrelated working directory holding a model and its manifest, as a user's would."""
    for name in ("iris.onnx", "iris.json"):
        shutil.copy2(MODELS / name, tmp_path / name)
    return tmp_path


def test_wheel_and_sdist_carry_the_cdk_app(dist):
    wheel_names = zipfile.ZipFile(next(dist.glob("infer-*.whl"))).namelist()
    assert {"infer_cdk/stack.py", "infer_cdk/construct.py", "infer/runtime/openapi.json"} <= set(wheel_names)
    with tarfile.open(next(dist.glob("infer-*.tar.gz"))) as sdist:
        sdist_names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"cdk/infer_cdk/stack.py", "cdk/infer_cdk/construct.py", "infer/runtime/contract.py"} <= sdist_names


def test_package_from_an_installed_infer(installed, workdir):
    done = run([installed / "infer", "package", "iris.onnx", "-o", "context"], cwd=workdir)
    assert "Build context written to context" in done.stdout
    assert (workdir / "context" / "Dockerfile").is_file()
    assert (workdir / "context" / "infer" / "runtime" / "handler.py").is_file()


def test_synth_only_from_an_installed_infer(installed, workdir):
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    done = run([installed / "infer", "deploy", "iris.onnx", "--synth-only", "-o", "out"], cwd=workdir, env=env)
    assert "Synthesised infer-iris" in done.stdout, done.stdout
    template = json.loads((workdir / "out" / "cdk.out" / "infer-iris.template.json").read_text())
    urls = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Url"]
    assert urls and urls[0]["Properties"]["AuthType"] == "AWS_IAM"


def test_serve_and_predict_from_an_installed_infer(installed, workdir):
    server = ServeProcess("iris.onnx", executable=str(installed / "infer"), cwd=workdir)
    try:
        done = run([installed / "infer", "predict", f"{server.url}/v1/models/iris:predict",
                    "--data", "[[5.1, 3.5, 1.4, 0.2]]"], cwd=workdir, timeout_s=120)
        assert json.loads(done.stdout)["predictions"][0]["label"] == 0
    finally:
        server.stop()
