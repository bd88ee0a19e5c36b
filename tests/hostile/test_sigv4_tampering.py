"""Findings 8 and 9, under --auth iam: the signature covers the query string, and the path that is
verified is the path that is routed (no absolute-form targets, no fragments, no encoded slashes)."""

import json

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from helpers import raw_exchange

KEY, SECRET = "AKIDHOSTILE", "hostile-secret"
ROW = {"instances": [[5.1, 3.5, 1.4, 0.2]]}


@pytest.fixture(scope="module")
def server(serve):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", KEY)
        env.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        env.setenv("AWS_REGION", "us-east-1")
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        env.delenv("AWS_PROFILE", raising=False)
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        server = serve("--auth", "iam", "--lambda-api-port", "0")
    server.api = "".join(server.banner).split("Lambda API", 1)[1].split("): ", 1)[1].split()[0]
    return server


@pytest.fixture(scope="module")
def client(server):
    return boto3.client("lambda", region_name="us-east-1", endpoint_url=server.api,
                        aws_access_key_id=KEY, aws_secret_access_key=SECRET)


def signed(method: str, url: str, target: str | None = None) -> bytes:
    """A raw request signed for `url`, sent with `target` as its request target (default: the URL's own)."""
    request = AWSRequest(method=method, url=url)
    SigV4Auth(Credentials(KEY, SECRET), "lambda", "us-east-1").add_auth(request)
    headers = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
    host = url.split("/")[2]
    target = target or "/" + url.split("/", 3)[3]
    return f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n".encode()


def test_boto3_calls_with_a_qualifier_pass(client):
    answer = client.invoke(FunctionName="iris", Qualifier="$LATEST", Payload=json.dumps(ROW))
    assert json.loads(answer["Payload"].read())["predictions"][0]["label"] == 0
    assert client.get_function_configuration(FunctionName="iris", Qualifier="$LATEST")["FunctionName"] == "iris"


def test_an_unsigned_query_parameter_fails(server):
    url = server.api + "/2015-03-31/functions/iris/configuration"
    assert raw_exchange(url, signed("GET", url)).status == 200
    target = "/2015-03-31/functions/iris/configuration?Qualifier=evil"
    reply = raw_exchange(url, signed("GET", url, target))
    assert reply is not None and reply.status == 403, reply and reply.body


@pytest.mark.parametrize("where, path, target", [
    ("url", "/v2/health/live", "http://{host}/v2/health/live"),
    ("url", "/v2/health/live", "http://{host}/v2/models/iris"),
    ("url", "/v2/health/live", "/v2/health/live#/../v2/models/iris"),
    ("api", "/2015-03-31/functions/iris/configuration", "http://{host}/2015-03-31/functions/iris/configuration"),
    ("api", "/2015-03-31/functions/iris/configuration", "/2015-03-31/functions/iris/configuration#x"),
])
def test_a_signature_is_good_only_for_the_target_it_was_made_for(server, where, path, target):
    base = server.url if where == "url" else server.api
    host = base.removeprefix("http://")
    reply = raw_exchange(base, signed("GET", base + path, target.format(host=host)))
    assert reply is not None and reply.status in (400, 403), (target, reply and reply.status, reply and reply.body)


def test_an_encoded_slash_is_not_a_path_separator(server):
    url = server.api + "/2015-03-31/functions/iris%2Fconfiguration"
    reply = raw_exchange(url, signed("GET", url))
    assert reply is not None and reply.status == 404, reply and reply.body
