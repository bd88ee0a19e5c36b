"""Open Inference Protocol inference through the runtime: JSON and binary tensors, every datatype, refusals."""

import base64
import json
import struct

import numpy as np
import pytest
from onnx import TensorProto, helper

from helpers import EVENTS, MODELS, make_model
from infer.runtime import app
from infer.runtime.events import FunctionUrlEvent, Request
from infer.runtime.handler import handler

SETOSA = [5.1, 3.5, 1.4, 0.2]
ONNX_TYPES = {
    "BOOL": TensorProto.BOOL, "UINT8": TensorProto.UINT8, "UINT16": TensorProto.UINT16, "UINT32": TensorProto.UINT32,
    "UINT64": TensorProto.UINT64, "INT8": TensorProto.INT8, "INT16": TensorProto.INT16, "INT32": TensorProto.INT32,
    "INT64": TensorProto.INT64, "FP16": TensorProto.FLOAT16, "FP32": TensorProto.FLOAT, "FP64": TensorProto.DOUBLE,
    "BYTES": TensorProto.STRING,
}
NUMPY = {"BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
         "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64, "FP16": np.float16,
         "FP32": np.float32, "FP64": np.float64, "BYTES": object}


def infer(payload, binary: bytes = b"", path="/v2/models/{name}/infer", name=None):
    header = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
    headers = {"inference-header-content-length": str(len(header))} if binary else {}
    from infer.runtime.model import holder

    response = app.dispatch(Request("POST", path.format(name=name or holder().name), headers, body=header + binary))
    return response


def split(response):
    """A response body as (JSON header, binary tail)."""
    if isinstance(response.body, bytes):
        n = int(response.headers["inference-header-content-length"])
        return json.loads(response.body[:n]), response.body[n:]
    return response.body, b""


def pack_bytes(items) -> bytes:
    return b"".join(struct.pack("<I", len(b)) + b for b in items)


@pytest.fixture
def iris(use_model):
    return use_model(MODELS / "iris.onnx")


@pytest.fixture(params=list(ONNX_TYPES))
def identity(request, tmp_path, use_model):
    """A model that returns its input, for one datatype."""
    datatype = request.param
    use_model(make_model(tmp_path / f"id_{datatype}.onnx", [("x", ONNX_TYPES[datatype], ["n", 2])],
                         [("y", ONNX_TYPES[datatype], ["n", 2])], [helper.make_node("Identity", ["x"], ["y"])]))
    return datatype


def sample(datatype):
    if datatype == "BYTES":
        return np.array([["a", "héllo"], ["", "z"]], dtype=object)
    if datatype == "BOOL":
        return np.array([[True, False], [False, True]])
    return np.array([[0, 1], [7, 100]], dtype=NUMPY[datatype])


def test_iris_json(iris):
    response = infer({"id": "req-7", "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": SETOSA}]})
    assert response.status == 200
    body = response.body
    assert body["id"] == "req-7" and body["model_name"] == "iris" and body["model_version"] == "1"
    label, probabilities = body["outputs"]
    assert label == {"name": "label", "datatype": "INT64", "shape": [1], "data": [0]}
    assert probabilities["shape"] == [1, 3] and probabilities["datatype"] == "FP32"


def test_nested_data_and_versioned_path(iris):
    response = infer({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [SETOSA]}]},
                     path="/v2/models/{name}/versions/1/infer")
    assert response.status == 200 and response.body["outputs"][0]["data"] == [0]
    other = infer({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": SETOSA}]},
                  path="/v2/models/{name}/versions/2/infer")
    assert other.status == 404 and "only version is '1'" in other.body["error"]


def test_output_selection_and_binary_output(iris):
    response = infer({"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": SETOSA + SETOSA}],
                      "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
                      "parameters": {"ignored_by_infer": 1}})
    header, tail = split(response)
    assert response.headers["content-type"] == "application/octet-stream"
    (output,) = header["outputs"]
    assert output["name"] == "probabilities" and output["parameters"]["binary_data_size"] == 2 * 3 * 4
    values = np.frombuffer(tail, dtype="<f4").reshape(2, 3)
    assert values[0].argmax() == 0 and np.allclose(values.sum(axis=1), 1, atol=1e-5)


def test_binary_data_output_for_all_outputs(iris):
    response = infer({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": SETOSA}],
                      "parameters": {"binary_data_output": True}})
    header, tail = split(response)
    sizes = [o["parameters"]["binary_data_size"] for o in header["outputs"]]
    assert sizes == [8, 12] and len(tail) == 20
    assert np.frombuffer(tail[:8], dtype="<i8").tolist() == [0]


def test_binary_input(iris):
    raw = np.array([SETOSA], dtype="<f4").tobytes()
    response = infer({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                                  "parameters": {"binary_data_size": len(raw)}}]}, raw)
    assert response.status == 200 and response.body["outputs"][0]["data"] == [0]


def test_every_datatype_round_trips_as_json_and_binary(identity):
    datatype = identity
    array = sample(datatype)
    data = array.ravel().tolist()
    response = infer({"inputs": [{"name": "x", "shape": [2, 2], "datatype": datatype, "data": data}]})
    assert response.status == 200, response.body
    (output,) = response.body["outputs"]
    assert (output["datatype"], output["shape"], output["data"]) == (datatype, [2, 2], data)

    raw = pack_bytes([s.encode() for s in data]) if datatype == "BYTES" else array.astype(array.dtype.newbyteorder("<")).tobytes()
    response = infer({"inputs": [{"name": "x", "shape": [2, 2], "datatype": datatype, "parameters": {"binary_data_size": len(raw)}}],
                      "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}, raw)
    header, tail = split(response)
    assert header["outputs"][0]["parameters"]["binary_data_size"] == len(raw)
    assert tail == raw


def test_base64_function_url_event_without_content_type(iris):
    """What a function URL hands the function when tritonclient posts binary data with no Content-Type."""
    raw = np.array([SETOSA], dtype="<f4").tobytes()
    header = json.dumps({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 16}}],
                         "outputs": [{"name": "label", "parameters": {"binary_data": True}}]}).encode()
    event = json.loads((EVENTS / "function_url_base64.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v2/models/iris/infer"
    event["headers"] = {"inference-header-content-length": str(len(header))}
    event["body"] = base64.b64encode(header + raw).decode()
    result = handler(event, None)
    assert result["statusCode"] == 200 and result["isBase64Encoded"] is True
    body = base64.b64decode(result["body"])
    n = int(result["headers"]["inference-header-content-length"])
    assert json.loads(body[:n])["outputs"][0]["parameters"]["binary_data_size"] == 8
    assert np.frombuffer(body[n:], dtype="<i8").tolist() == [0]
    assert FunctionUrlEvent.matches(event)


def test_server_metadata_lists_binary_extension(iris):
    assert app.dispatch(Request("GET", "/v2")).body["extensions"] == ["binary_tensor_data"]


def test_openapi_document_is_served(iris):
    response = app.dispatch(Request("GET", "/openapi.json"))
    document = json.loads(response.body)
    assert document["openapi"].startswith("3.")
    assert "/v2/models/{name}/infer" in document["paths"]


def fp32(data=SETOSA, shape=(1, 4), **extra):
    return {"inputs": [{"name": "input", "shape": list(shape), "datatype": "FP32", "data": data, **extra}]}


@pytest.mark.parametrize("payload, binary, message", [
    ([1, 2], b"", '"inputs"'),
    ({"inputs": []}, b"", "non-empty list"),
    ({"inputs": [7]}, b"", "inputs[0] must be an object"),
    ({"inputs": [{"name": "nope", "shape": [1], "datatype": "FP32", "data": [1]}]}, b"",
     "unknown input 'nope'; the model's inputs are 'input'"),
    ({"inputs": [fp32()["inputs"][0]] * 2}, b"", "given twice"),
    (fp32(shape=(1, -4)), b"", "non-negative integers; got -4"),
    (fp32(shape=(1, 4.5)), b"", "non-negative integers; got 4.5"),
    (fp32(shape=(1, True)), b"", "non-negative integers; got true"),
    ({"inputs": [{"name": "input", "shape": "1x4", "datatype": "FP32", "data": SETOSA}]}, b"", '"shape" must be a list'),
    (fp32(shape=[1] * 65), b"", "at most 64"),
    (fp32(shape=(2 ** 62, 2 ** 62)), b"", "shape [4611686018427387904, 4611686018427387904] is too large for any tensor"),
    (fp32(shape=(1, 5)), b"", "shape [1, 5] needs 5 elements; \"data\" has 4"),
    (fp32(data=SETOSA[:3], shape=(1, 3)), b"", "expects shape [-1, 4]"),
    ({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP42", "data": SETOSA}]}, b"", "unknown datatype 'FP42'"),
    ({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "INT64", "data": [1, 2, 3, 4]}]}, b"", "expects datatype FP32; got INT64"),
    ({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "BF16", "data": SETOSA}]}, b"", "BF16"),
    ({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32"}]}, b"", "neither \"data\" nor"),
    (fp32(data=[1, 2, "x", 4]), b"", "expects float32; got strings"),
    (fp32(data=[1, 2, [3], 4]), b"", "ragged"),
    (fp32(data=[1, 2, None, 4]), b"", "contains null"),
    (fp32(data=[[1, 2], [3]]), b"", "ragged"),
    (fp32(data=[1e400, 1, 1, 1]), b"", "contains Infinity, which is not JSON"),
    (b'{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1e400, 1, 1, 1]}]}', b"", "NaN or infinity"),
    (fp32(data=[True, 1, 1, 1]), b"", "mixes booleans with numbers"),
    (fp32(data=[1e300, 1, 1, 1]), b"", "out of range for float32"),
    ({"inputs": fp32()["inputs"], "outputs": [{"name": "logits"}]}, b"", "unknown output 'logits'"),
    ({"inputs": fp32()["inputs"], "outputs": "label"}, b"", '"outputs" must be a list'),
    ({"inputs": fp32()["inputs"], "id": 5}, b"", '"id" must be a string'),
    ({"inputs": fp32()["inputs"], "parameters": []}, b"", '"parameters" of the request must be an object'),
    ({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}]},
     b"\x00" * 8, "binary_data_size 16, but only 8 bytes"),
    ({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 12}}]},
     b"\x00" * 12, "needs 16 bytes; binary_data_size is 12"),
    ({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}]},
     b"\x00" * 20, "4 bytes of binary data that no input claims"),
    ({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": -1}}]},
     b"\x00", "binary_data_size must be a non-negative integer"),
])
def test_refusals_name_the_problem(iris, payload, binary, message):
    response = infer(payload, binary)
    assert response.status == 400, response.body
    assert message in response.body["error"]


@pytest.mark.parametrize("length", ["abc", "0", "999999"])
def test_bad_header_length(iris, length):
    body = json.dumps(fp32()).encode()
    response = app.dispatch(Request("POST", "/v2/models/iris/infer", {"inference-header-content-length": length}, body=body))
    assert response.status == 400 and "Inference-Header-Content-Length" in response.body["error"]


def test_bytes_refusals(tmp_path, use_model):
    use_model(make_model(tmp_path / "s.onnx", [("s", TensorProto.STRING, ["n"])], [("t", TensorProto.STRING, ["n"])],
                         [helper.make_node("Identity", ["s"], ["t"])]))

    def bytes_input(raw, shape=(2,)):
        return infer({"inputs": [{"name": "s", "shape": list(shape), "datatype": "BYTES",
                                  "parameters": {"binary_data_size": len(raw)}}]}, raw)

    assert bytes_input(pack_bytes([b"ab", b"c"])).status == 200
    for raw, message in [(b"\x05\x00", "truncated length prefix"), (struct.pack("<I", 9) + b"ab", "claims 9 bytes"),
                         (pack_bytes([b"\xff\xfe", b"c"]), "not UTF-8"), (pack_bytes([b"a"]), "holds 1")]:
        response = bytes_input(raw)
        assert response.status == 400 and message in response.body["error"], (raw, response.body)
    response = infer({"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES", "data": [3]}]})
    assert response.status == 400 and "BYTES data must be strings" in response.body["error"]


def test_nan_outputs_become_null(tmp_path, use_model):
    use_model(make_model(tmp_path / "log.onnx", [("x", TensorProto.FLOAT, ["n"])], [("y", TensorProto.FLOAT, ["n"])],
                         [helper.make_node("Log", ["x"], ["y"])]))
    response = infer({"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [-1, 0, 1]}]})
    assert response.body["outputs"][0]["data"] == [None, None, 0.0]
    v1 = app.dispatch(Request("POST", "/predict", body=b'{"instances": [-1, 0, 1]}'))
    assert v1.body == {"predictions": [None, None, 0.0]}


def test_zero_size_and_rank_zero_tensors(tmp_path, use_model):
    use_model(make_model(tmp_path / "any.onnx", [("x", TensorProto.FLOAT, None)], [("y", TensorProto.FLOAT, None)],
                         [helper.make_node("Identity", ["x"], ["y"])]))
    scalar = infer({"inputs": [{"name": "x", "shape": [], "datatype": "FP32", "data": [2.5]}]})
    assert scalar.status == 200 and scalar.body["outputs"][0] == {"name": "y", "datatype": "FP32", "shape": [], "data": [2.5]}
    empty = infer({"inputs": [{"name": "x", "shape": [0, 3], "datatype": "FP32", "data": []}]})
    assert empty.status == 200 and empty.body["outputs"][0]["shape"] == [0, 3]
