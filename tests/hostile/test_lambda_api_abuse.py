"""Finding 1 and two smaller ones: the emulated Lambda API (without --auth iam) takes configuration
that cannot run code, answers only this server's own Host and no web page, and shows no local paths."""

import base64
import json

import boto3
import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from helpers import raw_exchange

ROW = {"instances": [[5.1, 3.5, 1.4, 0.2]]}
CONFIGURATION = "/2015-03-31/functions/iris/configuration"


@pytest.fixture(scope="module")
def api(serve):
    server = serve("--lambda-api-port", "0")
    banner = "".join(server.banner)
    return banner.split("Lambda API", 1)[1].split("): ", 1)[1].split()[0]


@pytest.fixture(scope="module")
def client(api):
    return boto3.client("lambda", region_name="us-east-1", endpoint_url=api,
                        aws_access_key_id="AKIDANY", aws_secret_access_key="any")


def signed_request(method: str, url: str, host: str, extra: str = "") -> bytes:
    """A raw request signed as boto3 signs it, sent with `host` as its Host header."""
    request = AWSRequest(method=method, url=url, headers={"Host": host})
    SigV4Auth(Credentials("AKIDANY", "any"), "lambda", "us-east-1").add_auth(request)
    target = url.split("/", 3)[3]
    headers = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
    return f"{method} /{target} HTTP/1.1\r\n{headers}{extra}Connection: close\r\n\r\n".encode()


# Names that libraries in the environment's process read (none is on a blocklist of code-running variables),
# a plain user name, and the blocklist's own: an allowlist refuses them all.
@pytest.mark.parametrize("name, value", [
    ("http_proxy", "http://127.0.0.1:9"),
    ("SSLKEYLOGFILE", "/tmp/keys"),
    ("OMP_NUM_THREADS", "1000"),
    ("ORT_LOGGING_LEVEL", "0"),
    ("NONCE", "1"),
    ("OPENSSL_CONF", "/tmp/evil.cnf"),
    ("INFER_MODEL_PATH", "/etc/passwd"),
    ("INFER_LOAD_STRATEGY", "bogus"),
])
def test_only_infers_own_settings_can_be_changed(client, name, value):
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        client.update_function_configuration(FunctionName="iris", Environment={"Variables": {name: value}})
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert name in str(refused.value)


def test_infers_settings_and_markers_can_be_changed(client):
    variables = {"INFER_LOAD_STRATEGY": "eager", "INFER_BENCH_COLD_START": "abc123"}
    client.update_function_configuration(FunctionName="iris", Environment={"Variables": variables})
    assert client.get_function_configuration(FunctionName="iris")["Environment"]["Variables"] == variables
    answer = json.loads(client.invoke(FunctionName="iris", Payload=json.dumps(ROW))["Payload"].read())
    assert answer["predictions"][0]["label"] == 0


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "localhost.evil.example:{port}"])
def test_a_request_for_another_host_is_refused(api, host):
    port = api.rsplit(":", 1)[1]
    reply = raw_exchange(api, signed_request("GET", api + CONFIGURATION, host.format(port=port)))
    assert reply is not None and reply.status == 403, reply and reply.body
    assert "Host" in reply.json()["Message"]


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}"])
def test_this_servers_own_names_are_accepted(api, host):
    port = api.rsplit(":", 1)[1]
    reply = raw_exchange(api, signed_request("GET", api + CONFIGURATION, host.format(port=port)))
    assert reply is not None and reply.status == 200, reply and reply.body


def test_web_pages_and_unsigned_requests_are_refused(api):
    port = api.rsplit(":", 1)[1]
    from_a_page = signed_request("GET", api + CONFIGURATION, f"127.0.0.1:{port}", extra="Origin: http://evil.example\r\n")
    unsigned = f"GET {CONFIGURATION} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    for request in (from_a_page, unsigned):
        reply = raw_exchange(api, request)
        assert reply is not None and reply.status == 403, reply and reply.body
        assert reply.headers["x-amzn-errortype"] == "AccessDeniedException"


def test_a_malformed_event_shows_no_local_paths(client):
    answer = client.invoke(FunctionName="iris", LogType="Tail", Payload=b'{"version": "2.0", "requestContext": 5}')
    payload = answer["Payload"].read().decode()
    log = base64.b64decode(answer["LogResult"]).decode()
    for text in (payload, log):
        assert "/tmp/" not in text and "infer-task-" not in text, text
    for frame in json.loads(payload).get("stackTrace", []):
        assert frame.strip().startswith('File "/var/task/'), frame


def test_a_payload_that_is_not_json_is_refused_as_lambda_does(client):
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        client.invoke(FunctionName="iris", Payload=b"{not json")
    assert refused.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_server_header_names_no_python_version(client):
    headers = client.get_function_configuration(FunctionName="iris")["ResponseMetadata"]["HTTPHeaders"]
    assert "python" not in headers.get("server", "").lower(), headers
