"""Warm request latency through `infer serve`, with in-process baselines measured in the same run.

    .venv/bin/python benchmarks/warm_latency.py [--model models/iris.onnx] [--requests 2000] [--json FILE]

Measures, for one prediction request (one instance):
- through `infer serve` (a real subprocess: function URL front end -> Runtime API -> awslambdaric),
  on one keep-alive connection, and with a new TCP connection per request;
- baseline 1: the runtime's handler called in this process with the same function URL event;
- baseline 2: onnxruntime `session.run` alone.
"""

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infer.bench.warm import summary, time_requests  # noqa: E402
from infer.local.events import build_event  # noqa: E402
from infer.runtime import model as runtime_model  # noqa: E402
from infer.runtime.handler import handler  # noqa: E402


def start_serve(model: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([str(Path(sys.executable).with_name("infer")), "serve", str(model), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+", line)
    if not match:
        proc.kill()
        raise SystemExit(f"infer serve did not start: {line!r}")
    return proc, match.group(0)


def time_calls(fn, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "iris.onnx")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    session = ort.InferenceSession(str(args.model))
    spec = session.get_inputs()[0]
    width = spec.shape[1] if isinstance(spec.shape[1], int) else 4
    row = np.random.default_rng(0).random((1, width), dtype=np.float32)
    body = {"instances": row.tolist()}
    name = args.model.stem

    proc, url = start_serve(args.model)
    try:
        path = f"/v1/models/{name}:predict"
        time_requests(url, path, body, count=200)  # warm up: cold start, then steady state
        results = {
            "serve_keep_alive": summary(time_requests(url, path, body, count=args.requests)),
            "serve_new_connection": summary(time_requests(url, path, body, count=args.requests // 4, keep_alive=False)),
        }
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(15)

    os.environ["INFER_MODEL_PATH"] = str(args.model)
    os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = "2048"  # same thread count as inside `infer serve`
    runtime_model.reset()
    event = build_event("POST", path, [("content-type", "application/json")], json.dumps(body).encode(), "bench")
    time_calls(lambda: handler(event, None), 200)
    results["handler_in_process"] = summary(time_calls(lambda: handler(event, None), args.requests))
    results["session_run"] = summary(time_calls(lambda: session.run(None, {spec.name: row}), args.requests))

    base = results["handler_in_process"]["p50_ms"]
    print(f"model {args.model.name}, {args.requests} requests, python {platform.python_version()}, "
          f"onnxruntime {ort.__version__}, {os.cpu_count()} CPUs")
    print(f"{'path':<24}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'p50 / handler':>15}")
    for key, s in results.items():
        print(f"{key:<24}{s['p50_ms']:>9.3f}{s['p90_ms']:>9.3f}{s['p99_ms']:>9.3f}{s['p50_ms'] / base:>15.1f}")
    if args.json:
        args.json.write_text(json.dumps({"model": str(args.model), "results": results}, indent=2))


if __name__ == "__main__":
    main()
