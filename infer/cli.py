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
    function = model_function(model, name=name, memory_mb=memory, timeout_s=timeout)
    try:
        emulator = Emulator(function, concurrency=concurrency, host=host, port=port)
    except OSError as exc:
        function.remove_staging()
        if exc.errno == errno.EADDRINUSE:
            raise fail(f"port {port} on {host} is already in use; pass --port N (0 picks a free port)") from None
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    signal.signal(signal.SIGTERM, _interrupt)
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


if __name__ == "__main__":
    app()
