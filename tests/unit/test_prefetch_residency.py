"""The prefetch strategy brings the whole model into the page cache before the first request (checked with
util-linux `fincore`, not timed). One WILLNEED hint reads at most 8 MB here, so the model is 48 MB."""

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from infer.bench.cold import evict, resident_bytes
from infer.convert.optimize import to_ort
from infer.staging import stage_runtime

MODEL_BYTES = 48 * 1024 * 1024

LOAD = """
from infer.runtime.model import holder
holder().get()  # what the first request waits for
"""


@pytest.fixture(scope="module")
def big_ort(tmp_path_factory):
    """An .ort model whose weights (48 MB) the session maps without reading them at load."""
    folder = tmp_path_factory.mktemp("big")
    rows = MODEL_BYTES // 4 // 256
    weights = numpy_helper.from_array(np.random.default_rng(0).random((rows, 256), dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "big",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, rows])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 256])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(folder / "big.onnx"))
    return to_ort(folder / "big.onnx", folder / "big.ort")


def load_with(strategy: str, model, task_root) -> None:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(task_root), "LAMBDA_TASK_ROOT": str(task_root),
           "INFER_LOAD_STRATEGY": strategy, "INFER_MODEL_PATH": str(model), "INFER_VERIFY_SHA256": "off",
           "INFER_METRICS": "off"}
    code = "import infer.runtime.handler\n" + LOAD
    subprocess.run([sys.executable, "-c", code], env=env, cwd=task_root, check=True, timeout=120)


@pytest.mark.parametrize("strategy", ["prefetch", "eager"])
def test_the_whole_model_is_resident_once_loaded(strategy, big_ort, tmp_path):
    size = os.path.getsize(big_ort)
    assert size >= MODEL_BYTES
    evict([big_ort])
    assert resident_bytes([big_ort]) < size // 4, "evicted"
    load_with(strategy, big_ort, stage_runtime(tmp_path))
    assert resident_bytes([big_ort]) >= size  # whole pages: the last one counts in full


def test_lazy_load_of_an_ort_model_reads_little(big_ort, tmp_path):
    """The contrast: a memory-mapped .ort session reads its weights only when an inference needs them."""
    evict([big_ort])
    load_with("lazy", big_ort, stage_runtime(tmp_path))
    assert resident_bytes([big_ort]) < os.path.getsize(big_ort) // 2
