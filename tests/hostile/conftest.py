"""Hostile input against a real `infer serve`: a factory for servers that are stopped after each module."""

import pytest

from helpers import MODELS, ServeProcess


@pytest.fixture(scope="module")
def serve():
    """Start `infer serve MODEL ARGS...` (default model: iris); every server started is stopped after the module."""
    started: list[ServeProcess] = []

    def start(*args: str, model: str = "iris.onnx") -> ServeProcess:
        server = ServeProcess(str(MODELS / model), *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
