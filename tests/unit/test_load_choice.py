"""The default load strategy and artifact (`infer.load_choice`), as the cold-start sweep of issue 13 decided."""

import pytest

from infer.load_choice import recommend
from infer.runtime import contract


@pytest.mark.parametrize("size_bytes", [631, 100_000_000, 400_000_000, 2_000_000_000])
def test_prefetch_ort_at_every_size(size_bytes):
    choice = recommend(size_bytes)
    assert (choice.strategy, choice.artifact) == ("prefetch", "ort")
    assert choice.strategy in contract.STRATEGIES and choice.artifact in contract.ARTIFACTS


def test_the_reason_gives_the_evidence_and_the_way_out():
    reason = recommend(100_000_000).reason
    assert "issue 13" in reason and "benchmarks/README.md" in reason
    assert all(word in reason for word in ("floor", "typical", "naive")), "the ratios the targets are stated in"
    assert "--artifact onnx" in reason, "what to do when warm latency matters more"
