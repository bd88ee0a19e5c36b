"""XGBoost specifics for boosting.py: the scikit-learn wrappers (XGBClassifier, XGBRegressor) and native Boosters."""

import json

import numpy as np

from .errors import ConvertError
from .loading import describe


class XGBoostAdapter:
    def __init__(self, model, xgboost):
        self.model = model
        self.sklearn_api = isinstance(model, xgboost.XGBModel)
        self.booster = model.get_booster() if self.sklearn_api else model
        if not isinstance(self.booster, xgboost.Booster):
            raise ConvertError(f"{describe(model)} is not an XGBoost model")
        self.n_features = self.booster.num_features()
        self.objective = _json_config(self.booster)["learner"]["objective"]["name"]

    def classes(self):
        if self.sklearn_api:
            return list(self.model.classes_) if hasattr(self.model, "classes_") else None
        if self.objective.startswith(("binary:", "multi:")):
            n = int(_json_config(self.booster)["learner"]["learner_model_param"].get("num_class", "0"))
            return list(range(max(n, 2)))
        return None

    def probabilities(self, x):
        if self.sklearn_api:
            return self.model.predict_proba(x)
        p = self.booster.inplace_predict(x)
        return np.stack([1 - p, p], axis=1) if p.ndim == 1 else p

    def values(self, x):
        return self.model.predict(x) if self.sklearn_api else self.booster.inplace_predict(x)

    def to_onnx(self, initial_types, opset):
        from onnxmltools import convert_xgboost

        return convert_xgboost(self.model, initial_types=initial_types, target_opset=opset)


def _json_config(booster) -> dict:
    return json.loads(booster.save_config())
