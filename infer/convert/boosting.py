"""XGBoost and LightGBM models -> ONNX through onnxmltools (the framework specifics are in xgb.py and lgbm.py).

Both accept the scikit-learn wrappers (XGBClassifier, LGBMRegressor, ...) and native boosters
(XGBoost .json/.ubj, LightGBM text files). Classifiers answer `label` and `probabilities` (no
ZipMap); regressors answer `predictions`. The input is `input` [-1, n_features] float32.
"""

import warnings

import numpy as np

from .base import Converted, Request
from .errors import ConvertError, first_line, need
from .loading import describe
from .signature import Sample, generate, name_batch_axis, rename_io

DEFAULT_OPSET = 15  # the highest onnxmltools 1.16 writes for tree ensembles


def convert(model, request: Request, framework: str) -> Converted:
    lib = need(framework, f"converting a {framework} model")
    need("onnxmltools", f"converting a {framework} model")
    from onnxmltools.convert.common.data_types import FloatTensorType

    from .lgbm import LightGBMAdapter
    from .xgb import XGBoostAdapter

    adapter = (XGBoostAdapter if framework == "xgboost" else LightGBMAdapter)(model, lib)
    sample = _sample(adapter.n_features, request)
    assert sample.array is not None  # a boosting model has one input: no per-column sample
    x = sample.array.astype(np.float32)
    opset = request.opset or DEFAULT_OPSET
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onx = adapter.to_onnx([("input", FloatTensorType([None, x.shape[1]]))], opset)
    except Exception as exc:  # onnxmltools raises RuntimeError/ValueError/NotImplementedError...
        raise ConvertError(f"onnxmltools cannot convert {describe(model)}: {first_line(exc)}") from None
    name_batch_axis(onx, force=True)  # onnxmltools declares LightGBM's label output as [1]
    outputs = [o.name for o in onx.graph.output]
    classes = adapter.classes()
    if classes is not None:
        rename_io(onx, {outputs[0]: "label", outputs[1]: "probabilities"})
        probabilities = adapter.probabilities(x)
        predicted = adapter.model.predict(x) if adapter.sklearn_api else np.asarray(classes)[probabilities.argmax(axis=1)]
        reference = {"label": np.asarray(predicted), "probabilities": probabilities}
    else:
        rename_io(onx, {outputs[0]: "predictions"})
        reference = {"predictions": adapter.values(x).reshape(len(x), -1)}
    return Converted(
        model=onx, feeds={"input": x}, reference=reference, framework=framework,
        framework_version=lib.__version__, model_class=describe(model), input_source=sample.source,
        labels=None if classes is None else [str(c) for c in classes],
    )


def _sample(n_features: int, request: Request) -> Sample:
    if request.sample is not None:
        if request.sample.array is None or request.sample.array.ndim != 2 or request.sample.array.dtype.kind not in "fiub":
            raise ConvertError("a gradient-boosting model takes a 2-D numeric sample (rows x features)")
        return request.sample
    shape = request.input_shape or (1, n_features)
    return generate(shape, np.dtype("float32"))
