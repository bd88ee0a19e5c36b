"""SigV4: botocore signs (infer predict), infer's own verifier checks (infer serve --auth iam), end to end."""

import hashlib
import subprocess
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from helpers import INFER, MODELS, ServeProcess, call
from infer.local.sigv4 import Credentials, SigV4Verifier

KEYS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
ROW = '{"instances": [[5.1, 3.5, 1.4, 0.2]]}'


def signed(url, body=b"", method="POST", secret=KEYS.secret_key, region="us-east-1", service="lambda", token=None):
    request = AWSRequest(method=method, url=url, data=body, headers={"content-type": "application/json"})
    SigV4Auth(BotoCredentials(KEYS.access_key, secret, token), service, region).add_auth(request)
    return list(request.headers.items()) + [("Host", "127.0.0.1:8080")]  # as the HTTP client adds it


def target(url):
    return url.split("127.0.0.1:8080", 1)[1]


@pytest.mark.parametrize("path", ["/predict", "/v1/models/iris:predict", "/v2/models/iris/infer?b=2&a=1"])
def test_botocore_signatures_verify(path):
    url = f"http://127.0.0.1:8080{path}"
    verify = SigV4Verifier(KEYS, "us-east-1")
    assert verify("POST", target(url), signed(url, ROW.encode()), ROW.encode()) is None


def test_bad_requests_are_refused_with_the_reason():
    url = "http://127.0.0.1:8080/predict"
    verify = SigV4Verifier(KEYS, "us-east-1")
    good = signed(url, ROW.encode())
    cases = [
        ([("content-type", "application/json")], ROW, "not signed"),
        (good, ROW.replace("5.1", "9.9"), "does not match the request"),
        (signed(url, ROW.encode(), secret="wrong"), ROW, "does not match the request"),
        (signed(url, ROW.encode(), region="eu-west-1"), ROW, "signed for lambda in eu-west-1"),
        (signed(url, ROW.encode(), service="s3"), ROW, "signed for s3"),
        (signed(url, ROW.encode(), token="session-token"), ROW, "security token"),
        ([(k, v.replace("AKIDEXAMPLE", "AKIDOTHER")) for k, v in good], ROW, "not allowed"),
        ([(k, "AWS4-HMAC-SHA256 garbage") if k == "Authorization" else (k, v) for k, v in good], ROW, "is not AWS4"),
    ]
    for headers, body, reason in cases:
        assert reason in (verify("POST", "/predict", headers, body.encode()) or "allowed"), reason
    later = SigV4Verifier(KEYS, "us-east-1", clock=lambda: time.time() + 600)
    assert "expired" in later("POST", "/predict", good, ROW.encode())
    assert "does not match" in verify("POST", "/v2/x", good, ROW.encode())  # signed for another path


def test_payload_hash_header_must_match_the_body():
    url = "http://127.0.0.1:8080/predict"
    request = AWSRequest(method="POST", url=url, data=ROW.encode(),
                         headers={"x-amz-content-sha256": hashlib.sha256(b"other").hexdigest()})
    SigV4Auth(BotoCredentials(KEYS.access_key, KEYS.secret_key), "lambda", "us-east-1").add_auth(request)
    headers = list(request.headers.items()) + [("Host", "127.0.0.1:8080")]
    assert "x-amz-content-sha256" in SigV4Verifier(KEYS, "us-east-1")("POST", "/predict", headers, ROW.encode())


@pytest.fixture
def iam_server(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEYS.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEYS.secret_key)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    server = ServeProcess(str(MODELS / "iris.onnx"), "--auth", "iam")
    yield server
    server.stop()


def predict(*args, secret=KEYS.secret_key, tmp_path=None):
    env = {"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": KEYS.access_key,
           "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": "us-east-1",
           "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    return subprocess.run([INFER, "predict", *args], capture_output=True, text=True, env=env, timeout=60)


def test_serve_with_iam_auth_end_to_end(iam_server):
    assert "AWS_IAM auth" in "".join(iam_server.banner)
    ok = predict(iam_server.url + "/v1/models/iris:predict", "--auth", "iam", "-d", "[[5.1, 3.5, 1.4, 0.2]]")
    assert ok.returncode == 0, ok.stderr
    assert '"label": 0' in ok.stdout
    unsigned = call(iam_server.url + "/predict", "POST", ROW)
    assert unsigned.status == 403 and "not signed" in unsigned.json()["error"]
    assert unsigned.headers["x-amzn-errortype"] == "AccessDeniedException"
    wrong = predict(iam_server.url, "--auth", "iam", "-d", "[[5.1, 3.5, 1.4, 0.2]]", secret="not-the-secret")
    assert wrong.returncode == 1 and "HTTP 403" in wrong.stderr and "signature does not match" in wrong.stderr
    time.sleep(0.2)
    assert len(iam_server.log_lines("START")) == 1  # only the signed request reached the function


def test_serve_iam_without_credentials_is_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    result = subprocess.run([INFER, "serve", str(MODELS / "iris.onnx"), "--auth", "iam", "--port", "0"],
                            capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 2 and "none were found" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_predict_iam_without_credentials_is_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    result = subprocess.run([INFER, "predict", "http://127.0.0.1:9", "--auth", "iam", "-d", "[[1]]"],
                            capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 1 and "no AWS credentials were found" in result.stderr


def signed_with_params(url, params, method="GET"):
    """As boto3 signs an operation with query parameters (Lambda's Qualifier): the query built from `params`."""
    request = AWSRequest(method=method, url=url, params=params)
    SigV4Auth(BotoCredentials(KEYS.access_key, KEYS.secret_key), "lambda", "us-east-1").add_auth(request)
    prepared = request.prepare()
    return prepared.url.split("127.0.0.1:8080", 1)[1], list(request.headers.items()) + [("Host", "127.0.0.1:8080")]


@pytest.mark.parametrize("params", [{"Qualifier": "$LATEST"}, {"Qualifier": "prod", "name": "c/d~e:f"}, {"x": ""}])
def test_the_query_string_is_signed(params):
    verify = SigV4Verifier(KEYS, "us-east-1")
    target, headers = signed_with_params("http://127.0.0.1:8080/2015-03-31/functions/iris/configuration", params)
    assert verify("GET", target, headers, b"") is None, target
    assert "does not match" in verify("GET", target + "&Qualifier=evil", headers, b"")
    assert "does not match" in verify("GET", target.split("?")[0], headers, b""), "a signed parameter taken away"


@pytest.mark.parametrize("sent", ["http://127.0.0.1:8080/predict", "/predict#x", "*"])
def test_only_the_path_that_was_signed_verifies(sent):
    url = "http://127.0.0.1:8080/predict"
    denial = SigV4Verifier(KEYS, "us-east-1")("POST", sent, signed(url, ROW.encode()), ROW.encode())
    assert denial and "request target must be a path" in denial
