"""The `infer` command line. Each command parses its options, calls one function, and turns failures
into a one-line message and a non-zero exit code."""

import json
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from infer.runtime import __version__, contract

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


@app.command()
def serve(
    model: Annotated[Path, typer.Argument(help="The .onnx model file to serve.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8080,
    concurrency: Annotated[int, typer.Option(help="Most execution environments at once; beyond it requests get 429.")] = 4,
    timeout: Annotated[float, typer.Option(help="Seconds a request may run before its environment is killed (502).")] = 30.0,
    memory: Annotated[int, typer.Option(help="Function memory in MB, as on Lambda: each execution environment gets memory / 1769 vCPU (a cgroup CPU quota) and a memory limit of that size where cgroups can be written (otherwise it says so), and the runtime sizes its threads from it.")] = 2048,
    name: Annotated[str | None, typer.Option(help="Model name in URLs (default: the manifest's name or the file's stem).")] = None,
    auth: Annotated[str, typer.Option(help="none, or iam: accept only requests signed with SigV4 by the AWS credentials this command finds (403 otherwise).")] = "none",
    lambda_api_port: Annotated[int | None, typer.Option(help="Also serve the emulated Lambda API (Invoke, Get/UpdateFunctionConfiguration) on this port, on 127.0.0.1 only, for boto3 and `infer bench --function`; 0 picks a free one. Off by default: it can change the function's environment.")] = None,
):
    """Run the function locally behind a function URL emulator, each environment a real awslambdaric process."""
    from infer.local import serve as serving

    options = serving.ServeOptions(host, port, concurrency, timeout, memory, name, auth, lambda_api_port)
    try:
        emulator = serving.start(model, options)
    except serving.ServeError as exc:
        raise fail(str(exc), exc.code) from None
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background, where SIGINT starts ignored
    typer.echo(serving.banner(model, emulator, options))
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
    url: Annotated[str, typer.Argument(help="Function URL (its /predict is used), a full endpoint URL, or the name of a function `infer deploy` saved.")],
    data: Annotated[str | None, typer.Option("--data", "-d", help="Request JSON, or a JSON array of instances.")] = None,
    input: Annotated[Path | None, typer.Option("--input", "-i", help="A .json request or a .npy array of instances.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer.")] = 60.0,
    auth: Annotated[str, typer.Option(help="auto (sign for AWS_IAM function URLs and saved IAM deployments), iam (always sign with SigV4), none.")] = "auto",
    region: Annotated[str | None, typer.Option(help="Region to sign for (default: the function URL's, the saved one, or AWS_REGION).")] = None,
    profile: Annotated[str | None, typer.Option(help="AWS profile whose credentials sign the request.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Wrap the answer: {url, signed, region, answer}.")] = False,
):
    """Send one prediction request and print the JSON answer (signed with SigV4 when the URL uses AWS_IAM)."""
    from infer.client import ClientError, load_payload, post_json, predict_url, resolve, sigv4_signer

    try:
        target, sign, region, profile = resolve(url, auth, region, profile)
        payload = load_payload(data, input)
        signer = sigv4_signer(region, profile) if sign else None
        answer = post_json(predict_url(target), payload, timeout, signer)
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        answer = {"url": predict_url(target), "signed": sign, "region": region, "answer": answer}
    typer.echo(json.dumps(answer))


@app.command()
def bench(
    models: Annotated[list[Path] | None, typer.Argument(help="One or more .onnx models (several: cold start against model size).")] = None,
    cold: Annotated[int, typer.Option(help="Cold samples per variant, each a fresh execution environment.")] = 5,
    warm: Annotated[int, typer.Option(help="Warm requests per variant, after the last cold sample.")] = 100,
    strategies: Annotated[str, typer.Option(help="Load strategies to measure: lazy, prefetch, eager.")] = "lazy,prefetch,eager",
    formats: Annotated[str, typer.Option(help="Artifact formats to measure: onnx, ort (memory-mapped).")] = "onnx,ort",
    baselines: Annotated[bool, typer.Option("--baselines/--no-baselines", help="Also measure the floor and the typical FastAPI + Mangum function.")] = True,
    memory: Annotated[str, typer.Option(help="Function memory in MB; with --function a list such as 1024,2048,4096 to sweep.")] = "2048",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every raw sample and the configuration here.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG: cold-start phases per variant (and against model size).")] = None,
    function: Annotated[str | None, typer.Option(help="Measure a deployed function through the Lambda API instead of local models.")] = None,
    data: Annotated[str | None, typer.Option("--data", "-d", help="With --function: the request JSON to invoke it with.")] = None,
    input: Annotated[Path | None, typer.Option("--input", "-i", help="With --function: a .json request or .npy instances.")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="With --function: Lambda API endpoint (e.g. `infer serve`'s).")] = None,
    region: Annotated[str | None, typer.Option(help="With --function: AWS region.")] = None,
    profile: Annotated[str | None, typer.Option(help="With --function: AWS profile.")] = None,
):
    """Measure cold and warm starts: locally through the emulator (page cache evicted before each cold
    start), or, with --function, a deployed function through the Lambda API."""
    from infer.bench import BenchError, run

    try:
        memories = run.parse_memories(memory)
        if cold < 1 or warm < 0:
            raise BenchError("--cold must be at least 1 and --warm at least 0", 2)
        if function:
            run.function(function, _payload(data, input, f"the request to invoke {function} with"), cold, warm,
                         memories, endpoint_url, region, profile, json_out, echo=typer.echo)
        elif len(memories) > 1:
            raise BenchError("a memory sweep (--memory a,b,c) needs --function; locally, give one size", 2)
        else:
            run.local(models or [], cold, warm, strategies, formats, baselines, memories[0], json_out, plot,
                      echo=typer.echo)
    except BenchError as exc:
        raise fail(str(exc), exc.code) from None


def _payload(data: str | None, input: Path | None, what: str):
    from infer.bench import BenchError
    from infer.client import ClientError, load_payload

    try:
        return load_payload(data, input)
    except ClientError as exc:
        raise BenchError(f"{exc} ({what})", 2) from None


@app.command()
def tune(
    model: Annotated[Path | None, typer.Argument(help="The .onnx model to tune (not with --function).")] = None,
    memory: Annotated[str, typer.Option(help="Memory sizes in MB to compare, comma-separated (128 to 10240).")] = "512,1024,1769,3008",
    payload: Annotated[Path | None, typer.Option(help="A JSON request body (KServe V1 or Open Inference Protocol; default: one generated from the model's signature). With --function: the event to invoke it with.")] = None,
    arch: Annotated[str | None, typer.Option(help="Price as arm64 or x86_64 (default: arm64 locally, the function's own with --function).")] = None,
    region: Annotated[str | None, typer.Option(help="Region whose prices apply (default: us-east-1 locally; the client's with --function).")] = None,
    cold: Annotated[int, typer.Option(help="Cold starts per size (page cache evicted before each; with --function, forced by publishing a version).")] = 3,
    warm: Annotated[int, typer.Option(help="Warm requests per size.")] = 50,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results and recommendations here.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG: warm latency and cost against memory.")] = None,
    function: Annotated[str | None, typer.Option(help="Tune a deployed function through the Lambda API (Power Tuning's method); its configuration is restored.")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="With --function: Lambda API endpoint (e.g. `infer serve --lambda-api-port`'s).")] = None,
    profile: Annotated[str | None, typer.Option(help="With --function: AWS profile.")] = None,
):
    """Choose the memory size from measured latency and cost: cold and warm requests at each size, locally
    (each environment gets the CPU share its memory buys) or on AWS, and the cheapest, fastest and balanced picks."""
    from infer.bench import BenchError, report
    from infer.bench import tune as tuning
    from infer.runtime.contract import DEFAULT_ARCH

    try:
        if function:
            if model is not None:
                raise BenchError("give a model or --function NAME, not both", 2)
            from infer.bench import tune_aws

            tune_aws.tune(function, memory, payload, arch, region, cold, warm, json_out, plot, endpoint_url, profile,
                          echo=typer.echo, progress=report.progress_line)
        elif model is None:
            raise BenchError("give an .onnx model, or --function NAME", 2)
        else:
            tuning.local(model, memory, payload, arch or DEFAULT_ARCH, region or "us-east-1", cold, warm,
                         json_out, plot, echo=typer.echo, progress=report.progress_line)
    except BenchError as exc:
        raise fail(str(exc), exc.code) from None


@app.command()
def convert(
    model: Annotated[Path, typer.Argument(help="Trained model: a scikit-learn/XGBoost/LightGBM pickle or joblib file, a PyTorch "
                                               "file (torch.save module, TorchScript, or a state dict with --factory), an XGBoost "
                                               ".json/.ubj or a LightGBM text model. Loading a pickle runs code: only convert files you trust.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output .onnx file (default: MODEL with .onnx); the manifest goes beside it as .json.")] = None,
    framework: Annotated[str, typer.Option(help="auto, sklearn, torch, xgboost or lightgbm.")] = "auto",
    sample: Annotated[Path | None, typer.Option(help="A .npy array of example inputs (batch first; a structured array for one input per column); used for the signature and the parity check.")] = None,
    input_shape: Annotated[str | None, typer.Option(help="Input shape, batch first, e.g. 1x4 or 1x3x28x28, when there is no --sample.")] = None,
    input_dtype: Annotated[str, typer.Option(help="Input element type with --input-shape.")] = "float32",
    opset: Annotated[int | None, typer.Option(help="ONNX opset (default: 17, or 18 for PyTorch).")] = None,
    tolerance: Annotated[float, typer.Option(help="Largest allowed error of the ONNX model against the original (absolute up to 1, relative above).")] = 1e-4,
    optimize: Annotated[bool, typer.Option("--optimize", help="Write a pre-optimised, portable model (onnxruntime extended optimisations).")] = False,
    quantize: Annotated[str | None, typer.Option(help="int8: onnxruntime dynamic quantisation; reports size and parity before and after.")] = None,
    name: Annotated[str | None, typer.Option(help="Model name in the manifest and URLs (default: the output file's stem).")] = None,
    factory: Annotated[str | None, typer.Option(help="module:function that builds the PyTorch module, when MODEL is a state dict.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON instead of a summary.")] = False,
):
    """Convert a trained model to ONNX, check it against the original, and write a manifest beside it.

    Loading a pickle (scikit-learn, joblib, torch.save) runs code: only convert files you trust.
    Exit codes: 0 converted and parity passed; 1 parity failed (files still written); 2 bad input.
    """
    from infer.convert import ConvertError, Progress
    from infer.convert import convert as convert_model
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


DEPLOY_SETTINGS = ("name", "region", "profile", "memory", "timeout", "arch", "python", "format", "public",
                   "reserved_concurrency", "no_reserved_concurrency", "provisioned_concurrency", "ephemeral_storage",
                   "log_retention", "cors_origin", "tag", "env", "vpc_id", "subnet_id", "kms_key", "invoke_principal",
                   "dead_letter_queue", "monitoring", "alarm_topic")


def _configured(ctx: typer.Context, stage: str | None) -> dict:
    """The deploy command's parameters: a flag given on the command line, else INFER_REGION/PROFILE/NAME, else
    the config file (the stage's table over its top level), else the flag's default."""
    import os

    from infer.deploy import config

    values, _ = config.resolve(stage, Path.cwd(), os.environ)
    params = dict(ctx.params)
    given = {k for k in params  # by name: typer may carry its own copy of click's ParameterSource
             if getattr(ctx.get_parameter_source(k), "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")}
    if given & {"reserved_concurrency", "no_reserved_concurrency"}:  # either flag replaces the file's choice
        values.pop("reserved_concurrency", None)
        values.pop("no_reserved_concurrency", None)
    params.update({k: v for k, v in values.items() if k not in given})
    return params


def _confirm_widening(yes: bool):
    """`infer deploy`'s answer to a change that lets more callers in: --yes, else ask on a terminal, else refuse."""
    def confirm(reasons: list[str]) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            return False
        typer.echo("This deployment widens access:\n" + "\n".join(f"  - {r}" for r in reasons), err=True)
        return typer.confirm("Deploy it?", default=False, err=True)
    return confirm


def _log(as_json: bool):
    """Progress lines: on stdout, or on stderr when stdout carries one JSON object."""
    return (lambda line: typer.echo(line, err=True)) if as_json else typer.echo


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    pairs = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise fail(f"{option} takes KEY=VALUE, not {value!r}", 2)
        pairs[key] = rest
    return pairs


@app.command()
def package(
    model: Annotated[Path, typer.Argument(help="The .onnx model (its manifest and weights sidecar go with it).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the build context, or NAME.zip with --format zip.")],
    arch: Annotated[str, typer.Option(help="arm64 or x86_64.")] = contract.DEFAULT_ARCH,
    python: Annotated[str, typer.Option(help="Lambda Python version (3.11-3.14; the zip route with SnapStart needs 3.12+).")] = contract.DEFAULT_PYTHON,
    base_image: Annotated[str | None, typer.Option(help="Another Debian-based Python image instead of the AWS Lambda base (awslambdaric is the entry point).")] = None,
    format: Annotated[str, typer.Option("--format", help="image (a container build context) or zip (a deployment zip).")] = "image",
    env: Annotated[list[str] | None, typer.Option("--env", help="KEY=VALUE for the function's environment (repeat).")] = None,
    ca_bundle: Annotated[Path | None, typer.Option(help="CA bundle pip trusts during the image build (for an intercepting proxy).")] = None,
    strategy: Annotated[str | None, typer.Option(help="Model load strategy: lazy, prefetch or eager (default: the benchmark's best for the model's size).")] = None,
    artifact: Annotated[str | None, typer.Option(help="onnx, or ort (converted here, opened memory-mapped) (default: the benchmark's best).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (path, sizes) instead of the summary.")] = False,
):
    """Write a self-contained container build context (or a deployment zip) for the model, and say what it holds."""
    from infer.deploy.report import package_json
    from infer.package import PackageError
    from infer.package.context import describe, write_context
    from infer.package.zip_route import describe_zip, package_zip

    environment = _pairs(env, "--env")
    try:
        if format == "zip":
            if base_image or ca_bundle or artifact:
                raise PackageError("--base-image, --ca-bundle and --artifact are for the image route, not --format zip")
            zipped = package_zip(model, out, arch, python, environment, log=_log(as_json), strategy=strategy)
            typer.echo(json.dumps(package_json(zipped)) if as_json else describe_zip(zipped))
        elif format == "image":
            context = write_context(model, out, arch, python, base_image, environment, ca_bundle, strategy, artifact)
            typer.echo(json.dumps(package_json(context)) if as_json else describe(context))
        else:
            raise PackageError(f"--format must be image or zip, not {format!r}")
    except PackageError as exc:
        raise fail(str(exc), 2) from None


@app.command()
def deploy(
    ctx: typer.Context,
    model: Annotated[Path, typer.Argument(help="The .onnx model to deploy.")],
    stage: Annotated[str | None, typer.Option(help="Take settings from \\[environments.STAGE] of infer.toml (or \\[tool.infer] in pyproject.toml); flags override them.")] = None,
    name: Annotated[str | None, typer.Option(help="Function name for infer predict/destroy (default: the model's name).")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region (default: AWS_REGION or your profile's).")] = None,
    profile: Annotated[str | None, typer.Option(help="AWS profile to deploy with.")] = None,
    memory: Annotated[int, typer.Option(help="Memory in MB (1769 MB = 1 vCPU).")] = 2048,
    timeout: Annotated[int, typer.Option(help="Seconds a request may run.")] = 30,
    arch: Annotated[str, typer.Option(help="arm64 or x86_64.")] = contract.DEFAULT_ARCH,
    python: Annotated[str, typer.Option(help="Lambda Python version.")] = contract.DEFAULT_PYTHON,
    format: Annotated[str, typer.Option("--format", help="image (container image) or zip (managed runtime with SnapStart).")] = "image",
    public: Annotated[bool, typer.Option("--public", help="Function URL without auth (AuthType NONE): anyone with the URL can call it.")] = False,
    reserved_concurrency: Annotated[int | None, typer.Option(help="Cap on concurrent environments: a ceiling on cost, and a small share of the account's pool (default: 10).")] = None,
    no_reserved_concurrency: Annotated[bool, typer.Option("--no-reserved-concurrency", help="No cap, for accounts whose concurrency quota leaves no room to reserve any.")] = False,
    provisioned_concurrency: Annotated[int | None, typer.Option(help="Environments kept initialised on an alias (billed while idle); at most the reserved concurrency.")] = None,
    ephemeral_storage: Annotated[int, typer.Option(help="/tmp size in MB.")] = 512,
    log_retention: Annotated[int, typer.Option(help="Days CloudWatch keeps the logs.")] = 30,
    cors_origin: Annotated[list[str] | None, typer.Option(help="Allowed CORS origin (repeat).")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="KEY=VALUE tag on every resource (repeat).")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="KEY=VALUE for the function's environment (repeat).")] = None,
    vpc_id: Annotated[str | None, typer.Option(help="Place the function in this VPC (vpc-...), in the subnets given with --subnet-id, with a security group that allows no traffic in or out.")] = None,
    subnet_id: Annotated[list[str] | None, typer.Option(help="A private subnet (subnet-...) of --vpc-id for the function (repeat).")] = None,
    kms_key: Annotated[str | None, typer.Option(help="Customer-managed KMS key for the environment variables, the log group and the dead-letter queue: a key ARN, or create (a new key, rotated).")] = None,
    invoke_principal: Annotated[list[str] | None, typer.Option(help="Account ID or IAM role/user ARN allowed to call the IAM-authenticated URL (repeat).")] = None,
    dead_letter_queue: Annotated[bool, typer.Option("--dead-letter-queue", help="An encrypted SQS queue for failed asynchronous invocations.")] = False,
    monitoring: Annotated[bool, typer.Option("--monitoring/--no-monitoring", help="CloudWatch alarms (Errors, Throttles, p99 Duration near the timeout) and a dashboard of Lambda's and infer's metrics.")] = True,
    alarm_topic: Annotated[str | None, typer.Option(help="SNS topic ARN the alarms notify.")] = None,
    diff: Annotated[bool, typer.Option("--diff", help="Package and synthesise, then show `cdk diff` against the deployed stack; change nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Deploy a change that widens access (a public URL, new invoke principals) without asking.")] = False,
    synth_only: Annotated[bool, typer.Option("--synth-only", help="Write the CloudFormation template and assets to -o DIR and stop (offline).")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Where the package and cdk.out go (required with --synth-only).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (URL, function, log group, stack, auth, template); progress goes to stderr.")] = False,
):
    """Package the model and deploy it to AWS Lambda behind a function URL (AWS_IAM auth unless --public)."""
    from infer.deploy import DeployError, state
    from infer.deploy.deployer import DeployOptions, synthesise
    from infer.deploy.deployer import deploy as deploy_model
    from infer.deploy.deployer import diff as diff_stack
    from infer.deploy.report import deploy_json, synth_json
    from infer.runtime.manifest import served_name

    try:
        settings = _configured(ctx, stage)
    except DeployError as exc:
        raise fail(str(exc), exc.code) from None
    (name, region, profile, memory, timeout, arch, python, format, public, reserved_concurrency,
     no_reserved_concurrency, provisioned_concurrency, ephemeral_storage, log_retention, cors_origin, tag, env,
     vpc_id, subnet_id, kms_key, invoke_principal, dead_letter_queue, monitoring,
     alarm_topic) = (settings[k] for k in DEPLOY_SETTINGS)
    if not model.is_file():
        raise fail(f"model file not found: {model}", 2)
    if synth_only and out is None:
        raise fail("--synth-only writes to a directory: give -o DIR", 2)
    if synth_only and diff:
        raise fail("give --synth-only (offline) or --diff (against the deployed stack), not both", 2)
    if no_reserved_concurrency and reserved_concurrency is not None:
        raise fail("give --reserved-concurrency N or --no-reserved-concurrency, not both", 2)
    concurrency = {"reserved_concurrency": None} if no_reserved_concurrency else (
        {} if reserved_concurrency is None else {"reserved_concurrency": reserved_concurrency})
    options = DeployOptions(
        name=name, region=region, profile=profile, memory_mb=memory, timeout_s=timeout, arch=arch, python=python,
        package_format=format, public=public, provisioned_concurrency=provisioned_concurrency,
        ephemeral_storage_mb=ephemeral_storage, log_retention_days=log_retention, cors_origins=list(cors_origin or []),
        tags=_pairs(tag, "--tag"), environment=_pairs(env, "--env"), vpc_id=vpc_id, subnet_ids=list(subnet_id or []),
        kms_key=kms_key, invoke_principals=list(invoke_principal or []), dead_letter_queue=dead_letter_queue,
        monitoring=monitoring, alarm_topic_arn=alarm_topic, **concurrency,
    )
    if public:
        typer.echo("warning: --public makes the function URL callable by anyone who has it (AuthType NONE); "
                   "--reserved-concurrency caps what that can cost", err=True)
    try:
        if synth_only:
            assert out is not None  # checked above
            result = synthesise(model, options, out, log=_log(as_json))
            if as_json:
                typer.echo(json.dumps(synth_json(name or served_name(model), result, region)))
                return
            typer.echo(f"Synthesised {result.stack_name}: {result.template_path}\n"
                       f"  cdk-nag report: {result.outdir / 'validation-report.json'}\n"
                       f"  deploy it: cdk deploy {result.stack_name} --app {result.outdir}")
            return
        if diff:
            shown: list[str] = []

            def keep(line: str) -> None:
                shown.append(line)
                _log(as_json)(line)

            template = diff_stack(model, options, out, log=keep)
            if as_json:
                typer.echo(json.dumps({"name": name or served_name(model), "template": str(template),
                                       "diff": [line[len("  cdk: "):] for line in shown if line.startswith("  cdk: ")]}))
            return
        outputs = deploy_model(model, options, out, log=_log(as_json), confirm=_confirm_widening(yes))
    except DeployError as exc:
        raise fail(str(exc), exc.code) from None
    if as_json:
        deployed = name or served_name(model)
        typer.echo(json.dumps(deploy_json(deployed, outputs, state.lookup(deployed) or {})))
        return
    url = (f"Function URL ({outputs.auth}): {outputs.url}" if outputs.url
           else "warning: the stack reported no function URL (see the CloudFormation console)")
    typer.echo(f"{url}\n  function {outputs.function_name}, logs {outputs.log_group}\n"
               f"  try: infer predict {name or served_name(model)} --data '[[...]]'")


@app.command()
def destroy(
    name: Annotated[str, typer.Argument(help="The name the function was deployed under.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (name, stack); progress goes to stderr.")] = False,
):
    """Remove a deployed function's stack (function, URL, role, logs)."""
    from infer.deploy import DeployError
    from infer.deploy.deployer import destroy as destroy_stack

    try:
        stack = destroy_stack(name, log=_log(as_json))
    except DeployError as exc:
        raise fail(str(exc), exc.code) from None
    if as_json:
        typer.echo(json.dumps({"name": name, "stack": stack, "destroyed": True}))
    else:
        typer.echo(f"destroyed {stack}")


@app.command()
def logs(
    name: Annotated[str, typer.Argument(help="The name the function was deployed under (see infer list).")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C.")] = False,
    since: Annotated[str, typer.Option(help="How far back to start: 30s, 10m, 2h, 1d, 1w, or an ISO time (UTC).")] = "10m",
    filter: Annotated[str | None, typer.Option("--filter", help="CloudWatch Logs filter pattern: a word, a \"quoted phrase\", or { $.status = 500 }.")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Print the lines as the function wrote them (no summary of infer's EMF lines).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object (JSON lines with --follow): time, stream, message, parsed request line.")] = False,
):
    """Print the deployed function's CloudWatch logs, infer's per-request metric lines summarised."""
    import time

    from infer.deploy import DeployError
    from infer.deploy import logs as log_reader

    try:
        group, record = log_reader.log_group_of(name)
        start_ms = log_reader.since_ms(since, int(time.time() * 1000))
        client = log_reader.logs_client(record)

        def show(event):
            if as_json:
                typer.echo(json.dumps(event.as_json()))
            else:
                typer.echo(event.message.rstrip("\n") if raw else log_reader.summary(event))

        if not follow:
            events = log_reader.fetch(client, group, start_ms, filter)
            if as_json:
                typer.echo(json.dumps({"name": name, "log_group": group, "events": [e.as_json() for e in events]}))
            else:
                for event in events:
                    show(event)
            return
        try:
            for event in log_reader.follow(client, group, start_ms, filter):
                show(event)
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass
    except DeployError as exc:
        raise fail(str(exc), exc.code) from None


@app.command("list")
def list_deployments(
    remote: Annotated[bool, typer.Option("--remote", help="Also the CloudFormation stacks infer made in the region (tag infer:model).")] = False,
    region: Annotated[str | None, typer.Option(help="With --remote: the region to look in (default: AWS_REGION or your profile's).")] = None,
    profile: Annotated[str | None, typer.Option(help="With --remote: the AWS profile to look with.")] = None,
    stage: Annotated[str | None, typer.Option(help="With --remote: the region and profile of this environment of the config file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object: deployments (and stacks with --remote).")] = False,
):
    """List the deployments recorded on this machine (and, with --remote, infer's stacks in AWS)."""
    import os

    from infer.deploy import DeployError, config, listing

    rows = listing.local()
    try:
        stacks = None
        if remote:  # flags, else INFER_REGION/INFER_PROFILE, else the config file, as for infer deploy
            settings, _ = config.resolve(stage, Path.cwd(), os.environ)
            stacks = listing.remote(region or settings.get("region"), profile or settings.get("profile"))
    except DeployError as exc:
        raise fail(str(exc), exc.code) from None
    if as_json:
        answer: dict = {"deployments": rows}
        if stacks is not None:
            answer["stacks"] = [s.as_json() for s in stacks]
        typer.echo(json.dumps(answer))
        return
    typer.echo(listing.table(rows, listing.COLUMNS) if rows else "no deployments recorded here (see infer deploy)")
    if stacks is not None:
        typer.echo("\nstacks tagged infer:model in AWS:")
        typer.echo(listing.table([s.as_json() for s in stacks], ("stack", "status", "region", "url", "auth",
                                                                  "created_at", "recorded_as")) if stacks else "none")


if __name__ == "__main__":
    app()
