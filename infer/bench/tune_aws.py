"""`infer tune --function NAME`: the memory sweep on a deployed function, by AWS Lambda Power Tuning's method.

For each memory size and each cold sample:
1. Update the function's configuration (the memory size, and a variable that changes every time), wait
   until the update is done, publish a version, and wait until that version is active.
2. Invoke that version with LogType=Tail: a new version has no execution environment, so this is a cold
   start; its REPORT line gives Init Duration (a sample without one was not cold: counted, left out).
After the last cold sample, warm invokes of the same version: their REPORT lines give Duration and Billed
Duration (what Lambda bills). The original memory size and variables are restored and the published
versions deleted at the end, also after an error or Ctrl-C (a second Ctrl-C during the restore is held
back until it is done). The same code runs against AWS and `infer serve --lambda-api-port` (--endpoint-url),
which says whether it enforced the CPU share (the x-infer-cpu-share header; AWS always does).
"""

from __future__ import annotations

import json
import signal
import statistics
import threading
import time
import uuid
from base64 import b64decode
from contextlib import contextmanager
from pathlib import Path

from infer.runtime import contract

from . import BenchError
from .aws import WAIT, parse_report
from .report import median
from .run import parse_memories
from .tune import Pricing, document, write_outputs

NONCE = "INFER_TUNE_COLD_START"


def infer_problem(configuration: dict) -> str | None:
    """Why a function is not one infer deployed (its handler, or for an image no INFER_* variable), or None."""
    variables = (configuration.get("Environment") or {}).get("Variables") or {}
    command = ((configuration.get("ImageConfigResponse") or {}).get("ImageConfig") or {}).get("Command") or []
    if configuration.get("Handler") == contract.HANDLER or contract.HANDLER in command \
            or any(name.startswith(contract.HOST_SETTABLE_PREFIX) for name in variables):
        return None
    return (f"function {configuration.get('FunctionName')} is not infer's (handler {configuration.get('Handler')!r}, "
            f"no {contract.HOST_SETTABLE_PREFIX}* variables): infer tune --function tunes functions made by infer deploy")


def _invoke(client, name: str, version: str, body: bytes) -> tuple[float, dict]:
    start = time.perf_counter()
    response = client.invoke(FunctionName=name, Qualifier=version, LogType="Tail", Payload=body)
    answer = response["Payload"].read()
    elapsed_ms = (time.perf_counter() - start) * 1000.0
    if response.get("FunctionError"):
        raise BenchError(f"{name}:{version} failed on the payload: {answer[:300].decode('utf-8', 'replace')}", 2)
    return elapsed_ms, parse_report(b64decode(response.get("LogResult", "")).decode("utf-8", "replace"))


@contextmanager
def _ctrl_c_held():
    """Hold Ctrl-C back while the function's configuration is restored (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def sweep(client, name: str, memories: list[int], body: bytes, cold: int, warm: int, progress=None) -> tuple[list, bool]:
    """Measure each size; restore the configuration and delete the versions made, whatever happens."""
    original = client.get_function_configuration(FunctionName=name)
    if problem := infer_problem(original):
        raise BenchError(problem, 2)
    enforced = original["ResponseMetadata"]["HTTPHeaders"].get("x-infer-cpu-share", "enforced") == "enforced"
    variables = dict((original.get("Environment") or {}).get("Variables") or {})
    updated = client.get_waiter("function_updated_v2")
    active = client.get_waiter("published_version_active")
    published: list[str] = []
    results = []
    try:
        for memory in memories:
            s: dict[str, list] = {"cold_ms": [], "init_ms": [], "warm_ms": [], "duration_ms": [], "billed_ms": []}
            not_cold, version = 0, ""
            for index in range(cold):
                if progress:
                    progress(f"{name} at {memory} MB: cold sample {index + 1}/{cold}")
                client.update_function_configuration(FunctionName=name, MemorySize=memory,
                                                     Environment={"Variables": {**variables, NONCE: uuid.uuid4().hex}})
                updated.wait(FunctionName=name, WaiterConfig=WAIT)
                version = client.publish_version(FunctionName=name)["Version"]
                published.append(version)
                active.wait(FunctionName=name, Qualifier=version, WaiterConfig=WAIT)
                elapsed_ms, report = _invoke(client, name, version, body)
                if report.get("init_ms") is None and report.get("restore_ms") is None:
                    not_cold += 1
                    continue
                s["cold_ms"].append(elapsed_ms)
                s["init_ms"].append(report.get("init_ms") or report.get("restore_ms"))
                enforced = enforced and client.get_function_configuration(FunctionName=name, Qualifier=version)[
                    "ResponseMetadata"]["HTTPHeaders"].get("x-infer-cpu-share", "enforced") == "enforced"
            for index in range(warm):
                if progress and index % 10 == 0:
                    progress(f"{name} at {memory} MB: warm {index + 1}/{warm}")
                elapsed_ms, report = _invoke(client, name, version, body)
                s["warm_ms"].append(elapsed_ms)
                if report.get("duration_ms") is not None and report.get("billed_ms") is not None:
                    s["duration_ms"].append(report["duration_ms"])
                    s["billed_ms"].append(report["billed_ms"])
            results.append((memory, s, not_cold))
    finally:
        with _ctrl_c_held():
            restore(client, name, original["MemorySize"], variables, published, progress)
    return results, enforced


def restore(client, name: str, memory: int, variables: dict, published: list[str], progress=None) -> None:
    """Put the original memory size and variables back, then delete the versions the sweep published."""
    from botocore.exceptions import BotoCoreError, ClientError, WaiterError

    try:
        client.update_function_configuration(FunctionName=name, MemorySize=memory, Environment={"Variables": variables})
        client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=WAIT)
    except (BotoCoreError, ClientError, WaiterError) as exc:
        raise BenchError(f"{name}: could not restore its configuration (MemorySize {memory}, variables "
                         f"{sorted(variables)}); set it back by hand: {exc}") from None
    for version in published:
        try:
            client.delete_function(FunctionName=name, Qualifier=version)
        except (BotoCoreError, ClientError) as exc:  # an alias may point at it: the version stays, say so
            if progress:
                progress(f"{name}: version {version} published by the sweep was not deleted: {exc}")


def tune(name: str, memory: str, payload: Path | None, arch: str | None, region: str | None, cold: int, warm: int,
         json_out: Path | None, plot: Path | None, endpoint_url: str | None = None, profile: str | None = None,
         echo=print, progress=None) -> dict:
    """`infer tune --function NAME`: options checked first (exit 2), then the sweep, priced and written."""
    memories = sorted(set(parse_memories(memory)))
    if cold < 1 or warm < 1:
        raise BenchError("--cold and --warm must be at least 1", 2)
    if payload is None:
        raise BenchError("--function needs --payload FILE: the event to invoke the function with", 2)
    try:
        event = json.loads(payload.read_text())
    except (OSError, ValueError) as exc:
        raise BenchError(f"--payload {payload} is not a readable JSON file: {exc}", 2) from None
    if arch is not None or region is not None:
        Pricing.of(region or "us-east-1", arch or contract.DEFAULT_ARCH)  # refuse an unknown one before any call
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError, WaiterError
    except ImportError:
        raise BenchError("--function needs boto3: pip install 'infer[deploy]'", 2) from None
    session = boto3.Session(profile_name=profile, region_name=region or None)
    client = session.client("lambda", endpoint_url=endpoint_url, region_name=session.region_name or "us-east-1")
    try:
        configuration = client.get_function_configuration(FunctionName=name)
        pricing = Pricing.of(region or client.meta.region_name,
                             arch or (configuration.get("Architectures") or ["x86_64"])[0])
        measured, enforced = sweep(client, name, memories, json.dumps(event).encode(), cold, warm, progress)
    except client.exceptions.ResourceNotFoundException:
        raise BenchError(f"function {name} not found in {client.meta.region_name}", 2) from None
    except (BotoCoreError, ClientError, WaiterError) as exc:
        raise BenchError(f"{name}: {exc}") from None
    results = [row(memory, s, not_cold, pricing) for memory, s, not_cold in measured]
    doc = document(results, pricing, enforced, {"function": name, "endpoint_url": endpoint_url,
                                                "method": "Power Tuning's: update, publish a version, invoke it"})
    write_outputs(doc, json_out, plot, echo)
    return doc


def row(memory: int, s: dict, not_cold: int, pricing: Pricing) -> dict:
    from .prices import cost_per_million

    durations, billed = s["duration_ms"] or [0.0], s["billed_ms"] or [0.0]
    billed_mean = statistics.fmean(billed)
    return {"memory_mb": memory, "cold_ms": median(s["cold_ms"]), "cold_samples_ms": s["cold_ms"],
            "init_ms": median(s["init_ms"]), "not_cold": not_cold, "warm_p50_ms": median(durations),
            "warm_mean_ms": statistics.fmean(durations), "warm_client_p50_ms": median(s["warm_ms"]),
            "warm_requests": len(s["duration_ms"]), "billed_ms_mean": billed_mean, "vcpus": round(memory / contract.MB_PER_VCPU, 3),
            "cost_per_million_usd": cost_per_million(billed_mean, memory, pricing.per_gb_second,
                                                     pricing.per_million_requests)}
