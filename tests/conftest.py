import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import MODELS, ServeProcess
from infer.runtime import model as runtime_model


@pytest.fixture
def use_model(monkeypatch):
    """Point the in-process runtime at a model file; the holder is reset before and after."""

    def use(path, name=None):
        monkeypatch.setenv("INFER_MODEL_PATH", str(path))
        if name:
            monkeypatch.setenv("INFER_MODEL_NAME", name)
        else:
            monkeypatch.delenv("INFER_MODEL_NAME", raising=False)
        runtime_model.reset()
        return runtime_model.holder()

    yield use
    runtime_model.reset()


@pytest.fixture(scope="session")
def iris_server():
    server = ServeProcess(str(MODELS / "iris.onnx"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def moto_url():
    """moto's server mode in this process (ThreadedMotoServer) on loopback, one per test module."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
