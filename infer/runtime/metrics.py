"""One structured log line per request, in CloudWatch Embedded Metric Format (EMF).

The line is a JSON object on stdout: the request's id, path, status and timings, plus an `_aws` block
that makes CloudWatch extract the metrics ColdStart, ModelLoadMs, ModelWaitMs and InferenceMs (dimension: model)
without any SDK call. Request bodies and headers are never logged. `INFER_METRICS=off` silences it.
"""

import json
import os
import sys
import time

from . import contract

NAMESPACE = "infer"
_cold_start = True  # the first request of this execution environment
_restored = False  # a SnapStart restore happened and no line has reported it yet


def take_cold_start() -> bool:
    """True for the first call in this execution environment, False afterwards."""
    global _cold_start
    cold, _cold_start = _cold_start, False
    return cold


def note_restore() -> None:
    """A SnapStart restore (snapstart.after_restore): the snapshot's init was not this environment's cold start,
    and the next line is the restore's first."""
    global _cold_start, _restored
    _cold_start, _restored = False, True


def take_restore() -> bool:
    """True for the first line after a SnapStart restore (it says "restore"), then False."""
    global _restored
    restored, _restored = _restored, False
    return restored


def reset_cold_start() -> None:
    global _cold_start, _restored
    _cold_start, _restored = True, False


def load_timings(current, cold_start: bool, wait_ms: float | None) -> dict[str, float | None]:
    """ModelLoadMs (how long loading took: on the cold start, wherever it ran, or when this request waited for it)
    and ModelWaitMs (how long this request waited: all of it when lazy, the rest when prefetching)."""
    load_ms = current.get().load_ms if current.loaded and (cold_start or wait_ms is not None) else None
    return {"ModelLoadMs": load_ms, "ModelWaitMs": wait_ms}


def emit(line: dict, metrics: dict[str, str], stream=None) -> dict:
    """Write `line` as one EMF line: `metrics` (name -> unit) are those of its fields CloudWatch extracts (a field
    that is None is left out), in namespace "infer" with the dimension `model`. `INFER_METRICS=off` silences it."""
    present = [name for name in metrics if line.get(name) is not None]
    for name, value in list(line.items()):
        if value is None and name in metrics:
            del line[name]
        elif isinstance(value, float):
            line[name] = round(value, 3)
    line["_aws"] = {
        "Timestamp": int(time.time() * 1000),
        "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [["model"]],
                               "Metrics": [{"Name": name, "Unit": metrics[name]} for name in present]}],
    }
    if os.environ.get(contract.METRICS, "on").strip().lower() not in contract.SWITCH_OFF:
        out = stream or sys.stdout
        out.write(json.dumps(line, separators=(",", ":")) + "\n")
        out.flush()
    return line


MS, COUNT = "Milliseconds", "Count"


def record(request_id: str, path: str, status: int, model: str, cold_start: bool,
           inference_ms: float | None, model_load_ms: float | None, model_wait_ms: float | None = None,
           stream=None) -> dict:
    """Write the request's line (ModelLoadMs and ModelWaitMs as `load_timings` gives them)."""
    return emit({
        "message": "request", "request_id": request_id, "path": path, "status": status, "model": model,
        "cold_start": cold_start,
        "restore": take_restore(),  # the first request after a SnapStart restore (not an init cold start)
        "ColdStart": 1 if cold_start else 0,
        "InferenceMs": inference_ms, "ModelLoadMs": model_load_ms, "ModelWaitMs": model_wait_ms,
    }, {"ColdStart": COUNT, "InferenceMs": MS, "ModelLoadMs": MS, "ModelWaitMs": MS}, stream)
