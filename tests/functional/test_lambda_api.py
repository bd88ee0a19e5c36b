"""The emulated Lambda API: off unless asked for, loopback only, validating updates, honouring --auth iam."""

import json

import boto3
import botocore.exceptions
import pytest

from helpers import MODELS, ServeProcess, call

IRIS = {"instances": [[5.1, 3.5, 1.4, 0.2]]}


def api_url(server) -> str:
    import re

    return re.search(r"Lambda API .*(http://127\.0\.0\.1:\d+)", "".join(server.banner)).group(1)


def lambda_client(url: str, secret: str = "test"):
    return boto3.client("lambda", region_name="us-east-1", endpoint_url=url,
                        aws_access_key_id="AKIDTEST", aws_secret_access_key=secret)


def test_off_unless_asked_for(iris_server):
    assert "Lambda API" not in "".join(iris_server.banner)


@pytest.fixture(scope="module")
def api_server():
    server = ServeProcess(str(MODELS / "iris.onnx"), "--lambda-api-port", "0", "--host", "0.0.0.0")
    yield server
    server.stop()


def test_loopback_only_and_invokes(api_server):
    url = api_url(api_server)
    assert url.startswith("http://127.0.0.1:"), "bound to loopback even with --host 0.0.0.0"
    client = lambda_client(url)
    answer = json.loads(client.invoke(FunctionName="iris", Payload=json.dumps(IRIS))["Payload"].read())
    assert answer["predictions"][0]["label"] == 0


@pytest.mark.parametrize("update, message", [
    ({"Timeout": -5}, "Timeout must be from 1 to 900 seconds"),
    ({"Timeout": "abc"}, "Timeout must be from 1 to 900"),
    ({"MemorySize": 64}, "MemorySize must be a whole number of MB from 128 to 10240"),
    ({"Environment": "x"}, "Environment must be"),
    ({"Environment": {"Variables": ["a"]}}, "Environment must be"),
    ({"Environment": {"Variables": {"PYTHONWARNINGS": "all"}}}, "PYTHONWARNINGS may not be set here"),
    ({"Environment": {"Variables": {"BROWSER": "/bin/sh"}}}, "BROWSER may not be set here"),
    ({"Environment": {"Variables": {"OPENSSL_CONF": "/tmp/evil.cnf"}}}, "OPENSSL_CONF may not be set here"),
    ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "AWS_REGION is reserved by Lambda"),
    ({"Environment": {"Variables": {"INFER_MODEL_PATH": "/etc/passwd"}}}, "INFER_MODEL_PATH may not be set here"),
    ({"Environment": {"Variables": {"INFER_LOAD_STRATEGY": "bogus"}}}, "INFER_LOAD_STRATEGY must be one of lazy"),
    ([], "must be a JSON object"),
])
def test_bad_updates_are_400(api_server, update, message):
    reply = call(api_url(api_server) + "/2015-03-31/functions/iris/configuration", "PUT", body=update)
    assert reply.status == 400 and message in reply.json()["Message"], reply.body


def test_updates_keep_the_functions_own_variables(api_server):
    client = lambda_client(api_url(api_server))
    for value in ("1", "2"):
        client.update_function_configuration(FunctionName="iris", Environment={"Variables": {"NONCE": value}})
    variables = client.get_function_configuration(FunctionName="iris")["Environment"]["Variables"]
    assert variables == {"NONCE": "2"}, "the configuration's own variables, not the image's"
    answer = json.loads(client.invoke(FunctionName="iris", Payload=json.dumps(IRIS))["Payload"].read())
    assert answer["predictions"][0]["label"] == 0


def test_auth_iam_protects_the_lambda_api_too(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "the-secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    server = ServeProcess(str(MODELS / "iris.onnx"), "--auth", "iam", "--lambda-api-port", "0")
    try:
        url = api_url(server)
        assert call(url + "/2015-03-31/functions/iris/invocations", "POST", body=IRIS).status == 403
        with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied|Forbidden"):
            lambda_client(url, secret="wrong").invoke(FunctionName="iris", Payload=json.dumps(IRIS))
        signed = lambda_client(url, secret="the-secret")
        answer = json.loads(signed.invoke(FunctionName="iris", Payload=json.dumps(IRIS))["Payload"].read())
        assert answer["predictions"][0]["label"] == 0
        assert signed.get_function_url_config(FunctionName="iris")["AuthType"] == "AWS_IAM"
    finally:
        server.stop()
