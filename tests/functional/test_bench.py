"""`infer bench`, locally on a sample model, and against a function through `infer serve`'s Lambda API
with boto3 — the same code path as against AWS."""

import json
import os
import re
import shutil
import subprocess

import pytest

from helpers import INFER, MODELS, ROOT, ServeProcess

REQUIRED = {"name", "kind", "default", "model", "model_bytes", "cold_ms", "warm_ms", "phases_ms"}


def run_infer(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([INFER, *args], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, **(env or {})})


def test_local_bench_writes_table_json_and_plot(tmp_path):
    out, png = tmp_path / "bench.json", tmp_path / "bench.png"
    model = shutil.copy(MODELS / "iris.onnx", tmp_path / "iris.onnx")  # a copy no other test reads: evictable
    result = run_infer("bench", str(model), "--cold", "2", "--warm", "5",
                       "--strategies", "lazy,prefetch", "--formats", "onnx,ort", "--json", str(out), "--plot", str(png))
    assert result.returncode == 0, result.stderr
    assert "iris.onnx" in result.stdout and "x floor" in result.stdout
    document = json.loads(out.read_text())
    assert {"python", "cpus", "versions", "cold_samples"} <= set(document["config"])
    results = document["results"]
    kinds = {r["kind"] for r in results}
    assert kinds == {"infer", "floor", "typical", "naive"}
    assert "naive (AWS tutorial handler)" in result.stdout, "the naive baseline is reported"
    assert sum(r["default"] for r in results) == 1, "exactly one variant is what `infer package` picks"
    for r in results:
        assert REQUIRED <= set(r), r["name"]
        assert len(r["cold_ms"]) == 2 and all(ms > 0 for ms in r["cold_ms"])
        if not r.get("informational"):
            assert len(r["warm_ms"]) == 5
            assert set(r["phases_ms"]) == {"init", "load", "first_inference"}
            assert all(init > 0 for init in r["phases_ms"]["init"])
            assert all(sum(p[i] for p in r["phases_ms"].values()) <= r["cold_ms"][i] for i in range(2)), \
                "the phases fit inside the client-observed cold start"
    for r in results:
        if "model_resident_after_evict_bytes" in r:
            assert r["model_resident_after_evict_bytes"] == [0, 0], f"{r['name']}: the model was evicted (fincore)"
    lazy = next(r for r in results if r["name"] == "lazy .onnx")
    assert all(load > 0 for load in lazy["phases_ms"]["load"]), "a lazy first request waits for the model"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_baselines_get_the_model_as_one_file_and_infer_its_own_artifacts(tmp_path):
    """A model whose weights are in a sidecar (as `infer convert` writes large ones): infer's .onnx variants
    load it as it is, the naive and typical functions a one-file copy (what torch.onnx.export and skl2onnx
    write), the floor the .ort; the naive function runs and is reported."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.random.default_rng(0).random((64, 8), dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "split",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "split.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="split.onnx.data", size_threshold=0)
    out = tmp_path / "bench.json"
    result = run_infer("bench", str(path), "--cold", "1", "--warm", "2", "--strategies", "lazy", "--formats", "onnx",
                       "--json", str(out))
    assert result.returncode == 0, result.stderr
    by_kind = {r["kind"]: r for r in json.loads(out.read_text())["results"] if not r.get("informational")}
    assert by_kind["infer"]["artifact_files"] == ["split.onnx", "split.onnx.data"]
    assert by_kind["naive"]["artifact_files"] == by_kind["typical"]["artifact_files"] == ["split.onnx"]
    assert by_kind["floor"]["artifact_files"] == ["split.ort"]
    naive = by_kind["naive"]
    assert len(naive["cold_ms"]) == 1 and len(naive["warm_ms"]) == 2
    assert naive["phases_ms"]["first_inference"][0] > 0, "the naive function answered and logged its inference"
    assert "naive (AWS tutorial handler)" in result.stdout


def test_bench_refuses_bad_options():
    for args, message in [(["bench"], "give one or more .onnx models"),
                          (["bench", "models/iris.onnx", "--strategies", "sometimes"], "unknown strategy"),
                          (["bench", "models/iris.onnx", "--memory", "1024,2048"], "needs --function"),
                          (["bench", "--function", "iris"], "give exactly one of --data")]:
        result = run_infer(*args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)


def test_function_bench_through_the_emulated_lambda_api(tmp_path):
    server = ServeProcess(str(MODELS / "iris.onnx"), "--lambda-api-port", "0")
    try:
        api = re.search(r"Lambda API .*(http://127\.0\.0\.1:\d+)", "".join(server.banner)).group(1)
        out = tmp_path / "function.json"
        result = run_infer("bench", "--function", "iris", "--endpoint-url", api, "--region", "us-east-1",
                           "--cold", "2", "--warm", "4", "--memory", "1024,2048",
                           "--data", json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}), "--json", str(out),
                           env={"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"})
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["config"]["memory_sizes_mb"] == [1024, 2048]
    by_memory = {r["memory_mb"]: r for r in document["results"]}
    assert set(by_memory) == {1024, 2048}
    for r in by_memory.values():
        assert r["not_cold"] == 0 and len(r["cold_ms"]) == 2, "every forced cold start really was cold"
        assert len(r["init_ms"]) == 2 and all(ms > 0 for ms in r["init_ms"])
        assert len(r["warm_ms"]) == 4 and len(r["url_ms"]) == 4
        assert r["cost_per_million_usd"] > 0.2
    reports = [line for line in server.stderr if line.startswith("REPORT")]
    assert any("Memory Size: 1024 MB\tMax Memory Used" in line and "Init Duration" in line for line in reports)
    assert sum("Init Duration" in line for line in reports) == 4, "two forced cold starts per memory size"


def test_sweep_script_in_reduced_form(tmp_path):
    """benchmarks/cold_start_sweep.py end to end, on two small models and one cold sample each, with its summary
    of the ratios the targets are stated in."""
    result = subprocess.run(
        [INFER.replace("/infer", "/python"), str(ROOT / "benchmarks" / "cold_start_sweep.py"), "--sizes", "0.1,1",
         "--cold", "1", "--warm", "2", "--out", str(tmp_path), "--plot", str(tmp_path / "sweep.png")],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "sweep.json").read_text())["results"]
    sizes = sorted({r["model_bytes"] for r in results})
    assert len(sizes) == 2 and 8 < sizes[1] / sizes[0] < 12, f"both sizes were measured: {sizes}"
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert {r["kind"] for r in results} == {"infer", "floor", "typical", "naive"}
    table = [line for line in result.stdout.splitlines() if line.startswith("| mlp_")]
    assert len(table) == 2 and all(line.count("|") == 16 and "prefetch .ort" in line for line in table), result.stdout


def test_missing_bench_extra_is_refused_before_any_sample(monkeypatch):
    """Without FastAPI and Mangum the typical baseline cannot run: say so before measuring anything."""
    import importlib.util

    from infer.bench import BenchError, run

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mangum" else real(name, *a))
    with pytest.raises(BenchError, match=r"mangum not installed: pip install 'infer\[bench\]' \(or --no-baselines\)"):
        run.local([MODELS / "iris.onnx"], 1, 0, "lazy", "onnx", True, 2048, None, None)
    run.check_extras(baselines=False, plot=None)  # nothing needed
