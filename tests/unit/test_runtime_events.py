"""Event parsing and rendering in the runtime, on function URL events shaped like AWS's documented ones."""

import base64
import json

import pytest

from helpers import EVENTS, MODELS
from infer.runtime import events
from infer.runtime.errors import BadRequest, PayloadTooLarge
from infer.runtime.handler import handler


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_function_url_post_event_parses_to_request():
    event = load_event("function_url_post.json")
    source = events.source_for(event)
    assert source is events.FunctionUrlEvent
    request = source.parse(event)
    assert (request.method, request.path) == ("POST", "/v1/models/iris:predict")
    assert request.query == "parameter1=value1&parameter1=value2&parameter2=value"
    assert request.headers["header2"] == "value1,value2"
    assert request.json() == {"instances": [[5.1, 3.5, 1.4, 0.2]]}


def test_base64_body_is_decoded():
    request = events.FunctionUrlEvent.parse(load_event("function_url_base64.json"))
    assert request.json() == {"instances": [[6.7, 3.0, 5.2, 2.3]]}


def test_bad_base64_is_a_400():
    event = load_event("function_url_base64.json")
    event["body"] = "not base64!!"
    with pytest.raises(BadRequest, match="not valid base64"):
        events.FunctionUrlEvent.parse(event)


def test_body_over_6_mb_is_a_413():
    event = load_event("function_url_base64.json")
    event["body"] = base64.b64encode(b" " * (events.MAX_BODY_BYTES + 1)).decode()
    with pytest.raises(PayloadTooLarge, match="6 MB"):
        events.FunctionUrlEvent.parse(event)


def test_get_event_without_body():
    request = events.FunctionUrlEvent.parse(load_event("function_url_get.json"))
    assert (request.method, request.path, request.body) == ("GET", "/v2/models/iris", b"")


def test_anything_else_is_a_direct_invoke():
    assert events.source_for({"instances": [[1, 2, 3, 4]]}) is events.DirectInvoke
    assert events.source_for([1, 2]) is events.DirectInvoke


@pytest.mark.parametrize("body, message", [
    (b"", "body is empty"),
    (b"   ", "body is empty"),
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe\xfa", "not valid UTF-8 JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
def test_json_errors_name_the_problem(body, message):
    with pytest.raises(BadRequest, match=message):
        events.Request("POST", "/predict", body=body).json()


def test_handler_answers_function_url_event(use_model):
    use_model(MODELS / "iris.onnx")
    result = handler(load_event("function_url_post.json"), None)
    assert result["statusCode"] == 200
    assert result["headers"]["content-type"] == "application/json"
    assert result["isBase64Encoded"] is False
    assert json.loads(result["body"])["predictions"][0]["label"] == 0


def test_handler_answers_base64_event(use_model):
    use_model(MODELS / "iris.onnx")
    result = handler(load_event("function_url_base64.json"), None)
    assert json.loads(result["body"])["predictions"][0]["label"] == 2  # virginica


def test_direct_invoke_returns_the_body_itself(use_model):
    use_model(MODELS / "iris.onnx")
    assert handler({"instances": [[5.1, 3.5, 1.4, 0.2]]}, None)["predictions"][0]["label"] == 0
    error = handler({"wrong": 1}, None)
    assert error["status"] == 400 and "instances" in error["error"]


def test_handler_turns_bad_event_body_into_400(use_model):
    use_model(MODELS / "iris.onnx")
    event = load_event("function_url_base64.json")
    event["body"] = "%%%"
    result = handler(event, None)
    assert result["statusCode"] == 400
    assert "base64" in json.loads(result["body"])["error"]
