"""`infer serve` as a user runs it: a real process, real HTTP, Ctrl-C."""

import json
import re
import socket
import subprocess
import threading

import pytest

from helpers import INFER, MODELS, ROOT, ServeProcess, alive, call, descendants

SETOSA = [5.1, 3.5, 1.4, 0.2]


def test_iris_predicts_setosa(iris_server):
    reply = call(iris_server.url + "/v1/models/iris:predict", "POST", body={"instances": [SETOSA]})
    assert reply.status == 200
    assert reply.json()["predictions"][0]["label"] == 0
    assert reply.headers["content-type"] == "application/json"


def test_banner_tells_how_to_call_it(iris_server):
    banner = "".join(iris_server.banner)
    assert "Serving model 'iris'" in banner
    assert f"curl -s {iris_server.url}/v2/models/iris" in banner


@pytest.mark.parametrize("method, path, body, headers, status, message", [
    ("POST", "/v1/models/iris:predict", b"{not json", {"content-type": "application/json"}, 400, "not valid JSON"),
    ("POST", "/v1/models/iris:predict", b"", {}, 400, "body is empty"),
    ("POST", "/v1/models/iris:predict", {"rows": [SETOSA]}, None, 400, 'exactly one of "instances"'),
    ("POST", "/v1/models/iris:predict", {"instances": [SETOSA, [1, 2]]}, None, 400, "ragged array"),
    ("POST", "/v1/models/iris:predict", {"instances": [[1, 2, 3]]}, None, 400, "expects shape [-1, 4]"),
    ("POST", "/v1/models/iris:predict", {"instances": [["a", "b", "c", "d"]]}, None, 400, "expects float32; got strings"),
    ("POST", "/v1/models/resnet:predict", {"instances": [SETOSA]}, None, 404, "model 'resnet' not found"),
    ("GET", "/v3/whatever", None, None, 404, "no endpoint at /v3/whatever"),
    ("GET", "/v1/models/iris:predict", None, None, 405, "use POST"),
    ("PUT", "/predict", {"instances": [SETOSA]}, None, 405, "use POST"),
])
def test_bad_requests_get_a_4xx_and_a_message(iris_server, method, path, body, headers, status, message):
    reply = call(iris_server.url + path, method, body=body, headers=headers)
    assert reply.status == status
    assert message in reply.json()["error"]
    assert b"Traceback" not in reply.body


def test_binary_upload_of_json_without_content_type(iris_server):
    """curl --data-binary without a type, or a client that sends none: the body arrives base64 and still works."""
    reply = call(iris_server.url + "/predict", "POST", body=json.dumps({"instances": [SETOSA]}).encode())
    assert reply.status == 200 and reply.json()["predictions"][0]["label"] == 0


def test_body_over_6_mb_is_413(iris_server):
    body = b'{"instances": [' + b",".join([b"[1.0, 2.0, 3.0, 4.0]"] * 350_000) + b"]}"
    assert len(body) > 6 * 1024 * 1024
    reply = call(iris_server.url + "/predict", "POST", body=body, headers={"content-type": "application/json"})
    assert reply.status == 413
    assert "6 MB" in reply.json()["error"]


def test_report_lines_on_stderr(iris_server):
    call(iris_server.url + "/v2/health/ready")
    reports = iris_server.log_lines("REPORT RequestId:")
    assert reports
    assert re.search(r"Duration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 2048 MB\tMax Memory Used: \d+ MB",
                     reports[-1])
    assert any("Init Duration:" in line for line in reports), "the first request was a cold start"


def test_parallel_requests_start_parallel_environments_and_ctrl_c_cleans_up():
    server = ServeProcess(str(MODELS / "digits.onnx"), "--concurrency", "3")
    try:
        barrier = threading.Barrier(3)
        statuses = []

        def request():
            barrier.wait()
            statuses.append(call(server.url + "/v2/health/ready").status)

        threads = [threading.Thread(target=request) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert statuses == [200, 200, 200]
        assert len([line for line in server.log_lines("REPORT", count=3) if "Init Duration" in line]) == 3
        children = descendants(server.proc.pid)
        assert len(children) == 3, "one awslambdaric process per environment"
        assert server.interrupt() == 0
        assert not any(alive(pid) for pid in children), "Ctrl-C leaves no process behind"
    finally:
        server.stop()


def run_infer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([INFER, *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_missing_model_is_a_one_line_error():
    result = run_infer("serve", "models/nope.onnx")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: model file not found: models/nope.onnx"


def test_busy_port_is_a_one_line_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_infer("serve", "models/iris.onnx", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: port {port} on 127.0.0.1 is already in use; pass --port N (0 picks a free port)"


@pytest.mark.parametrize("option, message", [
    (["--concurrency", "0"], "--concurrency must be at least 1"),
    (["--timeout", "0"], "--timeout must be a positive number"),
    (["--memory", "64"], "--memory must be a whole number of MB from 128 to 10240"),
])
def test_bad_options_are_refused(option, message):
    result = run_infer("serve", "models/iris.onnx", *option)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def raw_request(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(data)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("request_bytes, status, message", [
    (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n", b"400",
     b"Content-Length must be a non-negative integer"),
    (b"GET /v2 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\nConnection: close\r\n\r\n", b"431", b"HTTP 431"),
    (b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n", b"400",
     b"malformed chunk size"),
    (b"TRACE /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"405", b"use POST"),
    (b"GET http://x/v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"400", b"must be a path"),
    (b"GET /v2/health/live#top HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"400", b"#fragment"),
    (b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n-1\r\n", b"400",
     b"malformed chunk size"),
])
def test_malformed_http_gets_a_json_error(iris_server, request_bytes, status, message):
    reply = raw_request(iris_server.url, request_bytes)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == status, reply[:300]
    assert json.loads(body)["error"].encode().find(message) >= 0, body


def test_chunked_body_is_accepted(iris_server):
    body = json.dumps({"instances": [SETOSA]}).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    reply = raw_request(iris_server.url, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                         b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked)
    assert b" 200 " in reply.split(b"\r\n")[0]
    assert json.loads(reply.partition(b"\r\n\r\n")[2])["predictions"][0]["label"] == 0


def test_port_out_of_range_is_refused():
    result = run_infer("serve", "models/iris.onnx", "--port", "70000")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --port must be between 0 and 65535 (0 picks a free port)"


def emf_problems(line: dict) -> list[str]:
    """What keeps a log line from being valid CloudWatch Embedded Metric Format."""
    problems = []
    aws = line.get("_aws")
    if not isinstance(aws, dict) or not isinstance(aws.get("Timestamp"), int):
        return ["_aws.Timestamp must be an integer (ms)"]
    for directive in aws.get("CloudWatchMetrics") or [None]:
        if not isinstance(directive, dict) or not directive.get("Namespace"):
            problems.append("each CloudWatchMetrics entry needs a Namespace")
            continue
        for dimension_set in directive.get("Dimensions", []):
            problems += [f"dimension {d} missing or not a string" for d in dimension_set if not isinstance(line.get(d), str)]
        for metric in directive.get("Metrics", []):
            if metric.get("Unit") not in ("Count", "Milliseconds"):
                problems.append(f"unexpected unit {metric.get('Unit')}")
            if not isinstance(line.get(metric["Name"]), (int, float)):
                problems.append(f"metric {metric['Name']} has no numeric value")
    return problems


def test_one_structured_emf_line_per_request_without_bodies_or_secrets():
    server = ServeProcess(str(MODELS / "iris.onnx"))
    try:
        secret = "Bearer s3cr3t-token"
        first = call(server.url + "/v1/models/iris:predict", "POST", body={"instances": [[5.1, 3.5, 1.4, 0.2]]},
                     headers={"Authorization": secret})
        second = call(server.url + "/predict", "POST", body={"instances": [[1, 2, 3]]})
        server.interrupt()
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.stderr if line.startswith('{"message":"request"')]
    assert len(lines) == 2
    cold, warm = lines
    assert cold["request_id"] == first.headers["x-amzn-requestid"] and warm["request_id"] == second.headers["x-amzn-requestid"]
    assert (cold["path"], cold["status"], cold["model"]) == ("/v1/models/iris:predict", 200, "iris")
    assert cold["cold_start"] is True and cold["ColdStart"] == 1 and cold["ModelLoadMs"] > 0 and cold["InferenceMs"] >= 0
    assert warm["cold_start"] is False and warm["status"] == 400 and "ModelLoadMs" not in warm and "InferenceMs" not in warm
    for line in lines:
        assert emf_problems(line) == []
    logged = "".join(server.stderr)
    assert "s3cr3t" not in logged and "5.1, 3.5" not in logged and "[1, 2, 3]" not in logged
