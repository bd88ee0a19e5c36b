"""scikit-learn models converted, checked against the original, and served through `infer serve`."""

import joblib
import numpy as np
from conftest import served
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from infer.convert import convert


def save(model, tmp_path, name):
    path = tmp_path / f"{name}.joblib"
    joblib.dump(model, path)
    return path


def test_pipeline_scaler_logistic_regression_served(tmp_path, iris):
    x, y, _ = iris
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    result = convert(save(model, tmp_path, "iris_lr"), tmp_path / "iris_lr.onnx")
    assert result.passed
    m = result.manifest
    assert m["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert [o["name"] for o in m["outputs"]] == ["label", "probabilities"]
    assert m["labels"] == ["0", "1", "2"]
    assert m["source"]["framework"] == "sklearn" and m["source"]["model_class"] == "Pipeline(StandardScaler, LogisticRegression)"
    assert m["parity"]["outputs"]["label"]["label_agreement"] == 1.0
    with served(result.model_path) as predict:
        answer = predict({"instances": x.tolist()})
    assert [p["label"] for p in answer["predictions"]] == model.predict(x).tolist()
    np.testing.assert_allclose([p["probabilities"] for p in answer["predictions"]], model.predict_proba(x), atol=1e-4)


def test_random_forest_served_with_sample(tmp_path, iris):
    x, y, names = iris
    model = RandomForestClassifier(n_estimators=25, max_depth=5, random_state=0).fit(x, np.array(names)[y])
    np.save(tmp_path / "sample.npy", x[::3])
    result = convert(save(model, tmp_path, "forest"), tmp_path / "forest.onnx", sample=tmp_path / "sample.npy")
    assert result.passed, result.manifest["parity"]
    assert result.manifest["labels"] == names  # string classes: the label output is a string tensor
    assert result.manifest["parity"]["samples"] == 50 and result.manifest["parity"]["inputs"] == "sample"
    with served(result.model_path) as predict:
        answer = predict({"inputs": x.tolist()})
    assert answer["outputs"]["label"] == model.predict(x).tolist()
    np.testing.assert_allclose(answer["outputs"]["probabilities"], model.predict_proba(x), atol=1e-4)


def test_gradient_boosting_regressor_served(tmp_path, diabetes):
    x, y = diabetes
    model = GradientBoostingRegressor(n_estimators=50, max_depth=3, random_state=0).fit(x, y)
    result = convert(save(model, tmp_path, "gbr"), tmp_path / "gbr.onnx")
    assert result.passed, result.manifest["parity"]
    assert [o["name"] for o in result.manifest["outputs"]] == ["predictions"]
    assert "labels" not in result.manifest
    with served(result.model_path) as predict:
        answer = predict({"instances": x[:100].tolist()})
    got = np.array(answer["predictions"]).ravel()
    want = model.predict(x[:100])
    np.testing.assert_allclose(got, want, rtol=1e-4)


def _mixed_table(x, y):
    """Iris with two numeric columns and one string column (petal length as a word)."""
    words = np.array(["short", "medium", "long"])[np.digitize(x[:, 2], [2.5, 5.0])]
    table = np.rec.fromarrays([x[:, 0].astype(np.float64), x[:, 1].astype(np.float64), words],
                              names=["sepal_length", "sepal_width", "petal"])
    as_objects = np.empty((len(x), 3), dtype=object)
    as_objects[:, 0], as_objects[:, 1], as_objects[:, 2] = x[:, 0], x[:, 1], words
    return table, as_objects


def test_column_transformer_numeric_and_one_hot_served(tmp_path, iris):
    x, y, _ = iris
    table, as_objects = _mixed_table(x, y)
    model = make_pipeline(
        ColumnTransformer([("numeric", StandardScaler(), [0, 1]), ("onehot", OneHotEncoder(handle_unknown="ignore"), [2])]),
        LogisticRegression(max_iter=1000),
    ).fit(as_objects, y)
    np.save(tmp_path / "table.npy", table)
    result = convert(save(model, tmp_path, "mixed"), tmp_path / "mixed.onnx", sample=tmp_path / "table.npy")
    assert result.passed, result.manifest["parity"]
    assert result.manifest["inputs"] == [
        {"name": "sepal_length", "datatype": "FP32", "shape": [-1, 1]},
        {"name": "sepal_width", "datatype": "FP32", "shape": [-1, 1]},
        {"name": "petal", "datatype": "BYTES", "shape": [-1, 1]},
    ]
    instances = [{"sepal_length": [float(r[0])], "sepal_width": [float(r[1])], "petal": [r[2]]} for r in as_objects]
    with served(result.model_path) as predict:
        rows = predict({"instances": instances})
        columns = predict({"inputs": {"sepal_length": x[:, :1].tolist(), "sepal_width": x[:, 1:2].tolist(),
                                      "petal": [[w] for w in as_objects[:, 2]]}})
    want = model.predict(as_objects).tolist()
    assert [p["label"] for p in rows["predictions"]] == want
    assert columns["outputs"]["label"] == want
    np.testing.assert_allclose(columns["outputs"]["probabilities"], model.predict_proba(as_objects), atol=1e-4)


def test_optimize_keeps_parity(tmp_path, digits):
    from sklearn.neural_network import MLPClassifier

    x, y = digits
    model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=200, random_state=0)).fit(x, y)
    result = convert(save(model, tmp_path, "digits"), tmp_path / "digits.onnx", optimize=True, sample=x[:200])
    assert result.passed, result.manifest["parity"]
    assert "ORT_ENABLE_EXTENDED" in result.manifest["optimization"]
