"""Hostile input to the codecs, round two: JSON values of the wrong type where names, datatypes, flags and
event fields belong, integers past Python's digit limit, strings a model must get exactly, zero-size
tensors the signature allows, NaN in binary data, and what a model that cannot load tells its callers.
Every refusal is a 400 naming what was expected and what arrived; nothing is a 500."""

import json
import struct

import numpy as np
import pytest
from onnx import TensorProto, helper

from helpers import MODELS, make_model
from infer.runtime import app
from infer.runtime.events import Request
from infer.runtime.handler import handler

SETOSA = [5.1, 3.5, 1.4, 0.2]
HUGE = b"1" * 5000  # past sys.get_int_max_str_digits(): json.loads raises ValueError, not JSONDecodeError


def post(path: str, body, headers=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return app.dispatch(Request("POST", path, headers or {}, body=raw))


def infer(name: str, payload, binary: bytes = b""):
    header = json.dumps(payload).encode()
    headers = {"inference-header-content-length": str(len(header))} if binary else {}
    return post(f"/v2/models/{name}/infer", header + binary, headers)


def fp32_input(**fields):
    return {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": SETOSA, **fields}]}


@pytest.fixture
def iris(use_model):
    return use_model(MODELS / "iris.onnx")


@pytest.mark.parametrize("path, body", [
    ("/predict", b'{"instances": [[' + HUGE + b', 1, 2, 3]]}'),
    ("/predict", b'{"instances": [[-' + HUGE + b', 1, 2, 3]]}'),
    ("/v2/models/iris/infer", b'{"inputs": [{"name": "input", "shape": [1, ' + HUGE + b'], "datatype": "FP32", "data": []}]}'),
    ("/v2/models/iris/infer", b'{"id": "x", "inputs": [], "parameters": {"n": ' + HUGE + b'}}'),
])
def test_integer_over_the_digit_limit_is_a_400(iris, path, body):
    response = post(path, body)
    assert response.status == 400, response.body
    assert response.body["error"].startswith("request body contains an integer of more than 4300 digits")


@pytest.mark.parametrize("field, value, message", [
    ("name", {}, "inputs[0]: unknown input {}; the model's inputs are 'input'"),
    ("name", [], "inputs[0]: unknown input []; the model's inputs are 'input'"),
    ("name", ["input"], "inputs[0]: unknown input [\"input\"]; the model's inputs are 'input'"),
    ("name", 7, "inputs[0]: unknown input 7;"),
    ("name", None, "inputs[0]: unknown input null;"),
    ("datatype", {}, "input 'input': unknown datatype {}; expected one of BOOL,"),
    ("datatype", ["FP32"], "input 'input': unknown datatype [\"FP32\"]; expected one of"),
    ("datatype", None, "input 'input': unknown datatype null;"),
])
def test_name_or_datatype_of_the_wrong_json_type_is_a_400(iris, field, value, message):
    response = infer("iris", fp32_input(**{field: value}))
    assert response.status == 400, response.body
    assert message in response.body["error"]


def test_the_schemathesis_finding_itself_is_a_400(iris):
    response = post("/v2/models/iris/infer", {"inputs": [{"name": {}, "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]})
    assert response.status == 400 and "unknown input {}" in response.body["error"]


@pytest.mark.parametrize("field", ["name", "datatype", "shape"])
def test_values_as_deep_as_the_parser_allows_are_quoted_without_failing(iris, field):
    """The deepest value json.loads takes here: quoting it in the error must not overflow the stack."""
    for depth in range(1000, 0, -1):
        payload = fp32_input(**{field: "@"})
        body = json.dumps(payload).replace('"@"', "[" * depth + "]" * depth).encode()
        response = post("/v2/models/iris/infer", body)
        if "nested too deeply" not in response.body.get("error", ""):
            break
    assert response.status == 400, response.body
    assert "nested" in response.body["error"] or "unknown" in response.body["error"] or "shape" in response.body["error"]


@pytest.mark.parametrize("payload, message", [
    ({**fp32_input(), "parameters": {"binary_data_output": "false"}},
     "binary_data_output of the request must be true or false; got 'false'"),
    ({**fp32_input(), "parameters": {"binary_data_output": 1}}, "must be true or false; got 1"),
    ({**fp32_input(), "outputs": [{"name": "label", "parameters": {"binary_data": "no"}}]},
     "binary_data of outputs[0] must be true or false; got 'no'"),
    ({**fp32_input(), "outputs": [{"name": {"label": 1}}]}, "outputs[0]: unknown output {\"label\": 1}"),
])
def test_flags_are_booleans_not_truthy_values(iris, payload, message):
    response = infer("iris", payload)
    assert response.status == 400, response.body
    assert message in response.body["error"]


def test_binary_flags_still_take_true_false_and_null(iris):
    for flag, binary in ((True, True), (False, False), (None, False)):
        response = infer("iris", {**fp32_input(), "parameters": {"binary_data_output": flag}})
        assert response.status == 200 and isinstance(response.body, bytes) is binary


@pytest.mark.parametrize("spell", [
    lambda n: f"+{n}",
    lambda n: f"{str(n)[0]}_{str(n)[1:]}",
    lambda n: str(n).translate(str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")),
    lambda n: "9" * 5000,
], ids=["sign", "underscore", "arabic-indic", "5000-digits"])
def test_header_length_is_plain_decimal_digits(iris, spell):
    """int() takes "+95", "9_5" and Arabic-Indic digits; none of them is a byte count on the wire."""
    header = json.dumps(fp32_input()).encode()
    response = post("/v2/models/iris/infer", header, {"inference-header-content-length": spell(len(header))})
    assert response.status == 400, response.body
    assert "Inference-Header-Content-Length" in response.body["error"]


@pytest.mark.parametrize("event, message", [
    ({"version": "2.0", "requestContext": 5}, "the event's requestContext must be an object; got an integer"),
    ({"version": "2.0", "requestContext": {"http": []}}, "requestContext.http must be an object; got an array"),
    ({"version": "2.0", "requestContext": {"http": {"method": 1}}}, "requestContext.http.method must be a string"),
    ({"version": "2.0", "requestContext": {}, "rawPath": ["/v2"]}, "the event's rawPath must be a string; got an array"),
    ({"version": "2.0", "requestContext": {}, "headers": ["a"]}, "the event's headers must be an object"),
    ({"version": "2.0", "requestContext": {}, "headers": {"inference-header-content-length": 5}},
     "the event's header 'inference-header-content-length' must be a string; got an integer"),
    ({"version": "2.0", "requestContext": {}, "body": {"instances": []}}, "the event's body must be a string; got an object"),
    ({"version": "2.0", "requestContext": {}, "body": "e30=", "isBase64Encoded": "yes"}, "isBase64Encoded must be a boolean"),
    ({"version": "2.0", "requestContext": {"http": {"method": "POST"}}, "rawPath": "/predict", "body": "\ud800"},
     "request body is not valid JSON"),  # encoded with surrogatepass, which json.loads also decodes with
])
def test_function_url_event_of_the_wrong_shape_is_a_400(iris, event, message):
    """A direct invoke can hand the handler anything that looks like a function URL event."""
    result = handler(event, None)
    assert result["statusCode"] == 400, result
    assert message in json.loads(result["body"])["error"]


@pytest.fixture
def text_model(tmp_path, use_model):
    return use_model(make_model(tmp_path / "text.onnx", [("text", TensorProto.STRING, ["n"])],
                                [("same", TensorProto.STRING, ["n"])], [helper.make_node("Identity", ["text"], ["same"])]))


@pytest.mark.parametrize("instances, message", [
    (["a", 5], "input 'text' expects strings; instances mixes strings with numbers"),
    ([5, "a"], "mixes strings with numbers"),
    (["a", 1.5], "mixes strings with numbers"),
    ([True, "a"], "mixes strings with booleans"),
    (["a", {}], "input 'text' expects strings; instances holds objects"),
    (["a", None], "input 'text' expects strings; instances contains null"),
    ([10 ** 30], "input 'text' expects strings; instances holds numbers"),
])
def test_string_input_takes_strings_only(text_model, instances, message):
    response = post("/predict", {"instances": instances})
    assert response.status == 400, response.body
    assert message in response.body["error"]


def test_strings_reach_the_model_exactly(text_model):
    """numpy's fixed-width strings drop trailing NUL characters; ONNX strings keep them."""
    values = ["a\x00", "\x00", "héllo\x00\x00", ""]
    assert post("/predict", {"instances": values}).body == {"predictions": values}
    assert post("/predict", {"inputs": [values[:2], values[2:]]}).status == 400  # rank 2 for a rank-1 input
    response = infer("text", {"inputs": [{"name": "text", "shape": [4], "datatype": "BYTES", "data": values}]})
    assert response.body["outputs"][0]["data"] == values


@pytest.fixture
def float_identity(tmp_path, use_model):
    return use_model(make_model(tmp_path / "f.onnx", [("x", TensorProto.FLOAT, ["n"])], [("y", TensorProto.FLOAT, ["n"])],
                                [helper.make_node("Identity", ["x"], ["y"])]))


def test_binary_floats_pass_nan_and_infinity_exactly(float_identity):
    """Binary tensor data is IEEE 754 as sent: NaN (a missing value to tree ensembles) and infinity arrive
    unchanged. JSON has no such numbers, so there they are refused (tests/unit/test_v2_codec.py)."""
    raw = np.array([np.nan, np.inf, -np.inf, 1.5], dtype="<f4").tobytes()
    inputs = [{"name": "x", "shape": [4], "datatype": "FP32", "parameters": {"binary_data_size": len(raw)}}]
    binary = infer("f", {"inputs": inputs, "parameters": {"binary_data_output": True}}, raw)
    assert binary.status == 200
    n = int(binary.headers["inference-header-content-length"])
    assert binary.body[n:] == raw
    as_json = infer("f", {"inputs": inputs}, raw)
    assert as_json.body["outputs"][0]["data"] == [None, None, None, 1.5]  # JSON output: null, as for any NaN
    refused = post("/v2/models/f/infer", b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [NaN]}]}')
    assert refused.status == 400 and "contains NaN, which is not JSON" in refused.body["error"]


@pytest.fixture
def cast_like(tmp_path, use_model):
    """CastLike(x, like): `like` has the static shape [0]; only its type matters."""
    return use_model(make_model(tmp_path / "castlike.onnx",
                                [("x", TensorProto.INT64, ["n"]), ("like", TensorProto.FLOAT, [0])],
                                [("y", TensorProto.FLOAT, ["n"])], [helper.make_node("CastLike", ["x", "like"], ["y"])]))


def test_zero_size_input_of_static_shape_is_accepted_by_every_protocol(cast_like):
    x = {"name": "x", "shape": [2], "datatype": "INT64", "data": [1, 2]}
    as_json = infer("castlike", {"inputs": [x, {"name": "like", "shape": [0], "datatype": "FP32", "data": []}]})
    assert as_json.status == 200, as_json.body
    assert as_json.body["outputs"][0] == {"name": "y", "datatype": "FP32", "shape": [2], "data": [1.0, 2.0]}
    as_binary = infer("castlike", {"inputs": [x, {"name": "like", "shape": [0], "datatype": "FP32",
                                                  "parameters": {"binary_data_size": 0}}]})
    assert as_binary.status == 200 and as_binary.body["outputs"] == as_json.body["outputs"]
    v1 = post("/predict", {"inputs": {"x": [1, 2], "like": []}})
    assert (v1.status, v1.body) == (200, {"outputs": [1.0, 2.0]})
    wrong = infer("castlike", {"inputs": [x, {"name": "like", "shape": [1], "datatype": "FP32", "data": [0]}]})
    assert wrong.status == 400 and "input 'like' expects shape [0]" in wrong.body["error"]


def empty_batch_answers(name: str, features: int):
    """The same empty batch through V1 rows, V1 columns, OIP JSON and OIP binary."""
    oip = {"name": "input", "shape": [0, features], "datatype": "FP32"}
    return [
        post("/predict", {"instances": []}),
        post("/predict", {"inputs": []}),
        infer(name, {"inputs": [{**oip, "data": []}]}),
        infer(name, {"inputs": [{**oip, "parameters": {"binary_data_size": 0}}]}),
    ]


def test_empty_batch_runs_alike_in_every_protocol(iris):
    v1_rows, v1_columns, oip_json, oip_binary = empty_batch_answers("iris", 4)
    assert (v1_rows.status, v1_rows.body) == (200, {"predictions": []})
    assert (v1_columns.status, v1_columns.body) == (200, {"outputs": {"label": [], "probabilities": []}})
    for response in (oip_json, oip_binary):
        assert response.status == 200, response.body
        assert [(o["name"], o["shape"], o["data"]) for o in response.body["outputs"]] == [
            ("label", [0], []), ("probabilities", [0, 3], [])]


def test_empty_batch_a_model_cannot_run_is_the_same_400_in_every_protocol(use_model):
    use_model(MODELS / "digits.onnx")  # its ArrayFeatureExtractor refuses zero rows
    answers = empty_batch_answers("digits", 64)
    assert {r.status for r in answers} == {400}
    assert len({r.body["error"] for r in answers}) == 1
    assert answers[0].body["error"].startswith(
        "the model rejected the input: it cannot run on the empty input(s) 'input' of shape [0, 64]: ")


def test_empty_list_for_an_input_of_unknown_width_says_how_to_send_it(tmp_path, use_model):
    use_model(make_model(tmp_path / "wide.onnx", [("x", TensorProto.FLOAT, ["n", "k"])], [("y", TensorProto.FLOAT, ["n", "k"])],
                         [helper.make_node("Identity", ["x"], ["y"])]))
    response = post("/predict", {"instances": []})
    assert response.status == 400
    assert response.body["error"] == (
        "input 'x': instances has an empty list, which does not say the size of the axes after axis 0 of shape "
        "[-1, -1]; send it as an Open Inference Protocol tensor, whose shape says them")
    oip = infer("wide", {"inputs": [{"name": "x", "shape": [0, 5], "datatype": "FP32", "data": []}]})
    assert oip.status == 200 and oip.body["outputs"][0]["shape"] == [0, 5]


def test_model_that_cannot_load_names_files_not_where_they_live(tmp_path, use_model, capfd):
    """A 503 reaches anyone who can call the function: the reason names the files; the log has the paths."""
    folder = tmp_path / "secret-place"
    folder.mkdir()
    model = folder / "m.onnx"
    model.write_bytes((MODELS / "digits.onnx").read_bytes())
    model.with_suffix(".json").write_text((MODELS / "iris.json").read_text())  # iris's digest: a mismatch
    use_model(model)
    response = app.dispatch(Request("GET", "/v2/health/ready"))
    assert response.status == 503
    assert response.body["error"].startswith("m.onnx does not match its manifest m.json: sha256 ")
    assert "secret-place" not in response.body["error"]
    assert f"infer: the model cannot be loaded: {model} does not match" in capfd.readouterr().err

    model.with_suffix(".json").unlink()
    model.write_bytes(b"not a model")
    use_model(model)
    response = post("/predict", {"instances": [SETOSA]})
    assert response.status == 503 and response.body["error"].startswith("cannot load model m.onnx: ")
    assert "secret-place" not in response.body["error"]
    assert str(model) in capfd.readouterr().err

    use_model(folder / "absent.onnx")
    response = app.dispatch(Request("GET", "/v2/health/ready"))
    assert response.body["error"] == "model file not found: absent.onnx (set INFER_MODEL_PATH to the .onnx file)"


def test_unreadable_manifest_names_no_directory(tmp_path, use_model):
    folder = tmp_path / "secret-place"
    folder.mkdir()
    model = folder / "m.onnx"
    model.write_bytes((MODELS / "iris.onnx").read_bytes())
    model.with_suffix(".json").write_text("{broken")
    use_model(model)
    response = app.dispatch(Request("GET", "/v2/models/m"))
    assert response.status == 503 and response.body["error"].startswith("cannot read the model manifest m.json: ")
    assert "secret-place" not in response.body["error"]


def test_bytes_elements_are_checked_not_trusted(tmp_path, use_model):
    """A BYTES length prefix that claims more than the body holds is a 400, as is a lone surrogate in JSON."""
    use_model(make_model(tmp_path / "s.onnx", [("s", TensorProto.STRING, ["n"])], [("t", TensorProto.STRING, ["n"])],
                         [helper.make_node("Identity", ["s"], ["t"])]))
    raw = struct.pack("<I", 2 ** 32 - 1) + b"ab"
    response = infer("s", {"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES",
                                       "parameters": {"binary_data_size": len(raw)}}]}, raw)
    assert response.status == 400 and "claims 4294967295 bytes" in response.body["error"]
    response = infer("s", {"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES", "data": ["\ud800"]}]})
    assert response.status == 400 and "surrogates not allowed" in response.body["error"]


def test_a_defect_answers_500_with_its_type_only(iris, monkeypatch, capfd):
    """A 500 is infer's fault, never the caller's: the traceback goes to the log, and the caller, who may be
    anyone, gets the exception's type without its text (which may hold paths or other requests' data)."""

    def broken(payload, model):
        raise FileNotFoundError(2, "No such file or directory", "/var/task/secret-place/labels.txt")

    monkeypatch.setattr(app.v1, "decode", broken)
    response = post("/predict", {"instances": [SETOSA]})
    assert (response.status, response.body) == (
        500, {"error": "internal error (FileNotFoundError); the function's log has the traceback"})
    log = capfd.readouterr().err
    assert "Traceback" in log and "/var/task/secret-place/labels.txt" in log


def test_shape_of_the_largest_integers_json_allows_is_refused_at_the_first_dimension_too_many(iris):
    """64 dimensions of 4,300 digits: refused once the product passes any tensor, without multiplying on."""
    big = b"9" * 4300
    body = b'{"inputs": [{"name": "input", "shape": [' + b", ".join([big] * 64) + b'], "datatype": "FP32", "data": []}]}'
    response = post("/v2/models/iris/infer", body)
    assert response.status == 400
    assert response.body["error"].startswith("input 'input': shape [9999")
    assert response.body["error"].endswith("... is too large for any tensor")
