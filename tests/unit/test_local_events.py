"""The emulator's function URL edges: the events it builds pass an independent parser, results map as on AWS."""

import base64
import json

import pytest
from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel

from helpers import EVENTS
from infer.local.events import build_event, is_text, response_from_result
from infer.runtime.events import FunctionUrlEvent


def test_documented_event_passes_the_independent_parser():
    """Guards the validator itself: AWS's documented shape must parse."""
    LambdaFunctionUrlModel.model_validate(json.loads((EVENTS / "function_url_post.json").read_text()))


def test_post_event_shape():
    event = build_event(
        "POST", "/v1/models/iris:predict?verbose=1&x=a&x=b",
        [("Content-Type", "application/json"), ("X-Multi", "one"), ("x-multi", "two"),
         ("User-Agent", "pytest"), ("Cookie", "a=1; b=2")],
        b'{"instances": [[1, 2, 3, 4]]}', "req-1", source_ip="10.0.0.7", now_s=1583348638.390,
    )
    parsed = LambdaFunctionUrlModel.model_validate(event)
    assert parsed.rawPath == "/v1/models/iris:predict"
    assert parsed.rawQueryString == "verbose=1&x=a&x=b"
    assert event["queryStringParameters"] == {"verbose": "1", "x": "a,b"}
    assert event["headers"]["x-multi"] == "one,two", "repeated headers are joined with commas"
    assert all(name == name.lower() for name in event["headers"])
    assert "cookie" not in event["headers"] and event["cookies"] == ["a=1", "b=2"]
    context = event["requestContext"]
    assert context["http"] == {"method": "POST", "path": "/v1/models/iris:predict", "protocol": "HTTP/1.1",
                               "sourceIp": "10.0.0.7", "userAgent": "pytest"}
    assert context["requestId"] == "req-1"
    assert context["timeEpoch"] == 1583348638390
    assert context["time"] == "04/Mar/2020:19:03:58 +0000"
    assert event["isBase64Encoded"] is False and event["body"] == '{"instances": [[1, 2, 3, 4]]}'
    documented = json.loads((EVENTS / "function_url_post.json").read_text())
    optional = {"pathParameters", "stageVariables"}  # null in AWS's example; absent here, as the parser allows
    assert set(event) == set(documented) - optional
    assert set(context) == set(documented["requestContext"]) - {"authorizer", "authentication"}, "no IAM auth here"
    assert set(context["http"]) == set(documented["requestContext"]["http"])


def test_get_event_has_no_body_and_no_query_parameters():
    event = build_event("GET", "/v2/health/live", [("Accept", "*/*")], b"", "req-2")
    LambdaFunctionUrlModel.model_validate(event)
    assert "body" not in event and "queryStringParameters" not in event
    assert event["rawQueryString"] == "" and event["isBase64Encoded"] is False


@pytest.mark.parametrize("content_type, text", [
    ("application/json", True), ("application/json; charset=utf-8", True), ("text/csv", True),
    ("application/vnd.api+json", True), ("application/xml", True),
    ("application/octet-stream", False), (None, False), ("image/png", False),
])
def test_binary_bodies_arrive_base64_encoded(content_type, text):
    assert is_text(content_type) is text
    headers = [("Content-Type", content_type)] if content_type else []
    body = b'{"a": 1}'
    event = build_event("POST", "/predict", headers, body, "req-3")
    LambdaFunctionUrlModel.model_validate(event)
    assert event["isBase64Encoded"] is (not text)
    assert FunctionUrlEvent.parse(event).body == body, "the runtime recovers the exact bytes"


def test_text_type_with_invalid_utf8_falls_back_to_base64():
    event = build_event("POST", "/predict", [("Content-Type", "text/plain")], b"\xff\xfe", "req-4")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe"


def test_full_response_passes_status_headers_cookies_and_body():
    result = json.dumps({"statusCode": 418, "headers": {"x-custom": "yes", "Content-Length": "999"},
                         "cookies": ["a=1"], "body": "tea"}).encode()
    response = response_from_result(result)
    assert response.status == 418
    assert ("x-custom", "yes") in response.headers and ("set-cookie", "a=1") in response.headers
    assert all(name.lower() != "content-length" for name, _ in response.headers), "hop-by-hop headers are dropped"
    assert response.body == b"tea"


def test_base64_response_body_is_decoded():
    result = json.dumps({"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(),
                         "isBase64Encoded": True, "headers": {"content-type": "application/octet-stream"}})
    assert response_from_result(result.encode()).body == b"\x00\x01"


def test_result_without_status_code_is_a_json_200():
    response = response_from_result(b'{"predictions": [1]}')
    assert (response.status, response.body) == (200, b'{"predictions": [1]}')
    assert ("content-type", "application/json") in response.headers


@pytest.mark.parametrize("payload", [b"not json", b'{"statusCode": "abc"}', b'{"statusCode": 200, "isBase64Encoded": true, "body": "%%"}'])
def test_malformed_results_are_502(payload):
    assert response_from_result(payload).status == 502
