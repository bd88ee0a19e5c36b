"""Find out which framework a model file belongs to and load it.

Pickles (including joblib files and `torch.save` archives) run code when loaded: only convert files
you trust.
"""

import importlib
import io
import os
import pickle
import sys
import warnings
import zipfile
from pathlib import Path

from .errors import ConvertError, first_line, missing, need

FRAMEWORKS = ("sklearn", "torch", "xgboost", "lightgbm")
FRAMEWORK_NAMES = {"sklearn": "scikit-learn", "torch": "PyTorch", "xgboost": "XGBoost", "lightgbm": "LightGBM"}
WHAT_WE_CONVERT = "a scikit-learn estimator or pipeline, a PyTorch module, or an XGBoost or LightGBM model"


def sniff(path: Path) -> str:
    """The file's container format: 'torch-zip', 'torchscript', 'pickle', 'xgboost-json', 'xgboost-ubj', 'lightgbm-text'."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            names = []
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
        if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            return "torch-zip"
        raise ConvertError(f"{path} is a zip archive but not a PyTorch file; expected {WHAT_WE_CONVERT}")
    compressed = head[:2] in (b"\x78\x9c", b"\x78\x01", b"\x78\xda", b"\x1f\x8b") or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00"
    if head[:1] == b"\x80" or compressed:
        return "pickle"  # plain pickle, or joblib's zlib/gzip/bz2/xz compressed pickle
    if head.lstrip().startswith(b"{") and b'"learner"' in head:
        return "xgboost-json"
    if path.suffix == ".ubj":
        return "xgboost-ubj"
    if head.startswith(b"tree\n") and b"version=" in head:
        return "lightgbm-text"
    raise ConvertError(
        f"{path} is not a model file infer can read: expected a pickle/joblib file, a PyTorch .pt file, "
        "an XGBoost .json/.ubj model or a LightGBM text model"
    )


def load(path: Path):
    """Load the file: (object, container format). Unpickling imports the modules the pickle names."""
    kind = sniff(path)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # a pickle names its classes' modules; find the user's own code, as `python` would
    if kind in ("torch-zip", "torchscript"):
        torch = need("torch", f"loading {path} (a PyTorch file)")
        try:
            if kind == "torchscript":
                with warnings.catch_warnings():  # TorchScript is deprecated, but the user's file is what it is
                    warnings.filterwarnings("ignore", message=".*torch.jit.load.* is deprecated", category=DeprecationWarning)
                    return torch.jit.load(str(path), map_location="cpu"), kind
            return torch.load(str(path), map_location="cpu", weights_only=False), kind
        except ModuleNotFoundError as exc:
            raise _unpickle_missing(exc, path) from None
        except Exception as exc:  # torch raises many types for bad archives
            raise ConvertError(f"cannot load {path} with torch: {first_line(exc)}") from None
    if kind == "pickle":
        return _unpickle(path), kind
    if kind.startswith("xgboost"):
        xgboost = need("xgboost", f"loading {path} (an XGBoost model)")
        try:
            return xgboost.Booster(model_file=str(path)), kind
        except Exception as exc:  # xgboost.core.XGBoostError
            raise ConvertError(f"cannot load {path} as an XGBoost model: {first_line(exc)}") from None
    lightgbm = need("lightgbm", f"loading {path} (a LightGBM model)")
    try:
        return lightgbm.Booster(model_file=str(path)), kind
    except Exception as exc:  # lightgbm.basic.LightGBMError
        raise ConvertError(f"cannot load {path} as a LightGBM model: {first_line(exc)}") from None


def _unpickle(path: Path):
    try:
        import joblib
    except ImportError:
        joblib = None
    try:
        if joblib is not None:
            return joblib.load(path)
        with open(path, "rb") as f:
            return pickle.load(f)
    except ModuleNotFoundError as exc:
        raise _unpickle_missing(exc, path) from None
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError,
            io.UnsupportedOperation) as exc:
        raise ConvertError(f"cannot unpickle {path}: {first_line(exc)}; expected {WHAT_WE_CONVERT}") from None


def _unpickle_missing(exc: ModuleNotFoundError, path: Path) -> ConvertError:
    name = exc.name or first_line(exc)
    top = name.split(".")[0]
    if top in ("sklearn", "torch", "xgboost", "lightgbm"):
        return missing(top, f"loading {path}")
    return ConvertError(f"loading {path} imports module '{name}', which cannot be found; run from where that code is importable")


def framework_of(obj) -> str | None:
    """Which converter handles this object, judged by the classes it inherits from (no framework imports)."""
    for cls in type(obj).__mro__:
        top = cls.__module__.split(".")[0]
        if top == "xgboost":
            return "xgboost"
        if top == "lightgbm":
            return "lightgbm"
        if top == "torch":
            return "torch"
    if isinstance(obj, dict) and obj and all(type(v).__module__.startswith("torch") for v in obj.values()):
        return "torch"  # a state dict
    if hasattr(obj, "fit") and any(c.__module__.split(".")[0] == "sklearn" for c in type(obj).__mro__):
        return "sklearn"
    return None


def describe(obj) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def import_factory(spec: str):
    """'package.module:function' -> the function, with the current directory importable."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConvertError(f"--factory must be 'module:function' (e.g. mypackage.models:build); got '{spec}'")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConvertError(f"--factory: cannot import module '{module_name}': {first_line(exc)}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConvertError(f"--factory: module '{module_name}' has no function '{attr}'")
    return factory
