"""Fixtures for the convert tests: data that ships with scikit-learn, and a model served by `infer serve`."""

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from helpers import INFER, ROOT, ServeProcess, call

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def iris():
    from sklearn.datasets import load_iris

    data = load_iris()
    return data.data.astype(np.float32), data.target, [str(n) for n in data.target_names]


@pytest.fixture(scope="session")
def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.data / 16.0).astype(np.float32), data.target


@pytest.fixture(scope="session")
def diabetes():
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    return data.data.astype(np.float32), data.target


@contextmanager
def served(model_path: Path):
    """`infer serve MODEL` as a user runs it; yields a predict(body) function for the model's V1 endpoint."""
    server = ServeProcess(str(model_path))
    try:
        name = model_path.stem

        def predict(body):
            reply = call(f"{server.url}/v1/models/{name}:predict", "POST", body)
            assert reply.status == 200, reply.body
            return reply.json()

        yield predict
    finally:
        server.stop()


def run_cli(*args: str, env_python: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`infer convert ...` as a user runs it; `env_python` runs it through `python -c` (to hide a package)."""
    if env_python is not None:
        command = [sys.executable, "-c", env_python + "\nfrom infer.cli import app\napp()", "convert", *args]
    else:
        command = [INFER, "convert", *args]
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
