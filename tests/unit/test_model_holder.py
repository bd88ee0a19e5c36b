"""The model holder: lazy, once per environment, thread-safe; name and thread count from the environment."""

import json
import threading

import onnxruntime as ort
import pytest

from helpers import MODELS
from infer.runtime import model as runtime_model
from infer.runtime.errors import ModelUnavailable


def test_holder_reads_path_and_name_from_environment(use_model):
    holder = use_model(MODELS / "digits.onnx")
    assert holder.path == str(MODELS / "digits.onnx")
    assert holder.name == "digits"
    assert not holder.loaded
    assert runtime_model.holder() is holder, "one holder per execution environment"


def test_name_precedence_flag_then_manifest_then_stem(tmp_path, use_model):
    model = tmp_path / "model.onnx"
    model.write_bytes((MODELS / "iris.onnx").read_bytes())
    assert use_model(model).name == "model"
    model.with_suffix(".json").write_text(json.dumps({"name": "flowers"}))
    assert use_model(model).name == "flowers"
    assert use_model(model, name="petals").name == "petals"


def test_unreadable_manifest_is_reported(tmp_path, use_model):
    model = tmp_path / "m.onnx"
    model.write_bytes((MODELS / "iris.onnx").read_bytes())
    model.with_suffix(".json").write_text("{broken")
    with pytest.raises(ModelUnavailable, match="cannot read the model manifest"):
        use_model(model).get()


def test_loaded_once_under_concurrent_first_requests(use_model, monkeypatch):
    holder = use_model(MODELS / "digits.onnx")
    created = []
    real_session = ort.InferenceSession

    def counting_session(*args, **kwargs):
        created.append(threading.get_ident())
        return real_session(*args, **kwargs)

    monkeypatch.setattr(runtime_model.ort, "InferenceSession", counting_session)
    barrier = threading.Barrier(8)
    models = []

    def first_request():
        barrier.wait()
        models.append(holder.get())

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 1
    assert len({id(m) for m in models}) == 1
    assert models[0].load_ms > 0


def test_reset_forgets_the_model(use_model):
    first = use_model(MODELS / "iris.onnx")
    first.get()
    runtime_model.reset()
    assert runtime_model.holder() is not first
    assert not runtime_model.holder().loaded


@pytest.mark.parametrize("memory_mb, expected", [("128", 1), ("1769", 1), ("2048", 1), ("3008", 2), ("10240", 6)])
def test_threads_follow_lambda_memory(monkeypatch, tmp_path, memory_mb, expected):
    monkeypatch.delenv("INFER_THREADS", raising=False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb)
    monkeypatch.setattr(runtime_model.os, "sched_getaffinity", lambda pid: set(range(6)))
    no_quota = tmp_path / "cpu.max"
    no_quota.write_text("max 100000\n")
    assert runtime_model.available_cpus(str(no_quota)) == expected


@pytest.mark.parametrize("cpu_max, expected", [("max 100000", 8), ("200000 100000", 2), ("150000 100000", 2), ("50000 100000", 1)])
def test_threads_respect_the_cgroup_quota(monkeypatch, tmp_path, cpu_max, expected):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    monkeypatch.setattr(runtime_model.os, "sched_getaffinity", lambda pid: set(range(8)))
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max + "\n")
    assert runtime_model.available_cpus(str(path)) == expected


def test_threads_never_exceed_the_cpus_we_may_use(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    monkeypatch.delenv("INFER_THREADS", raising=False)
    monkeypatch.setattr(runtime_model.os, "sched_getaffinity", lambda pid: {0})
    assert runtime_model.thread_count() == 1
    monkeypatch.setenv("INFER_THREADS", "3")
    assert runtime_model.thread_count() == 3


@pytest.mark.parametrize("threads", ["1", "2"])
def test_loaded_session_uses_the_thread_count(monkeypatch, use_model, threads):
    monkeypatch.setenv("INFER_THREADS", threads)
    session = use_model(MODELS / "digits.onnx").get().session
    options = session.get_session_options()
    assert options.intra_op_num_threads == int(threads)
    assert options.inter_op_num_threads == 1


def copy_model(tmp_path, name="m"):
    model = tmp_path / f"{name}.onnx"
    model.write_bytes((MODELS / "iris.onnx").read_bytes())
    manifest = json.loads((MODELS / "iris.json").read_text())
    return model, manifest


def test_model_matching_its_manifest_loads(tmp_path, use_model):
    model, manifest = copy_model(tmp_path, "renamed")
    model.with_suffix(".json").write_text(json.dumps(manifest))
    assert use_model(model).get().name == "iris"


def test_model_that_differs_from_its_manifest_is_refused(tmp_path, use_model, monkeypatch):
    model, manifest = copy_model(tmp_path)
    model.write_bytes((MODELS / "digits.onnx").read_bytes())  # another model under iris's manifest
    model.with_suffix(".json").write_text(json.dumps(manifest))
    with pytest.raises(ModelUnavailable, match=r"does not match its manifest m.json: sha256 .*convert the model again"):
        use_model(model).get()
    monkeypatch.setenv("INFER_VERIFY_SHA256", "off")
    assert use_model(model).get().name == "iris", "the check can be switched off"


def test_sidecar_listed_in_the_manifest_is_checked(tmp_path, use_model):
    model, manifest = copy_model(tmp_path)
    manifest["files"]["m.onnx.data"] = "0" * 64
    model.with_suffix(".json").write_text(json.dumps(manifest))
    with pytest.raises(ModelUnavailable, match="m.onnx.data, which m.json lists, is missing"):
        use_model(model).get()
    (tmp_path / "m.onnx.data").write_bytes(b"weights")
    with pytest.raises(ModelUnavailable, match="does not match the sha256 that m.json records"):
        use_model(model).get()
