"""Trained models -> ONNX with a manifest and a parity report (`infer convert`). See core.py for the steps."""

from .core import DEFAULT_TOLERANCE, Progress, Result, convert
from .errors import ConvertError

__all__ = ["DEFAULT_TOLERANCE", "ConvertError", "Progress", "Result", "convert"]
