"""XGBoost and LightGBM models (scikit-learn wrappers and native files) converted and served."""

import joblib
import lightgbm
import numpy as np
import xgboost
from conftest import served

from infer.convert import convert


def test_xgboost_classifier_served(tmp_path, iris):
    x, y, _ = iris
    model = xgboost.XGBClassifier(n_estimators=30, max_depth=3, random_state=0).fit(x, y)
    joblib.dump(model, tmp_path / "xgb.joblib")
    result = convert(tmp_path / "xgb.joblib", tmp_path / "xgb.onnx", sample=x)
    assert result.passed, result.manifest["parity"]
    assert result.manifest["source"]["framework"] == "xgboost" and result.manifest["labels"] == ["0", "1", "2"]
    with served(result.model_path) as predict:
        answer = predict({"instances": x.tolist()})
    assert [p["label"] for p in answer["predictions"]] == model.predict(x).tolist()
    np.testing.assert_allclose([p["probabilities"] for p in answer["predictions"]], model.predict_proba(x), atol=1e-4)


def test_xgboost_native_json_regressor(tmp_path, diabetes):
    x, y = diabetes
    model = xgboost.XGBRegressor(n_estimators=30, max_depth=3).fit(x, y)
    model.save_model(tmp_path / "xgb.json")
    result = convert(tmp_path / "xgb.json", tmp_path / "xgbr.onnx", sample=x)
    assert result.passed, result.manifest["parity"]
    assert result.manifest["source"]["model_class"] == "xgboost.core.Booster"
    assert [o["name"] for o in result.manifest["outputs"]] == ["predictions"]


def test_lightgbm_regressor_served(tmp_path, diabetes):
    x, y = diabetes
    model = lightgbm.LGBMRegressor(n_estimators=40, num_leaves=8, verbose=-1).fit(x, y)
    joblib.dump(model, tmp_path / "lgbm.joblib")
    result = convert(tmp_path / "lgbm.joblib", tmp_path / "lgbm.onnx", sample=x)
    assert result.passed, result.manifest["parity"]
    assert result.manifest["source"]["framework"] == "lightgbm"
    with served(result.model_path) as predict:
        answer = predict({"inputs": x.tolist()})
    np.testing.assert_allclose(np.ravel(answer["outputs"]), model.predict(x), rtol=1e-4)


def test_lightgbm_native_text_classifier_served(tmp_path, iris):
    x, y, _ = iris
    model = lightgbm.LGBMClassifier(n_estimators=20, num_leaves=8, verbose=-1).fit(x, y)
    model.booster_.save_model(tmp_path / "lgbm.txt")
    result = convert(tmp_path / "lgbm.txt", tmp_path / "lgbmc.onnx")
    assert result.passed, result.manifest["parity"]
    assert result.manifest["outputs"][0] == {"name": "label", "datatype": "INT64", "shape": [-1]}
    with served(result.model_path) as predict:
        answer = predict({"instances": x.tolist()})
    assert [p["label"] for p in answer["predictions"]] == model.predict(x).tolist()
