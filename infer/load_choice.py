"""Which load strategy and artifact format a model gets by default, from the recorded benchmark sweep.

`infer package` (and so `infer deploy`) uses this unless told otherwise, and `infer bench` marks the
variant it picks. The numbers behind it are in benchmarks/README.md ("Cold starts").
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class LoadChoice:
    strategy: str  # lazy | prefetch | eager
    artifact: str  # onnx | ort
    reason: str


def recommend(model_bytes: int) -> LoadChoice:
    """The default for a model of this size: the same at every size the sweep covered (1 KB to 400 MB)."""
    return LoadChoice(
        "prefetch", "ort",
        "in the cold-start sweeps of issue 13 (benchmarks/README.md) a memory-mapped .ort, read ahead during init "
        "after the files the imports read, came within 0.81-0.97x of the floor at 1 KB, 100 MB and 400 MB, "
        "2.6-5.5x faster than the typical FastAPI + Mangum function and 2.0-4.5x faster than the naive tutorial "
        "handler at 100-400 MB (eager .ort was within the noise of it); warm inference of a MatMul-heavy model "
        "can be ~1.2-1.3x slower until the prepacked session is swapped in: use --artifact onnx when warm "
        "latency matters more than cold starts",
    )
