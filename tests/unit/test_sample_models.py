"""The committed sample models: what models/build.py makes, and what the README promises of them."""

import importlib.util
import json

import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_digits, load_iris

from helpers import MODELS


def run(path, data):
    session = ort.InferenceSession(str(path))
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"input": data})))


def test_iris_signature_and_accuracy():
    session = ort.InferenceSession(str(MODELS / "iris.onnx"))
    assert [(i.name, i.type, i.shape[1]) for i in session.get_inputs()] == [("input", "tensor(float)", 4)]
    assert [(o.name, o.type) for o in session.get_outputs()] == [("label", "tensor(int64)"), ("probabilities", "tensor(float)")]
    iris = load_iris()
    out = run(MODELS / "iris.onnx", iris.data.astype(np.float32))
    assert (out["label"] == iris.target).mean() > 0.95
    assert out["label"][0] == 0
    assert json.loads((MODELS / "iris.json").read_text())["labels"] == ["setosa", "versicolor", "virginica"]


def test_digits_mlp_accuracy():
    digits = load_digits()
    out = run(MODELS / "digits.onnx", digits.data.astype(np.float32))
    assert out["probabilities"].shape == (len(digits.target), 10)
    assert (out["label"] == digits.target).mean() > 0.95


def test_build_reproduces_the_committed_models(tmp_path):
    spec = importlib.util.spec_from_file_location("build", MODELS / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    build.build(tmp_path)
    data = {"iris": load_iris().data.astype(np.float32), "digits": load_digits().data.astype(np.float32)}
    for name, x in data.items():
        committed, rebuilt = run(MODELS / f"{name}.onnx", x), run(tmp_path / f"{name}.onnx", x)
        np.testing.assert_array_equal(committed["label"], rebuilt["label"])
        # Labels exactly; probabilities within 1e-3: the MLP's training differs in the last digits with the
        # BLAS kernels of the CPU it runs on (4.6e-4 seen between two machines of the same kind).
        np.testing.assert_allclose(committed["probabilities"], rebuilt["probabilities"], atol=1e-3)
