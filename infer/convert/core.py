"""`infer convert`: a trained model file -> OUT.onnx (+ sidecar) and OUT.json.

Steps, in order:
1. Check the arguments and read the sample (or the declared input shape).
2. Load the model file (pickles run code!) and pick the converter by what the object is.
3. Convert to ONNX, and run the original model on the parity inputs.
4. Write the model; large weights go to OUT.onnx.data.
5. Optionally optimise (portable graph optimisations) and quantise (int8 dynamic).
6. Parity: run the written model with onnxruntime and compare with the original's answers.
7. Write the manifest: signature, labels, source, opset, sha256 of every file, parity report.
The files are written even when parity fails, so they can be inspected.
"""

import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infer.runtime import __version__

from . import artifacts, loading, parity
from . import optimize as post
from .base import Request
from .errors import ConvertError
from .signature import Sample, check_dtype, io_signature, load_sample, parse_shape

DEFAULT_TOLERANCE = 1e-4


@dataclass
class Result:
    model_path: Path
    manifest_path: Path
    manifest: dict

    @property
    def passed(self) -> bool:
        return self.manifest["parity"]["passed"]


class Progress:
    """Prints each step as it starts and its duration when it took more than a second."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream

    @contextmanager
    def step(self, text: str):
        self.stream.write(f"{text} ...\n")
        self.stream.flush()
        start = time.perf_counter()
        yield
        elapsed_s = time.perf_counter() - start
        if elapsed_s >= 1.0:
            self.stream.write(f"  done in {elapsed_s:.1f} s\n")
            self.stream.flush()

    def note(self, text: str):
        self.stream.write(f"  {text}\n")
        self.stream.flush()


class _Silent(Progress):
    def __init__(self):
        super().__init__(stream=None)

    @contextmanager
    def step(self, text: str):
        yield

    def note(self, text: str):
        pass


def convert(
    source: Path, out: Path | None = None, *, framework: str = "auto", sample: Path | np.ndarray | None = None,
    input_shape: str | None = None, input_dtype: str = "float32", opset: int | None = None,
    tolerance: float = DEFAULT_TOLERANCE, optimize: bool = False, quantize: str | None = None,
    name: str | None = None, factory: str | None = None, labels: list[str] | None = None,
    progress: Progress | None = None,
) -> Result:
    """Convert `source` to ONNX; raise ConvertError for bad input; parity failure is in the result."""
    progress = progress or _Silent()
    source, out = Path(source), _out_path(Path(source), out)
    request = _request(sample, input_shape, input_dtype, opset)
    _check_options(framework, tolerance, quantize)
    with progress.step(f"loading {source}"):
        obj, _ = loading.load(source)
    found = loading.framework_of(obj)
    if found is None:
        raise ConvertError(f"{source} holds {loading.describe(obj)}, which is not {loading.WHAT_WE_CONVERT}")
    if framework != "auto" and found != framework:
        raise ConvertError(
            f"{source} holds a {loading.FRAMEWORK_NAMES[found]} model ({loading.describe(obj)}), not {loading.FRAMEWORK_NAMES[framework]}; "
            f"pass --framework {found} or leave it out"
        )
    if factory is not None and found != "torch":
        raise ConvertError("--factory is only for PyTorch state-dict files")
    with progress.step(f"converting {loading.describe(obj)} ({loading.FRAMEWORK_NAMES[found]}) to ONNX"):
        converted = _converter(found)(obj, request, factory=factory, progress=progress)
    if labels is not None:
        converted.labels = [str(label) for label in labels]
    inputs, outputs = io_signature(converted.model)
    opset_used = artifacts.opset_of(converted.model), artifacts.opset_imports(converted.model)
    with progress.step(f"writing {out}"):
        out.parent.mkdir(parents=True, exist_ok=True)
        artifacts.save_model(converted.model, out)
    del converted.model  # large weights: do not keep a second copy while onnxruntime loads the file
    report: dict[str, object] = {}
    if optimize:
        with progress.step("optimising (onnxruntime extended graph optimisations, portable)"):
            post.optimize(out)
        report["optimization"] = "onnxruntime ORT_ENABLE_EXTENDED (portable; no hardware-specific layouts)"
    if quantize:
        with progress.step("checking parity before quantising"):
            before = _parity(out, converted, tolerance)
        size_before = artifacts.size_bytes(out)
        with progress.step(f"quantising ({quantize}, dynamic)"):
            post.quantize(out, quantize)
        report["quantization"] = {"type": f"{quantize} dynamic", "size_bytes_before": size_before,
                                  "size_bytes_after": artifacts.size_bytes(out), "parity_before": before}
    with progress.step(f"checking parity with the original on {next(iter(converted.feeds.values())).shape[0]} rows"):
        report["parity"] = _parity(out, converted, tolerance)
    manifest = {
        "name": name or out.stem,
        "inputs": inputs,
        "outputs": outputs,
        **({"labels": converted.labels} if converted.labels is not None else {}),
        "source": {"framework": found, "framework_version": converted.framework_version,
                   "model_class": converted.model_class, "file": source.name,
                   **({"notes": converted.notes} if converted.notes else {})},
        "opset": opset_used[0],
        "opset_imports": opset_used[1],
        "files": artifacts.file_hashes(out),
        "sha256": artifacts.sha256(out),
        **report,
        "converted_with": f"infer {__version__}",
    }
    return Result(out, artifacts.write_manifest(out, manifest), manifest)


def _converter(framework: str):
    if framework == "sklearn":
        from .scikit import convert as sklearn_convert

        return lambda obj, request, factory, progress: sklearn_convert(obj, request)
    if framework == "torch":
        from .pytorch import convert as torch_convert

        return torch_convert
    from .boosting import convert as boosting_convert

    return lambda obj, request, factory, progress: boosting_convert(obj, request, framework)


def _parity(out: Path, converted, tolerance: float) -> dict:
    try:
        got = parity.run_onnx(out, converted.feeds)
    except Exception as exc:  # onnxruntime's own exception types
        from .errors import first_line

        return {"samples": 0, "inputs": converted.input_source, "tolerance": tolerance, "outputs": {},
                "error": f"onnxruntime cannot run the converted model: {first_line(exc)}", "passed": False}
    rows = next(iter(converted.feeds.values())).shape[0]
    return parity.compare(converted.reference, got, tolerance, rows, converted.input_source)


def _out_path(source: Path, out: Path | None) -> Path:
    if not source.exists():
        raise ConvertError(f"model file not found: {source}")
    if not source.is_file():
        raise ConvertError(f"{source} is a directory; pass the model file itself")
    if out is None:
        if source.suffix == ".onnx":
            raise ConvertError(f"{source} is already an ONNX file; serve it with `infer serve {source}`")
        out = source.with_suffix(".onnx")
    out = Path(out)
    if out.suffix != ".onnx":
        raise ConvertError(f"the output must be a .onnx file (-o model.onnx); got {out}")
    if out.resolve() == source.resolve():
        raise ConvertError("the output would overwrite the model file; pass another -o")
    if out.parent.exists() and not out.parent.is_dir():
        raise ConvertError(f"cannot write {out}: {out.parent} is not a directory")
    return out


def _request(sample, input_shape, input_dtype, opset) -> Request:
    if sample is not None and input_shape is not None:
        raise ConvertError("pass either --sample or --input-shape, not both")
    dtype = check_dtype(input_dtype)
    if opset is not None and not 9 <= opset <= _max_opset():
        raise ConvertError(f"--opset must be between 9 and {_max_opset()}; got {opset}")
    loaded: Sample | None
    if isinstance(sample, np.ndarray):
        loaded = Sample(array=sample)
    else:
        loaded = load_sample(Path(sample)) if sample is not None else None
    shape = parse_shape(input_shape) if input_shape is not None else None
    return Request(sample=loaded, input_shape=shape, input_dtype=dtype, opset=opset)


def _max_opset() -> int:
    try:
        import onnx.defs

        return onnx.defs.onnx_opset_version()
    except ImportError:
        return 23


def _check_options(framework: str, tolerance: float, quantize: str | None) -> None:
    if framework not in ("auto", *loading.FRAMEWORKS):
        raise ConvertError(f"--framework must be auto, {', '.join(loading.FRAMEWORKS)}; got '{framework}'")
    if not tolerance > 0:
        raise ConvertError(f"--tolerance must be a positive number; got {tolerance}")
    if quantize is not None and quantize not in post.QUANTIZE_CHOICES:
        raise ConvertError(f"--quantize must be one of {', '.join(post.QUANTIZE_CHOICES)}; got '{quantize}'")
