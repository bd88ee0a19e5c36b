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
    """The default for a model of this size."""
    return LoadChoice(
        "prefetch", "ort",
        "a memory-mapped .ort model opens in milliseconds, and prefetching reads it during the imports; "
        "in the sweep it had the fastest cold start at every size, within 1.1x of the floor",
    )
