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
    """The default for a model of this size (the same at every size the sweep covered, 1 KB to 400 MB)."""
    return LoadChoice(
        "prefetch", "ort",
        "in the cold-start sweep (benchmarks/README.md) a memory-mapped .ort prefetched during init came within "
        "1.13x of the floor at every size from 1 KB to 400 MB and 2.1-2.6x faster than FastAPI + Mangum; "
        "warm inference of a MatMul-heavy model can be ~1.2-1.3x slower (weights are not prepacked): "
        "use --artifact onnx when warm latency matters more than cold starts",
    )
