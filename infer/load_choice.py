"""Which load strategy and artifact format a model gets by default, from the recorded benchmark sweep.

`infer package` (and so `infer deploy`) uses this unless told otherwise, and `infer bench` marks the
variant it picks. The numbers behind it are in benchmarks/README.md ("Cold starts").
"""

from dataclasses import dataclass

# From this size on, reading the model is most of what a load waits for (infer convert puts weights of this
# size in a sidecar for the same reason). The sweeps measured 1 KB, 100 MB and 400 MB, nothing in between.
EAGER_FROM_BYTES = 64 * 1024 * 1024

WARM_PRICE = ("warm inference of a MatMul-heavy model can be ~1.2-1.3x slower until the prepacked session is "
              "swapped in: use --artifact onnx when warm latency matters more than cold starts")


@dataclass(frozen=True)
class LoadChoice:
    strategy: str  # lazy | prefetch | eager
    artifact: str  # onnx | ort
    reason: str


def recommend(model_bytes: int) -> LoadChoice:
    """The default for a model of this size: a memory-mapped .ort, loaded in init from 64 MiB on, prefetched below."""
    if model_bytes >= EAGER_FROM_BYTES:
        return LoadChoice(
            "eager", "ort",
            "in the five cold-start sweeps of issue 13 (benchmarks/README.md) a memory-mapped .ort loaded in init, "
            "after the read-ahead of the imports' files and the model, was as fast as the prefetched one or faster "
            "(100 MB: 233-266 ms against 241-296; 400 MB: 332-377 against 335-483), 0.68-0.85x of the floor, "
            "3.3-3.6x faster than the typical FastAPI + Mangum function at 100 MB and 4.6-5.6x at 400 MB, 2.0-2.3x "
            "and 3.8-4.5x faster than the naive tutorial handler; a load finished in init is also finished in an "
            "environment Lambda initialises ahead of its first request; " + WARM_PRICE,
        )
    return LoadChoice(
        "prefetch", "ort",
        "in the five cold-start sweeps of issue 13 (benchmarks/README.md) a memory-mapped .ort read ahead during "
        "init came within 0.89-1.07x of the floor for a 1 KB model and 2.4-2.7x faster than the typical FastAPI + "
        "Mangum function (the naive tutorial handler is as fast at that size); loading it in init instead was "
        "within the noise; " + WARM_PRICE,
    )
