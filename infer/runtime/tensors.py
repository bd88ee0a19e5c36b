"""JSON values -> numpy arrays of a model input's dtype and shape.

A value is cast to the input's dtype only when no information is lost (1.0 -> int64 is fine, 1.5 is
refused); every refusal names the input, what was expected and what was received.
"""

import numpy as np

from .errors import BadRequest
from .types import TensorSpec

MAX_DIMS = 64  # numpy's limit on dimensions
FLOAT64_EXACT_INTEGERS = 2 ** 53  # from here on, float64 cannot hold every integer
_KIND_NAMES = {"b": "booleans", "i": "integers", "u": "integers", "f": "numbers", "U": "strings", "S": "strings"}


def _describe(arr: np.ndarray) -> str:
    return _KIND_NAMES.get(arr.dtype.kind, "mixed values")


def _ragged_detail(value, where: str) -> str:
    """Find the first place where sibling lists differ in length or nesting."""
    stack = [(value, where)]
    while stack:
        node, path = stack.pop()
        if not isinstance(node, list) or not node:
            continue
        first_is_list = isinstance(node[0], list)
        first_len = len(node[0]) if first_is_list else None
        for i, item in enumerate(node):
            if isinstance(item, list) != first_is_list:
                return f"{path}[{i}] is {'a list' if isinstance(item, list) else 'a single value'} but {path}[0] is not"
            if first_is_list and len(item) != first_len:
                return f"{path}[{i}] has {len(item)} values but {path}[0] has {first_len}"
        stack.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(node))))
    return f"{where} is ragged"


def _depth(value) -> int:
    depth = 0
    while isinstance(value, list):
        depth += 1
        value = value[0] if value else None
    return depth


def _has_bool(value) -> bool:
    """Whether a regular nested list holds a JSON true/false (numpy would quietly turn it into 1/0)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if not isinstance(node, list):
            if type(node) is bool:
                return True
        elif node and type(node[0]) is list:
            stack.extend(node)
        elif bool in set(map(type, node)):
            return True
    return False


def to_array(value, spec: TensorSpec, where: str) -> np.ndarray:
    """Convert a JSON value for input `spec`; `where` names it in errors (e.g. "instances")."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):
        depth = _depth(value)
        if depth > MAX_DIMS:
            raise BadRequest(f"input '{spec.name}': {where} is nested {depth} levels deep; a tensor has at most "
                             f"{MAX_DIMS} dimensions (expected shape {spec.shape_text})") from None
        raise BadRequest(
            f"input '{spec.name}': ragged array: {_ragged_detail(value, where)}; "
            f"every row must have the same length (expected shape {spec.shape_text})"
        ) from None
    if arr.dtype.kind in "iuf" and _has_bool(value):
        raise BadRequest(f"input '{spec.name}': {where} mixes booleans with numbers; send numbers only")
    arr = cast(arr, spec, where, value)
    if arr.size == 0 and arr.ndim < len(spec.shape):
        arr = _fill_empty_axes(arr, spec, where)
    check_shape(arr, spec)
    return arr


def _fill_empty_axes(arr: np.ndarray, spec: TensorSpec, where: str) -> np.ndarray:
    """Nested lists end at an empty one (`[]` is a batch of no rows): the axes below it, which JSON cannot
    show, take the sizes the signature gives them."""
    rest = [d for d in spec.shape[arr.ndim:] if d is not None]
    if len(rest) != len(spec.shape) - arr.ndim:
        what = "an empty list" if arr.ndim == 1 else f"empty lists at depth {arr.ndim}"
        raise BadRequest(f"input '{spec.name}': {where} has {what}, which does not say the size of the axes "
                         f"after axis {arr.ndim - 1} of shape {spec.shape_text}; send it as an Open Inference Protocol "
                         "tensor, whose shape says them")
    return arr.reshape((*arr.shape, *rest))


def _strings(value, arr: np.ndarray, spec: TensorSpec, where: str) -> np.ndarray:
    """The JSON strings themselves, as an object array of `arr`'s shape, when every element is a string.

    numpy would turn [5, "a"] into ["5", "a"] and drop trailing NUL characters; ONNX strings keep both.
    """
    exact = np.array(value, dtype=object)  # regular, as np.asarray found it: the same shape
    for item in exact.flat:
        if type(item) is not str:
            raise BadRequest(f"input '{spec.name}' expects strings; {where} mixes strings with {_json_kind(item)}")
    return exact


def _json_kind(value) -> str:
    if isinstance(value, bool):
        return "booleans"
    return "numbers" if isinstance(value, (int, float)) else "objects" if isinstance(value, dict) else "lists"


def cast(arr: np.ndarray, spec: TensorSpec, where: str, value=None) -> np.ndarray:
    """`arr` as the input's dtype, or a 400 saying why not; `value` is the JSON it came from, if any."""
    target = np.dtype(spec.dtype) if spec.dtype is not None else None
    if target is None:
        raise BadRequest(f"input '{spec.name}' has type {spec.ort_type}, which infer cannot feed from JSON")
    if arr.size == 0:  # [] has no type of its own: give the empty tensor the input's
        return np.empty(arr.shape, dtype=target)
    kind = arr.dtype.kind
    if kind == "O":
        items = arr.ravel().tolist()
        expected = "strings" if target.kind == "O" else target.name
        if any(v is None for v in items):
            raise BadRequest(f"input '{spec.name}' expects {expected}; {where} contains null")
        if target.kind == "O":
            other: object = next((v for v in items if type(v) is not str), [])
            raise BadRequest(f"input '{spec.name}' expects strings; {where} holds {_json_kind(other)}")
        if all(isinstance(v, int) for v in items):
            raise BadRequest(f"input '{spec.name}': a value is out of range for {target.name} (integers must fit in 64 bits)")
        raise BadRequest(f"input '{spec.name}' expects {target.name}; {where} mixes types")
    if target.kind == "O":  # string tensor
        if kind in "US":
            return _strings(value, arr, spec, where) if value is not None else arr.astype(object)
        raise BadRequest(f"input '{spec.name}' expects strings; got {_describe(arr)}")
    if kind in "US":
        raise BadRequest(f"input '{spec.name}' expects {target.name}; got strings")
    if target.kind == "b":
        if kind == "b":
            return arr
        raise BadRequest(f"input '{spec.name}' expects booleans (true/false); got {_describe(arr)}")
    if kind == "b":
        raise BadRequest(f"input '{spec.name}' expects {target.name}; got booleans")
    if kind == "f" and not np.all(np.isfinite(arr)):
        raise BadRequest(f"input '{spec.name}' contains NaN or infinity (JSON numbers beyond 1.8e308 read as "
                         "infinity); send finite numbers")
    if arr.dtype == target:
        return arr
    if target.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            out = arr.astype(target)
        if not np.all(np.isfinite(out)):
            raise BadRequest(f"input '{spec.name}': a value is out of range for {target.name}")
        return out
    # integer target
    out_of_range = f"input '{spec.name}': a value is out of range for {target.name} [{np.iinfo(target).min}, {np.iinfo(target).max}]"
    if kind == "f":
        if not np.all(arr == np.trunc(arr)):
            sample = arr[arr != np.trunc(arr)].flat[0].item()
            raise BadRequest(f"input '{spec.name}' expects integers ({target.name}); got {sample}, which is not whole")
        if value is not None and np.abs(arr).max() >= FLOAT64_EXACT_INTEGERS:
            # numpy read large integers as float64 and rounded them: convert the JSON values exactly instead
            try:
                return np.asarray(value, dtype=target)
            except (OverflowError, ValueError, TypeError):
                raise BadRequest(out_of_range) from None
    info = np.iinfo(target)
    if arr.min() < info.min or arr.max() > info.max:
        raise BadRequest(out_of_range)
    return arr.astype(target)


def check_shape(arr: np.ndarray, spec: TensorSpec) -> None:
    if not spec.shape:  # rank unknown to the model: let onnxruntime decide
        return
    got = "[" + ", ".join(str(d) for d in arr.shape) + "]"
    if arr.ndim != len(spec.shape):
        hint = ""
        if arr.ndim == len(spec.shape) - 1:
            hint = "; each instance must itself be a list: {\"instances\": [[...], [...]]}"
        raise BadRequest(f"input '{spec.name}' expects shape {spec.shape_text} (-1 means any size); got {got}{hint}")
    for axis, (want, have) in enumerate(zip(spec.shape, arr.shape)):
        if want is not None and want != have:
            what = f"{want} features per row" if axis == len(spec.shape) - 1 else f"size {want} on axis {axis}"
            raise BadRequest(
                f"input '{spec.name}' expects shape {spec.shape_text} (-1 means any size): "
                f"{what}, got {have} (shape {got})"
            )


def to_json(array: np.ndarray):
    """numpy -> nested lists for JSON; NaN and infinity, which JSON cannot carry, become null."""
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        values = array.astype(object)
        values[~np.isfinite(array)] = None
        return values.tolist()
    return array.tolist()
