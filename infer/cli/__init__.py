"""The `infer` command line. Each command parses its options, calls one function, and turns failures
into a one-line message and a non-zero exit code. The commands live in two modules: `local` (convert,
serve, predict, bench, tune: this machine) and `cloud` (package, deploy, destroy, logs, list: shipping
and operating on AWS)."""

from typing import Annotated

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
    version: Annotated[bool | None, typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = None,
):
    pass


# Importing the modules registers their commands on `app`, in this order in `infer --help`.
# isort: off
from . import local  # noqa: E402
from . import cloud  # noqa: E402
# isort: on

__all__ = ["app", "cloud", "fail", "local"]
