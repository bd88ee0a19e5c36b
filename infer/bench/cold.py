"""Cold and warm starts of a model's function on this machine, as `infer bench` measures them.

For each variant (a load strategy and artifact format of the infer runtime, or a baseline function):
1. Evict the model files and the Python packages the function imports from the page cache.
2. Start a fresh emulator and send one prediction: a real cold start in a new execution environment.
   Record the client-observed time and its phases: init (process start to the runtime's first
   /next: interpreter, imports, and an eager load), the time the request waited for the model, and
   the first inference (both from the function's own log line).
3. Repeat for every cold sample; after the last one, time warm requests on that same environment.

This module imports only the standard library and infer's emulator: the benchmark's process must not
map numpy or onnxruntime, or their pages could not be evicted.
"""

import compileall
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from infer.bench.warm import time_requests
from infer.local.emulator import Emulator
from infer.local.function import FunctionConfig, model_function
from infer.package import imports
from infer.runtime import contract

RUNTIME_PACKAGES = ("numpy", "numpy.libs", "onnxruntime", "awslambdaric")
TYPICAL_PACKAGES = RUNTIME_PACKAGES + ("fastapi", "starlette", "pydantic", "pydantic_core", "mangum", "anyio",
                                       "annotated_types", "typing_extensions")
BASELINES = Path(__file__).parent / "baselines"


@dataclass
class Variant:
    name: str
    kind: str  # infer | floor | typical | naive
    artifact: Path
    strategy: str = ""
    handler: str = ""  # a baseline's handler (module in baselines/)
    packages: tuple = RUNTIME_PACKAGES
    default: bool = False
    import_files: bool = True  # infer's runtime: stage the list of files its imports read, as `infer package` does
    environment: dict = field(default_factory=dict)  # more variables for infer's runtime
    samples: dict = field(default_factory=lambda: {"cold_ms": [], "warm_ms": [], "init": [], "load": [],
                                                   "first_inference": [], "model_load": [],
                                                   "model_resident_after_evict_bytes": []})

    def function(self, task_roots: dict, memory_mb: int) -> FunctionConfig:
        if self.kind == "infer":
            config = model_function(self.artifact, name="model", memory_mb=memory_mb,
                                    environment={contract.LOAD_STRATEGY: self.strategy, **self.environment})
            if self.import_files:
                imports.write(Path(config.task_root) / "infer" / "runtime")
            return config
        return FunctionConfig(name="model", handler=self.handler, task_root=task_roots[self.kind], memory_mb=memory_mb,
                              environment={contract.MODEL_PATH: str(self.artifact)})


def package_dir(name: str) -> Path | None:
    """Where a package lives, found without importing it."""
    if name.endswith(".libs"):
        base = package_dir(name.removesuffix(".libs"))
        return base.parent / name if base else None
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(spec.origin) if spec.origin else None


def evict(paths) -> int:
    """Drop files (and everything under directories) from the page cache; returns how many files.

    Dirty pages cannot be dropped, so everything is written back first; pages that a running process
    has mapped stay too (which is why the benchmark's own process never imports numpy or onnxruntime).
    """
    os.sync()
    count = 0
    for path in paths:
        if path is None or not path.exists():
            continue
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            try:
                fd = os.open(file, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                count += 1
            finally:
                os.close(fd)
    return count


def resident_bytes(paths) -> int | None:
    """How much of these files is in the page cache now (util-linux `fincore`), or None without it."""
    files = [str(p) for p in paths if p is not None and p.is_file()]
    if not files or shutil.which("fincore") is None:
        return None
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES", *files],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return None
    return sum(int(line) for line in out.stdout.split() if line.isdigit())


BASELINE_KINDS = ("floor", "typical", "naive")

# The model as one file, the way torch.onnx.export and skl2onnx write it (protobuf caps a file at 2 GB).
SINGLE_FILE_MAX_BYTES = 2**31 - 2**20
SINGLE_FILE = ("import onnx, sys\n"
               "onnx.save_model(onnx.load(sys.argv[1], load_external_data=True), sys.argv[2])\n")


def single_file(model: Path, work: Path) -> Path:
    """The baselines' model: `model` itself, or, when its weights are in a sidecar, a one-file copy of it
    (what users have who did not run `infer convert`). Written by a child: this process imports no onnx."""
    sidecar = Path(contract.sidecar_path(str(model)))
    if not sidecar.is_file() or model.stat().st_size + sidecar.stat().st_size > SINGLE_FILE_MAX_BYTES:
        return model
    out = work / "single-file" / model.name
    out.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", SINGLE_FILE, str(model), str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError((done.stderr.strip().splitlines() or ["cannot write the model as one file"])[-1])
    return out


def stage_baselines(folder: Path) -> dict:
    roots = {}
    for kind in BASELINE_KINDS:
        root = folder / f"{kind}-task"
        root.mkdir(parents=True, exist_ok=True)
        shutil.copy(BASELINES / f"{kind}.py", root / f"{kind}.py")
        compileall.compile_dir(str(root), quiet=1)
        roots[kind] = str(root)
    return roots


def function_lines(lines: list[str]) -> list[dict]:
    found = []
    for line in list(lines):
        if line.startswith('{"message":') and '"request"' in line[:30]:
            try:
                found.append(json.loads(line))
            except ValueError:
                pass
    return found


def wait_for_line(lines: list[str], timeout_s: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = function_lines(lines)
        if found:
            return found[0]
        time.sleep(0.005)
    return {}


def cold_sample(variant: Variant, body: bytes, task_roots: dict, memory_mb: int, warm: int) -> None:
    files = [variant.artifact, Path(contract.sidecar_path(str(variant.artifact)))]
    function = variant.function(task_roots, memory_mb)  # staged first, so that its task root is evicted too
    evict(files + [package_dir(p) for p in variant.packages] + [Path(function.task_root)])
    variant.samples["model_resident_after_evict_bytes"].append(resident_bytes(files))
    lines: list[str] = []
    with Emulator(function, concurrency=1, log=lines.append) as emu:
        path = "/v1/models/model:predict"
        cold_ms = time_requests(emu.url, path, json.loads(body), count=1)[0]
        report = emu.reports[0]
        line = wait_for_line(lines)
        samples = variant.samples
        samples["cold_ms"].append(cold_ms)
        samples["init"].append(report["init_ms"] or 0.0)
        samples["load"].append(line.get("ModelWaitMs", 0.0))
        samples["first_inference"].append(line.get("InferenceMs", 0.0))
        samples["model_load"].append(line.get("ModelLoadMs"))
        if warm:
            samples["warm_ms"] = time_requests(emu.url, path, json.loads(body), count=warm)


def bare_python_ms(artifact: Path, body: Path, samples: int, task_roots: dict, memory_mb: int) -> list[float]:
    """For information: the floor's code in a bare `python -c`, without the runtime interface client."""
    script = ("import json, sys, numpy as np, floor\n"
              "x = np.asarray(json.load(open(sys.argv[1]))['instances'], dtype=np.float32)\n"
              "floor.session.run(None, {floor.session.get_inputs()[0].name: x})\n")
    environment = {contract.MODEL_PATH: str(artifact), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
                   "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    times = []
    for _ in range(samples):
        evict([artifact, Path(contract.sidecar_path(str(artifact))), Path(task_roots["floor"])]
              + [package_dir(p) for p in RUNTIME_PACKAGES])
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", script, str(body)], check=True, cwd=task_roots["floor"], env=environment)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def prepare(model: Path, work: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "infer.bench.prepare", str(model), str(work)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError((out.stderr.strip().splitlines() or ["cannot prepare the model"])[-1])
    return json.loads(out.stdout)


def variants_for(model: Path, info: dict, strategies, formats, baselines: bool, default: tuple[str, str],
                 users_model: Path | None = None) -> list[Variant]:
    """infer's variants on its own artifacts (the model as `infer convert` wrote it, or its .ort); the floor
    on the .ort; the typical and naive functions on the model as users have it (one file)."""
    artifacts = {"onnx": model, "ort": Path(info["ort"])}
    users_model = users_model or model
    variants = [Variant(f"{s} .{f}", "infer", artifacts[f], strategy=s, default=(s, f) == default)
                for f in formats for s in strategies]
    if baselines:
        variants.append(Variant("floor (10-line handler, .ort)", "floor", artifacts["ort"], handler="floor.handler"))
        variants.append(Variant("typical (FastAPI + Mangum)", "typical", users_model, handler="typical.handler",
                                packages=TYPICAL_PACKAGES))
        variants.append(Variant("naive (AWS tutorial handler)", "naive", users_model, handler="naive.handler"))
    return variants


def _files(artifact: Path) -> list[str]:
    sidecar = Path(contract.sidecar_path(str(artifact)))
    return [artifact.name] + ([sidecar.name] if sidecar.is_file() else [])


def run(model: Path, cold: int = 5, warm: int = 100, strategies=contract.STRATEGIES,
        formats=contract.ARTIFACTS, baselines: bool = True, memory_mb: int = 2048, progress=None,
        default: tuple[str, str] = ("prefetch", "ort")) -> dict:
    """Measure one model; returns its results in `infer bench --json` form, plus bare-python timings."""
    model = Path(model).resolve()
    work = Path(tempfile.mkdtemp(prefix="infer-bench-"))
    try:
        info = prepare(model, work)
        body = (work / "request.json").read_bytes()
        task_roots = stage_baselines(work)
        users_model = single_file(model, work) if baselines else model
        variants = variants_for(model, info, strategies, formats, baselines, default, users_model)
        # Interleave the variants sample by sample, so that slow drifts of a shared machine hit all alike.
        for index in range(cold):
            for position, variant in enumerate(variants):
                if progress:
                    progress(f"{model.name}: cold sample {index + 1}/{cold}, {variant.name} "
                             f"({position + 1}/{len(variants)})")
                cold_sample(variant, body, task_roots, memory_mb, warm if index == cold - 1 else 0)
        bare = bare_python_ms(Path(info["ort"]), work / "request.json", cold, task_roots, memory_mb) if baselines else []
        results = []
        for variant in variants:
            results.append({
                "name": variant.name, "kind": variant.kind, "default": variant.default, "model": str(model),
                "artifact": str(variant.artifact), "strategy": variant.strategy or None,
                "model_bytes": info["model_bytes"], "artifact_files": _files(variant.artifact),
                "cold_ms": variant.samples["cold_ms"], "warm_ms": variant.samples["warm_ms"],
                "phases_ms": {k: variant.samples[k] for k in ("init", "load", "first_inference")},
                "model_load_ms": variant.samples["model_load"],
                "model_resident_after_evict_bytes": variant.samples["model_resident_after_evict_bytes"],
            })
        if bare:
            results.append({"name": "bare python -c (floor's code, no runtime interface client)", "kind": "floor", "default": False,
                            "model": str(model), "model_bytes": info["model_bytes"], "cold_ms": bare, "warm_ms": [],
                            "phases_ms": {"init": [], "load": [], "first_inference": []}, "informational": True})
        return {"model": str(model), "model_bytes": info["model_bytes"], "results": results}
    finally:
        shutil.rmtree(work, ignore_errors=True)
