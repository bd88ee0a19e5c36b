"""What every framework converter takes and gives back."""

from dataclasses import dataclass, field

import numpy as np

from .signature import Sample


@dataclass
class Request:
    """What the user told us about the model's input, and the target opset."""

    sample: Sample | None = None
    input_shape: tuple[int, ...] | None = None
    input_dtype: np.dtype = np.dtype("float32")
    opset: int | None = None


@dataclass
class Converted:
    """An ONNX model and what the original model answered on the parity inputs (keyed by ONNX output name)."""

    model: object  # onnx.ModelProto
    feeds: dict[str, np.ndarray]
    reference: dict[str, np.ndarray]
    framework: str
    framework_version: str
    model_class: str
    input_source: str
    labels: list[str] | None = None
    notes: list[str] = field(default_factory=list)
