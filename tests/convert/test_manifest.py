"""The manifest beside the model, and large weights kept in a sidecar that every step and the runtime handle."""

import json

import numpy as np
import torch
from conftest import served
from torch_models import MLP

from infer.convert import artifacts, convert


def test_manifest_hashes_the_final_files(tmp_path, digits):
    x, _ = digits
    torch.manual_seed(0)
    torch.save(MLP(), tmp_path / "mlp.pt")
    result = convert(tmp_path / "mlp.pt", tmp_path / "out" / "mlp.onnx", optimize=True, quantize="int8", tolerance=0.5, sample=x[:20])
    manifest = json.loads((tmp_path / "out" / "mlp.json").read_text())
    assert manifest == result.manifest
    assert manifest["sha256"] == artifacts.sha256(tmp_path / "out" / "mlp.onnx")
    assert manifest["files"] == {"mlp.onnx": manifest["sha256"]}
    assert manifest["opset"] == 18 and manifest["opset_imports"]["ai.onnx"] == 18
    assert manifest["source"] == {"framework": "torch", "framework_version": torch.__version__, "model_class": "torch_models.MLP",
                                  "file": "mlp.pt", "notes": ["exporter: torch.onnx (dynamo)"]}
    assert manifest["converted_with"].startswith("infer ")
    assert set(manifest["parity"]) >= {"samples", "tolerance", "outputs", "passed"}


def test_large_weights_go_to_a_sidecar_that_serves(tmp_path, digits, monkeypatch):
    x, _ = digits
    monkeypatch.setattr(artifacts, "EXTERNAL_DATA_MIN_BYTES", 1024)
    torch.manual_seed(0)
    module = MLP(hidden=64).eval()
    torch.save(module, tmp_path / "mlp.pt")
    result = convert(tmp_path / "mlp.pt", tmp_path / "big.onnx", optimize=True)
    sidecar = tmp_path / "big.onnx.data"
    assert sidecar.is_file() and sidecar.stat().st_size > (tmp_path / "big.onnx").stat().st_size
    assert result.manifest["files"] == {"big.onnx": artifacts.sha256(tmp_path / "big.onnx"), "big.onnx.data": artifacts.sha256(sidecar)}
    assert result.passed
    with served(result.model_path) as predict:
        answer = predict({"instances": x[:10].tolist()})
    with torch.no_grad():
        want = module(torch.from_numpy(x[:10])).numpy()
    np.testing.assert_allclose(answer["predictions"], want, atol=1e-4)
    # a later small conversion to the same path removes the stale sidecar
    monkeypatch.setattr(artifacts, "EXTERNAL_DATA_MIN_BYTES", 1 << 40)
    again = convert(tmp_path / "mlp.pt", tmp_path / "big.onnx")
    assert not sidecar.exists() and list(again.manifest["files"]) == ["big.onnx"]
