"""The one error type of `infer convert`, and the install hint for a missing framework."""

# Top-level module -> the extra that installs it (pip install 'infer[EXTRA]').
EXTRAS = {
    "sklearn": "sklearn", "skl2onnx": "sklearn", "joblib": "sklearn",
    "torch": "torch", "onnxscript": "torch",
    "xgboost": "xgboost", "lightgbm": "lightgbm", "onnxmltools": "xgboost",
    "onnx": "sklearn",
}


class ConvertError(Exception):
    """A problem with the user's input: printed as one line, exit code 2."""


def missing(module: str, needed_for: str) -> ConvertError:
    top = module.split(".")[0]
    extra = EXTRAS.get(top)
    hint = f"pip install 'infer[{extra}]'" if extra else f"pip install {top}"
    return ConvertError(f"{needed_for} needs the Python package '{top}', which is not installed: {hint}")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def need(module: str, needed_for: str):
    """Import `module`, or fail with the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise missing(module, needed_for) from None
