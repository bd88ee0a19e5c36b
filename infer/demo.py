"""`make demo`: the main job end to end on this machine, with nothing but the sample model.

1. Serve models/iris.onnx through the local Lambda emulator (real awslambdaric environments).
2. Ask it for predictions over HTTP, in both KServe V1 formats, and show one helpful refusal.
3. Force three cold starts (a fresh environment each) and time 300 warm requests; print a summary.
"""

import json
import statistics
import sys
import time
from pathlib import Path

from infer.bench.warm import summary, time_requests
from infer.local.emulator import Emulator
from infer.local.function import model_function

MODEL = Path(__file__).resolve().parent.parent / "models" / "iris.onnx"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [6.7, 3.0, 5.2, 2.3]]


def post(url: str, path: str, body) -> tuple[int, dict, float]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request) as response:
            status, data = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, data = exc.code, exc.read()
    return status, json.loads(data), (time.perf_counter() - start) * 1000.0


def main(model: Path = MODEL) -> int:
    labels = json.loads(model.with_suffix(".json").read_text())["labels"]
    logs: list[str] = []
    print(f"infer demo: serving {model.name} through the local Lambda emulator\n")
    with Emulator(model_function(model), concurrency=4, log=logs.append) as emu:
        print(f"function URL: {emu.url}")
        status, body, cold_ms = post(emu.url, "/v1/models/iris:predict", {"instances": ROWS})
        if status != 200:
            print(f"prediction failed: HTTP {status} {body}\n" + "\n".join(logs[-20:]), file=sys.stderr)
            return 1
        print(f"POST /v1/models/iris:predict  {{\"instances\": {json.dumps(ROWS)}}}")
        for row, prediction in zip(ROWS, body["predictions"]):
            p = max(prediction["probabilities"])
            print(f"  {row} -> {labels[prediction['label']]:<10} (p={p:.3f})")
        status, body, _ = post(emu.url, "/predict", {"inputs": ROWS[:1]})
        print(f"POST /predict  {{\"inputs\": [{ROWS[0]}]}}  -> labels {body['outputs']['label']}")
        status, body, _ = post(emu.url, "/predict", {"instances": [[5.1, 3.5, 1.4]]})
        print(f"POST /predict with 3 features -> HTTP {status}: {body['error']}\n")

        warm = summary(time_requests(emu.url, "/v1/models/iris:predict", {"instances": ROWS[:1]}, count=300))
        first = emu.reports[0]

    cold_client, cold_init = [cold_ms], [first["init_ms"]]
    for _ in range(2):  # two more cold starts, each in a fresh environment
        with Emulator(model_function(model), log=logs.append) as emu:
            _, _, ms = post(emu.url, "/v1/models/iris:predict", {"instances": ROWS[:1]})
            cold_client.append(ms)
            cold_init.append(emu.reports[0]["init_ms"])

    print("cold and warm starts (this machine, medians)")
    print(f"  cold start, client-observed first response: {statistics.median(cold_client):7.1f} ms  (3 fresh environments)")
    print(f"    of which Init Duration (process start to ready): {statistics.median(cold_init):7.1f} ms")
    print(f"  warm request p50 / p90 / p99: {warm['p50_ms']:.2f} / {warm['p90_ms']:.2f} / {warm['p99_ms']:.2f} ms"
          f"  ({warm['n']} requests, keep-alive)")
    print(f"  max memory used by an environment: {first['max_memory_mb']} MB")
    print("\nnext: `.venv/bin/infer serve models/iris.onnx` (curl lines in README.md), "
          "`.venv/bin/infer bench models/iris.onnx` (cold starts against baselines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
