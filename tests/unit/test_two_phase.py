"""The two-phase session of an .ort model: served memory-mapped at once, the prepacked session swapped in behind."""

import json
import math
import threading

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from infer.convert.optimize import to_ort
from infer.runtime import contract, two_phase
from infer.runtime.errors import ModelUnavailable

WIDTH = 256


@pytest.fixture(scope="module")
def mlp_ort(tmp_path_factory):
    """A small MatMul + Relu MLP (what prepacking speeds up), as `infer package` ships it: an .ort file."""
    folder = tmp_path_factory.mktemp("mlp")
    rng = np.random.default_rng(7)
    nodes, weights, previous = [], [], "x"
    for i in range(3):
        weights.append(numpy_helper.from_array(
            (rng.standard_normal((WIDTH, WIDTH)) / math.sqrt(WIDTH)).astype(np.float32), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [previous, f"w{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Relu", [f"m{i}"], ["y" if i == 2 else f"h{i}"]))
        previous = f"h{i}"
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", WIDTH])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", WIDTH])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save_model(model, str(folder / "mlp.onnx"))
    return to_ort(folder / "mlp.onnx", folder / "mlp.ort")


@pytest.fixture
def batch():
    return {"x": np.random.default_rng(1).standard_normal((8, WIDTH)).astype(np.float32)}


def prepacking_disabled(model) -> bool:
    try:
        return model.session.get_session_options().get_session_config_entry("session.disable_prepacking") == "1"
    except RuntimeError:  # onnxruntime: "SessionOptions does not have configuration with key"
        return False


def test_swap_happens_after_the_first_run_and_outputs_stay_the_same(mlp_ort, use_model, batch, monkeypatch, capsys):
    monkeypatch.delenv(contract.PREPACK, raising=False)  # on by default for .ort
    model = use_model(mlp_ort).get()
    first_session = model.session
    assert prepacking_disabled(model) and not model.prepacked
    before = model.run(batch)["y"]
    assert model.prepack_thread is None, "the cold start's request (the first) never shares the CPU with the build"
    model.run(batch)
    model.prepack_thread.join(30)
    assert model.prepacked and model.session is not first_session
    assert not prepacking_disabled(model), "the swapped-in session prepacks its weights"
    after = model.run(batch)["y"]
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)
    swap_lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "swapped" in line]
    assert len(swap_lines) == 1 and swap_lines[0]["runs_before_swap"] == 2
    assert swap_lines[0]["PrepackBuildMs"] > 0 and swap_lines[0]["model"] == "mlp"


def test_requests_in_flight_during_the_swap_all_succeed(mlp_ort, use_model, batch, monkeypatch):
    holder = use_model(mlp_ort)
    real_build = holder._prepacked_session
    hammered = threading.Event()

    def build_while_hammered():  # the real build, started once the other threads are busy on the first session
        hammered.wait(30)
        return real_build()

    monkeypatch.setattr(holder, "_prepacked_session", build_while_hammered)
    model = holder.get()
    seen_sessions, failures, results = set(), [], []
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                seen_sessions.add(id(model.session))
                results.append(model.run(batch)["y"])
                if len(results) >= 40:
                    hammered.set()
            except Exception as exc:  # any failure at all fails the test
                failures.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    assert hammered.wait(30)
    model.prepack_thread.join(30)
    for _ in range(3000):  # the hammering goes on until they run on the new session (at most 30 s)
        if len(seen_sessions) == 2 or failures:
            break
        threading.Event().wait(0.01)
    stop.set()
    for t in threads:
        t.join()
    assert not failures
    assert model.prepacked and len(seen_sessions) == 2, "the hammering threads ran on both sessions"
    expected = results[0]
    for result in results:
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)


def test_the_old_session_is_released(mlp_ort, use_model, batch):
    import weakref

    model = use_model(mlp_ort).get()
    old = weakref.ref(model.session)
    model.run(batch)
    model.run(batch)
    model.prepack_thread.join(30)
    assert model.prepacked
    assert old() is None, "nothing holds the memory-mapped session after the swap"


def test_a_failed_build_keeps_the_first_session_and_logs_one_line(mlp_ort, tmp_path, use_model, batch, capsys):
    copy = tmp_path / "gone.ort"
    copy.write_bytes(mlp_ort.read_bytes())
    model = use_model(copy).get()
    first_session = model.session
    broken = tmp_path / "broken.ort"
    broken.write_bytes(b"not a model" * 100)
    broken.replace(copy)  # the first session keeps its mapping of the old file; the second reads garbage
    expected = model.run(batch)["y"]
    model.run(batch)
    model.prepack_thread.join(30)
    assert not model.prepacked and model.session is first_session
    np.testing.assert_allclose(model.run(batch)["y"], expected)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "could not be built; serving on from the memory-mapped one" in lines[0]


def test_the_swap_is_skipped_when_memory_cannot_hold_both_sessions(mlp_ort, use_model, batch, monkeypatch, capsys):
    needed_mb = (two_phase.rss_bytes() + mlp_ort.stat().st_size) / 2**20 / two_phase.MEMORY_SHARE
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", str(math.floor(needed_mb) - 8))
    model = use_model(mlp_ort).get()
    model.run(batch)
    model.run(batch)
    model.prepack_thread.join(30)
    assert not model.prepacked
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no prepacked session: both sessions would take about" in err


def test_memory_rule():
    mb = 2**20
    assert two_phase.memory_problem(100 * mb, 300 * mb, "512") is None
    assert "the function has 400 MB" in two_phase.memory_problem(100 * mb, 300 * mb, "400")
    assert two_phase.memory_problem(100 * mb, 300 * mb, None) is None, "no limit known (outside Lambda)"


def test_init_mode_loads_prepacked_and_off_never_swaps(mlp_ort, use_model, batch, monkeypatch):
    monkeypatch.setenv(contract.PREPACK, "init")
    model = use_model(mlp_ort).get()
    assert model.prepacked and not prepacking_disabled(model) and model.prepack_thread is None
    monkeypatch.setenv(contract.PREPACK, " OFF ")
    model = use_model(mlp_ort).get()
    model.run(batch)
    model.run(batch)
    assert not model.prepacked and prepacking_disabled(model) and model.prepack_thread is None


def test_onnx_models_have_no_second_phase(use_model, batch):
    from helpers import MODELS

    model = use_model(MODELS / "iris.onnx").get()
    model.run({"input": np.zeros((1, 4), np.float32)})
    model.run({"input": np.zeros((1, 4), np.float32)})
    assert model.prepack_thread is None


@pytest.mark.parametrize("value", ["on", "later", ""])
def test_bad_values_are_a_clear_error(mlp_ort, use_model, monkeypatch, value):
    monkeypatch.setenv(contract.PREPACK, value)
    with pytest.raises(ModelUnavailable, match="INFER_PREPACK must be one of background, init, off; got"):
        use_model(mlp_ort).get()
    problem = contract.variable_problem(contract.PREPACK, value, host_process=True)
    assert problem and "INFER_PREPACK must be one of" in problem
