"""The two-phase session of an .ort model, both sides: warm speed once the prepacked session is swapped in,
and a cold start the swap does not touch.

    .venv/bin/python benchmarks/two_phase.py [--size 100] [--rounds 10] [--cold 10] [--threads 1] [--json FILE]

On the sweep's MLP (benchmarks/cold_start_sweep.py `build`: 4 x MatMul + Relu, float32, ~100 MB), converted
to .ort as `infer package` does. Each part runs in its own process:
1. warm: the runtime's Model.run, in one process, rounds interleaved, batch 1 and 8: the eager .onnx
   (prepacked at load), the .ort memory-mapped without the swap (INFER_PREPACK=off), and the .ort after the
   swap (INFER_PREPACK=background, the builder joined). Ratios of p50s to the eager .onnx.
2. lambda: the swap as Lambda would run it: one process pinned to one CPU (1 vCPU: up to 1769 MB),
   frozen with SIGSTOP between requests (Lambda freezes an environment between invokes, so a background
   thread runs only while a request is in flight). Requests until the swap, and request latency before,
   during and after the build, for the builder at nice 19 (what the runtime does) and at nice 0; the RSS
   before the build and at its peak.
3. cold: `infer bench`'s cold start through the emulator (page cache evicted, a fresh environment per
   sample, CPU share of 2048 MB), prefetch .ort with INFER_PREPACK=off and =background, samples alternated.
Timings on a shared machine: compare only the ratios within one run.
"""

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
sys.path.insert(0, str(ROOT))


def width_of(size_mb: float) -> int:
    return int(math.sqrt(size_mb * 1_000_000 / (4 * 4)))  # as cold_start_sweep.build: 4 layers of D x D float32


def models(size_mb: float) -> tuple[Path, Path]:
    """The sweep's .onnx (weights in a sidecar) and its .ort, as `infer package` converts it."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from cold_start_sweep import build

    from infer.convert.optimize import to_ort

    OUT.mkdir(parents=True, exist_ok=True)
    onnx_path = build(size_mb, OUT)
    ort_path = onnx_path.with_suffix(".ort")
    if not ort_path.exists():
        to_ort(onnx_path, ort_path)
    return onnx_path, ort_path


def p50(values) -> float:
    return statistics.median(values)


def warm_part(args) -> dict:
    onnx_path, ort_path = models(args.size)
    os.environ.update({"INFER_THREADS": str(args.threads), "INFER_METRICS": "off", "INFER_VERIFY_SHA256": "off"})
    import numpy as np

    from infer.runtime import model as runtime_model

    def load(path: Path, prepack: str):
        os.environ["INFER_PREPACK"] = prepack
        return runtime_model.ModelHolder(str(path)).get()

    variants = {"eager .onnx": load(onnx_path, "off"), ".ort, no swap": load(ort_path, "off"),
                ".ort after swap": load(ort_path, "background")}
    swapped = variants[".ort after swap"]
    width = width_of(args.size)
    for _ in range(2):  # the builder starts as the second inference returns
        swapped.run({"x": np.zeros((1, width), np.float32)})
    swapped.prepack_thread.join()
    assert swapped.prepacked, "the swap happened"
    out = {}
    for batch in (1, 8):
        x = {"x": np.random.default_rng(batch).standard_normal((batch, width)).astype(np.float32)}
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, model in variants.items():
                for _ in range(30):
                    start = time.perf_counter()
                    model.run(x)
                    times[name].append((time.perf_counter() - start) * 1000.0)
        base = p50(times["eager .onnx"])
        out[f"batch {batch}"] = {name: {"p50_ms": round(p50(t), 3), "x_eager": round(p50(t) / base, 3)}
                                 for name, t in times.items()}
    return out


def frozen_server(args) -> None:
    """The child of the lambda part: one request per line on stdin, one JSON answer per line on stdout."""
    onnx_path, ort_path = models(args.size)
    if args.cpu == "one-core":
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    os.environ.update({"INFER_THREADS": "1", "INFER_METRICS": "off", "INFER_VERIFY_SHA256": "off",
                       "INFER_PREPACK": "background"})
    import numpy as np

    from infer.runtime import model as runtime_model
    from infer.runtime import two_phase

    two_phase.LOW_PRIORITY_NICE = args.nice
    model = runtime_model.ModelHolder(str(ort_path)).get()
    x = {"x": np.random.default_rng(1).standard_normal((args.batch, width_of(args.size))).astype(np.float32)}
    for _ in sys.stdin:
        building = model.prepack_thread is not None and not model.prepacked
        start = time.perf_counter()
        model.run(x)
        ms = (time.perf_counter() - start) * 1000.0
        print(json.dumps({"ms": ms, "building": building, "prepacked": model.prepacked, **_memory_mb()}), flush=True)


def _memory_mb() -> dict:
    """RSS split into anonymous memory and mapped files (the model's pages, shared by both sessions), and its peak."""
    found = {}
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                found[key] = round(int(line.split()[1]) / 1024, 1)
    return found


def lambda_part(args) -> dict:
    """Per CPU model: one core (affinity), or Lambda's at 2048 MB (1.16 vCPU of quota over the machine's cores,
    a cgroup as the emulator makes, where this process may write one)."""
    from infer.local import cgroups

    hierarchy, why_not = cgroups.detect()
    out = {}
    cpu_models = ["one-core"] + (["2048 MB quota"] if hierarchy else [])
    if not hierarchy:  # detect() returns it opened
        out["2048 MB quota"] = f"not measured: {why_not}"
    try:
        for cpu in cpu_models:
            for nice in (19, 0):
                out[f"{cpu}, nice {nice}"] = _frozen_run(args, cpu, nice, hierarchy)
    finally:
        if hierarchy:
            hierarchy.close()
    return out


def _frozen_run(args, cpu: str, nice: int, hierarchy) -> dict:
    child = subprocess.Popen([sys.executable, __file__, "frozen-server", "--size", str(args.size), "--nice",
                              str(nice), "--batch", "1", "--cpu", cpu], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    if cpu != "one-core":
        hierarchy.group(2048).add(child.pid)
    answers, in_flight_ms = [], 0.0
    try:
        for _ in range(args.max_requests):
            start = time.perf_counter()
            child.stdin.write("go\n")
            child.stdin.flush()
            answer = json.loads(child.stdout.readline())
            in_flight_ms += (time.perf_counter() - start) * 1000.0
            answers.append(answer)
            if answer["prepacked"]:
                break
            os.kill(child.pid, signal.SIGSTOP)  # frozen between invokes, as on Lambda
            time.sleep(0.002)
            os.kill(child.pid, signal.SIGCONT)
        for _ in range(30):  # after the swap (or without one): no freeze needed, nothing runs in the background
            child.stdin.write("go\n")
            child.stdin.flush()
            answers.append(json.loads(child.stdout.readline()))
    finally:
        child.kill()
        child.wait()
    swap_at = next((i for i, a in enumerate(answers) if a["prepacked"]), None)
    during = [a["ms"] for a in answers[1:] if a["building"] and not a["prepacked"]]
    after = [a["ms"] for a in answers if a["prepacked"]]
    return {
        "requests_until_swap": swap_at, "in_flight_ms_until_swap": round(in_flight_ms, 1) if swap_at else None,
        "p50_ms_during_build": round(p50(during), 3) if during else None,
        "p50_ms_after_swap": round(p50(after), 3) if after else None,
        "max_ms_during_build": round(max(during), 3) if during else None,
        "memory_mb_after_first_request": {k: answers[0][k] for k in ("VmRSS", "RssAnon", "RssFile")},
        "memory_mb_after_swap": {k: answers[-1][k] for k in ("VmRSS", "RssAnon", "RssFile", "VmHWM")},
    }


def cold_part(args) -> dict:
    """Through the emulator; this process imports no numpy or onnxruntime (their pages must be evictable)."""
    from infer.bench import cold
    from infer.runtime import contract

    ort_path = OUT / f"mlp_{args.size:g}mb.ort"
    body = json.dumps({"instances": [[0.0] * width_of(args.size)]}).encode()

    class PrepackVariant(cold.Variant):
        prepack = "off"

        def function(self, task_roots, memory_mb):
            config = super().function(task_roots, memory_mb)
            config.environment[contract.PREPACK] = self.prepack
            return config

    variants = {}
    for prepack in ("off", "background"):
        variant = PrepackVariant(f"prefetch .ort, INFER_PREPACK={prepack}", "infer", ort_path, strategy="prefetch")
        variant.prepack = prepack
        variants[prepack] = variant
    for index in range(args.cold):
        for prepack in (("off", "background") if index % 2 == 0 else ("background", "off")):
            cold.cold_sample(variants[prepack], body, {}, 2048, warm=60 if index == args.cold - 1 else 0)
    result = {}
    for prepack, variant in variants.items():
        s = variant.samples
        result[prepack] = {"cold_ms": round(p50(s["cold_ms"]), 1), "init_ms": round(p50(s["init"]), 1),
                           "first_inference_ms": round(p50(s["first_inference"]), 2),
                           "warm_p50_ms_60_requests_after_cold_start_through_emulator": round(p50(s["warm_ms"]), 3),
                           "samples": {key: [round(v, 2) for v in s[key]] for key in ("cold_ms", "init", "first_inference")}}
    result["cold x (background / off)"] = round(result["background"]["cold_ms"] / result["off"]["cold_ms"], 3)
    return result


def child_json(part: str, args) -> dict:
    command = [sys.executable, __file__, part, "--size", str(args.size), "--rounds", str(args.rounds), "--cold",
               str(args.cold), "--threads", str(args.threads), "--max-requests", str(args.max_requests)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{part} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("part", nargs="?", default="all", choices=["all", "warm", "lambda", "cold", "frozen-server"])
    parser.add_argument("--size", type=float, default=100.0, help="model size in MB (the sweep's MLP)")
    parser.add_argument("--rounds", type=int, default=10, help="warm rounds, each 30 runs per variant")
    parser.add_argument("--cold", type=int, default=10, help="cold samples per variant")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads for the warm part (1 up to 1769 MB)")
    parser.add_argument("--max-requests", type=int, default=3000, help="lambda part: give up on a swap after these")
    parser.add_argument("--nice", type=int, default=19)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--cpu", default="one-core")
    parser.add_argument("--json", type=Path, default=OUT / "two_phase.json")
    args = parser.parse_args()
    parts = {"warm": warm_part, "lambda": lambda_part, "cold": cold_part}
    if args.part == "frozen-server":
        frozen_server(args)
    elif args.part in parts:
        print(json.dumps(parts[args.part](args)))
    else:
        subprocess.run([sys.executable, __file__, "warm", "--size", str(args.size), "--rounds", "1"], check=True,
                       capture_output=True)  # builds and converts the model once, before anything is timed
        results = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "size_mb": args.size,
                   "threads": args.threads}
        for part in ("warm", "lambda", "cold"):
            results[part] = child_json(part, args)
            print(f"{part}: {json.dumps(results[part], indent=1)}", flush=True)
        args.json.write_text(json.dumps(results, indent=1))
        print(f"written: {args.json}")


if __name__ == "__main__":
    main()
