"""One structured log line per request, in CloudWatch Embedded Metric Format (EMF).

The line is a JSON object on stdout: the request's id, path, status and timings, plus an `_aws` block
that makes CloudWatch extract the metrics ColdStart, ModelLoadMs, ModelWaitMs and InferenceMs (dimension: model)
without any SDK call. Request bodies and headers are never logged. `INFER_METRICS=off` silences it.
"""

import json
import os
import sys
import time

from . import contract, snapstart

NAMESPACE = "infer"
_cold_start = True  # the first request of this execution environment


def take_cold_start() -> bool:
    """True for the first call in this execution environment, False afterwards."""
    global _cold_start
    cold, _cold_start = _cold_start, False
    return cold


def take_restore() -> bool:
    """True for the first request after a SnapStart restore (its line says "restore"), then False."""
    return snapstart.take_restore()


def reset_cold_start() -> None:
    global _cold_start
    _cold_start = True


def record(request_id: str, path: str, status: int, model: str, cold_start: bool,
           inference_ms: float | None, model_load_ms: float | None, model_wait_ms: float | None = None,
           stream=None) -> dict:
    """Write the request's line. ModelLoadMs is how long loading took (on the cold start, wherever it
    ran); ModelWaitMs how long this request waited for it (all of it when lazy, the rest when prefetching)."""
    metrics = [{"Name": "ColdStart", "Unit": "Count"}]
    line = {
        "message": "request",
        "request_id": request_id,
        "path": path,
        "status": status,
        "model": model,
        "cold_start": cold_start,
        "restore": take_restore(),  # the first request after a SnapStart restore (not an init cold start)
        "ColdStart": 1 if cold_start else 0,
    }
    if inference_ms is not None:
        metrics.append({"Name": "InferenceMs", "Unit": "Milliseconds"})
        line["InferenceMs"] = round(inference_ms, 3)
    if model_load_ms is not None:
        metrics.append({"Name": "ModelLoadMs", "Unit": "Milliseconds"})
        line["ModelLoadMs"] = round(model_load_ms, 3)
    if model_wait_ms is not None:
        metrics.append({"Name": "ModelWaitMs", "Unit": "Milliseconds"})
        line["ModelWaitMs"] = round(model_wait_ms, 3)
    line["_aws"] = {
        "Timestamp": int(time.time() * 1000),
        "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [["model"]], "Metrics": metrics}],
    }
    if os.environ.get(contract.METRICS, "on").strip().lower() not in contract.SWITCH_OFF:
        (stream or sys.stdout).write(json.dumps(line, separators=(",", ":")) + "\n")
    return line
