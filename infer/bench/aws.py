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

With `--qualifier` naming a published version or an alias (SnapStart runs only on those), the target's
configuration cannot change, and there is no API that starts a new environment of an existing version: Lambda
restores one for a version's first invoke and when its invokes scale up. So each cold sample runs on a clone:
$LATEST is given the target version's memory size and variables plus a variable that changes every time, a
version is published from it (refused when $LATEST's code differs from the target's: a clone would run other
code) and invoked once: a new version's first invoke is a restore under SnapStart (its REPORT line gives
Restore Duration and Billed Restore Duration) and an init otherwise. A new snapshot's first restores can be
slower than those of a version that has served for a while (Lambda caches snapshots as invokes come in): the
clone gives the upper end. The warm invokes then go to the qualifier itself, the alias or version callers
use. $LATEST's configuration is put back and the clones deleted at the end, also after an error.
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
    "restore_ms": r"(?<!Billed )Restore Duration: ([\d.]+) ms",
    "duration_ms": r"(?<![a-zA-Z] )Duration: ([\d.]+) ms",
    "billed_ms": r"Billed Duration: ([\d.]+) ms",
    "memory_mb": r"Memory Size: (\d+) MB",
    "max_memory_mb": r"Max Memory Used: (\d+) MB",
}
BILLED_RESTORE = r"Billed Restore Duration: ([\d.]+) ms"  # SnapStart's restores only (part of Billed Duration)

WAIT = {"Delay": 1, "MaxAttempts": 300}  # the Lambda API waiters: every second, at most five minutes


def parse_report(log_tail: str) -> dict:
    """The numbers of the last REPORT line of a log tail (absent fields are None; `billed_restore_ms` only in
    a SnapStart restore's line: `Restore Duration: X ms<TAB>Billed Restore Duration: Y ms`)."""
    lines = [line for line in log_tail.splitlines() if line.startswith("REPORT ")]
    if not lines:
        return {}
    line = lines[-1]
    report = {}
    for key, pattern in _FIELDS.items():
        match = re.search(pattern, line)
        report[key] = float(match.group(1)) if match else None
    if match := re.search(BILLED_RESTORE, line):
        report["billed_restore_ms"] = float(match.group(1))
    return report


def cost_per_million(billed_ms: float, memory_mb: int, architecture: str = "x86_64") -> float:
    gb_seconds = billed_ms / 1000.0 * memory_mb / 1024.0
    return 1_000_000 * (gb_seconds * GB_SECOND_USD.get(architecture, GB_SECOND_USD["x86_64"]) + REQUEST_USD)


def _invoke(client, name: str, payload: bytes, qualifier: str | None = None) -> tuple[float, dict, bytes]:
    start = time.perf_counter()
    response = client.invoke(FunctionName=name, LogType="Tail", Payload=payload, **_qualified(qualifier))
    body = response["Payload"].read()
    elapsed_ms = (time.perf_counter() - start) * 1000.0
    if response.get("FunctionError"):
        raise RuntimeError(f"the function failed: {body[:300].decode('utf-8', 'replace')}")
    report = parse_report(b64decode(response.get("LogResult", "")).decode("utf-8", "replace"))
    report["executed_version"] = response.get("ExecutedVersion")
    return elapsed_ms, report, body


def _qualified(qualifier: str | None) -> dict:
    return {"Qualifier": qualifier} if qualifier else {}


COLD_KEYS = ("init_ms", "restore_ms", "billed_restore_ms", "duration_ms", "billed_ms", "max_memory_mb")


def _samples() -> dict[str, Any]:
    return {"cold_ms": [], **{key: [] for key in COLD_KEYS}, "not_cold": 0, "warm_ms": [], "warm_duration_ms": [],
            "warm_billed_ms": [], "url_ms": []}


def _add_cold(samples: dict, elapsed_ms: float, report: dict) -> None:
    """One cold sample's numbers; a sample without Init or Restore Duration was not cold: counted, left out."""
    if report.get("init_ms") is None and report.get("restore_ms") is None:
        samples["not_cold"] += 1
        return
    samples["cold_ms"].append(elapsed_ms)
    for key in COLD_KEYS:
        if report.get(key) is not None:
            samples[key].append(report[key])


def _add_warm(client, name: str, body: bytes, samples: dict, warm: int, qualifier: str | None, label: str,
              progress=None) -> None:
    for index in range(warm):
        if progress and index % 10 == 0:
            progress(f"{label}: warm {index + 1}/{warm}")
        elapsed_ms, report, _ = _invoke(client, name, body, qualifier)
        samples["warm_ms"].append(elapsed_ms)
        samples["warm_duration_ms"].append(report.get("duration_ms"))
        samples["warm_billed_ms"].append(report.get("billed_ms"))
        if qualifier and report.get("executed_version") not in samples.setdefault("warm_versions", []):
            samples["warm_versions"].append(report.get("executed_version"))


def _result(label: str, name: str, memory: int, architecture: str, samples: dict, **extra) -> dict:
    billed = [b for b in samples["warm_billed_ms"] if b is not None]
    return {"name": label, "kind": "infer", "default": False, "model": name, "memory_mb": memory,
            "architecture": architecture, **extra, **samples,
            "cost_per_million_usd": cost_per_million(median(billed) or 0.0, memory, architecture) if billed else None}


def run_qualified(client, name: str, qualifier: str, payload: dict, cold: int, warm: int, url_caller=None,
                  progress=None) -> dict:
    """Measure a published version or alias: cold samples on clones of it, warm ones on it (module docstring)."""
    from .tune_aws import restore

    target = client.get_function_configuration(FunctionName=name, Qualifier=qualifier)
    latest = client.get_function_configuration(FunctionName=name)
    version = str(target.get("Version") or qualifier)
    if target.get("CodeSha256") and latest.get("CodeSha256") and target["CodeSha256"] != latest["CodeSha256"]:
        raise BenchError(f"{name}:{qualifier} (version {version}) runs other code than $LATEST, from which the cold "
                         f"samples' clones would be published; deploy that code to $LATEST first", 2)
    variables = dict((latest.get("Environment") or {}).get("Variables") or {})
    target_variables = dict((target.get("Environment") or {}).get("Variables") or {})
    memory = target["MemorySize"]
    architecture = (target.get("Architectures") or ["x86_64"])[0]
    snap_start = (target.get("SnapStart") or {}).get("OptimizationStatus") == "On"
    body = json.dumps(payload).encode()
    label = f"{name}:{qualifier}"
    samples, clones = _samples(), []
    try:
        for index in range(cold):
            if progress:
                progress(f"{label} (version {version}, {memory} MB): cold sample {index + 1}/{cold}, on a clone")
            reconfigure(client, name, memory, target_variables)
            clone = client.publish_version(FunctionName=name, Description=f"infer bench: a clone of {label}")["Version"]
            clones.append(clone)
            client.get_waiter("published_version_active").wait(FunctionName=name, Qualifier=clone, WaiterConfig=WAIT)
            elapsed_ms, report, _ = _invoke(client, name, body, clone)
            _add_cold(samples, elapsed_ms, report)
    finally:
        restore(client, name, latest["MemorySize"], variables, clones, progress)
    _add_warm(client, name, body, samples, warm, qualifier, label, progress)
    if url_caller is not None:
        samples["url_ms"] = [url_caller(body) for _ in range(min(warm, 20))]
    return {"function": name, "qualifier": qualifier, "results": [
        _result(f"{label} @ {memory} MB", name, memory, architecture, samples, qualifier=qualifier, version=version,
                snap_start=snap_start, clones=clones)]}


def reconfigure(client, name: str, memory: int, variables: dict) -> None:
    """$LATEST with this memory and these variables plus a changing one, so that its next invoke is cold."""
    client.update_function_configuration(FunctionName=name, MemorySize=memory,
                                         Environment={"Variables": {**variables, NONCE: uuid.uuid4().hex}})
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=WAIT)


def run(client, name: str, payload: dict, cold: int, warm: int, memories: list[int] | None = None,
        url_caller=None, progress=None) -> dict:
    """Measure a deployed function; `url_caller(body) -> ms` times one round trip through its function URL."""
    original = client.get_function_configuration(FunctionName=name)
    variables = dict((original.get("Environment") or {}).get("Variables") or {})
    architecture = (original.get("Architectures") or ["x86_64"])[0]
    body = json.dumps(payload).encode()
    results = []
    try:
        for memory in memories or [original["MemorySize"]]:
            samples = _samples()
            for index in range(cold):
                if progress:
                    progress(f"{name} at {memory} MB: cold sample {index + 1}/{cold}")
                reconfigure(client, name, memory, variables)
                elapsed_ms, report, _ = _invoke(client, name, body)
                _add_cold(samples, elapsed_ms, report)
            _add_warm(client, name, body, samples, warm, None, f"{name} at {memory} MB", progress)
            if url_caller is not None:
                samples["url_ms"] = [url_caller(body) for _ in range(min(warm, 20))]
            results.append(_result(f"{name} @ {memory} MB", name, memory, architecture, samples))
    finally:
        client.update_function_configuration(FunctionName=name, MemorySize=original["MemorySize"],
                                             Environment={"Variables": variables})
    return {"function": name, "results": results}


def measure(name: str, payload, cold: int, warm: int, memories: list[int], endpoint_url: str | None = None,
            region: str | None = None, profile: str | None = None, progress=None, qualifier: str | None = None) -> dict:
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
        try:  # with a qualifier, the URL of that alias (callers' URL), never $LATEST's
            url = client.get_function_url_config(FunctionName=name, **_qualified(qualifier))
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

        if qualifier and qualifier != "$LATEST":
            return run_qualified(client, name, qualifier, payload, cold, warm, url_caller, progress)
        return run(client, name, payload, cold, warm, memories, url_caller, progress)
    except (BotoCoreError, ClientError, RuntimeError, CallError) as exc:
        raise BenchError(f"{name}: {exc}") from None


def bench_qualified(name: str, qualifier: str, payload, cold: int, warm: int, endpoint_url: str | None,
                    region: str | None, profile: str | None, json_out, echo=print) -> None:
    """`infer bench --function NAME --qualifier Q`: measure, print the table, write the JSON if asked."""
    import sys

    from . import report

    measured = measure(name, payload, cold, warm, [], endpoint_url, region, profile, report.progress_line, qualifier)
    echo(("\n" if sys.stderr.isatty() else "") + report.function_table(measured))
    if json_out:
        result = measured["results"][0]
        settings = report.config(cold, warm, result["memory_mb"]) | {
            "function": name, "qualifier": qualifier, "version": result["version"], "endpoint_url": endpoint_url,
            "method": "cold samples on clones of the qualified version ($LATEST given its memory size and variables "
                      "plus a changing one, published, invoked once: a new version's first invoke is a restore under "
                      "SnapStart); Init/Restore Duration from the REPORT line of LogType=Tail; warm invokes on the "
                      "qualifier itself; client round trips timed here"}
        report.write_json(json_out, measured["results"], settings)
        echo(f"raw samples: {json_out}")
