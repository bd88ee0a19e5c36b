"""LightGBM specifics for boosting.py: the scikit-learn wrappers (LGBMClassifier, LGBMRegressor) and native Boosters."""

import numpy as np

from .errors import ConvertError
from .loading import describe


class LightGBMAdapter:
    def __init__(self, model, lightgbm):
        self.model = model
        self.sklearn_api = isinstance(model, lightgbm.LGBMModel)
        self.booster = model.booster_ if self.sklearn_api else model
        if not isinstance(self.booster, lightgbm.Booster):
            raise ConvertError(f"{describe(model)} is not a LightGBM model")
        self.n_features = self.booster.num_feature()
        self.objective = str(self.booster.dump_model(num_iteration=0).get("objective", ""))

    def classes(self):
        if self.sklearn_api:
            return list(self.model.classes_) if hasattr(self.model, "classes_") else None
        if self.objective.startswith(("binary", "multiclass", "multiclassova")):
            n = self.booster.dump_model(num_iteration=0).get("num_class", 1)
            return list(range(max(n, 2)))
        return None

    def probabilities(self, x):
        p = self.model.predict_proba(x) if self.sklearn_api else self.booster.predict(x)
        return np.stack([1 - p, p], axis=1) if p.ndim == 1 else p

    def values(self, x):
        return self.model.predict(x)

    def to_onnx(self, initial_types, opset):
        from onnxmltools import convert_lightgbm

        return convert_lightgbm(self.model, initial_types=initial_types, target_opset=opset, zipmap=False)
