"""`infer serve`: the options checked, the emulator started for one model file (with its queue and bucket
sources when asked), and what the user is told."""

import errno
from dataclasses import dataclass, field
from pathlib import Path

from infer.runtime import contract, manifest

from .cgroups import vcpus
from .emulator import Emulator
from .function import default_region, model_function
from .sources import EventSources, SourceError, SourceOptions


class ServeError(Exception):
    """Why the emulator cannot start, in one line; `code` is the exit code (2: the user's input)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    concurrency: int = 4
    timeout_s: float = 30.0
    memory_mb: int = 2048
    name: str | None = None
    auth: str = "none"  # none | iam
    lambda_api_port: int | None = None
    sources: SourceOptions = field(default_factory=SourceOptions)

    def validate(self) -> None:
        checks = [
            (self.concurrency >= 1, "--concurrency must be at least 1"),
            (self.timeout_s > 0, "--timeout must be a positive number of seconds"),
            (contract.memory_problem(self.memory_mb) is None, f"--memory {contract.memory_problem(self.memory_mb)}"),
            (0 <= self.port <= 65535, "--port must be between 0 and 65535 (0 picks a free port)"),
            (self.lambda_api_port is None or 0 <= self.lambda_api_port <= 65535,
             "--lambda-api-port must be between 0 and 65535 (0 picks a free port)"),
            (self.auth in ("none", "iam"), "--auth must be none or iam"),
        ]
        for ok, message in checks:
            if not ok:
                raise ServeError(message)
        try:
            self.sources.validate(self.concurrency)
        except SourceError as exc:
            raise ServeError(str(exc), exc.code) from None


def authorizer(auth: str):
    """`--auth iam`: a SigV4 check with the credentials of whoever runs `infer serve`; None for `none`."""
    if auth == "none":
        return None
    try:
        from .sigv4 import SigV4Verifier, standard_credentials
        credentials = standard_credentials()
    except ImportError:
        raise ServeError("--auth iam needs botocore: pip install 'infer[deploy]'") from None
    if credentials is None:
        raise ServeError("--auth iam accepts requests signed with your AWS credentials, and none were found: set "
                         "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE")
    return SigV4Verifier(credentials, default_region())


class Served:
    """The emulator and, with --queue or --bucket, the event sources feeding it; stopped in reverse order."""

    def __init__(self, emulator: Emulator, sources: EventSources | None = None):
        self.emulator = emulator
        self.sources = sources

    def serve_forever(self) -> None:
        if self.sources is not None:
            pool = self.emulator.pool
            self.sources.start(pool.invoke, pool.log)
        self.emulator.serve_forever()

    def stop(self) -> None:
        if self.sources is not None:
            self.sources.stop_pollers()  # first: a batch being invoked may finish and delete what succeeded
        self.emulator.stop()
        if self.sources is not None:
            self.sources.close()


def start(model: Path, options: ServeOptions) -> Served:
    """The emulator for `model`, listening (not yet serving), and its event sources set up (not yet polling);
    nothing is left staged or running when it cannot start."""
    if not model.is_file():
        raise ServeError(f"model file not found: {model}")
    options.validate()
    check = authorizer(options.auth)
    function = model_function(model, name=options.name, memory_mb=options.memory_mb, timeout_s=options.timeout_s)
    sources = None
    if options.sources.wanted:
        from .sources import set_up

        try:
            sources = set_up(options.sources, function.name, function.arn, function.region, options.timeout_s,
                             options.concurrency)
        except SourceError as exc:
            function.remove_staging()
            raise ServeError(str(exc), exc.code) from None
        function.environment.update(sources.function_environment())
    try:
        emulator = Emulator(function, concurrency=options.concurrency, host=options.host, port=options.port,
                            authorizer=check, lambda_api_port=options.lambda_api_port)
    except (OSError, OverflowError) as exc:
        function.remove_staging()
        if sources is not None:
            sources.close()
        where = f"{options.host}:{options.port}"
        if getattr(exc, "errno", None) == errno.EADDRINUSE:
            raise ServeError(f"port {options.port} on {options.host} is already in use; "
                             "pass --port N (0 picks a free port)", 1) from None
        raise ServeError(f"cannot listen on {where}: {getattr(exc, 'strerror', None) or exc}", 1) from None
    return Served(emulator, sources)


def example_request(model: Path) -> dict:
    """A V1 request of one row of zeros, shaped as the model's manifest says (placeholders without one)."""
    try:
        inputs = manifest.read(str(model)).get("inputs") or []
        shape = inputs[0]["shape"][1:] if len(inputs) == 1 else None
    except (manifest.ManifestError, OSError, ValueError, KeyError, IndexError, TypeError):
        shape = None
    if not shape or not all(isinstance(n, int) and 0 < n <= 64 for n in shape):
        return {"instances": [["..."]]}
    row: object = 0.0
    for size in reversed(shape):
        row = [row] * size
    return {"instances": [row]}


def banner(model: Path, served: Served, options: ServeOptions) -> str:
    """What `infer serve` prints once it listens: where, with what limits, and how to try it."""
    emulator = served.emulator
    name, url, iam = emulator.function.name, emulator.url, options.auth == "iam"
    share = f"{vcpus(options.memory_mb):.2f} vCPU each" if emulator.pool.cpu_share_enforced \
        else "CPU share not enforced"
    lines = [f"Serving model '{name}' ({model}) at {url}",
             f"  up to {options.concurrency} execution environments, {options.timeout_s:g} s timeout, "
             f"{options.memory_mb} MB ({share}); Ctrl-C stops"]
    if emulator.lambda_api:
        lines += [f"  Lambda API (boto3 endpoint_url, function '{name}'): {emulator.lambda_api.url}",
                  "    for your own processes only, as 127.0.0.1 or localhost, signed with SigV4 ("
                  + ("your AWS credentials)" if iam else "any credentials)") + "; it may change INFER_* variables only"]
    if iam:
        lines.append("  AWS_IAM auth: requests must be signed with SigV4 (unsigned or wrongly signed ones get 403)")
    lines += [f"  try: curl -s {url}/v2/models/{name}",
              f"       infer predict {url}/v1/models/{name}:predict" + (" --auth iam" if iam else "")
              + " --data '{\"instances\": [[...]]}'"]
    if served.sources is not None:
        lines[-2:-2] = served.sources.banner_lines(example_request(model))
    return "\n".join(lines)
