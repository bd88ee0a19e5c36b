"""Optional post-processing of a written model: portable graph optimisation and int8 dynamic quantisation.

Both work on the files in place (through a temporary directory) and keep the sidecar policy of
`artifacts.save_model`.
"""

import tempfile
from pathlib import Path

from infer.runtime.contract import SIDECAR_SUFFIX

from . import artifacts
from .errors import ConvertError, first_line

QUANTIZE_CHOICES = ("int8",)


def optimize(out: Path) -> None:
    """Apply onnxruntime's extended graph optimisations and save the result: constant folding, redundant
    node elimination and fusions into ONNX Runtime's portable contrib ops (no hardware-specific layouts)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".infer-optimize-") as tmp:
        optimized = Path(tmp) / out.name
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(optimized)
        options.log_severity_level = 3
        if artifacts.sidecar(out).exists():
            options.add_session_config_entry("session.optimized_model_external_initializers_file_name", out.name + SIDECAR_SUFFIX)
            options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
        try:
            ort.InferenceSession(str(out), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own exception types
            raise ConvertError(f"onnxruntime cannot optimise {out}: {first_line(exc)}") from None
        artifacts.save_model(artifacts.load_model(optimized), out)


def quantize(out: Path, kind: str) -> None:
    """Dynamic quantisation: weights stored as int8, activations quantised at run time (MatMul, Gemm...)."""
    if kind not in QUANTIZE_CHOICES:
        raise ConvertError(f"--quantize must be one of {', '.join(QUANTIZE_CHOICES)}; got '{kind}'")
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # quantize_dynamic logs advice about pre-processing through the root logger
    try:
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".infer-quantize-") as tmp:
            quantized = Path(tmp) / out.name
            external = artifacts.sidecar(out).exists()
            try:
                quantize_dynamic(str(out), str(quantized), weight_type=QuantType.QInt8, use_external_data_format=external)
            except Exception as exc:  # onnxruntime.quantization raises ValueError, RuntimeError...
                raise ConvertError(f"onnxruntime cannot quantise {out}: {first_line(exc)}") from None
            model = artifacts.load_model(quantized)
            artifacts.save_model(model, out)
    finally:
        quiet.setLevel(level)


def to_ort(source: Path, target: Path) -> Path:
    """Write `source` (.onnx) in ONNX Runtime's own format, `target` (.ort), with portable optimisations applied.

    The runtime opens an .ort file memory-mapped, with no optimisation or weight prepacking at load:
    the fastest session creation there is, at some cost in warm MatMul speed.
    """
    import onnxruntime as ort

    if target.suffix != ".ort":
        raise ConvertError(f"an ONNX Runtime format model must end in .ort; got {target.name}")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    options.add_session_config_entry("session.save_model_format", "ORT")
    options.log_severity_level = 3
    try:
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types
        raise ConvertError(f"onnxruntime cannot write {source} as {target.name}: {first_line(exc)}") from None
    return target
