"""The list of files the runtime's imports read (`infer.package.imports`) and the runtime reading it ahead
(`infer.runtime.preload`): recorded in import order, resolved on the runtime's sys.path (its own files
beside it), and brought into the page cache before numpy is imported (checked with `fincore`, not timed)."""

import os
import subprocess
import sys
from pathlib import Path

from infer.bench.cold import evict, package_dir, resident_bytes
from infer.package import imports
from infer.staging import stage_runtime


def test_the_list_holds_the_imports_files_in_import_order():
    files = imports.record()
    assert files and all(not os.path.isabs(f) for f in files), "relative to the directory holding each package"
    first_numpy_pyc = files.index(next(f for f in files if f.startswith("numpy/") and f.endswith(".pyc")))
    umath = files.index(next(f for f in files if f.startswith("numpy/_core/_multiarray_umath.")))
    onnxruntime = files.index(next(f for f in files if f.startswith("onnxruntime/capi/onnxruntime_pybind11_state.")))
    assert first_numpy_pyc < umath < onnxruntime, "numpy's files before onnxruntime's, as imported"
    assert any(f.startswith("numpy.libs/") for f in files), "the libraries the extension modules load (dlopen)"
    assert sum(f.endswith(".pyc") for f in files) > 20
    assert not any(f.startswith("onnxruntime/capi/libonnxruntime.so") for f in files), "only what the import reads"


def test_the_runtime_reads_the_listed_files_ahead(tmp_path):
    root = stage_runtime(tmp_path)
    listing = imports.write(root / "infer" / "runtime")
    assert listing.name == "import_files.txt"
    site = package_dir("numpy").parent  # where this interpreter's packages are
    listed = [(root if f.startswith("infer/") else site) / f for f in imports.record() if f.endswith(".pyc")]
    # The staged runtime's modules that the child below does not import: no other process reads these, so
    # their eviction can be checked (numpy's may be read by any concurrent test at any time).
    imported = ("infer/__pycache__/__init__.", "infer/runtime/__pycache__/__init__.", "preload.", "contract.")
    private = [p for p in listed if p.is_relative_to(root) and not any(m in str(p) for m in imported)]
    shared = [p for p in listed if not p.is_relative_to(root)]
    assert len(private) > 5 and len(shared) > 20, "the runtime's own modules are listed, and numpy's and onnxruntime's"
    evict(private + shared)
    assert resident_bytes(private) == 0, "evicted"
    code = ("import sys\nfrom infer.runtime import preload\npreload.wait_for_read_ahead()\n"
            "assert 'numpy' not in sys.modules and 'onnxruntime' not in sys.modules\n")
    env = {"PATH": os.environ["PATH"], "LAMBDA_TASK_ROOT": str(root), "INFER_LOAD_STRATEGY": "lazy",
           "INFER_MODEL_PATH": str(tmp_path / "absent.onnx")}
    subprocess.run([sys.executable, "-c", code], cwd=root, env=env, check=True, timeout=60)
    for files in (private, shared):
        assert resident_bytes(files) >= sum(p.stat().st_size for p in files), "read ahead before numpy is imported"


def test_the_runtime_reads_the_list_the_packager_writes():
    from infer.runtime import preload

    assert preload.IMPORT_FILES == imports.FILE_NAME


def test_files_that_are_not_installed_are_skipped(tmp_path):
    from infer.runtime import preload

    listing = tmp_path / "list.txt"
    listing.write_text("numpy/__init__.py\nnumpy/not-there.so\nnot_a_package/x.pyc\n\n")
    found = preload.import_files(str(listing))
    assert [Path(f).name for f in found] == ["__init__.py", "not-there.so"], "resolved where numpy is on sys.path"
    assert preload.read_files(found) == Path(found[0]).stat().st_size, "a missing file is skipped, not an error"
    assert preload.import_files(str(tmp_path / "absent.txt")) == []


def test_the_list_is_renamed_for_the_target_python_and_architecture(tmp_path):
    tag = f"cpython-{sys.version_info[0]}{sys.version_info[1]}"
    files = (f"numpy/__pycache__/__init__.{tag}.pyc", f"numpy/_core/_multiarray_umath.{tag}-x86_64-linux-gnu.so")
    listing = imports.write(tmp_path, files, python="3.12", arch="arm64")
    expected = ["numpy/__pycache__/__init__.cpython-312.pyc", "numpy/_core/_multiarray_umath.cpython-312-aarch64-linux-gnu.so"]
    if os.uname().machine != "x86_64":
        expected[1] = "numpy/_core/_multiarray_umath.cpython-312-x86_64-linux-gnu.so"
    assert listing.read_text().splitlines() == expected


def test_a_large_file_is_read_in_ranges_that_cover_it(tmp_path):
    from infer.runtime import preload

    large, small = tmp_path / "model.ort", tmp_path / "small.onnx"
    with open(large, "wb") as f:  # sparse: no disk needed
        f.truncate(preload.SPLIT_FROM_BYTES + 12345)
    small.write_bytes(b"x" * 1000)
    parts = preload.ranges(str(large), 4)
    assert 2 <= len(parts) <= 4 and parts[0][1] == 0 and parts[-1][2] == large.stat().st_size
    assert all(a[2] == b[1] for a, b in zip(parts, parts[1:])), "contiguous, no gap and no overlap"
    assert all((end - start) % preload.READ_BLOCK_BYTES == 0 for _, start, end in parts[:-1]), "whole read blocks"
    assert preload.ranges(str(small), 4) == [str(small)]
    assert preload.ranges(str(tmp_path / "absent"), 4) == [str(tmp_path / "absent")]
    assert preload.read_files(parts + [str(small)]) == large.stat().st_size + 1000
