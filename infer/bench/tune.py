"""`infer tune`: choose a function's memory size from measured latency and cost, as AWS Lambda Power Tuning
does, before anything is deployed.

For each memory size (the sizes interleaved sample by sample, so that a shared machine's drift hits all):
1. Evict the model and the runtime's packages from the page cache and start a fresh emulator whose
   execution environment gets the CPU share and memory limit that size buys (infer/local/cgroups.py):
   one request is a real cold start. Repeat for every cold sample.
2. After the last cold sample, warm requests on that same environment. Each request's Duration comes from
   the emulator's REPORT (the function's own time, as Lambda measures it) and is billed rounded up to the
   millisecond; the client's round trip is kept apart.
3. The cost per million requests from the region's and architecture's prices (prices.py), and three
   recommendations: the cheapest size, the fastest, and the cheapest within BALANCED_MARGIN of the fastest.
Where the emulator cannot enforce the CPU share, every figure is marked "CPU share not enforced".

This module imports only the standard library and infer's emulator, as `infer bench` does (cold.py).
"""

from __future__ import annotations

import http.client
import json
import math
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from infer.load_choice import recommend as load_choice
from infer.local.cgroups import vcpus
from infer.local.emulator import Emulator
from infer.local.function import model_function
from infer.runtime import contract

from . import BenchError
from .cold import RUNTIME_PACKAGES, evict, package_dir, prepare
from .prices import PriceError, cost_per_million, price
from .report import median
from .warm import time_requests

BALANCED_MARGIN = 0.10  # balanced: the cheapest size whose warm p50 is within 10% of the fastest's
NOT_ENFORCED = "CPU share not enforced"
V1_PATH, V2_PATH = "/v1/models/model:predict", "/v2/models/model/infer"


@dataclass(frozen=True)
class Pricing:
    arch: str
    region: str
    per_gb_second: float
    per_million_requests: float

    @classmethod
    def of(cls, region: str, arch: str) -> Pricing:
        try:
            return cls(arch, region, *price(region, arch))
        except PriceError as exc:
            raise BenchError(str(exc), 2) from None


def request_path(body) -> str:
    """Where a request body goes: Open Inference Protocol (inputs: [{name, ...}]) or KServe V1 (instances)."""
    if isinstance(body, dict) and isinstance(body.get("inputs"), list) and body["inputs"] \
            and all(isinstance(i, dict) and "name" in i for i in body["inputs"]):
        return V2_PATH
    if isinstance(body, dict) and ("instances" in body or "inputs" in body):
        return V1_PATH
    raise BenchError('the payload must be a KServe V1 request ({"instances": [...]}) or an Open Inference Protocol '
                     'request ({"inputs": [{"name": ..., "shape": ..., "datatype": ..., "data": ...}]})', 2)


def load_payload(path: Path) -> dict:
    """`--payload FILE`: read as `infer predict --input` reads it (.json, or .npy as instances)."""
    from infer.client import ClientError
    from infer.client import load_payload as read

    try:
        body = read(input_file=path)
    except ClientError as exc:
        raise BenchError(f"--payload: {exc}", 2) from None
    request_path(body)
    return body


def first_request(url: str, path: str, body: dict) -> float:
    """Milliseconds for one request; BenchError (exit 2) if the model refuses the payload."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
    try:
        start = time.perf_counter()
        conn.request("POST", path, body=json.dumps(body).encode(), headers={"content-type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        elapsed_ms = (time.perf_counter() - start) * 1000.0
    finally:
        conn.close()
    if 400 <= response.status < 500:
        try:
            why = json.loads(data).get("error", "")
        except (ValueError, AttributeError):
            why = data[:200].decode("utf-8", "replace")
        raise BenchError(f"the model refused the payload ({response.status}): {why}", 2)
    if response.status >= 300:
        raise BenchError(f"the function failed on the payload ({response.status}): {data[:200]!r}")
    return elapsed_ms


def measure(model: Path, memories: list[int], payload: dict | None = None, cold: int = 3, warm: int = 50,
            progress=None) -> dict:
    """Cold and warm samples per memory size, through the emulator; raw, before pricing."""
    if not model.is_file():
        raise BenchError(f"model file not found: {model}", 2)
    model = model.resolve()
    work = Path(tempfile.mkdtemp(prefix="infer-tune-"))
    try:
        try:
            info = prepare(model, work)
        except RuntimeError as exc:  # no request can be generated (several or non-numeric inputs)
            if payload is None:
                raise BenchError(f"{model}: {exc}; give --payload FILE", 2) from None
            sidecar = Path(contract.sidecar_path(str(model)))
            info = {"ort": None, "model_bytes": model.stat().st_size + (sidecar.stat().st_size if sidecar.exists() else 0)}
        body = payload if payload is not None else json.loads((work / "request.json").read_text())
        path = request_path(body)
        choice = load_choice(info["model_bytes"])  # what `infer package` would ship
        artifact = Path(info["ort"]) if choice.artifact == "ort" and info["ort"] else model
        files = [artifact, Path(contract.sidecar_path(str(artifact))), model, Path(contract.sidecar_path(str(model)))]
        samples = {m: {"cold_ms": [], "init_ms": [], "cold_billed_ms": [], "warm_ms": [], "duration_ms": [],
                       "enforced": True} for m in memories}
        for index in range(cold):
            for memory in memories:
                if progress:
                    progress(f"{model.name} at {memory} MB: cold sample {index + 1}/{cold}")
                _sample(artifact, choice.strategy, files, memory, body, path, samples[memory],
                        warm if index == cold - 1 else 0)
        return {"model": str(model), "model_bytes": info["model_bytes"], "payload_path": path,
                "default_payload": payload is None, "samples": samples}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _sample(artifact: Path, strategy: str, files: list[Path], memory: int, body: dict, path: str, into: dict,
            warm: int) -> None:
    evict(files + [package_dir(p) for p in RUNTIME_PACKAGES])
    function = model_function(artifact, name="model", memory_mb=memory,
                              environment={contract.LOAD_STRATEGY: strategy})
    lines: list[str] = []
    with Emulator(function, concurrency=1, log=lines.append) as emu:
        into["enforced"] = into["enforced"] and emu.pool.cpu_share_enforced
        into["cold_ms"].append(first_request(emu.url, path, body))
        report = emu.reports[0]
        into["init_ms"].append(report["init_ms"] or 0.0)
        into["cold_billed_ms"].append(math.ceil(report["duration_ms"] + (report["init_ms"] or 0.0)))
        if warm:
            into["warm_ms"] = time_requests(emu.url, path, body, count=warm)
            into["duration_ms"] = [r["duration_ms"] for r in emu.reports[1:] if r["outcome"] == "ok"]


def summarise(measured: dict, pricing: Pricing) -> dict:
    """The `--json` document: a row per size with its cost, and the three recommendations."""
    results = []
    for memory, s in measured["samples"].items():
        durations = s["duration_ms"] or [0.0]
        billed = [math.ceil(d) for d in durations]  # Lambda bills each request rounded up to the millisecond
        billed_mean = statistics.fmean(billed)
        results.append({
            "memory_mb": memory, "vcpus": round(vcpus(memory), 3), "cpu_share_enforced": s["enforced"],
            "cold_ms": median(s["cold_ms"]), "cold_samples_ms": s["cold_ms"], "init_ms": median(s["init_ms"]),
            "cold_billed_ms": median(s["cold_billed_ms"]),
            "warm_p50_ms": median(durations), "warm_mean_ms": statistics.fmean(durations),
            "warm_client_p50_ms": median(s["warm_ms"]), "warm_requests": len(s["duration_ms"]),
            "billed_ms_mean": billed_mean,
            "cost_per_million_usd": cost_per_million(billed_mean, memory, pricing.per_gb_second,
                                                     pricing.per_million_requests),
        })
    return document(results, pricing, all(r["cpu_share_enforced"] for r in results),
                    {"model": measured["model"], "payload": "generated from the model's signature"
                     if measured["default_payload"] else "--payload", "route": measured["payload_path"]})


def document(results: list[dict], pricing: Pricing, enforced: bool, extra: dict) -> dict:
    results = sorted(results, key=lambda r: r["memory_mb"])
    doc = {"cpu_share_enforced": enforced, "arch": pricing.arch, "region": pricing.region,
           "price_per_gb_second": pricing.per_gb_second, "price_per_million_requests": pricing.per_million_requests,
           "results": results, "recommendation": recommend(results), "balanced_margin": BALANCED_MARGIN, **extra}
    if not enforced:
        doc["note"] = NOT_ENFORCED
    return doc


def recommend(results: list[dict]) -> dict:
    """cheapest: the lowest cost; fastest: the lowest warm p50; balanced: the cheapest within the margin of it."""
    cheapest = min(results, key=lambda r: (r["cost_per_million_usd"], r["memory_mb"]))
    fastest = min(results, key=lambda r: (r["warm_p50_ms"], r["cost_per_million_usd"]))
    near = [r for r in results if r["warm_p50_ms"] <= fastest["warm_p50_ms"] * (1 + BALANCED_MARGIN)]
    balanced = min(near, key=lambda r: (r["cost_per_million_usd"], r["memory_mb"]))
    return {"cheapest": cheapest["memory_mb"], "fastest": fastest["memory_mb"], "balanced": balanced["memory_mb"]}


def write_outputs(doc: dict, json_out: Path | None, plot: Path | None, echo) -> None:
    from . import tune_report

    echo(tune_report.table(doc))
    if json_out:
        json_out.write_text(json.dumps(doc, indent=1))
        echo(f"results: {json_out}")
    if plot:
        tune_report.plot(plot, doc)
        echo(f"plot: {plot}")


def local(model: Path, memory: str, payload: Path | None, arch: str, region: str, cold: int, warm: int,
          json_out: Path | None, plot: Path | None, echo=print, progress=None) -> dict:
    """`infer tune MODEL`: options checked first (exit 2), then measured, priced, printed and written."""
    from .run import parse_memories

    memories = sorted(set(parse_memories(memory)))
    pricing = Pricing.of(region, arch)
    if cold < 1 or warm < 1:
        raise BenchError("--cold and --warm must be at least 1", 2)
    body = load_payload(payload) if payload is not None else None
    doc = summarise(measure(model, memories, body, cold, warm, progress), pricing)
    write_outputs(doc, json_out, plot, echo)
    record(model, doc, echo)
    return doc


def record(model: Path, doc: dict, echo) -> None:
    """Keep the recommendation for `infer deploy MODEL --memory tuned`."""
    import time

    from infer.deploy import state
    from infer.runtime.manifest import served_name

    name = served_name(model)
    state.save_tuning(name, {**doc, "model": str(model.resolve()),
                             "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    echo(f"recorded: infer deploy {model} --memory tuned (balanced: {doc['recommendation']['balanced']} MB; "
         "or tuned:cheapest, tuned:fastest)")
