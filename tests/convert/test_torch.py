"""PyTorch modules (whole pickled module, TorchScript, state dict + factory) converted and served."""

import numpy as np
import pytest
import torch
from conftest import served
from torch_models import CNN, MLP, train

from infer.convert import ConvertError, convert


def reference(module, x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


@pytest.fixture(scope="module")
def digits_mlp(digits):
    x, y = digits
    torch.manual_seed(0)
    return train(MLP(), x, y)


def test_mlp_served(tmp_path, digits, digits_mlp):
    x, y = digits
    torch.save(digits_mlp, tmp_path / "mlp.pt")
    result = convert(tmp_path / "mlp.pt", tmp_path / "mlp.onnx")  # input shape from the first Linear layer
    assert result.passed, result.manifest["parity"]
    m = result.manifest
    assert m["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}]
    assert m["outputs"] == [{"name": "output", "datatype": "FP32", "shape": [-1, 10]}]
    assert m["source"]["framework"] == "torch" and m["source"]["model_class"] == "torch_models.MLP"
    assert "exporter: torch.onnx (dynamo)" in m["source"]["notes"]
    want = reference(digits_mlp, x[:300])
    assert (want.argmax(1) == y[:300]).mean() > 0.9  # the module really learned something
    with served(result.model_path) as predict:
        answer = predict({"instances": x[:300].tolist()})
    np.testing.assert_allclose(answer["predictions"], want, atol=1e-4)


def test_cnn_served(tmp_path, digits):
    x, y = digits
    images = x.reshape(-1, 1, 8, 8)
    torch.manual_seed(0)
    cnn = train(CNN(), images, y, steps=40)
    torch.save(cnn, tmp_path / "cnn.pt")
    np.save(tmp_path / "images.npy", images[:16])
    result = convert(tmp_path / "cnn.pt", tmp_path / "cnn.onnx", sample=tmp_path / "images.npy")
    assert result.passed, result.manifest["parity"]
    assert result.manifest["inputs"][0]["shape"] == [-1, 1, 8, 8]
    with served(result.model_path) as predict:
        answer = predict({"inputs": images[:100].tolist()})
    want = reference(cnn, images[:100])
    np.testing.assert_allclose(answer["outputs"], want, atol=1e-4)
    assert (np.argmax(answer["outputs"], axis=1) == want.argmax(1)).all()


def test_cnn_without_sample_needs_the_flag(tmp_path):
    torch.save(CNN(), tmp_path / "cnn.pt")
    with pytest.raises(ConvertError, match=r"--sample FILE.npy, or --input-shape"):
        convert(tmp_path / "cnn.pt", tmp_path / "cnn.onnx")
    result = convert(tmp_path / "cnn.pt", tmp_path / "cnn.onnx", input_shape="1x1x8x8")
    assert result.passed and result.manifest["parity"]["inputs"] == "generated"


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_torchscript_file(tmp_path, digits, digits_mlp):
    x, _ = digits
    torch.jit.script(digits_mlp).save(str(tmp_path / "scripted.pt"))
    result = convert(tmp_path / "scripted.pt", tmp_path / "scripted.onnx", sample=x[:50])
    assert result.passed, result.manifest["parity"]
    assert result.manifest["source"]["model_class"] == "TorchScript MLP"
    assert "exporter: torch.onnx (classic)" in result.manifest["source"]["notes"]


def test_state_dict_with_factory(tmp_path, digits_mlp):
    torch.save(digits_mlp.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(ConvertError, match="state dict .* pass --factory module:function"):
        convert(tmp_path / "weights.pt", tmp_path / "w.onnx")
    with pytest.raises(ConvertError, match="cannot import module 'no_such_module'"):
        convert(tmp_path / "weights.pt", tmp_path / "w.onnx", factory="no_such_module:make")
    result = convert(tmp_path / "weights.pt", tmp_path / "w.onnx", factory="torch_models:make_mlp")
    assert result.passed
    import onnxruntime as ort

    x = np.random.default_rng(1).standard_normal((5, 64)).astype(np.float32)
    got = ort.InferenceSession(str(result.model_path)).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, reference(digits_mlp, x), atol=1e-5)


def test_quantized_digits_mlp_is_smaller_and_reports_accuracy_change(tmp_path, digits):
    x, y = digits
    torch.manual_seed(0)
    big = train(MLP(hidden=256), x, y)
    torch.save(big, tmp_path / "digits.pt")
    plain = convert(tmp_path / "digits.pt", tmp_path / "float.onnx", sample=x)
    quantized = convert(tmp_path / "digits.pt", tmp_path / "int8.onnx", sample=x, quantize="int8", tolerance=0.25)
    q = quantized.manifest["quantization"]
    assert q["type"] == "int8 dynamic"
    assert q["size_bytes_before"] == plain.model_path.stat().st_size
    assert q["size_bytes_after"] == quantized.model_path.stat().st_size < 0.5 * q["size_bytes_before"]
    before, after = q["parity_before"]["outputs"]["output"], quantized.manifest["parity"]["outputs"]["output"]
    assert before["max_abs_error"] < 1e-4 < after["max_abs_error"]  # int8 weights change the logits a little
    assert quantized.passed, quantized.manifest["parity"]
    assert q["parity_before"]["outputs"]["output"]["argmax_agreement"] == 1.0
    assert 0.97 < after["argmax_agreement"] <= 1.0
    import onnxruntime as ort

    accuracy = {
        name: (ort.InferenceSession(str(r.model_path)).run(None, {"input": x})[0].argmax(1) == y).mean()
        for name, r in (("float", plain), ("int8", quantized))
    }
    assert abs(accuracy["float"] - accuracy["int8"]) < 0.02, accuracy
    from infer.convert.report import summary

    text = summary(quantized)
    assert "quantised int8 dynamic" in text and "top class same as the original's 100.00% ->" in text
