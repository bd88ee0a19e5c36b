"""The runtime imports only the standard library, numpy and onnxruntime: checked in a clean interpreter."""

import json
import subprocess
import sys

from infer.staging import stage_runtime

ALLOWED_THIRD_PARTY = {"numpy", "onnxruntime"}

PROBE = """
import json, sys
before = set(sys.modules)
import infer.runtime.handler
new = [name for name in sys.modules if name not in before]  # in import order
print(json.dumps({"new": new, "stdlib": sorted(sys.stdlib_module_names), "file": infer.runtime.handler.__file__}))
"""


def imported_by_runtime(cwd) -> dict:
    out = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path[:0] = ['.', {site_packages()!r}]\n" + PROBE],
                         cwd=cwd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def site_packages() -> str:
    import numpy

    return str(__import__("pathlib").Path(numpy.__file__).parent.parent)


def test_runtime_imports_only_stdlib_numpy_and_onnxruntime(tmp_path):
    result = imported_by_runtime(stage_runtime(tmp_path))
    assert result["file"].startswith(str(tmp_path)), "the staged copy, alone, was imported"
    stdlib = set(result["stdlib"])
    top_level = {name.split(".")[0] for name in result["new"]}
    foreign = sorted(top_level - stdlib - ALLOWED_THIRD_PARTY - {"infer"} - {"_distutils_hack"})
    assert not foreign, f"the runtime imported {foreign}"
    ours = sorted(name for name in result["new"] if name.split(".")[0] == "infer")
    assert all(name == "infer" or name.startswith("infer.runtime") for name in ours), ours
    assert "onnxruntime" in top_level and "numpy" in top_level


def test_preload_runs_before_numpy_and_onnxruntime_import(tmp_path):
    """The prefetch strategy's read-ahead overlaps the heavy imports only if the handler imports it first."""
    order = imported_by_runtime(stage_runtime(tmp_path))["new"]
    assert order.index("infer.runtime.preload") < order.index("numpy") < order.index("onnxruntime"), order[:12]


def test_staged_runtime_is_the_runtime_alone_and_precompiled(tmp_path):
    stage_runtime(tmp_path)
    assert (tmp_path / "infer" / "runtime" / "openapi.json").is_file()
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.py"))
    assert files[0] == "infer/__init__.py"
    assert all(f == "infer/__init__.py" or f.startswith("infer/runtime/") for f in files)
    assert "infer/runtime/handler.py" in files
    compiled = {p.name.split(".")[0] for p in tmp_path.rglob("__pycache__/*.pyc")}
    assert {p.rsplit("/", 1)[1][:-3] for p in files} <= compiled
