"""`infer bench --function NAME`: cold and warm starts of a deployed function, through the Lambda API.

For each memory size:
1. Force a cold start: update an environment variable (and the memory size) and wait until the
   update is done, so that the next invoke needs a new execution environment.
2. Invoke with LogType=Tail, time the round trip, and read the REPORT line of the log tail (Init
   Duration, or Restore Duration under SnapStart; Duration; Billed Duration; Max Memory Used). A sample
   without an Init or Restore Duration was not cold: it is counted and left out.
3. Then warm invokes, and warm round trips through the function URL (kept apart: that is what
   callers see), and the cost per million requests at that memory size.
The function's original memory size and environment are put back at the end.
The same code runs against AWS and against `infer serve`'s Lambda API (`--endpoint-url`).
"""

import json
import re
import time
import uuid
from base64 import b64decode
from typing import Any

from . import BenchError
from .prices import DEFAULT_REGION, PRICES
from .report import median

GB_SECOND_USD = PRICES[DEFAULT_REGION].per_gb_second  # us-east-1 list prices (prices.py: source and date)
REQUEST_USD = PRICES[DEFAULT_REGION].per_request
NONCE = "INFER_BENCH_COLD_START"

_FIELDS = {
    "init_ms": r"Init Duration: ([\d.]+) ms",
    "restore_ms": r"Restore Duration: ([\d.]+) ms",
    "duration_ms": r"(?<![a-zA-Z] )Duration: ([\d.]+) ms",
    "billed_ms": r"Billed Duration: ([\d.]+) ms",
    "memory_mb": r"Memory Size: (\d+) MB",
    "max_memory_mb": r"Max Memory Used: (\d+) MB",
}


def parse_report(log_tail: str) -> dict:
    """The numbers of the last REPORT line of a log tail (absent fields are None)."""
    lines = [line for line in log_tail.splitlines() if line.startswith("REPORT ")]
    if not lines:
        return {}
    line = lines[-1]
    report = {}
    for key, pattern in _FIELDS.items():
        match = re.search(pattern, line)
        report[key] = float(match.group(1)) if match else None
    return report


def cost_per_million(billed_ms: float, memory_mb: int, architecture: str = "x86_64") -> float:
    gb_seconds = billed_ms / 1000.0 * memory_mb / 1024.0
    return 1_000_000 * (gb_seconds * GB_SECOND_USD.get(architecture, GB_SECOND_USD["x86_64"]) + REQUEST_USD)


def _invoke(client, name: str, payload: bytes) -> tuple[float, dict, bytes]:
    start = time.perf_counter()
    response = client.invoke(FunctionName=name, LogType="Tail", Payload=payload)
    body = response["Payload"].read()
    elapsed_ms = (time.perf_counter() - start) * 1000.0
    if response.get("FunctionError"):
        raise RuntimeError(f"the function failed: {body[:300].decode('utf-8', 'replace')}")
    return elapsed_ms, parse_report(b64decode(response.get("LogResult", "")).decode("utf-8", "replace")), body


def run(client, name: str, payload: dict, cold: int, warm: int, memories: list[int] | None = None,
        url_caller=None, progress=None) -> dict:
    """Measure a deployed function; `url_caller(body) -> ms` times one round trip through its function URL."""
    original = client.get_function_configuration(FunctionName=name)
    variables = dict((original.get("Environment") or {}).get("Variables") or {})
    architecture = (original.get("Architectures") or ["x86_64"])[0]
    body = json.dumps(payload).encode()
    waiter = client.get_waiter("function_updated_v2")
    results = []
    try:
        for memory in memories or [original["MemorySize"]]:
            samples: dict[str, Any] = {"cold_ms": [], "init_ms": [], "restore_ms": [], "duration_ms": [], "billed_ms": [],
                       "max_memory_mb": [], "not_cold": 0, "warm_ms": [], "warm_duration_ms": [],
                       "warm_billed_ms": [], "url_ms": []}
            for index in range(cold):
                if progress:
                    progress(f"{name} at {memory} MB: cold sample {index + 1}/{cold}")
                client.update_function_configuration(
                    FunctionName=name, MemorySize=memory,
                    Environment={"Variables": {**variables, NONCE: uuid.uuid4().hex}})
                waiter.wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
                elapsed_ms, report, _ = _invoke(client, name, body)
                if report.get("init_ms") is None and report.get("restore_ms") is None:
                    samples["not_cold"] += 1
                    continue
                samples["cold_ms"].append(elapsed_ms)
                for key in ("init_ms", "restore_ms", "duration_ms", "billed_ms", "max_memory_mb"):
                    if report.get(key) is not None:
                        samples[key].append(report[key])
            for index in range(warm):
                if progress and index % 10 == 0:
                    progress(f"{name} at {memory} MB: warm {index + 1}/{warm}")
                elapsed_ms, report, _ = _invoke(client, name, body)
                samples["warm_ms"].append(elapsed_ms)
                samples["warm_duration_ms"].append(report.get("duration_ms"))
                samples["warm_billed_ms"].append(report.get("billed_ms"))
            if url_caller is not None:
                samples["url_ms"] = [url_caller(body) for _ in range(min(warm, 20))]
            billed = [b for b in samples["warm_billed_ms"] if b is not None]
            results.append({
                "name": f"{name} @ {memory} MB", "kind": "infer", "default": False, "model": name,
                "memory_mb": memory, "architecture": architecture, **samples,
                "cost_per_million_usd": cost_per_million(median(billed) or 0.0, memory, architecture) if billed else None,
            })
    finally:
        client.update_function_configuration(FunctionName=name, MemorySize=original["MemorySize"],
                                             Environment={"Variables": variables})
    return {"function": name, "results": results}


def measure(name: str, payload, cold: int, warm: int, memories: list[int], endpoint_url: str | None = None,
            region: str | None = None, profile: str | None = None, progress=None) -> dict:
    """`infer bench --function`: a boto3 Lambda client (AWS, or `infer serve`'s Lambda API at `endpoint_url`),
    and a timer of round trips through the function URL when there is one (signed when it uses AWS_IAM)."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise BenchError("--function needs boto3: pip install 'infer[deploy]'", 2) from None
    from infer.client import ClientError as CallError
    from infer.client import post_json, sigv4_signer

    try:
        session = boto3.Session(profile_name=profile, region_name=region or None)
        client = session.client("lambda", endpoint_url=endpoint_url, region_name=session.region_name or "us-east-1")
        try:
            url = client.get_function_url_config(FunctionName=name)
        except ClientError:
            url = None  # no function URL: invokes only
        url_caller = None
        if url:
            signer = sigv4_signer(client.meta.region_name, profile) if url.get("AuthType") == "AWS_IAM" else None
            target = url["FunctionUrl"].rstrip("/") + "/predict"

            def url_caller(body: bytes) -> float:
                start = time.perf_counter()
                post_json(target, json.loads(body), 60.0, signer)
                return (time.perf_counter() - start) * 1000.0

        return run(client, name, payload, cold, warm, memories, url_caller, progress)
    except (BotoCoreError, ClientError, RuntimeError, CallError) as exc:
        raise BenchError(f"{name}: {exc}") from None
