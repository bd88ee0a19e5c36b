"""REPORT lines as Lambda writes them, and the cost model of `infer bench --function`."""

import pytest

from infer.bench.aws import cost_per_million, parse_report

ON_DEMAND = ("REPORT RequestId: 3604209a-e9a3-11e6-939a-754dd98c7be3\tDuration: 12.34 ms\tBilled Duration: 13 ms\t"
             "Memory Size: 2048 MB\tMax Memory Used: 190 MB\tInit Duration: 254.17 ms")
SNAPSTART = ("REPORT RequestId: 5f1a\tDuration: 4.70 ms\tBilled Duration: 487 ms\tMemory Size: 1024 MB\t"
             "Max Memory Used: 96 MB\tRestore Duration: 481.99 ms\tBilled Restore Duration: 482 ms")
WARM = "REPORT RequestId: 9a\tDuration: 1.01 ms\tBilled Duration: 2 ms\tMemory Size: 2048 MB\tMax Memory Used: 190 MB"


def test_cold_start_report():
    report = parse_report("START RequestId: x\nsome output\nEND RequestId: x\n" + ON_DEMAND + "\n")
    assert report == {"init_ms": 254.17, "restore_ms": None, "duration_ms": 12.34, "billed_ms": 13.0,
                      "memory_mb": 2048.0, "max_memory_mb": 190.0}


def test_snapstart_and_warm_reports():
    snap = parse_report(SNAPSTART)
    assert (snap["restore_ms"], snap["init_ms"], snap["duration_ms"], snap["billed_ms"]) == (481.99, None, 4.70, 487.0)
    warm = parse_report(WARM)
    assert warm["init_ms"] is None and warm["duration_ms"] == 1.01
    assert parse_report("no report here") == {}


@pytest.mark.parametrize("billed_ms, memory_mb, arch, expected", [
    (1, 1024, "x86_64", 0.2 + 1_000_000 * 0.001 * 0.0000166667),
    (100, 2048, "arm64", 0.2 + 1_000_000 * 0.1 * 2 * 0.0000133334),
])
def test_cost_per_million(billed_ms, memory_mb, arch, expected):
    assert cost_per_million(billed_ms, memory_mb, arch) == pytest.approx(expected)
