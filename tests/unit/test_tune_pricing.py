"""`infer tune`'s arithmetic: prices from the one table, the cost formula, the three recommendations, the
request route, the table's marker where the CPU share is not enforced, and which functions are infer's."""

import pytest

from infer.bench import BenchError, aws, prices, tune, tune_report
from infer.bench.tune_aws import infer_problem


def test_one_price_table_per_region_and_architecture():
    assert prices.price("us-east-1", "x86_64") == (0.0000166667, pytest.approx(0.20))
    assert prices.price("eu-west-1", "arm64")[0] == 0.0000133334
    assert aws.GB_SECOND_USD == prices.PRICES["us-east-1"].per_gb_second, "infer bench prices from the same table"
    with pytest.raises(prices.PriceError, match="no Lambda prices recorded for region 'mars-1'"):
        prices.price("mars-1", "arm64")
    with pytest.raises(prices.PriceError, match="unknown architecture 'sparc'"):
        prices.price("us-east-1", "sparc")
    with pytest.raises(BenchError) as refused:
        tune.Pricing.of("mars-1", "arm64")
    assert refused.value.code == 2


def test_cost_per_million_is_the_issues_formula():
    # 1e6 x (billed_ms / 1000) x (memory_mb / 1024) x price_per_gb_second + price_per_million_requests
    assert prices.cost_per_million(100, 1024, 0.0000166667, 0.20) == pytest.approx(1e6 * 0.1 * 1 * 0.0000166667 + 0.2)


def rows(*triples):
    return [{"memory_mb": m, "warm_p50_ms": p50, "cost_per_million_usd": cost} for m, p50, cost in triples]


def test_recommendations():
    results = rows((512, 100.0, 1.0), (1024, 52.0, 1.1), (1769, 30.0, 1.3), (3008, 29.0, 2.0))
    assert tune.recommend(results) == {"cheapest": 512, "fastest": 3008, "balanced": 1769}
    flat = rows((512, 10.0, 0.3), (1024, 10.0, 0.4))  # no speed-up: the smaller is fastest too (cheaper on a tie)
    assert tune.recommend(flat) == {"cheapest": 512, "fastest": 512, "balanced": 512}


def test_routes_by_protocol():
    assert tune.request_path({"instances": [[1.0]]}) == tune.V1_PATH
    assert tune.request_path({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}) == tune.V2_PATH
    with pytest.raises(BenchError, match="KServe V1"):
        tune.request_path({"rows": []})


def test_summary_shape_and_the_not_enforced_marker():
    samples = {"cold_ms": [300.0], "init_ms": [250.0], "cold_billed_ms": [260], "warm_ms": [2.0, 2.2],
               "duration_ms": [1.2, 1.9], "enforced": False}
    measured = {"model": "m.onnx", "payload_path": tune.V1_PATH, "default_payload": True,
                "samples": {512: samples, 1769: {**samples, "duration_ms": [0.4, 0.5]}}}
    doc = tune.summarise(measured, tune.Pricing.of("us-east-1", "arm64"))
    assert {"cpu_share_enforced", "arch", "region", "price_per_gb_second", "price_per_million_requests", "results",
            "recommendation"} <= set(doc)
    assert doc["cpu_share_enforced"] is False and doc["note"] == tune.NOT_ENFORCED
    first = doc["results"][0]
    assert {"memory_mb", "cold_ms", "warm_p50_ms", "warm_mean_ms", "billed_ms_mean", "cost_per_million_usd"} <= set(first)
    assert first["billed_ms_mean"] == 2.0, "each request is billed rounded up to the millisecond"
    assert first["cost_per_million_usd"] == pytest.approx(prices.cost_per_million(2.0, 512, 0.0000133334, 0.2))
    text = tune_report.table(doc)
    assert "CPU share not enforced" in text and "0.29 *" in text


def test_which_functions_are_infers():
    assert infer_problem({"FunctionName": "f", "Handler": "infer.runtime.handler.handler"}) is None
    assert infer_problem({"FunctionName": "f", "PackageType": "Image",
                          "Environment": {"Variables": {"INFER_LOAD_STRATEGY": "prefetch"}}}) is None
    assert "is not infer's" in infer_problem({"FunctionName": "f", "Handler": "app.handler"})
