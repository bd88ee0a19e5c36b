"""The two-phase session of an .ort model: serve at once from the memory-mapped session (no prepacking, created
in a few ms), build the prepacked session (eager-.onnx warm speed) on a low-priority thread, and swap it in.

1. The second inference on the memory-mapped session starts the builder, as it returns: the cold start's
   request never shares the CPU with it (in the emulator's CPU share, starting it after the first inference
   cost that request ~25 ms). In Lambda a thread runs only while an invocation is in flight (or during
   init): the build advances during later requests, at nice 19, and finishes after some tens of them.
2. Before building, the peak is checked: RSS now plus about the model's size (the prepacked weights are a
   copy in anonymous memory; the mapped file's pages are shared by both sessions). Past 90% of
   AWS_LAMBDA_FUNCTION_MEMORY_SIZE the swap is skipped, with one log line.
3. The new session runs once on an input generated from the signature, then replaces the old one in a single
   attribute store: a request in flight finishes on the session it started with, none waits, and the old
   session is released when its last run returns. One EMF line on stdout says when; a failure leaves the
   first session serving and logs one line on stderr.
"""

import os
import sys
import threading
import time
from collections.abc import Callable

from . import contract, metrics
from .warmup import sample_feeds

LOW_PRIORITY_NICE = 19
START_AFTER_RUNS = 2  # the builder starts as this inference returns
MEMORY_SHARE = 0.9  # of the function's memory, the most the two sessions may take together


def mode(path: str) -> str:
    """INFER_PREPACK for an .ort model: background (default), init or off; "off" for other files. ValueError if bad."""
    if not path.endswith(".ort"):
        return "off"
    value = os.environ.get(contract.PREPACK, contract.DEFAULT_PREPACK)
    problem = contract.setting_problem(contract.PREPACK, value)
    if problem:
        raise ValueError(problem)
    return value.strip().lower()


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_problem(model_bytes: int, rss: int, memory_mb: str | None) -> str | None:
    """Why the function's memory cannot hold both sessions for a moment (None: it can, or no limit is known)."""
    if not memory_mb or not memory_mb.isdigit():
        return None
    peak_mb = (rss + model_bytes) / 2**20
    if peak_mb > int(memory_mb) * MEMORY_SHARE:
        return (f"both sessions would take about {peak_mb:.0f} MB (RSS {rss / 2**20:.0f} MB + the prepacked weights, "
                f"about the model's {model_bytes / 2**20:.0f} MB); the function has {memory_mb} MB")
    return None


def begin_background(model) -> threading.Thread | None:
    """Start building the prepacked session on a low-priority thread (once per model; None if not pending)."""
    build = model.take_prepack()
    if build is None:
        return None
    thread = threading.Thread(target=upgrade, args=(model, build, True), name="infer-prepack", daemon=True)
    model.prepack_thread = thread
    thread.start()
    return thread


def finish_now(model) -> bool:
    """Build and swap in the prepacked session on this thread (SnapStart's init); False if none was pending."""
    build = model.take_prepack()
    return build is not None and upgrade(model, build, False)


def upgrade(model, build: Callable, low_priority: bool) -> bool:
    """Build the prepacked session, warm it, and swap it in; True if swapped. Never raises."""
    try:
        model_bytes = os.path.getsize(model.path)
        problem = memory_problem(model_bytes, rss_bytes(), os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
    except OSError as exc:
        problem = f"cannot size the model: {exc}"
    if problem:
        _log(f"infer: kept the memory-mapped session of {model.name}, no prepacked session: {problem}")
        return False
    lowered = _lower_priority() if low_priority else None
    before = _threads()
    start = time.perf_counter()
    try:
        session = build()
    except Exception as exc:  # onnxruntime's own exception types, or no memory
        text = str(exc).strip()
        first_line = text.splitlines()[0] if text else type(exc).__name__
        _log(f"infer: the prepacked session of {model.name} could not be built; serving on from the memory-mapped "
             f"one: {first_line}")
        return False
    finally:
        if lowered is not None:  # the session's own worker threads inherited nice 19: back to ours where allowed
            _set_priority(_threads() - before - {threading.get_native_id()}, lowered)
    build_ms = (time.perf_counter() - start) * 1000.0
    try:
        session.run(None, sample_feeds(model.inputs))  # its first run allocates: not on a caller's request
    except Exception:  # a generated input a model rejects: real requests will tell
        pass
    runs = model.swap(session)
    _emf(model.name, build_ms, runs, (time.perf_counter() - model.loaded_at) * 1000.0)
    return True


def _lower_priority() -> int | None:
    tid = threading.get_native_id()
    try:
        nice = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, LOW_PRIORITY_NICE)
        return nice
    except OSError:
        return None


def _threads() -> set[int]:
    try:
        return {int(t) for t in os.listdir("/proc/self/task")}
    except OSError:
        return set()


def _set_priority(tids, nice: int) -> None:
    for tid in tids:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
        except OSError:  # raising a priority needs CAP_SYS_NICE: they stay at nice 19 (see README)
            pass


def _log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _emf(model: str, build_ms: float, runs: int, since_load_ms: float, stream=None) -> None:
    """One EMF line: the swap happened, after how many runs and how long after the load, and the build's time."""
    metrics.emit({"message": "prepacked session swapped in", "model": model, "runs_before_swap": runs,
                  "since_load_ms": since_load_ms, "PrepackBuildMs": build_ms}, {"PrepackBuildMs": metrics.MS}, stream)
