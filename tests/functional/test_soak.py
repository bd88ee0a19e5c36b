"""Soak: 2,000 requests at concurrency 8 through the emulator and the real runtime, ~1% of them crashing
their environment. Every other request is answered correctly, none twice, nothing hangs, nothing leaks."""

import http.client
import json
import random
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort

from helpers import FUNCTIONS, MODELS, alive
from infer.local.emulator import Emulator
from infer.local.function import FunctionConfig
from infer.staging import stage_runtime

REQUESTS = 2000
CONCURRENCY = 8
CRASH_EVERY = 100


def test_soak_with_injected_crashes(tmp_path):
    task_root = stage_runtime(tmp_path / "task")
    shutil.copy(FUNCTIONS / "crashy_runtime.py", task_root)
    function = FunctionConfig(name="iris", handler="crashy_runtime.handler", task_root=str(task_root),
                              timeout_s=30, environment={"INFER_MODEL_PATH": str(MODELS / "iris.onnx")})
    rng = random.Random(7)
    rows = np.random.default_rng(7).uniform([4, 2, 1, 0], [8, 4.5, 7, 2.5], size=(REQUESTS, 4)).astype(np.float32)
    expected = ort.InferenceSession(str(MODELS / "iris.onnx")).run(["label"], {"input": rows})[0].tolist()
    crash = set(rng.sample(range(REQUESTS), REQUESTS // CRASH_EVERY))
    answers: dict[int, tuple[int, str, bytes]] = {}
    connections = threading.local()
    opened: list[http.client.HTTPConnection] = []
    seen_pids: set[int] = set()

    with Emulator(function, concurrency=CONCURRENCY, log=lambda line: None) as emu:
        host, port = emu.url.removeprefix("http://").split(":")

        def send(i: int):
            if getattr(connections, "conn", None) is None:
                connections.conn = http.client.HTTPConnection(host, int(port), timeout=60)
                opened.append(connections.conn)
            headers = {"content-type": "application/json"}
            if i in crash:
                headers["x-inject-crash"] = "1"
            body = json.dumps({"instances": [rows[i].tolist()]})
            try:
                connections.conn.request("POST", "/v1/models/iris:predict", body, headers)
                response = connections.conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException):
                connections.conn.close()
                connections.conn = None
                raise
            assert i not in answers, f"request {i} answered twice"
            answers[i] = (response.status, response.getheader("x-amzn-RequestId"), data)
            seen_pids.update(env.proc.pid for env in list(emu.pool.environments) if env.proc is not None)

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            futures = [pool.submit(send, i) for i in range(REQUESTS)]
            for future in futures:
                future.result(timeout=120)  # no hang
        reports = emu.reports
        for conn in opened:
            conn.close()
        pids = seen_pids | {env.proc.pid for env in list(emu.pool.environments) if env.proc is not None}

    assert len(answers) == REQUESTS
    wrong = []
    for i, (status, _, data) in answers.items():
        if i in crash:
            if status != 502 or "exited" not in json.loads(data)["error"]:
                wrong.append((i, status, data[:120]))
        elif status != 200 or json.loads(data)["predictions"][0]["label"] != expected[i]:
            wrong.append((i, status, data[:120]))
    assert not wrong, wrong[:5]
    request_ids = [rid for _, rid, _ in answers.values()]
    assert len(set(request_ids)) == REQUESTS, "every request has its own id"
    reported = [r["request_id"] for r in reports]
    assert sorted(reported) == sorted(request_ids), "each request ran, and was reported, exactly once"
    assert sum(r["outcome"] == "crash" for r in reports) == len(crash)
    assert sum(r["cold"] for r in reports) >= len(crash), "crashed environments were replaced by cold ones"
    assert len(pids) > 1, "the environments of the run were seen"
    assert not [pid for pid in pids if alive(pid)], "no process left behind"
