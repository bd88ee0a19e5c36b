"""`infer predict` against a running `infer serve`."""

import json
import os
import socket
import subprocess
import threading

import numpy as np

from helpers import INFER, ROOT

SETOSA = [5.1, 3.5, 1.4, 0.2]


def predict(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([INFER, "predict", *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_data_to_endpoint(iris_server):
    result = predict(iris_server.url + "/v1/models/iris:predict", "--data", json.dumps({"instances": [SETOSA]}))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["predictions"][0]["label"] == 0


def test_bare_url_and_bare_array(iris_server):
    result = predict(iris_server.url, "-d", json.dumps([SETOSA, [6.7, 3.0, 5.2, 2.3]]))
    assert result.returncode == 0, result.stderr
    assert [p["label"] for p in json.loads(result.stdout)["predictions"]] == [0, 2]


def test_json_wraps_the_answer_with_where_it_went(iris_server):
    result = predict(iris_server.url, "-d", json.dumps([SETOSA]), "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["url"].startswith(iris_server.url) and answer["signed"] is False
    assert answer["answer"]["predictions"][0]["label"] == 0


def test_npy_and_json_files(iris_server, tmp_path):
    npy = tmp_path / "rows.npy"
    np.save(npy, np.array([SETOSA], dtype=np.float32))
    result = predict(iris_server.url, "--input", str(npy))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["predictions"][0]["label"] == 0
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"inputs": [SETOSA]}))
    result = predict(iris_server.url, "--input", str(request))
    assert json.loads(result.stdout)["outputs"]["label"] == [0]


def test_server_error_exits_non_zero_with_its_message(iris_server):
    result = predict(iris_server.url, "-d", json.dumps([[1, 2, 3]]))
    assert result.returncode == 1
    assert result.stderr.startswith("error: HTTP 400: input 'input' expects shape [-1, 4]")
    assert result.stdout == ""


def test_user_mistakes_are_one_line_errors(tmp_path):
    cases = [
        (["http://127.0.0.1:9", "-d", "[[1]]"], "cannot reach http://127.0.0.1:9/predict"),
        (["http://127.0.0.1:9", "-d", "{oops"], "--data is not valid JSON"),
        (["http://127.0.0.1:9"], "give exactly one of --data"),
        (["127.0.0.1:9", "-d", "[[1]]"], "not an http(s) URL"),
        (["http://127.0.0.1:9", "--input", str(tmp_path / "none.npy")], "input file not found"),
    ]
    for args, message in cases:
        result = predict(*args)
        assert result.returncode == 1, args
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_odd_files_and_a_server_that_hangs_up(tmp_path):
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    complex_values = tmp_path / "complex.npy"
    np.save(complex_values, np.array([1 + 2j]))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def hang_up():
            conn, _ = listener.accept()
            conn.recv(65536)
            conn.close()

        threading.Thread(target=hang_up, daemon=True).start()
        cases = [
            ([f"http://127.0.0.1:{port}", "-d", "[[1, 2, 3, 4]]"], "the connection to"),
            (["http://127.0.0.1:9", "--input", str(empty)], "cannot read"),
            (["http://127.0.0.1:9", "--input", str(complex_values)], "complex128 values, which JSON cannot carry"),
        ]
        for args, message in cases:
            result = predict(*args)
            assert result.returncode == 1, (args, result.stderr)
            assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
            assert len(result.stderr.strip().splitlines()) == 1


def test_a_deployment_without_a_url_says_where_work_goes(tmp_path):
    (tmp_path / "deployments.json").write_text(json.dumps({"iris": {
        "stack": "infer-iris", "function_name": "infer-iris-Function", "function_url": False, "region": "eu-west-1"}}))
    result = subprocess.run([INFER, "predict", "iris", "--data", json.dumps([SETOSA])], capture_output=True, text=True,
                            cwd=ROOT, timeout=60, env={**os.environ, "INFER_CONFIG_DIR": str(tmp_path)})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "deployed with --no-url and has no function URL" in result.stderr
    assert "infer bench --function infer-iris-Function" in result.stderr and len(result.stderr.strip().splitlines()) == 1
