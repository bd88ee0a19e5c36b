"""`infer package` (image route): the build context on disk, and the command's answers to bad input."""

import hashlib
import importlib.metadata
import json
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from helpers import INFER, MODELS
from infer.package import PackageError
from infer.package.context import write_context


def big_weights_model(directory):
    """A model whose weights live in a .onnx.data sidecar, with a manifest as infer convert writes it."""
    weights = numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(4, 4), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = directory / "big.onnx"
    onnx.save(model, str(path), save_as_external_data=True, location="big.onnx.data", size_threshold=0)
    import hashlib

    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (path, directory / "big.onnx.data")}
    (directory / "big.json").write_text(json.dumps({"name": "big", "sha256": digest["big.onnx"], "files": digest}))
    return path


def test_context_holds_the_runtime_model_and_pinned_requirements(tmp_path):
    result = write_context(MODELS / "iris.onnx", tmp_path / "ctx", arch="x86_64", environment={"INFER_LOAD_STRATEGY": "eager"},
                           artifact="onnx")
    out = tmp_path / "ctx"
    assert (out / "Dockerfile").is_file() and (out / ".dockerignore").is_file()
    assert sorted(p.name for p in (out / "model").iterdir()) == ["iris.json", "iris.onnx"]
    assert (out / "infer" / "runtime" / "handler.py").is_file()
    assert list((out / "infer" / "runtime" / "__pycache__").glob("handler.*.pyc"))  # precompiled
    assert not (out / "infer" / "local").exists() and not (out / "infer" / "cli.py").exists()  # the runtime alone
    pins = [line for line in (out / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    assert [p.split("==")[0] for p in pins] == ["numpy", "onnxruntime"]  # the AWS base has its own RIC
    assert all("==" in p for p in pins)
    assert result.spec.verified and 'ENV INFER_VERIFY_SHA256="off"' in (out / "Dockerfile").read_text()
    assert 'ENV INFER_LOAD_STRATEGY="eager"' in (out / "Dockerfile").read_text()
    assert result.dependency_bytes > 10 * 2**20 and result.model_bytes == sum(
        (MODELS / n).stat().st_size for n in ("iris.onnx", "iris.json"))


def test_sources_add_boto3_and_what_it_requires_pinned(tmp_path):
    """For queue and bucket events (infer deploy --queue/--bucket sets it): the runtime imports boto3 then."""
    result = package(str(MODELS / "iris.onnx"), "-o", str(tmp_path / "ctx"), "--sources")
    assert result.returncode == 0, result.stderr
    pins = dict(line.split("==") for line in (tmp_path / "ctx" / "requirements.txt").read_text().splitlines()
                if not line.startswith("#"))
    assert set(pins) == {"numpy", "onnxruntime", "boto3", "botocore", "s3transfer", "jmespath", "python-dateutil",
                         "urllib3", "six"}
    assert pins["boto3"] == importlib.metadata.version("boto3") and "boto3==" in result.stdout


def test_other_base_pins_awslambdaric_too(tmp_path):
    write_context(MODELS / "iris.onnx", tmp_path / "ctx", base_image="debian:bookworm")
    names = [line.split("==")[0] for line in (tmp_path / "ctx" / "requirements.txt").read_text().splitlines()
             if not line.startswith("#")]
    assert "awslambdaric" in names and "numpy" in names


def test_weights_sidecar_goes_along_and_is_verified(tmp_path):
    model = big_weights_model(tmp_path)
    write_context(model, tmp_path / "ctx", artifact="onnx")
    assert sorted(p.name for p in (tmp_path / "ctx" / "model").iterdir()) == ["big.json", "big.onnx", "big.onnx.data"]
    (tmp_path / "big.onnx.data").write_bytes(b"\0" * 64)
    with pytest.raises(PackageError, match="does not match the sha256"):
        write_context(model, tmp_path / "ctx2")
    (tmp_path / "big.onnx.data").unlink()
    with pytest.raises(PackageError, match="missing beside"):
        write_context(model, tmp_path / "ctx3")


def test_tampered_model_is_refused(tmp_path):
    shutil.copy(MODELS / "iris.json", tmp_path / "iris.json")
    (tmp_path / "iris.onnx").write_bytes((MODELS / "iris.onnx").read_bytes() + b"x")
    with pytest.raises(PackageError, match="does not match the sha256"):
        write_context(tmp_path / "iris.onnx", tmp_path / "ctx")


def test_model_without_manifest_keeps_the_runtime_check_on(tmp_path):
    shutil.copy(MODELS / "iris.onnx", tmp_path / "plain.onnx")
    result = write_context(tmp_path / "plain.onnx", tmp_path / "ctx", artifact="onnx")
    assert not result.spec.verified
    assert "INFER_VERIFY_SHA256" not in (tmp_path / "ctx" / "Dockerfile").read_text()


def package(*args, cwd=None):
    return subprocess.run([INFER, "package", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_default_load_is_chosen_from_the_sweep_and_overridable(tmp_path):
    """Without overrides: the model becomes a memory-mapped .ort with its own manifest, prefetched during init."""
    result = write_context(MODELS / "iris.onnx", tmp_path / "ctx")
    model_dir = tmp_path / "ctx" / "model"
    assert sorted(p.name for p in model_dir.iterdir()) == ["iris.json", "iris.ort"]
    manifest = json.loads((model_dir / "iris.json").read_text())
    assert manifest["name"] == "iris" and manifest["labels"] == ["setosa", "versicolor", "virginica"]
    assert manifest["sha256"] == hashlib.sha256((model_dir / "iris.ort").read_bytes()).hexdigest()
    dockerfile = (tmp_path / "ctx" / "Dockerfile").read_text()
    assert 'INFER_MODEL_PATH="/var/task/model/iris.ort"' in dockerfile and 'INFER_LOAD_STRATEGY="prefetch"' in dockerfile
    assert result.load.reason and "sweep" in result.load.reason
    lazy = write_context(MODELS / "iris.onnx", tmp_path / "ctx2", strategy="lazy", artifact="onnx")
    assert lazy.load.reason == "chosen with --strategy/--artifact"
    assert 'INFER_LOAD_STRATEGY="lazy"' in (tmp_path / "ctx2" / "Dockerfile").read_text()


def test_command_prints_contents_and_size(tmp_path):
    result = package(str(MODELS / "iris.onnx"), "-o", str(tmp_path / "ctx"), "--arch", "x86_64")
    assert result.returncode == 0, result.stderr
    for expected in ("public.ecr.aws/lambda/python:3.12", "iris.ort, iris.json", "onnxruntime==", "loading       prefetch, .ort",
                     "expected size about", "MB on top of the base image", "--platform linux/amd64", "no emulation",
                     "--build-arg BUILDPLATFORM=linux/"):
        assert expected in result.stdout


def test_command_bad_input_is_one_line(tmp_path):
    (tmp_path / "notmine").mkdir()
    (tmp_path / "notmine" / "keep.txt").write_text("x")
    (tmp_path / "model.joblib").write_text("x")
    cases = [
        ([str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "a")], "model file not found"),
        ([str(tmp_path / "model.joblib"), "-o", str(tmp_path / "a")], "convert it first"),
        ([str(MODELS / "iris.onnx"), "-o", str(tmp_path / "a"), "--arch", "sparc"], "--arch must be one of"),
        ([str(MODELS / "iris.onnx"), "-o", str(tmp_path / "a"), "--python", "2.7"], "--python must be one of"),
        ([str(MODELS / "iris.onnx"), "-o", str(tmp_path / "a"), "--base-image", "python:3.12 AS x"],
         "--base-image takes an image reference such as"),
        ([str(MODELS / "iris.onnx"), "-o", str(tmp_path / "notmine")], "not empty and was not written by infer package"),
        ([str(MODELS / "iris.onnx"), "-o", str(tmp_path / "a"), "--env", "NOEQUALS"], "--env takes KEY=VALUE"),
        ([str(MODELS / "iris.onnx"), "-o", str(tmp_path / "a"), "--env", "1X=y"], "is not valid"),
        ([str(MODELS / "iris.onnx"), "-o", str(tmp_path / "a"), "--format", "tar"], "--format must be image or zip"),
        ([str(MODELS / "iris.onnx"), "-o", str(tmp_path / "a"), "--format", "zip"], "give -o NAME.zip"),
    ]
    for args, message in cases:
        result = package(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert (tmp_path / "notmine" / "keep.txt").exists()  # never deleted


def test_never_replaces_a_directory_it_did_not_write(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM x\n")
    (project / "important.py").write_text("x = 1\n")
    for out in (".", str(project)):
        result = package(str(MODELS / "iris.onnx"), "-o", out, cwd=project)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert (project / "important.py").read_text() == "x = 1\n" and (project / "Dockerfile").is_file()
    assert "current directory" in package(str(MODELS / "iris.onnx"), "-o", ".", cwd=project).stderr


def test_zip_route_refuses_ort_and_image_only_options(tmp_path):
    ort_model = tmp_path / "iris.ort"
    ort_model.write_bytes(b"not really")
    result = package(str(ort_model), "--format", "zip", "-o", str(tmp_path / "x.zip"))
    assert result.returncode == 2 and "zip route packages an .onnx model" in result.stderr
    result = package(str(MODELS / "iris.onnx"), "--format", "zip", "--artifact", "ort", "-o", str(tmp_path / "x.zip"))
    assert result.returncode == 2 and "--artifact and --sources are for the image route" in result.stderr
    result = package(str(MODELS / "iris.onnx"), "--format", "zip", "--sources", "-o", str(tmp_path / "x.zip"))
    assert result.returncode == 2 and "managed Python runtime already has boto3" in result.stderr
