"""Every load strategy (lazy, prefetch, eager) with every artifact format (.onnx, pre-optimised .onnx,
memory-mapped .ort) gives the same predictions through real awslambdaric environments."""

import json
import shutil
import threading
import time

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.datasets import load_digits

from helpers import MODELS, call
from infer.convert.optimize import optimize, to_ort
from infer.local.emulator import Emulator
from infer.local.function import model_function

ROWS = load_digits().data[:8].astype(np.float32)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("formats")
    plain = folder / "digits.onnx"
    shutil.copy(MODELS / "digits.onnx", plain)  # no manifest: the copies below differ from it
    optimised = folder / "optimised" / "digits.onnx"
    optimised.parent.mkdir()
    shutil.copy(plain, optimised)
    optimize(optimised)
    return {"onnx": plain, "optimised": optimised, "ort": to_ort(plain, folder / "digits.ort")}


@pytest.fixture(scope="module")
def reference():
    session = ort.InferenceSession(str(MODELS / "digits.onnx"))
    return dict(zip(["label", "probabilities"], session.run(["label", "probabilities"], {"input": ROWS})))


class Lines(list):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

    def __call__(self, line):
        with self.lock:
            self.append(line)

    def requests(self, count: int, timeout_s: float = 10.0):
        """The runtime's request lines, waiting for `count` (they come through a pipe, after the answers)."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self.lock:
                found = [json.loads(line) for line in self if line.startswith('{"message":"request"')]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.01)

    def eventually(self, text: str, timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if any(text in line for line in self):
                    return True
            time.sleep(0.01)
        return False


@pytest.mark.parametrize("artifact", ["onnx", "optimised", "ort"])
@pytest.mark.parametrize("strategy", ["lazy", "prefetch", "eager"])
def test_same_predictions(artifacts, reference, strategy, artifact):
    log = Lines()
    function = model_function(artifacts[artifact], environment={"INFER_LOAD_STRATEGY": strategy})
    with Emulator(function, log=log) as emu:
        cold = call(emu.url + "/v1/models/digits:predict", "POST", body={"instances": ROWS.tolist()})
        warm = call(emu.url + "/v1/models/digits:predict", "POST", body={"instances": ROWS.tolist()})
        lines = log.requests(2)
    for reply in (cold, warm):
        assert reply.status == 200, reply.body
        predictions = reply.json()["predictions"]
        assert [p["label"] for p in predictions] == reference["label"].tolist()
        np.testing.assert_allclose([p["probabilities"] for p in predictions], reference["probabilities"], atol=1e-5)
    first, second = lines
    assert first["cold_start"] and first["ModelLoadMs"] > 0
    if strategy == "eager":
        assert "ModelWaitMs" not in first, "the model was loaded during init"
    if strategy == "lazy":
        assert first["ModelWaitMs"] >= first["ModelLoadMs"], "the first request did the loading"
    assert not second["cold_start"] and "ModelWaitMs" not in second and "ModelLoadMs" not in second


def test_unknown_strategy_is_an_init_error(artifacts):
    log = Lines()
    function = model_function(artifacts["onnx"], environment={"INFER_LOAD_STRATEGY": "sometimes"})
    with Emulator(function, log=log) as emu:
        reply = call(emu.url + "/v2/health/live")
        assert reply.status == 502 and "failed to initialise" in reply.json()["error"], reply.body
        assert log.eventually("INFER_LOAD_STRATEGY must be one of lazy, prefetch, eager; got 'sometimes'")
