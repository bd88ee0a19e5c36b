"""Rebuild the sample models from data that ships with scikit-learn, deterministically.

    python models/build.py [OUT_DIR]

- iris.onnx: StandardScaler + LogisticRegression on the iris set; outputs `label` (int64) and
  `probabilities` (float32), no ZipMap; iris.json holds its class names.
- digits.onnx: StandardScaler + a small MLP on the 8x8 digits set (64 float features).
"""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from skl2onnx import to_onnx
from sklearn.datasets import load_digits, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

OPSET = 17


def _export(pipeline, n_features: int, path: Path, labels: list[str], source: str) -> None:
    sample = np.zeros((1, n_features), dtype=np.float32)
    onx = to_onnx(
        pipeline,
        sample,
        target_opset={"": OPSET, "ai.onnx.ml": 3},
        options={id(pipeline.steps[-1][1]): {"zipmap": False}},
    )
    _rename_io(onx)
    onx.doc_string = f"infer sample model: {source}"
    onx.producer_version = ""  # keep the bytes independent of the skl2onnx patch release
    path.write_bytes(onx.SerializeToString())
    manifest = {
        "name": path.stem,
        "labels": labels,
        "source": source,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    path.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")


def _rename_io(onx) -> None:
    """skl2onnx names the input 'X' and outputs 'output_label'/'output_probability'; use plain names."""
    renames = {"X": "input", "output_label": "label", "output_probability": "probabilities"}
    for node in onx.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for value in list(onx.graph.input) + list(onx.graph.output):
        value.name = renames.get(value.name, value.name)


def build(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    iris = load_iris()
    iris_model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0))
    iris_model.fit(iris.data.astype(np.float32), iris.target)
    _export(iris_model, 4, out_dir / "iris.onnx", [str(n) for n in iris.target_names],
            "sklearn: StandardScaler + LogisticRegression on load_iris()")

    digits = load_digits()
    digits_model = make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=300, random_state=0),
    )
    digits_model.fit(digits.data.astype(np.float32), digits.target)
    _export(digits_model, 64, out_dir / "digits.onnx", [str(n) for n in digits.target_names],
            "sklearn: StandardScaler + MLPClassifier(64, 32) on load_digits()")
    return [out_dir / "iris.onnx", out_dir / "digits.onnx"]


if __name__ == "__main__":
    for written in build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent):
        print(f"wrote {written} ({written.stat().st_size} bytes)")
