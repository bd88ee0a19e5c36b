"""The `infer` command line. Each command parses its options, calls one function, and turns failures
into a one-line message and a non-zero exit code."""

import errno
import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from infer.runtime import __version__

app = typer.Typer(
    help="Serve a trained model as an ONNX Runtime function on AWS Lambda, and run the same function locally.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _version(value: bool):
    if value:
        typer.echo(f"infer {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = None,
):
    pass


@app.command()
def serve(
    model: Annotated[Path, typer.Argument(help="The .onnx model file to serve.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8080,
    concurrency: Annotated[int, typer.Option(help="Most execution environments at once; beyond it requests get 429.")] = 4,
    timeout: Annotated[float, typer.Option(help="Seconds a request may run before its environment is killed (502).")] = 30.0,
    memory: Annotated[int, typer.Option(help="Function memory in MB, as on Lambda (sets the vCPU share the runtime assumes).")] = 2048,
    name: Annotated[Optional[str], typer.Option(help="Model name in URLs (default: the manifest's name or the file's stem).")] = None,
):
    """Run the function locally behind a function URL emulator, each environment a real awslambdaric process."""
    from infer.local.emulator import Emulator
    from infer.local.function import model_function

    if not model.is_file():
        raise fail(f"model file not found: {model}", 2)
    if concurrency < 1:
        raise fail("--concurrency must be at least 1", 2)
    if timeout <= 0:
        raise fail("--timeout must be a positive number of seconds", 2)
    if not 128 <= memory <= 10240:
        raise fail("--memory must be between 128 and 10240 MB, as on Lambda", 2)
    if not 0 <= port <= 65535:
        raise fail("--port must be between 0 and 65535 (0 picks a free port)", 2)
    function = model_function(model, name=name, memory_mb=memory, timeout_s=timeout)
    try:
        emulator = Emulator(function, concurrency=concurrency, host=host, port=port)
    except (OSError, OverflowError) as exc:
        function.remove_staging()
        if getattr(exc, "errno", None) == errno.EADDRINUSE:
            raise fail(f"port {port} on {host} is already in use; pass --port N (0 picks a free port)") from None
        raise fail(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}") from None
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background, where SIGINT starts ignored
    model_name = function.name
    typer.echo(
        f"Serving model '{model_name}' ({model}) at {emulator.url}\n"
        f"  up to {concurrency} execution environments, {timeout:g} s timeout, {memory} MB; Ctrl-C stops\n"
        f"  try: curl -s {emulator.url}/v2/models/{model_name}\n"
        f"       infer predict {emulator.url}/v1/models/{model_name}:predict --data '{{\"instances\": [[...]]}}'"
    )
    sys.stdout.flush()
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
        typer.echo("stopped", err=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@app.command()
def predict(
    url: Annotated[str, typer.Argument(help="Function URL (its /predict is used) or a full endpoint URL.")],
    data: Annotated[Optional[str], typer.Option("--data", "-d", help="Request JSON, or a JSON array of instances.")] = None,
    input: Annotated[Optional[Path], typer.Option("--input", "-i", help="A .json request or a .npy array of instances.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer.")] = 60.0,
):
    """Send one prediction request and print the JSON answer."""
    from infer.client import ClientError, load_payload, post_json, predict_url

    try:
        answer = post_json(predict_url(url), load_payload(data, input), timeout)
    except ClientError as exc:
        raise fail(str(exc)) from None
    typer.echo(json.dumps(answer))


@app.command()
def convert(
    model: Annotated[Path, typer.Argument(help="Trained model: a scikit-learn/XGBoost/LightGBM pickle or joblib file, a PyTorch "
                                               "file (torch.save module, TorchScript, or a state dict with --factory), an XGBoost "
                                               ".json/.ubj or a LightGBM text model. Loading a pickle runs code: only convert files you trust.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output .onnx file (default: MODEL with .onnx); the manifest goes beside it as .json.")] = None,
    framework: Annotated[str, typer.Option(help="auto, sklearn, torch, xgboost or lightgbm.")] = "auto",
    sample: Annotated[Optional[Path], typer.Option(help="A .npy array of example inputs (batch first; a structured array for one input per column); used for the signature and the parity check.")] = None,
    input_shape: Annotated[Optional[str], typer.Option(help="Input shape, batch first, e.g. 1x4 or 1x3x28x28, when there is no --sample.")] = None,
    input_dtype: Annotated[str, typer.Option(help="Input element type with --input-shape.")] = "float32",
    opset: Annotated[Optional[int], typer.Option(help="ONNX opset (default: 17, or 18 for PyTorch).")] = None,
    tolerance: Annotated[float, typer.Option(help="Largest allowed error of the ONNX model against the original (absolute up to 1, relative above).")] = 1e-4,
    optimize: Annotated[bool, typer.Option("--optimize", help="Write a pre-optimised, portable model (onnxruntime extended optimisations).")] = False,
    quantize: Annotated[Optional[str], typer.Option(help="int8: onnxruntime dynamic quantisation; reports size and parity before and after.")] = None,
    name: Annotated[Optional[str], typer.Option(help="Model name in the manifest and URLs (default: the output file's stem).")] = None,
    factory: Annotated[Optional[str], typer.Option(help="module:function that builds the PyTorch module, when MODEL is a state dict.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON instead of a summary.")] = False,
):
    """Convert a trained model to ONNX, check it against the original, and write a manifest beside it.

    Loading a pickle (scikit-learn, joblib, torch.save) runs code: only convert files you trust.
    Exit codes: 0 converted and parity passed; 1 parity failed (files still written); 2 bad input.
    """
    from infer.convert import ConvertError, Progress, convert as convert_model
    from infer.convert.report import summary

    try:
        result = convert_model(
            model, out, framework=framework, sample=sample, input_shape=input_shape, input_dtype=input_dtype,
            opset=opset, tolerance=tolerance, optimize=optimize, quantize=quantize, name=name, factory=factory,
            progress=Progress(),
        )
    except ConvertError as exc:
        raise fail(str(exc), 2) from None
    typer.echo(json.dumps(result.manifest, indent=2) if as_json else summary(result))
    if not result.passed:
        raise fail(f"parity check failed against the original model (tolerance {tolerance:g}); "
                   f"the files are written for inspection: {result.model_path}, {result.manifest_path}", 1)


if __name__ == "__main__":
    app()
