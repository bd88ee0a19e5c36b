"""tritonclient.http, unchanged, against `infer serve`: JSON and binary tensors, several inputs and types."""

import numpy as np
import pytest
import tritonclient.http as triton
from onnx import TensorProto, helper

from helpers import ServeProcess, make_model

SETOSA = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture(scope="module")
def kinds_server(tmp_path_factory):
    """One model with FP32, INT64, BOOL, BYTES and FP16 inputs, each echoed or transformed to an output."""
    path = make_model(
        tmp_path_factory.mktemp("kinds") / "kinds.onnx",
        [("f32", TensorProto.FLOAT, ["n", 3]), ("i64", TensorProto.INT64, ["n", 2]), ("flag", TensorProto.BOOL, ["n"]),
         ("text", TensorProto.STRING, ["n"]), ("half", TensorProto.FLOAT16, ["n", 2])],
        [("f32_neg", TensorProto.FLOAT, ["n", 3]), ("i64_twice", TensorProto.INT64, ["n", 2]),
         ("flag_not", TensorProto.BOOL, ["n"]), ("text_same", TensorProto.STRING, ["n"]), ("half_same", TensorProto.FLOAT16, ["n", 2])],
        [helper.make_node("Neg", ["f32"], ["f32_neg"]), helper.make_node("Add", ["i64", "i64"], ["i64_twice"]),
         helper.make_node("Not", ["flag"], ["flag_not"]), helper.make_node("Identity", ["text"], ["text_same"]),
         helper.make_node("Identity", ["half"], ["half_same"])],
    )
    server = ServeProcess(str(path))
    yield server
    server.stop()


def client_for(server) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(url=server.url.removeprefix("http://"))


@pytest.mark.parametrize("binary", [False, True])
def test_iris(iris_server, binary):
    client = client_for(iris_server)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("iris")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    metadata = client.get_model_metadata("iris")
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    data = np.array([SETOSA, [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)
    tensor = triton.InferInput("input", list(data.shape), "FP32")
    tensor.set_data_from_numpy(data, binary_data=binary)
    outputs = [triton.InferRequestedOutput("label", binary_data=binary),
               triton.InferRequestedOutput("probabilities", binary_data=binary)]
    result = client.infer("iris", [tensor], outputs=outputs, request_id="abc")
    assert result.as_numpy("label").tolist() == [0, 2]
    assert result.as_numpy("probabilities").shape == (2, 3)
    assert result.get_response()["id"] == "abc"


@pytest.mark.parametrize("binary", [False, True])
def test_every_kind_of_tensor_with_several_inputs(kinds_server, binary):
    client = client_for(kinds_server)
    values = {
        "f32": (np.array([[1.5, -2, 3]] * 2, dtype=np.float32), "FP32"),
        "i64": (np.array([[1, -2], [2 ** 40, 0]], dtype=np.int64), "INT64"),
        "flag": (np.array([True, False]), "BOOL"),
        "text": (np.array(["héllo".encode(), b"world"], dtype=np.object_), "BYTES"),
        "half": (np.array([[0.5, 1.0], [2.0, -4.0]], dtype=np.float16), "FP16"),
    }
    inputs = []
    for name, (array, datatype) in values.items():
        tensor = triton.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    names = ["f32_neg", "i64_twice", "flag_not", "text_same", "half_same"]
    result = client.infer("kinds", inputs, outputs=[triton.InferRequestedOutput(n, binary_data=binary) for n in names])
    np.testing.assert_array_equal(result.as_numpy("f32_neg"), -values["f32"][0])
    np.testing.assert_array_equal(result.as_numpy("i64_twice"), 2 * values["i64"][0])
    np.testing.assert_array_equal(result.as_numpy("flag_not"), ~values["flag"][0])
    assert [t if isinstance(t, bytes) else t.encode() for t in result.as_numpy("text_same").tolist()] == ["héllo".encode(), b"world"]
    np.testing.assert_array_equal(result.as_numpy("half_same"), values["half"][0])


def test_default_outputs_and_errors_reach_the_client(kinds_server):
    client = client_for(kinds_server)
    tensor = triton.InferInput("f32", [1, 3], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(triton.InferenceServerException, match="missing input"):
        client.infer("kinds", [tensor])
    with pytest.raises(triton.InferenceServerException, match="model 'other' not found"):
        client.get_model_metadata("other")
