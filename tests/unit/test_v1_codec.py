"""KServe V1 / TF Serving JSON through the runtime's dispatcher, on real models, with every refusal checked."""

import json

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from helpers import MODELS, make_model
from infer.runtime import app
from infer.runtime.events import Request

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


def post(path: str, payload) -> tuple[int, dict]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    response = app.dispatch(Request("POST", path, body=body))
    return response.status, response.body


def get(path: str) -> tuple[int, dict]:
    response = app.dispatch(Request("GET", path))
    return response.status, response.body


@pytest.fixture
def iris(use_model):
    return use_model(MODELS / "iris.onnx")


@pytest.fixture
def two_in_two_out(tmp_path, use_model):
    """a: float [-1, 2], b: int64 [-1, 2] -> total = a + float(b) (float), b_twice = b + b (int64)."""
    path = make_model(
        tmp_path / "pair.onnx",
        [("a", TensorProto.FLOAT, ["batch", 2]), ("b", TensorProto.INT64, ["batch", 2])],
        [("total", TensorProto.FLOAT, ["batch", 2]), ("b_twice", TensorProto.INT64, ["batch", 2])],
        [helper.make_node("Cast", ["b"], ["bf"], to=TensorProto.FLOAT),
         helper.make_node("Add", ["a", "bf"], ["total"]),
         helper.make_node("Add", ["b", "b"], ["b_twice"])],
    )
    return use_model(path)


def test_iris_setosa_row_format(iris):
    status, body = post("/v1/models/iris:predict", {"instances": [IRIS_ROW]})
    assert status == 200
    (prediction,) = body["predictions"]
    assert prediction["label"] == 0
    assert len(prediction["probabilities"]) == 3
    assert prediction["probabilities"][0] > 0.9


def test_row_format_matches_onnxruntime_directly(iris):
    from sklearn.datasets import load_iris

    data = load_iris().data.astype(np.float32)
    session = ort.InferenceSession(str(MODELS / "iris.onnx"))
    labels, probabilities = session.run(["label", "probabilities"], {"input": data})
    status, body = post("/predict", {"instances": data.tolist()})
    assert status == 200
    assert [p["label"] for p in body["predictions"]] == labels.tolist()
    np.testing.assert_allclose([p["probabilities"] for p in body["predictions"]], probabilities, rtol=1e-6)


def test_columnar_format_answers_outputs_by_name(iris):
    status, body = post("/predict", {"inputs": [IRIS_ROW, [6.7, 3.0, 5.2, 2.3]]})
    assert status == 200
    assert body["outputs"]["label"] == [0, 2]
    assert np.asarray(body["outputs"]["probabilities"]).shape == (2, 3)


def test_columnar_format_accepts_input_name(iris):
    status, body = post("/predict", {"inputs": {"input": [IRIS_ROW]}})
    assert (status, body["outputs"]["label"]) == (200, [0])


def test_instances_keyed_by_input_name_for_single_input(iris):
    status, body = post("/predict", {"instances": [{"input": IRIS_ROW}]})
    assert (status, body["predictions"][0]["label"]) == (200, 0)


def test_integers_are_cast_losslessly_to_float(iris):
    status, body = post("/predict", {"instances": [[5, 3, 1, 0]]})
    assert (status, body["predictions"][0]["label"]) == (200, 0)


@pytest.mark.parametrize("value", [7, None, ["serving_default"], {"name": "x"}])
def test_signature_name_that_is_not_a_string_is_a_400(iris, value):
    """Schemathesis found a number accepted where the OpenAPI document says string."""
    status, body = post("/predict", {"signature_name": value, "inputs": [IRIS_ROW]})
    assert status == 400 and "signature_name must be a string" in body["error"], body


def test_signature_name_is_accepted(iris):
    status, _ = post("/predict", {"signature_name": "serving_default", "instances": [IRIS_ROW]})
    assert status == 200


def test_single_output_model_answers_plain_values(tmp_path, use_model):
    use_model(make_model(tmp_path / "neg.onnx", [("x", TensorProto.FLOAT, ["n", 3])],
                         [("y", TensorProto.FLOAT, ["n", 3])], [helper.make_node("Neg", ["x"], ["y"])]))
    assert post("/predict", {"instances": [[1, 2, 3]]}) == (200, {"predictions": [[-1.0, -2.0, -3.0]]})
    assert post("/predict", {"inputs": [[1, 2, 3]]}) == (200, {"outputs": [[-1.0, -2.0, -3.0]]})


def test_multi_input_rows_and_columns(two_in_two_out):
    status, body = post("/predict", {"instances": [{"a": [0.5, 1.5], "b": [1, 2]}, {"a": [0, 0], "b": [3, 4]}]})
    assert status == 200
    assert body["predictions"] == [{"total": [1.5, 3.5], "b_twice": [2, 4]}, {"total": [3.0, 4.0], "b_twice": [6, 8]}]
    status, body = post("/predict", {"inputs": {"a": [[0.5, 1.5]], "b": [[1, 2]]}})
    assert (status, body["outputs"]) == (200, {"total": [[1.5, 3.5]], "b_twice": [[2, 4]]})


def test_whole_floats_are_accepted_for_integer_inputs(two_in_two_out):
    status, body = post("/predict", {"inputs": {"a": [[0, 0]], "b": [[2.0, 3.0]]}})
    assert (status, body["outputs"]["b_twice"]) == (200, [[4, 6]])


@pytest.mark.parametrize("payload, message", [
    ({"inputs": {"a": [[0, 0]], "b": [[1.5, 2]]}}, "expects integers (int64); got 1.5"),
    ({"inputs": {"a": [[0, 0]], "b": [[True, False]]}}, "expects int64; got booleans"),
    ({"inputs": {"a": [["x", "y"]], "b": [[1, 2]]}}, "expects float32; got strings"),
    ({"inputs": {"a": [[0, None]], "b": [[1, 2]]}}, "contains null"),
    ({"inputs": {"a": [[0, 0]], "b": [[1, 2 ** 70]]}}, "out of range"),
    ({"inputs": {"a": [[1e300, 0]], "b": [[1, 2]]}}, "out of range for float32"),
    ({"inputs": {"a": [[0, 0]]}}, "missing 'b'"),
    ({"inputs": {"a": [[0, 0]], "b": [[1, 2]], "c": 1}}, "unknown 'c'"),
    ({"inputs": [[0, 0]]}, "keyed by input name ('a', 'b')"),
    ({"instances": [[0, 0]]}, "keyed by input name ('a', 'b')"),
    ({"instances": [{"a": [0, 0]}]}, "missing 'b'"),
])
def test_multi_input_refusals(two_in_two_out, payload, message):
    status, body = post("/predict", payload)
    assert status == 400
    assert message in body["error"]


@pytest.mark.parametrize("payload, message", [
    ({"instances": [[5.1, 3.5, 1.4]]}, "expects shape [-1, 4] (-1 means any size): 4 features per row, got 3"),
    ({"instances": [IRIS_ROW + [1.0]]}, "4 features per row, got 5"),
    ({"instances": IRIS_ROW}, "each instance must itself be a list"),
    ({"instances": [[IRIS_ROW]]}, "expects shape [-1, 4]"),
    ({"instances": [IRIS_ROW, [1, 2]]}, "ragged array: instances[1] has 2 values but instances[0] has 4"),
    ({"instances": [IRIS_ROW, 7]}, "instances[1] is a single value but instances[0] is not"),
    ({"instances": [["a", "b", "c", "d"]]}, "expects float32; got strings"),
    ({"instances": [[True, False, True, False]]}, "expects float32; got booleans"),
    ({"instances": "5.1,3.5"}, '"instances" must be a list with one entry per instance; got a string'),
    ({"instances": {"input": IRIS_ROW}}, '"instances" must be a list with one entry per instance; got an object'),
    ({"instances": [IRIS_ROW], "inputs": [IRIS_ROW]}, 'exactly one of "instances"'),
    ({"data": [IRIS_ROW]}, 'got keys: "data"'),
    ({}, "got keys: none"),
    ([IRIS_ROW], "must be a JSON object"),
    ({"inputs": {"x": [IRIS_ROW]}}, "unknown 'x'"),
    ({"instances": [{"input": IRIS_ROW, "extra": 1}]}, "unknown 'extra'"),
])
def test_iris_refusals(iris, payload, message):
    status, body = post("/v1/models/iris:predict", payload)
    assert status == 400, body
    assert message in body["error"]


@pytest.mark.parametrize("body, message", [
    (b'{"instances": [[NaN, 3.5, 1.4, 0.2]]}', "contains NaN, which is not JSON"),
    (b'{"instances": [[-Infinity, 3.5, 1.4, 0.2]]}', "contains -Infinity, which is not JSON"),
    (b'{"instances": [[1e400, 3.5, 1.4, 0.2]]}', "NaN or infinity"),
    (b'{"instances": [[true, false, 1, 2]]}', "mixes booleans with numbers"),
    (b'{"instances": [[1.5, 2, 3, false]]}', "mixes booleans with numbers"),
    (b'{"instances": ' + b"[" * 70 + b"1" + b"]" * 70 + b"}", "is nested 70 levels deep; a tensor has at most 64"),
])
def test_non_finite_mixed_and_deep_inputs_are_refused(iris, body, message):
    status, reply = post("/predict", body)
    assert status == 400
    assert message in reply["error"]


def test_non_finite_refused_for_float64_inputs_too(tmp_path, use_model):
    use_model(make_model(tmp_path / "d.onnx", [("x", TensorProto.DOUBLE, ["n"])], [("y", TensorProto.DOUBLE, ["n"])],
                         [helper.make_node("Neg", ["x"], ["y"])]))
    status, reply = post("/predict", b'{"instances": [1e400, 1]}')
    assert status == 400 and "NaN or infinity" in reply["error"]


def test_bool_and_string_inputs(tmp_path, use_model):
    use_model(make_model(tmp_path / "not.onnx", [("flags", TensorProto.BOOL, ["n"])],
                         [("inverted", TensorProto.BOOL, ["n"])], [helper.make_node("Not", ["flags"], ["inverted"])]))
    assert post("/predict", {"inputs": [True, False]}) == (200, {"outputs": [False, True]})
    status, body = post("/predict", {"inputs": [1, 0]})
    assert status == 400 and "expects booleans" in body["error"]
    use_model(make_model(tmp_path / "text.onnx", [("text", TensorProto.STRING, ["n"])],
                         [("same", TensorProto.STRING, ["n"])], [helper.make_node("Identity", ["text"], ["same"])]))
    assert post("/predict", {"instances": ["héllo", "world"]}) == (200, {"predictions": ["héllo", "world"]})
    status, body = post("/predict", {"instances": [1, 2]})
    assert status == 400 and "expects strings" in body["error"]


def test_unknown_model_name_is_404(iris):
    status, body = post("/v1/models/resnet:predict", {"instances": [IRIS_ROW]})
    assert status == 404
    assert body["error"] == "model 'resnet' not found; this function serves 'iris'"
    assert get("/v2/models/resnet")[0] == 404


def test_unknown_path_and_wrong_method(iris):
    status, body = get("/v1/nothing/here")
    assert status == 404 and "POST /v1/models/{name}:predict" in body["error"]
    response = app.dispatch(Request("GET", "/v1/models/iris:predict"))
    assert response.status == 405
    assert response.headers["allow"] == "POST"
    assert "use POST" in response.body["error"]
    assert app.dispatch(Request("DELETE", "/v2/health/live")).status == 405


def test_percent_encoded_path_and_head(iris):
    assert post("/v1/models/iris%3Apredict", {"instances": [IRIS_ROW]})[0] == 200
    assert app.dispatch(Request("HEAD", "/v2/health/live")).status == 200
    refused = app.dispatch(Request("HEAD", "/predict"))
    assert refused.status == 405 and refused.headers["allow"] == "POST"
    assert app.dispatch(Request("PUT", "/v2/health/live")).headers["allow"] == "GET, HEAD"


def test_mixed_instance_kinds_are_named(iris):
    status, body = post("/predict", {"instances": [{"input": IRIS_ROW}, IRIS_ROW]})
    assert status == 400
    assert body["error"] == "instances[1] must be an object keyed by input name ('input'), like instances[0]"


def test_v2_metadata_and_health(iris):
    assert get("/v2/health/live") == (200, {"live": True})
    assert not iris.loaded, "liveness must not load the model"
    assert get("/v2") == (200, {"name": "infer", "version": app.__version__, "extensions": ["binary_tensor_data"]})
    assert not iris.loaded
    assert get("/v2/health/ready") == (200, {"ready": True})
    assert iris.loaded
    status, body = get("/v2/models/iris")
    assert status == 200
    assert body["platform"] == "onnxruntime_onnx"
    assert body["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert body["outputs"] == [{"name": "label", "datatype": "INT64", "shape": [-1]},
                               {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}]
    assert body["parameters"]["labels"] == ["setosa", "versicolor", "virginica"]
    assert get("/v2/models/iris/ready") == (200, {"name": "iris", "ready": True})
    assert get("/v1/models/iris") == (200, {"name": "iris", "ready": True})
    assert get("/v2/models/iris/") == get("/v2/models/iris")


def test_model_that_cannot_load_is_503_and_retried(tmp_path, use_model):
    path = tmp_path / "late.onnx"
    path.write_bytes(b"this is not an onnx file")
    use_model(path)
    status, body = post("/predict", {"instances": [IRIS_ROW]})
    assert status == 503 and "cannot load model" in body["error"]
    path.write_bytes((MODELS / "iris.onnx").read_bytes())
    status, body = post("/predict", {"instances": [IRIS_ROW]})
    assert (status, body["predictions"][0]["label"]) == (200, 0)


def test_missing_model_file_says_which_variable(tmp_path, use_model):
    use_model(tmp_path / "absent.onnx")
    status, body = get("/v2/health/ready")
    assert status == 503 and "INFER_MODEL_PATH" in body["error"]


def test_large_integers_stay_exact(tmp_path, use_model):
    use_model(make_model(tmp_path / "u.onnx", [("x", TensorProto.UINT64, ["n"])], [("y", TensorProto.UINT64, ["n"])],
                         [helper.make_node("Identity", ["x"], ["y"])]))
    big = 2 ** 63 + 1  # numpy alone would read [big, 0] as float64 and round it
    assert post("/predict", {"inputs": [big, 0]}) == (200, {"outputs": [big, 0]})
    assert post("/predict", {"inputs": [2 ** 64 - 1, 1]}) == (200, {"outputs": [2 ** 64 - 1, 1]})
    for values in ([2 ** 64, 0], [-1, 2 ** 63]):
        status, body = post("/predict", {"inputs": values})
        assert status == 400 and "out of range for uint64" in body["error"], body
