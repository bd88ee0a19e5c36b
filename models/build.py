"""Rebuild the sample models from data that ships with scikit-learn, deterministically, through `infer convert`.

    python models/build.py [OUT_DIR]

- iris.onnx: StandardScaler + LogisticRegression on the iris set; outputs `label` (int64) and
  `probabilities` (float32), no ZipMap; iris.json (the manifest) holds its class names.
- digits.onnx: StandardScaler + a small MLP on the 8x8 digits set (64 float features).

Each model is trained, saved with joblib as a user would, and converted with the same function
`infer convert` calls, with the training data as the parity sample.
"""

import sys
import tempfile
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_digits, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infer.convert import convert  # noqa: E402

OPSET = 17


def _convert(model, x: np.ndarray, out: Path, labels: list[str]) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{out.stem}.joblib"
        joblib.dump(model, source)
        result = convert(source, out, sample=x, opset=OPSET, labels=labels)
    if not result.passed:
        raise SystemExit(f"parity check failed for {out}: {result.manifest['parity']}")
    return out


def build(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    iris = load_iris()
    x = iris.data.astype(np.float32)
    iris_model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0)).fit(x, iris.target)
    _convert(iris_model, x, out_dir / "iris.onnx", [str(n) for n in iris.target_names])

    digits = load_digits()
    x = digits.data.astype(np.float32)
    digits_model = make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=300, random_state=0),
    ).fit(x, digits.target)
    _convert(digits_model, x, out_dir / "digits.onnx", [str(n) for n in digits.target_names])
    return [out_dir / "iris.onnx", out_dir / "digits.onnx"]


if __name__ == "__main__":
    for written in build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent):
        print(f"wrote {written} ({written.stat().st_size} bytes) and {written.with_suffix('.json').name}")
