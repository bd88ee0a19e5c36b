"""The default load strategy and artifact (`infer.load_choice`), as the cold-start sweeps of issue 13 decided."""

import pytest

from infer.load_choice import EAGER_FROM_BYTES, recommend
from infer.runtime import contract


@pytest.mark.parametrize(("size_bytes", "strategy"), [(631, "prefetch"), (EAGER_FROM_BYTES - 1, "prefetch"),
                                                      (EAGER_FROM_BYTES, "eager"), (100_000_000, "eager"),
                                                      (400_000_000, "eager"), (2_000_000_000, "eager")])
def test_an_ort_loaded_in_init_from_64_mib_prefetched_below(size_bytes, strategy):
    choice = recommend(size_bytes)
    assert (choice.strategy, choice.artifact) == (strategy, "ort")
    assert choice.strategy in contract.STRATEGIES and choice.artifact in contract.ARTIFACTS


@pytest.mark.parametrize("size_bytes", [631, 400_000_000])
def test_the_reason_gives_the_evidence_and_the_way_out(size_bytes):
    reason = recommend(size_bytes).reason
    assert "issue 13" in reason and "benchmarks/README.md" in reason and "sweep" in reason
    assert all(word in reason for word in ("floor", "typical", "naive")), "the ratios the targets are stated in"
    assert "--artifact onnx" in reason, "what to do when warm latency matters more"
