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
