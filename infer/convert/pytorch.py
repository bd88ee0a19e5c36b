"""PyTorch modules -> ONNX through torch.onnx, with a dynamic batch axis.

Accepts a whole pickled module (`torch.save(model)`), a TorchScript file, or a state dict plus a
`module:function` factory that builds the module. The modern exporter (`dynamo=True`) is used when
onnxscript is installed, the classic TorchScript-based one otherwise or when the modern one fails.
"""

import contextlib
import io
import logging
import warnings

import numpy as np

from .base import Converted, Request
from .errors import ConvertError, first_line, need
from .loading import describe, import_factory
from .signature import generate, name_batch_axis

DEFAULT_OPSET = 18  # the lowest opset the modern exporter writes natively
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")


def convert(obj, request: Request, factory: str | None = None, progress=None) -> Converted:
    torch = need("torch", "converting a PyTorch model")
    module = _module(obj, factory, torch)
    module.eval()
    example = _example(module, request)
    tensor = torch.from_numpy(example)
    with torch.no_grad():
        result = module(tensor)
    results = list(result) if isinstance(result, (tuple, list)) else [result]
    if not all(isinstance(r, torch.Tensor) for r in results):
        raise ConvertError(f"{describe(module)} returns {type(result).__name__}; "
                           "infer exports modules that return a tensor or a tuple of tensors")
    output_names = ["output"] if len(results) == 1 else [f"output_{i}" for i in range(len(results))]
    onx, exporter, notes = _export(module, tensor, output_names, request.opset, torch, progress)
    name_batch_axis(onx)
    return Converted(
        model=onx, feeds={"input": example},
        reference={name: r.detach().numpy() for name, r in zip(output_names, results)},
        framework="torch", framework_version=torch.__version__, model_class=_describe(module, torch),
        input_source=request.sample.source if request.sample else "generated",
        notes=[f"exporter: {exporter}", *notes],
    )


def _describe(module, torch) -> str:
    if isinstance(module, torch.jit.ScriptModule):
        return f"TorchScript {getattr(module, 'original_name', 'module')}"
    return describe(module)


def _module(obj, factory: str | None, torch):
    if isinstance(obj, dict):
        state = next((obj[k] for k in CHECKPOINT_KEYS if isinstance(obj.get(k), dict)), obj)
        if factory is None:
            raise ConvertError("this file holds a state dict (weights only), not a module; "
                               "pass --factory module:function that builds the model")
        try:
            module = import_factory(factory)()
        except ConvertError:
            raise
        except Exception as exc:  # whatever the user's factory raises
            raise ConvertError(f"--factory {factory} failed: {first_line(exc)}") from None
        if not isinstance(module, torch.nn.Module):
            raise ConvertError(f"--factory {factory} returned {type(module).__name__}, not a torch.nn.Module")
        try:
            module.load_state_dict(state)
        except (RuntimeError, KeyError, TypeError) as exc:
            raise ConvertError(f"the state dict does not fit the module from --factory {factory}: {first_line(exc)}") from None
        return module
    if factory is not None:
        raise ConvertError("--factory is for a state-dict file; this file already holds a whole module")
    if not isinstance(obj, torch.nn.Module):
        raise ConvertError(f"the PyTorch file holds {describe(obj)}, not a torch.nn.Module")
    return obj


def _example(module, request: Request) -> np.ndarray:
    if request.sample is not None:
        if request.sample.array is None:
            raise ConvertError("a PyTorch model takes one tensor; the sample must be a plain array, not a structured one")
        arr = request.sample.array
        return np.ascontiguousarray(arr.astype(np.float32) if arr.dtype == np.float64 else arr)
    if request.input_shape is not None:
        return _array(generate(request.input_shape, request.input_dtype))
    first = next((m for m in module.modules() if not list(m.children()) and list(m.parameters(recurse=False))), None)
    in_features = getattr(first, "in_features", None)
    kind = getattr(first, "original_name", type(first).__name__)  # TorchScript keeps the class name there
    if kind == "Linear" and isinstance(in_features, int):
        return _array(generate((1, in_features), request.input_dtype))
    raise ConvertError(
        f"cannot infer the input shape of {describe(module)}; pass --sample FILE.npy, "
        "or --input-shape 1x3x32x32 --input-dtype float32 (batch first)"
    )


def _array(sample) -> np.ndarray:
    assert sample.array is not None  # generate() makes a plain array
    return sample.array


def _export(module, tensor, output_names, opset, torch, progress):
    notes: list[str] = []
    scripted = isinstance(module, torch.jit.ScriptModule)
    modern = not scripted and _has("onnxscript")
    if modern:
        try:
            with _quiet():
                program = torch.onnx.export(
                    module, (tensor,), dynamo=True, input_names=["input"], output_names=output_names,
                    dynamic_shapes=({0: torch.export.Dim.DYNAMIC},), opset_version=opset or DEFAULT_OPSET,
                    verbose=False,
                )
            return program.model_proto, "torch.onnx (dynamo)", notes
        except Exception as exc:  # the modern exporter fails on some Python control flow; try the classic one
            notes.append(f"modern exporter failed ({first_line(exc)[:200]}); used the classic one")
            if progress:
                progress.note("the modern exporter failed; trying the classic TorchScript-based one")
    import onnx

    buffer = io.BytesIO()
    axes = {name: {0: "batch"} for name in ["input", *output_names]}
    try:
        with _quiet():
            torch.onnx.export(
                module, (tensor,), buffer, dynamo=False, input_names=["input"], output_names=output_names,
                dynamic_axes=axes, opset_version=opset or DEFAULT_OPSET,
            )
    except Exception as exc:  # torch.onnx raises many error types
        reason = notes[0] if notes else first_line(exc)
        raise ConvertError(f"torch.onnx cannot export {describe(module)}: {reason}") from None
    return onnx.load_from_string(buffer.getvalue()), "torch.onnx (classic)", notes


def _has(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


@contextlib.contextmanager
def _quiet():
    """The exporters log and warn about things a user cannot act on (deprecations, optional torchvision)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
