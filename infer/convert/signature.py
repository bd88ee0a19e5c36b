"""Inputs and outputs: the user's sample or declared shape, generated parity inputs, and the ONNX graph's
signature in Open Inference Protocol terms."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infer.runtime.types import ONNX_DATATYPES

from .errors import ConvertError, first_line

GENERATED_ROWS = 64
GENERATED_SEED = 0

DTYPES = {"float32", "float64", "int64", "int32", "uint8", "bool"}


@dataclass
class Sample:
    """Example inputs: `columns` holds one named array per input for a structured (per-column) sample."""

    array: np.ndarray | None = None
    columns: dict[str, np.ndarray] | None = None
    source: str = "sample"

    @property
    def rows(self) -> int:
        first = self.array if self.array is not None else next(iter((self.columns or {}).values()))
        return int(first.shape[0])


def load_sample(path: Path) -> Sample:
    """A .npy file: a plain array (first axis = batch), or a structured array with one field per column."""
    if not path.is_file():
        raise ConvertError(f"sample file not found: {path}")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ConvertError(f"cannot read sample {path} as a .npy array (object arrays are refused): {first_line(exc)}") from None
    if not isinstance(arr, np.ndarray):
        raise ConvertError(f"sample {path} holds several arrays (.npz); save one array with numpy.save")
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise ConvertError(f"sample {path} is empty or a scalar; its first axis must be the batch (shape {list(arr.shape)})")
    if arr.dtype.names:
        return Sample(columns={name: _column(arr[name]) for name in arr.dtype.names})
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    return Sample(array=arr)


def _column(values: np.ndarray) -> np.ndarray:
    values = values.reshape(len(values), -1)
    return values.astype(object) if values.dtype.kind in "US" else values


def parse_shape(text: str) -> tuple[int, ...]:
    """'1x3x28x28' -> (1, 3, 28, 28); the first dimension is the batch and becomes dynamic."""
    parts = text.lower().replace(",", "x").split("x")
    if not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ConvertError(f"--input-shape must be positive sizes joined by 'x', batch first (e.g. 1x4 or 1x3x28x28); got '{text}'")
    return tuple(int(p) for p in parts)


def check_dtype(name: str) -> np.dtype:
    if name not in DTYPES:
        raise ConvertError(f"--input-dtype must be one of {', '.join(sorted(DTYPES))}; got '{name}'")
    return np.dtype(name)


def generate(shape: tuple[int, ...], dtype: np.dtype, rows: int = GENERATED_ROWS) -> Sample:
    """Seeded inputs of the declared shape (batch replaced by `rows`), for the parity check."""
    rng = np.random.default_rng(GENERATED_SEED)
    full = (rows, *shape[1:])
    if dtype.kind == "f":
        arr = rng.standard_normal(full).astype(dtype)
    elif dtype.kind == "b":
        arr = rng.integers(0, 2, full).astype(bool)
    else:
        arr = rng.integers(0, 10, full).astype(dtype)
    return Sample(array=arr, source="generated")


def io_signature(model) -> tuple[list[dict], list[dict]]:
    """Inputs and outputs of an ONNX ModelProto as manifest entries (-1 for dynamic dimensions)."""

    def entry(value) -> dict:
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
        return {"name": value.name, "datatype": ONNX_DATATYPES.get(tensor.elem_type, str(tensor.elem_type)), "shape": dims}

    initializers = {i.name for i in model.graph.initializer}
    inputs = [entry(v) for v in model.graph.input if v.name not in initializers]
    return inputs, [entry(v) for v in model.graph.output]


def rename_io(model, renames: dict[str, str]) -> None:
    """Rename graph inputs/outputs (and every reference to them) in place."""
    renames = {old: new for old, new in renames.items() if old != new}
    if not renames:
        return
    graph = model.graph
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        value.name = renames.get(value.name, value.name)


def name_batch_axis(model, force: bool = False) -> None:
    """Call the first (dynamic) dimension of inputs and outputs 'batch' instead of an exporter's symbol;
    `force` also replaces a fixed size (a converter that wrote 1 where it meant the batch)."""
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and (force or not dims[0].HasField("dim_value")):
            dims[0].dim_param = "batch"
