"""Open Inference Protocol (KServe V2) inference: JSON tensors and the binary tensor data extension.

A request is a JSON header, optionally followed by raw tensor bytes; the header's length is then
given by the `Inference-Header-Content-Length` header. Each input is {"name", "shape", "datatype"}
plus either "data" (JSON, flat or nested, row-major) or "parameters": {"binary_data_size": N}.
BYTES elements travel as 4-byte little-endian lengths followed by the bytes. Outputs are returned as
JSON "data" unless binary output was asked for, per output or with "binary_data_output".
"""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING

import numpy as np

from .errors import BadRequest
from .events import Request, dump_json, parse_json
from .tensors import MAX_DIMS as MAX_RANK
from .tensors import check_shape, to_array, to_json
from .types import DATATYPES, TensorSpec, datatype_of

if TYPE_CHECKING:
    from .model import Model

HEADER_LENGTH = "inference-header-content-length"
MAX_NOMINAL_ELEMENTS = 2 ** 48  # far beyond a 6 MB body, yet safe for numpy's size arithmetic



class InferRequest:
    __slots__ = ("id", "feeds", "outputs", "batch")

    def __init__(self, request_id, feeds: dict, outputs: list[tuple[str, bool]]):
        self.id = request_id
        self.feeds = feeds
        self.outputs = outputs  # (name, binary) in the order to answer them


def split_body(request: Request) -> tuple[bytes, bytes]:
    """Separate the JSON header from the binary tensor data that may follow it."""
    raw = request.headers.get(HEADER_LENGTH)
    if raw is None:
        return request.body, b""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()):  # int() would also take "+1", "1_0" and "١٢"
        raise BadRequest(f"Inference-Header-Content-Length must be a decimal byte count; got {raw[:40]!r}")
    length = int(text) if len(text) <= 20 else len(request.body) + 1  # int() refuses 4,301 digits and more
    if not 0 < length <= len(request.body):
        shown = text if len(text) <= 20 else f"a number of {len(text)} digits"
        raise BadRequest(f"Inference-Header-Content-Length is {shown}, but the body has {len(request.body)} bytes")
    return request.body[:length], request.body[length:]


def decode(request: Request, model: Model) -> InferRequest:
    header, binary = split_body(request)
    payload = parse_json(header)
    if not isinstance(payload, dict):
        raise BadRequest('the inference request must be a JSON object with "inputs"')
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest('"inputs" must be a non-empty list of tensors, each {"name", "shape", "datatype", "data"}')
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest('"id" must be a string')
    parameters = _parameters(payload, "the request")
    binary_output = _flag(parameters, "binary_data_output", False, "the request")
    specs = {s.name: s for s in model.inputs}
    feeds: dict[str, np.ndarray] = {}
    offset = 0
    for index, tensor in enumerate(inputs):
        where = f"inputs[{index}]"
        if not isinstance(tensor, dict):
            raise BadRequest(f"{where} must be an object with name, shape, datatype and data")
        name = tensor.get("name")
        if not isinstance(name, str) or name not in specs:  # a JSON object or array is no name (nor hashable)
            raise BadRequest(f"{where}: unknown input {_short(name)}; the model's inputs are {_names(specs)}")
        if name in feeds:
            raise BadRequest(f"{where}: input '{name}' is given twice")
        spec = specs[name]
        shape = _shape(tensor.get("shape"), f"input '{name}'")
        datatype = _datatype(tensor.get("datatype"), spec, f"input '{name}'")
        size = _binary_size(tensor, f"input '{name}'")
        if size is not None:
            if offset + size > len(binary):
                raise BadRequest(f"input '{name}' declares binary_data_size {size}, but only "
                                 f"{len(binary) - offset} bytes of binary data remain in the body")
            array = _from_binary(binary[offset:offset + size], shape, datatype, f"input '{name}'")
            offset += size
        elif "data" in tensor:
            array = _from_json(tensor["data"], shape, spec, datatype, f"input '{name}'")
        else:
            raise BadRequest(f"input '{name}' has neither \"data\" nor parameters.binary_data_size")
        check_shape(array, spec)
        feeds[name] = array
    if offset != len(binary):
        raise BadRequest(f"the body has {len(binary) - offset} bytes of binary data that no input claims")
    missing = [n for n in specs if n not in feeds]
    if missing:
        raise BadRequest(f"missing input(s) {_names(missing)}; the model needs {_names(specs)}")
    return InferRequest(request_id, feeds, _requested_outputs(payload, model, binary_output))


def _parameters(obj: dict, where: str) -> dict:
    parameters = obj.get("parameters", {})
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise BadRequest(f'"parameters" of {where} must be an object')
    return parameters


def _flag(parameters: dict, key: str, default: bool, where: str) -> bool:
    """A boolean parameter: true, false, or absent/null for the default (bool("false") would be True)."""
    value = parameters.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"{key} of {where} must be true or false; got {_short(value)}")
    return value


def _shape(shape, where: str) -> list[int]:
    if not isinstance(shape, list) or len(shape) > MAX_RANK:
        raise BadRequest(f"{where}: \"shape\" must be a list of at most {MAX_RANK} non-negative integers; got {_short(shape)}")
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 0:
            raise BadRequest(f"{where}: shape dimensions must be non-negative integers; got {_short(dim)} in {_short(shape)}")
    nominal = 1
    for dim in shape:
        nominal *= max(dim, 1)
        if nominal > MAX_NOMINAL_ELEMENTS:  # at once: 64 dimensions of 4,300 digits multiply slowly
            raise BadRequest(f"{where}: shape {_short(shape)} is too large for any tensor")
    return shape


def _datatype(datatype, spec: TensorSpec, where: str) -> str:
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        if datatype == "BF16":
            raise BadRequest(f"{where}: BF16 tensors are not supported (numpy has no bfloat16); the model expects {spec.datatype}")
        raise BadRequest(f"{where}: unknown datatype {_short(datatype)}; expected one of {', '.join(DATATYPES)}")
    if datatype != spec.datatype:
        raise BadRequest(f"{where}: the model expects datatype {spec.datatype}; got {datatype}")
    return datatype


def _binary_size(tensor: dict, where: str) -> int | None:
    size = _parameters(tensor, where).get("binary_data_size")
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise BadRequest(f"{where}: binary_data_size must be a non-negative integer; got {_short(size)}")
    return size


def _element_count(shape: list[int]) -> int:
    count = 1
    for dim in shape:
        count *= dim  # Python integers: a huge product cannot overflow, it just fails the size check
    return count


def _from_json(data, shape: list[int], spec: TensorSpec, datatype: str, where: str) -> np.ndarray:
    count = _element_count(shape)
    if datatype == "BYTES":
        flat = _flatten_strings(data, where)
        if len(flat) != count:
            raise BadRequest(f"{where}: shape {shape} needs {count} elements; \"data\" has {len(flat)}")
        return np.array(flat, dtype=object).reshape(shape)
    array = to_array_flat(data, spec, where)
    if array.size != count:
        raise BadRequest(f"{where}: shape {shape} needs {count} elements; \"data\" has {array.size}")
    return array.reshape(shape)


def to_array_flat(data, spec: TensorSpec, where: str) -> np.ndarray:
    """JSON data, flat or nested, cast to the input's dtype (without the model's shape check)."""
    flat_spec = TensorSpec(spec.name, spec.ort_type, [])
    return to_array(data if isinstance(data, list) else [data], flat_spec, where).ravel()


def _flatten_strings(data, where: str) -> list[str]:
    out, stack = [], [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, str):
            out.append(item)
        else:
            raise BadRequest(f"{where}: BYTES data must be strings; got {_short(item)}")
    return out


def _from_binary(raw: bytes, shape: list[int], datatype: str, where: str) -> np.ndarray:
    count = _element_count(shape)
    if datatype == "BYTES":
        return np.array(_unpack_bytes(raw, count, where), dtype=object).reshape(shape)
    dtype = DATATYPES[datatype].newbyteorder("<")
    if len(raw) != count * dtype.itemsize:
        raise BadRequest(f"{where}: shape {shape} of {datatype} needs {count * dtype.itemsize} bytes; "
                         f"binary_data_size is {len(raw)}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _unpack_bytes(raw: bytes, count: int, where: str) -> list[str]:
    items: list[str] = []
    pos = 0
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise BadRequest(f"{where}: BYTES element {len(items)} has a truncated length prefix")
        (length,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if pos + length > len(raw):
            raise BadRequest(f"{where}: BYTES element {len(items)} claims {length} bytes; only {len(raw) - pos} remain")
        try:
            items.append(raw[pos:pos + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise BadRequest(f"{where}: BYTES element {len(items)} is not UTF-8 text, which ONNX string tensors need") from None
        pos += length
    if len(items) != count:
        raise BadRequest(f"{where}: shape needs {count} BYTES elements; the binary data holds {len(items)}")
    return items


def _requested_outputs(payload: dict, model: Model, binary_default: bool) -> list[tuple[str, bool]]:
    requested = payload.get("outputs")
    if requested is None:
        return [(name, binary_default) for name in model.output_names]
    if not isinstance(requested, list):
        raise BadRequest('"outputs" must be a list of {"name": ...} objects')
    chosen = []
    for index, item in enumerate(requested):
        if not isinstance(item, dict) or item.get("name") not in model.output_names:
            name = item.get("name") if isinstance(item, dict) else item
            raise BadRequest(f"outputs[{index}]: unknown output {_short(name)}; the model's outputs are {_names(model.output_names)}")
        binary = _flag(_parameters(item, f"outputs[{index}]"), "binary_data", binary_default, f"outputs[{index}]")
        chosen.append((item["name"], binary))
    return chosen


def encode(model: Model, request: InferRequest, results: dict) -> tuple[object, dict[str, str]]:
    """The response body (a JSON object, or bytes when any output is binary) and its extra headers."""
    specs = {s.name: s for s in model.outputs}
    outputs, chunks = [], []
    for name, binary in request.outputs:
        array = np.asarray(results[name])
        entry: dict[str, object] = {"name": name, "datatype": _datatype_of(array, specs[name]), "shape": list(array.shape)}
        if binary:
            chunk = _to_binary(array)
            entry["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            entry["data"] = to_json(array.ravel())
        outputs.append(entry)
    body = {"model_name": model.name, "model_version": "1", "outputs": outputs}
    if request.id is not None:
        body["id"] = request.id
    if not chunks:
        return body, {}
    header = dump_json(body).encode()
    return header + b"".join(chunks), {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(header))}


def _datatype_of(array: np.ndarray, spec: TensorSpec) -> str:
    return datatype_of(array.dtype) or spec.datatype


def _to_binary(array: np.ndarray) -> bytes:
    if array.dtype.kind in "OUS":
        parts = []
        for item in array.ravel().tolist():
            data = item.encode("utf-8") if isinstance(item, str) else bytes(item)
            parts.append(struct.pack("<I", len(data)))
            parts.append(data)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _names(names) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _short(value) -> str:
    """A received value as it can be quoted in an error (JSON, cut at 60 characters)."""
    try:
        if isinstance(value, list) and len(value) > 8:  # no need to write out what is cut anyway
            text = json.dumps(value[:8])[:-1] + ", ...]"
        else:
            text = json.dumps(value) if not isinstance(value, str) else repr(value)
    except RecursionError:  # as deep as the parser allows: nothing of it is worth quoting
        text = "a value nested hundreds of levels deep"
    return text if len(text) <= 60 else text[:57] + "..."
