"""scikit-learn estimators and pipelines -> ONNX through skl2onnx.

Classifiers get plain tensor outputs `label` and `probabilities` (no ZipMap) and their classes go
into the manifest; regressors answer `predictions`. The input is `input` [-1, n_features], or one
[-1, 1] input per column when the sample is a structured array (ColumnTransformer with mixed types).
"""

import warnings

import numpy as np

from .base import Converted, Request
from .errors import ConvertError, first_line, need
from .signature import Sample, generate, rename_io

DEFAULT_OPSET = 17
ML_OPSET = 3


def convert(model, request: Request) -> Converted:
    sklearn = need("sklearn", "converting a scikit-learn model")
    need("skl2onnx", "converting a scikit-learn model")
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import BooleanTensorType, DoubleTensorType, FloatTensorType, Int64TensorType, StringTensorType
    from sklearn.base import is_classifier, is_regressor

    sample = request.sample or _generated(model, request)
    types = {"f": FloatTensorType, "i": Int64TensorType, "u": Int64TensorType, "b": BooleanTensorType, "O": StringTensorType}
    if sample.columns is not None:
        feeds = {name: _feedable(col) for name, col in sample.columns.items()}
    else:
        assert sample.array is not None  # a Sample holds an array or columns
        if sample.array.ndim != 2:
            raise ConvertError(f"a scikit-learn model takes a 2-D sample (rows x features); got shape {list(sample.array.shape)}")
        feeds = {"input": _feedable(sample.array)}
    initial_types = []
    for name, arr in feeds.items():
        tensor_type = DoubleTensorType if arr.dtype == np.float64 else types.get(arr.dtype.kind)
        if tensor_type is None:
            raise ConvertError(f"sample column '{name}' has dtype {arr.dtype}, which has no ONNX input type")
        initial_types.append((name, tensor_type([None, arr.shape[1]])))

    classifier = is_classifier(model)
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    options = {id(final): {"zipmap": False}} if classifier else None
    opset = request.opset or DEFAULT_OPSET
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onx = to_onnx(model, initial_types=initial_types, target_opset={"": opset, "ai.onnx.ml": ML_OPSET}, options=options)
    except Exception as exc:  # skl2onnx raises RuntimeError/TypeError/NotImplementedError/MissingShapeCalculator...
        raise ConvertError(f"skl2onnx cannot convert {_describe(model)}: {first_line(exc)}") from None

    outputs = [o.name for o in onx.graph.output]
    reference, labels = {}, None
    x = _original_input(model, sample)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        warnings.filterwarnings("ignore", message="X has feature names")
        if classifier and len(outputs) >= 2:
            rename_io(onx, {outputs[0]: "label", outputs[1]: "probabilities"})
            reference["label"] = np.asarray(model.predict(x))
            if hasattr(model, "predict_proba"):
                reference["probabilities"] = np.asarray(model.predict_proba(x))
            labels = [str(c) for c in model.classes_]
        elif is_regressor(model) and len(outputs) == 1:
            rename_io(onx, {outputs[0]: "predictions"})
            reference["predictions"] = np.asarray(model.predict(x))
        elif len(outputs) == 1 and hasattr(model, "transform"):
            rename_io(onx, {outputs[0]: "output"})
            out = model.transform(x)
            reference["output"] = out.toarray() if hasattr(out, "toarray") else np.asarray(out)
    return Converted(
        model=onx, feeds=feeds, reference=reference, framework="sklearn", framework_version=sklearn.__version__,
        model_class=_describe(model), input_source=sample.source, labels=labels,
    )


def _generated(model, request: Request) -> Sample:
    if _needs_named_columns(model):
        raise ConvertError(
            f"cannot infer the inputs of {_describe(model)}: it selects columns by name "
            f"({', '.join(map(str, getattr(model, 'feature_names_in_', [])[:6]))}...); pass --sample FILE.npy, a structured "
            "array with one field per column (numpy.save of numpy.rec.fromarrays)"
        )
    if request.input_shape is not None:
        if len(request.input_shape) != 2:
            shape = "x".join(map(str, request.input_shape))
            raise ConvertError(f"a scikit-learn model takes rows x features; --input-shape must be like 1x4, got {shape}")
        return generate(request.input_shape, request.input_dtype)
    n_features = getattr(model, "n_features_in_", None)
    if not isinstance(n_features, int):
        raise ConvertError(
            f"cannot infer the input shape of {_describe(model)} (it has no n_features_in_); "
            "pass --sample FILE.npy or --input-shape 1xN_FEATURES"
        )
    return generate((1, n_features), request.input_dtype)


def _needs_named_columns(model) -> bool:
    from sklearn.compose import ColumnTransformer

    parts = [model, *model.get_params(deep=True).values()] if hasattr(model, "get_params") else [model]
    for part in parts:
        if isinstance(part, ColumnTransformer):
            for _, _, columns in getattr(part, "transformers_", part.transformers):
                cols = columns if isinstance(columns, (list, tuple, np.ndarray)) else [columns]
                if any(isinstance(c, str) for c in cols):
                    return True
    return False


def _feedable(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind in "US":
        return arr.astype(object)
    if arr.dtype == np.float64:
        return arr.astype(np.float32)
    return arr


def _original_input(model, sample: Sample):
    """What the original model is given: the array, or the columns side by side (a DataFrame when it knows names)."""
    if sample.columns is None:
        return sample.array
    names = list(sample.columns)
    if hasattr(model, "feature_names_in_"):
        pandas = need("pandas", "running a model fitted on a DataFrame")
        return pandas.DataFrame({name: col[:, 0] for name, col in sample.columns.items()})[names]
    return np.concatenate([col.astype(object) for col in sample.columns.values()], axis=1)


def _describe(model) -> str:
    if hasattr(model, "steps"):
        return f"Pipeline({', '.join(type(step).__name__ for _, step in model.steps)})"
    return type(model).__name__
