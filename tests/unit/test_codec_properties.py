"""Property tests of the Open Inference Protocol codecs: any tensor of any datatype and shape, zero-size
and rank-0 included, comes back unchanged through an identity model, as JSON and as binary data."""

import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from onnx import TensorProto, helper

from helpers import make_model
from infer.runtime import app
from infer.runtime import model as runtime_model
from infer.runtime.events import Request

TYPES = {
    "BOOL": (TensorProto.BOOL, np.bool_), "UINT8": (TensorProto.UINT8, np.uint8),
    "UINT16": (TensorProto.UINT16, np.uint16), "UINT32": (TensorProto.UINT32, np.uint32),
    "UINT64": (TensorProto.UINT64, np.uint64), "INT8": (TensorProto.INT8, np.int8),
    "INT16": (TensorProto.INT16, np.int16), "INT32": (TensorProto.INT32, np.int32),
    "INT64": (TensorProto.INT64, np.int64), "FP16": (TensorProto.FLOAT16, np.float16),
    "FP32": (TensorProto.FLOAT, np.float32), "FP64": (TensorProto.DOUBLE, np.float64),
    "BYTES": (TensorProto.STRING, object),
}


@pytest.fixture(scope="module")
def holders(tmp_path_factory):
    """An identity model of unknown rank per datatype, loaded once."""
    folder = tmp_path_factory.mktemp("identity")
    made = {}
    for datatype, (onnx_type, _) in TYPES.items():
        path = make_model(folder / f"{datatype}.onnx", [("x", onnx_type, None)], [("y", onnx_type, None)],
                          [helper.make_node("Identity", ["x"], ["y"])])
        made[datatype] = runtime_model.ModelHolder(str(path))
        made[datatype].get()
    yield made
    runtime_model.reset()


@st.composite
def tensors(draw):
    datatype = draw(st.sampled_from(sorted(TYPES)))
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=4)))
    if datatype == "BYTES":
        array = draw(hnp.arrays(object, shape, elements=st.text(max_size=6)))
    else:
        dtype = np.dtype(TYPES[datatype][1])
        elements = hnp.from_dtype(dtype, allow_nan=False, allow_infinity=False) if dtype.kind == "f" else None
        array = draw(hnp.arrays(dtype, shape, elements=elements))
    return datatype, array


def infer(holder, payload: dict, binary: bytes = b""):
    runtime_model.reset(holder)
    header = json.dumps(payload).encode()
    headers = {"inference-header-content-length": str(len(header))} if binary else {}
    return app.dispatch(Request("POST", f"/v2/models/{holder.name}/infer", headers, body=header + binary))


def to_wire(datatype: str, array: np.ndarray) -> bytes:
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in array.ravel().tolist())
    return array.astype(array.dtype.newbyteorder("<")).tobytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tensors())
def test_json_round_trip(holders, tensor):
    datatype, array = tensor
    data = array.ravel().tolist()
    response = infer(holders[datatype], {"inputs": [{"name": "x", "shape": list(array.shape), "datatype": datatype,
                                                     "data": data}]})
    assert response.status == 200, response.body
    (output,) = response.body["outputs"]
    assert (output["datatype"], output["shape"]) == (datatype, list(array.shape))
    assert output["data"] == data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tensors())
def test_binary_round_trip(holders, tensor):
    datatype, array = tensor
    raw = to_wire(datatype, array)
    response = infer(holders[datatype], {
        "inputs": [{"name": "x", "shape": list(array.shape), "datatype": datatype, "parameters": {"binary_data_size": len(raw)}}],
        "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}, raw)
    assert response.status == 200, response.body
    length = int(response.headers["inference-header-content-length"])
    header = json.loads(response.body[:length])
    assert header["outputs"][0]["shape"] == list(array.shape)
    assert header["outputs"][0]["parameters"]["binary_data_size"] == len(raw)
    assert response.body[length:] == raw


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(TYPES)), st.lists(st.integers(0, 2 ** 40), min_size=1, max_size=4),
       st.integers(0, 64))
def test_data_that_does_not_fit_its_shape_is_a_400(holders, datatype, shape, extra_bytes):
    """Binary data whose length disagrees with the shape (or the element count) is refused, never crashes."""
    count = int(np.prod(shape, dtype=object))
    raw = b"\x01" * extra_bytes
    itemsize = np.dtype(TYPES[datatype][1]).itemsize if datatype != "BYTES" else None
    nominal = int(np.prod([max(d, 1) for d in shape], dtype=object))
    fits = nominal <= 2 ** 48 and ((itemsize is not None and extra_bytes == count * itemsize)
                                   or (datatype == "BYTES" and count == 0 and not raw))
    response = infer(holders[datatype], {"inputs": [{"name": "x", "shape": shape, "datatype": datatype,
                                                     "parameters": {"binary_data_size": len(raw)}}]}, raw)
    assert response.status == (200 if fits else 400), response.body
    if not fits:
        assert response.body["error"].startswith("input 'x'") or "binary" in response.body["error"]


@pytest.fixture(scope="module")
def static_models(tmp_path_factory):
    """Identity models whose signature is one exact static shape, made on first use."""
    folder = tmp_path_factory.mktemp("static")
    made: dict[tuple, runtime_model.ModelHolder] = {}

    def model_for(datatype: str, shape: tuple) -> runtime_model.ModelHolder:
        key = (datatype, shape)
        if key not in made:
            onnx_type = TYPES[datatype][0]
            path = make_model(folder / f"{datatype}_{'x'.join(map(str, shape)) or 'scalar'}.onnx",
                              [("x", onnx_type, list(shape))], [("y", onnx_type, list(shape))],
                              [helper.make_node("Identity", ["x"], ["y"])])
            made[key] = runtime_model.ModelHolder(str(path))
        return made[key]

    yield model_for
    runtime_model.reset()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tensors())
def test_every_tensor_a_static_signature_allows_is_accepted_by_every_protocol(static_models, tensor):
    """Zero-size tensors included: V1 (whose nested lists cannot show the axes below an empty list, so the
    signature gives them), OIP JSON and OIP binary all accept the tensor and answer it unchanged."""
    datatype, array = tensor
    holder = static_models(datatype, array.shape)
    data = array.tolist()
    runtime_model.reset(holder)
    v1 = app.dispatch(Request("POST", "/predict", body=json.dumps({"inputs": data}).encode()))
    assert (v1.status, v1.body) == (200, {"outputs": data})
    as_json = infer(holder, {"inputs": [{"name": "x", "shape": list(array.shape), "datatype": datatype,
                                         "data": array.ravel().tolist()}]})
    assert as_json.status == 200, as_json.body
    assert as_json.body["outputs"][0]["data"] == array.ravel().tolist()
    raw = to_wire(datatype, array)
    as_binary = infer(holder, {"inputs": [{"name": "x", "shape": list(array.shape), "datatype": datatype,
                                           "parameters": {"binary_data_size": len(raw)}}]}, raw)
    assert as_binary.status == 200 and as_binary.body["outputs"] == as_json.body["outputs"]
