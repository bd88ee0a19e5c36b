"""The emulated Lambda API: off unless asked for, loopback only, for this user's signed requests,
validating updates, honouring --auth iam."""

import base64
import json
import os

import boto3
import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from helpers import FUNCTIONS, MODELS, ServeProcess, call
from infer.local.function import FunctionConfig
from infer.local.lambda_api import LambdaApiServer
from infer.local.pool import Pool

IRIS = {"instances": [[5.1, 3.5, 1.4, 0.2]]}


def api_url(server) -> str:
    import re

    return re.search(r"Lambda API .*(http://127\.0\.0\.1:\d+)", "".join(server.banner)).group(1)


def lambda_client(url: str, secret: str = "test"):
    return boto3.client("lambda", region_name="us-east-1", endpoint_url=url,
                        aws_access_key_id="AKIDTEST", aws_secret_access_key=secret)


def signed_call(url: str, method: str = "GET", body=None):
    """`call` with a SigV4 signature made as boto3 makes it (any credentials do without --auth iam)."""
    data = json.dumps(body).encode() if body is not None else b""
    request = AWSRequest(method=method, url=url, data=data)
    SigV4Auth(Credentials("AKIDTEST", "test"), "lambda", "us-east-1").add_auth(request)
    return call(url, method, body=data, headers=dict(request.headers.items()))


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
    ({"Environment": {"Variables": {"NONCE": "1"}}}, "only infer's own INFER_* settings"),
    ({"Environment": {"Variables": {"INFER_X": "x" * 5000}}}, "Lambda allows 4096 in all"),
    ({"Environment": {"Variables": {"OPENSSL_CONF": "/tmp/evil.cnf"}}}, "OPENSSL_CONF may not be set here"),
    ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "AWS_REGION is reserved by Lambda"),
    ({"Environment": {"Variables": {"INFER_MODEL_PATH": "/etc/passwd"}}}, "INFER_MODEL_PATH may not be set here"),
    ({"Environment": {"Variables": {"INFER_LOAD_STRATEGY": "bogus"}}}, "INFER_LOAD_STRATEGY must be one of lazy"),
    ([], "must be a JSON object"),
])
def test_bad_updates_are_400(api_server, update, message):
    reply = signed_call(api_url(api_server) + "/2015-03-31/functions/iris/configuration", "PUT", body=update)
    assert reply.status == 400 and message in reply.json()["Message"], reply.body


def test_updates_keep_the_functions_own_variables(api_server):
    client = lambda_client(api_url(api_server))
    for value in ("1", "2"):
        client.update_function_configuration(FunctionName="iris", Environment={"Variables": {"INFER_NONCE": value}})
    variables = client.get_function_configuration(FunctionName="iris")["Environment"]["Variables"]
    assert variables == {"INFER_NONCE": "2"}, "the configuration's own variables, not the image's"
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


@pytest.mark.parametrize("name, qualifier, found", [
    ("iris", None, True),
    ("iris", "$LATEST", True),
    ("iris:$LATEST", None, True),
    ("arn:aws:lambda:us-east-1:000000000000:function:iris", None, True),
    ("arn:aws:lambda:us-east-1:000000000000:function:iris:$LATEST", None, True),
    ("iris", "7", False),
    ("iris:prod", None, False),
    ("arn:aws:lambda:eu-west-1:000000000000:function:iris", None, False),
    ("arn:aws:lambda:us-east-1:000000000000:function:irises", None, False),
])
def test_names_arns_and_qualifiers(api_server, name, qualifier, found):
    client = lambda_client(api_url(api_server))
    extra = {"Qualifier": qualifier} if qualifier else {}
    if found:
        assert client.get_function_configuration(FunctionName=name, **extra)["FunctionName"] == "iris"
    else:
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.get_function_configuration(FunctionName=name, **extra)


@pytest.fixture
def in_process_api():
    """The Lambda API in this process, in front of the behaviours test function (which can raise)."""
    started = []

    def start(owner_uid=None):
        function = FunctionConfig(name="behaviours", handler="behaviours.handler", task_root=str(FUNCTIONS))
        pool = Pool(function, concurrency=1, log=lambda line: None)
        server = LambdaApiServer(pool, "http://127.0.0.1:9", owner_uid=owner_uid).start_background()
        started.append((server, pool))
        return server

    yield start
    for server, pool in started:
        server.stop()
        pool.close()


def test_another_users_processes_are_refused(in_process_api):
    server = in_process_api(owner_uid=os.geteuid() + 1)  # as if infer serve ran as someone else
    reply = signed_call(server.url + "/2015-03-31/functions/behaviours/configuration")
    assert reply.status == 403
    assert f"belongs to uid {os.geteuid()}" in reply.json()["Message"]


def test_a_function_error_shows_the_task_root_as_on_lambda(in_process_api):
    server = in_process_api()
    answer = lambda_client(server.url).invoke(FunctionName="behaviours", LogType="Tail", Payload=json.dumps({"rawPath": "/raise"}))
    assert answer["FunctionError"] == "Unhandled"
    document = json.loads(answer["Payload"].read())
    assert document["errorType"] == "ValueError"
    frames = "".join(document["stackTrace"])
    assert '"/var/task/behaviours.py"' in frames and str(FUNCTIONS) not in frames
    assert str(FUNCTIONS) not in base64.b64decode(answer["LogResult"]).decode()


def test_published_versions_for_infer_tune(in_process_api):
    server = in_process_api()
    client = lambda_client(server.url)
    client.update_function_configuration(FunctionName="behaviours", MemorySize=512)
    version = client.publish_version(FunctionName="behaviours")["Version"]
    client.get_waiter("published_version_active").wait(FunctionName="behaviours", Qualifier=version)
    assert client.get_function_configuration(FunctionName=f"behaviours:{version}")["MemorySize"] == 512
    answer = client.invoke(FunctionName="behaviours", Qualifier=version, LogType="Tail", Payload=json.dumps({"rawPath": "/pid"}))
    assert answer["ExecutedVersion"] == version
    assert "Init Duration" in base64.b64decode(answer["LogResult"]).decode(), "a new version's first invoke is cold"
    client.update_function_configuration(FunctionName="behaviours", MemorySize=1024)
    with pytest.raises(client.exceptions.ResourceConflictException, match="one configuration at a time"):
        client.invoke(FunctionName="behaviours", Qualifier=version, Payload=b"{}")
    with pytest.raises(botocore.exceptions.ClientError, match="deletes published versions only"):
        client.delete_function(FunctionName="behaviours")
    client.delete_function(FunctionName="behaviours", Qualifier=version)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function_configuration(FunctionName="behaviours", Qualifier=version)
