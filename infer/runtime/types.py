"""Tensor element types: one table, from which every other map is derived; and a tensor's signature.

Imports numpy only (not onnxruntime), so the codecs that use it load no session machinery.
"""

import numpy as np

# Open Inference Protocol datatype, numpy dtype, ONNX Runtime type string, ONNX TensorProto element type.
_TABLE = (
    ("BOOL", np.bool_, "tensor(bool)", 9),
    ("UINT8", np.uint8, "tensor(uint8)", 2),
    ("UINT16", np.uint16, "tensor(uint16)", 4),
    ("UINT32", np.uint32, "tensor(uint32)", 12),
    ("UINT64", np.uint64, "tensor(uint64)", 13),
    ("INT8", np.int8, "tensor(int8)", 3),
    ("INT16", np.int16, "tensor(int16)", 5),
    ("INT32", np.int32, "tensor(int32)", 6),
    ("INT64", np.int64, "tensor(int64)", 7),
    ("FP16", np.float16, "tensor(float16)", 10),
    ("FP32", np.float32, "tensor(float)", 1),
    ("FP64", np.float64, "tensor(double)", 11),
    ("BYTES", np.object_, "tensor(string)", 8),
)

# Open Inference Protocol datatype -> numpy dtype (BF16 has no numpy dtype and is not served).
DATATYPES = {datatype: np.dtype(dtype) for datatype, dtype, _, _ in _TABLE}
# ONNX Runtime type string -> (numpy dtype, Open Inference Protocol datatype).
ORT_TYPES: dict[str, tuple[np.dtype | None, str]] = {
    ort_type: (np.dtype(dtype), datatype) for datatype, dtype, ort_type, _ in _TABLE}
# ONNX TensorProto element type -> Open Inference Protocol datatype (what `infer convert` records).
ONNX_DATATYPES = {elem: datatype for datatype, _, _, elem in _TABLE} | {16: "BF16"}


def datatype_of(dtype: np.dtype) -> str | None:
    """The Open Inference Protocol datatype of a numpy dtype (text of any kind is BYTES), or None."""
    if dtype.kind in "OUS":
        return "BYTES"
    for name, candidate in DATATYPES.items():
        if candidate == dtype:
            return name
    return None


class TensorSpec:
    """Name, element type and shape of a model input or output; `None` marks a dynamic dimension."""

    __slots__ = ("name", "ort_type", "dtype", "datatype", "shape")

    def __init__(self, name: str, ort_type: str, shape):
        self.name = name
        self.ort_type = ort_type
        self.dtype: np.dtype | None
        self.datatype: str
        self.dtype, self.datatype = ORT_TYPES.get(ort_type, (None, ort_type))
        self.shape = [d if isinstance(d, int) and d >= 0 else None for d in (shape or [])]

    @property
    def shape_text(self) -> str:
        return "[" + ", ".join("-1" if d is None else str(d) for d in self.shape) + "]"

    def metadata(self) -> dict:
        return {"name": self.name, "datatype": self.datatype, "shape": [-1 if d is None else d for d in self.shape]}
