"""SnapStart init: the model loaded, prepacked and run once before the snapshot, with AWS's real runtime hooks."""

import random

import numpy as np
import onnx
import pytest
import snapshot_restore_py
from awslambdaric import lambda_runtime_hooks_runner
from onnx import TensorProto, helper
from test_two_phase import mlp_ort  # noqa: F401  (the fixture)

from infer.runtime import metrics, snapstart
from infer.runtime import model as runtime_model
from infer.runtime.types import TensorSpec
from infer.runtime.warmup import sample_feeds


@pytest.fixture
def snap_start_init(monkeypatch):
    """An init before a snapshot; the runtime's hook registries and the restore flag emptied afterwards."""
    monkeypatch.setenv(snapstart.INITIALIZATION_TYPE, snapstart.SNAP_START)
    yield
    snapshot_restore_py.get_before_snapshot().clear()
    snapshot_restore_py.get_after_restore().clear()
    metrics.reset_cold_start()  # also forgets a restore


def save(tmp_path, graph) -> str:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / f"{graph.name}.onnx"
    onnx.save_model(model, str(path))
    return str(path)


def test_snap_start_init_loads_prepacks_warms_and_registers_hooks(mlp_ort, use_model, snap_start_init):  # noqa: F811
    holder = use_model(mlp_ort)
    runtime_model.begin("lazy")  # the strategy says lazy; before a snapshot it loads anyway
    assert holder.loaded
    model = holder.get()
    assert model.prepacked and model.prepack_thread is None, "the prepacked session was built on the init thread"
    assert model.runs == 1, "the snapshot holds a session that has run once"
    assert (snapstart.before_snapshot, (), {}) in snapshot_restore_py.get_before_snapshot()
    assert (snapstart.after_restore, (), {}) in snapshot_restore_py.get_after_restore()


def test_outside_snap_start_nothing_loads_at_init(use_model, monkeypatch):
    from helpers import MODELS

    monkeypatch.delenv(snapstart.INITIALIZATION_TYPE, raising=False)
    holder = use_model(MODELS / "iris.onnx")
    runtime_model.begin("lazy")
    assert not holder.loaded and not snapshot_restore_py.get_after_restore()


def test_hooks_run_by_the_runtime_reseed_and_mark_the_restore(snap_start_init, use_model):
    from helpers import MODELS

    use_model(MODELS / "iris.onnx")
    runtime_model.begin("eager")
    random.seed(1234)
    np.random.seed(1234)
    snapshot_python, snapshot_numpy = random.getstate(), np.random.get_state()
    replayed = [random.random() for _ in range(4)], np.random.random(4).tolist()
    random.setstate(snapshot_python)  # as every restored copy would start: the state the snapshot holds
    np.random.set_state(snapshot_numpy)
    lambda_runtime_hooks_runner.run_before_snapshot()  # what awslambdaric's on_init_complete runs
    lambda_runtime_hooks_runner.run_after_restore()
    after = [random.random() for _ in range(4)], np.random.random(4).tolist()
    assert after[0] != replayed[0] and after[1] != replayed[1], "both generators re-seeded after the restore"
    assert metrics.take_cold_start() is False, "the restore's first request is not an init cold start"
    assert metrics.take_restore() is True
    assert metrics.take_restore() is False, "only the first request after a restore is one"


def test_warm_up_input_for_dynamic_dimensions_strings_and_bools(tmp_path):
    import onnxruntime as ort

    graph = helper.make_graph(
        [helper.make_node("Identity", ["words"], ["words_out"]),
         helper.make_node("Not", ["flags"], ["flags_out"]),
         helper.make_node("Relu", ["values"], ["values_out"])],
        "mixed",
        [helper.make_tensor_value_info("words", TensorProto.STRING, ["batch", 2]),
         helper.make_tensor_value_info("flags", TensorProto.BOOL, [None]),
         helper.make_tensor_value_info("values", TensorProto.DOUBLE, ["batch", "width", 3])],
        [helper.make_tensor_value_info(name, kind, None) for name, kind in
         (("words_out", TensorProto.STRING), ("flags_out", TensorProto.BOOL), ("values_out", TensorProto.DOUBLE))])
    session = ort.InferenceSession(save(tmp_path, graph), providers=["CPUExecutionProvider"])
    feeds = sample_feeds([TensorSpec(i.name, i.type, i.shape) for i in session.get_inputs()])
    assert feeds["words"].shape == (1, 2) and feeds["words"].dtype == object
    assert feeds["flags"].shape == (1,) and feeds["flags"].dtype == np.bool_
    assert feeds["values"].shape == (1, 1, 3) and feeds["values"].dtype == np.float64
    words, flags, values = session.run(None, feeds)
    assert words.tolist() == [["", ""]] and flags.tolist() == [True] and values.shape == (1, 1, 3)


def test_warm_up_input_refuses_types_without_a_dtype():
    with pytest.raises(ValueError, match="input 'b' is tensor\\(bfloat16\\): no warm-up input"):
        sample_feeds([TensorSpec("b", "tensor(bfloat16)", [1])])


def test_a_failing_warm_up_is_one_line_and_init_goes_on(tmp_path, use_model, snap_start_init, capsys):
    scalar = [helper.make_tensor_value_info(name, TensorProto.FLOAT, []) for name in ("start", "limit", "delta")]
    graph = helper.make_graph([helper.make_node("Range", ["start", "limit", "delta"], ["y"])], "ranges", scalar,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])])
    holder = use_model(save(tmp_path, graph))
    runtime_model.begin("lazy")  # zeros make a Range with delta 0: onnxruntime refuses it
    assert holder.loaded
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("infer: SnapStart warm-up inference of ranges failed")
    assert (snapstart.after_restore, (), {}) in snapshot_restore_py.get_after_restore(), "hooks registered all the same"
