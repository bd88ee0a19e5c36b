"""Finding 6, finding 10 and the smaller runtime points, through a real `infer serve` over HTTP: integers
past Python's digit limit, names and datatypes that are JSON objects or arrays, the model's directory in a
503, numbers sent to a string input, NaN in binary tensors, and zero-size tensors the signature allows.
Each answer is a 4xx with {"error": ...} or the model's answer, and the log holds no traceback."""

import json

import numpy as np
import pytest
from onnx import TensorProto, helper

from helpers import MODELS, ServeProcess, call, make_model

SETOSA = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny real models: a string identity, a float identity, CastLike (whose `like` has the static shape
    [0]), and digits under iris's manifest (its sha256 does not match) in a directory worth hiding."""
    folder = tmp_path_factory.mktemp("codec-input")
    made = {
        "text": make_model(folder / "text.onnx", [("text", TensorProto.STRING, ["n"])], [("same", TensorProto.STRING, ["n"])],
                           [helper.make_node("Identity", ["text"], ["same"])]),
        "floats": make_model(folder / "floats.onnx", [("x", TensorProto.FLOAT, ["n"])], [("y", TensorProto.FLOAT, ["n"])],
                             [helper.make_node("Identity", ["x"], ["y"])]),
        "castlike": make_model(folder / "castlike.onnx", [("x", TensorProto.INT64, ["n"]), ("like", TensorProto.FLOAT, [0])],
                               [("y", TensorProto.FLOAT, ["n"])], [helper.make_node("CastLike", ["x", "like"], ["y"])]),
    }
    hidden = folder / "private-directory"
    hidden.mkdir()
    made["mismatch"] = hidden / "model.onnx"
    made["mismatch"].write_bytes((MODELS / "digits.onnx").read_bytes())
    (hidden / "model.json").write_text((MODELS / "iris.json").read_text())
    return made


@pytest.fixture(scope="module")
def servers(models):
    """`infer serve` for each tiny model, started on first use and stopped after the module."""
    started: dict[str, ServeProcess] = {}

    def server(name: str) -> ServeProcess:
        if name not in started:
            started[name] = ServeProcess(str(models[name]))
        return started[name]

    yield server
    for running in started.values():
        running.stop()


def post(server: ServeProcess, path: str, body, headers=None):
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return call(server.url + path, "POST", body, {"content-type": "application/json", **(headers or {})})


def infer(server: ServeProcess, model: str, payload: dict, binary: bytes = b""):
    header = json.dumps(payload).encode()
    headers = {"inference-header-content-length": str(len(header))} if binary else {}
    return post(server, f"/v2/models/{model}/infer", header + binary, headers)


def assert_refused(reply, message: str, status: int = 400):
    assert reply.status == status, reply.body[:300]
    assert message in reply.json()["error"], reply.json()


def assert_no_traceback(server: ServeProcess, since: int = 0):
    """No traceback in the server's log from line `since` on (a defect prints one before its 500)."""
    assert not [line for line in list(server.stderr)[since:] if "Traceback" in line]


@pytest.mark.parametrize("path, body", [
    ("/predict", b'{"instances": [[' + b"9" * 5000 + b', 1, 2, 3]]}'),
    ("/v2/models/iris/infer", b'{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [-'
     + b"1" * 4301 + b', 1, 2, 3]}]}'),
])
def test_finding_6_integer_past_the_digit_limit_is_a_400(iris_server, path, body):
    since = len(iris_server.stderr)
    reply = post(iris_server, path, body)
    assert_refused(reply, "request body contains an integer of more than 4300 digits; no tensor datatype holds one")
    assert_no_traceback(iris_server, since)


@pytest.mark.parametrize("tensor, message", [
    ({"name": {}, "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}, "inputs[0]: unknown input {}"),
    ({"name": ["input"], "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}, 'inputs[0]: unknown input ["input"]'),
    ({"name": "input", "shape": [1, 4], "datatype": {}, "data": [1, 2, 3, 4]}, "input 'input': unknown datatype {}"),
    ({"name": "input", "shape": [1, 4], "datatype": ["FP32"], "data": [1, 2, 3, 4]}, 'unknown datatype ["FP32"]'),
])
def test_finding_10_name_or_datatype_that_is_an_object_or_array_is_a_400(iris_server, tensor, message):
    since = len(iris_server.stderr)
    for path in ("/v2/models/iris/infer", "/v2/models/iris/versions/1/infer"):
        assert_refused(post(iris_server, path, {"inputs": [tensor]}), message)
    assert_no_traceback(iris_server, since)


def test_binary_flags_must_be_booleans(iris_server):
    payload = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": SETOSA}],
               "parameters": {"binary_data_output": "false"}}
    assert_refused(post(iris_server, "/v2/models/iris/infer", payload), "binary_data_output of the request must be true or false")


def test_a_503_names_the_files_but_not_their_directory(servers, models):
    server = servers("mismatch")
    reply = call(server.url + "/v2/health/ready")
    assert reply.status == 503
    message = reply.json()["error"]
    assert message.startswith("model.onnx does not match its manifest model.json: sha256 ")
    assert "private-directory" not in message and str(models["mismatch"].parent) not in message
    logged = server.log_lines("infer: the model cannot be loaded: ")
    assert logged and str(models["mismatch"]) in logged[0], "the operator's log keeps the full path"


def test_string_input_refuses_numbers_and_keeps_strings_exact(servers):
    server = servers("text")
    assert_refused(post(server, "/predict", {"instances": ["a", 5]}), "input 'text' expects strings; instances mixes strings with numbers")
    assert_refused(post(server, "/predict", {"instances": [True, "a"]}), "mixes strings with booleans")
    values = ["5", "a\x00", "\x00"]
    assert post(server, "/predict", {"instances": values}).json() == {"predictions": values}
    assert_no_traceback(server)


def test_binary_nan_and_infinity_arrive_exactly_json_ones_are_refused(servers):
    server = servers("floats")
    raw = np.array([np.nan, np.inf, -np.inf, 2.5], dtype="<f4").tobytes()
    reply = infer(server, "floats", {"inputs": [{"name": "x", "shape": [4], "datatype": "FP32",
                                                 "parameters": {"binary_data_size": 16}}],
                                     "parameters": {"binary_data_output": True}}, raw)
    assert reply.status == 200
    assert reply.body[int(reply.headers["inference-header-content-length"]):] == raw
    refused = post(server, "/v2/models/floats/infer", b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [Infinity]}]}')
    assert_refused(refused, "contains Infinity, which is not JSON")


def test_zero_size_input_the_signature_expects_is_accepted(servers):
    server = servers("castlike")
    x = {"name": "x", "shape": [2], "datatype": "INT64", "data": [3, 4]}
    expected = [{"name": "y", "datatype": "FP32", "shape": [2], "data": [3.0, 4.0]}]
    as_json = infer(server, "castlike", {"inputs": [x, {"name": "like", "shape": [0], "datatype": "FP32", "data": []}]})
    assert as_json.status == 200, as_json.body
    assert as_json.json()["outputs"] == expected
    as_binary = infer(server, "castlike", {"inputs": [x, {"name": "like", "shape": [0], "datatype": "FP32",
                                                          "parameters": {"binary_data_size": 0}}]})
    assert as_binary.status == 200 and as_binary.json()["outputs"] == expected
    v1 = post(server, "/predict", {"inputs": {"x": [3, 4], "like": []}})
    assert (v1.status, v1.json()) == (200, {"outputs": [3.0, 4.0]})


def test_empty_batch_runs_alike_in_every_protocol(iris_server):
    oip = {"name": "input", "shape": [0, 4], "datatype": "FP32"}
    assert post(iris_server, "/predict", {"instances": []}).json() == {"predictions": []}
    assert post(iris_server, "/v1/models/iris:predict", {"inputs": []}).json() == {"outputs": {"label": [], "probabilities": []}}
    for tensor in ({**oip, "data": []}, {**oip, "parameters": {"binary_data_size": 0}}):
        reply = infer(iris_server, "iris", {"inputs": [tensor]})
        assert reply.status == 200, reply.body
        assert [(o["shape"], o["data"]) for o in reply.json()["outputs"]] == [([0], []), ([0, 3], [])]
