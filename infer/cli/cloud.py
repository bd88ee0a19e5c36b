"""Commands that ship and operate the function on AWS: package, deploy, destroy, logs, list."""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from infer.runtime import contract

from . import app, fail

DEPLOY_SETTINGS = ("name", "region", "profile", "memory", "timeout", "arch", "python", "format", "public",
                   "reserved_concurrency", "no_reserved_concurrency", "provisioned_concurrency", "ephemeral_storage",
                   "log_retention", "cors_origin", "tag", "env", "vpc_id", "subnet_id", "kms_key", "invoke_principal",
                   "dead_letter_queue", "monitoring", "alarm_topic", "url", "snapstart", "queue", "max_receives",
                   "batch_size", "batching_window", "max_concurrency", "bucket", "prefix", "suffix", "output")


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
    sources: Annotated[bool, typer.Option("--sources", help="Add boto3 to the image, for a function fed by a queue or a bucket or writing results to S3/SQS (infer deploy sets it; the zip route's managed runtime has boto3).")] = False,
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
            if base_image or ca_bundle or artifact or sources:
                raise PackageError("--base-image, --ca-bundle, --artifact and --sources are for the image route, not "
                                   "--format zip (Lambda's managed Python runtime already has boto3)")
            zipped = package_zip(model, out, arch, python, environment, log=_log(as_json), strategy=strategy)
            typer.echo(json.dumps(package_json(zipped)) if as_json else describe_zip(zipped))
        elif format == "image":
            context = write_context(model, out, arch, python, base_image, environment, ca_bundle, strategy, artifact,
                                    sources=sources)
            typer.echo(json.dumps(package_json(context)) if as_json else describe(context))
        else:
            raise PackageError(f"--format must be image or zip, not {format!r}")
    except PackageError as exc:
        raise fail(str(exc), 2) from None


def _memory_mb(value, name: str, log) -> int:
    """--memory: MB, or `tuned[:POLICY]`, which takes what `infer tune` recorded for the model and says so."""
    from infer.deploy import state

    if isinstance(value, int):
        return value
    if str(value).split(":")[0] != "tuned":
        try:
            return int(value)
        except ValueError:
            raise fail(f"--memory takes MB or tuned[:balanced|cheapest|fastest], not {value!r}", 2) from None
    policy = str(value).partition(":")[2] or "balanced"
    try:
        memory_mb, record = state.tuned_memory(name, policy)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    enforced = "" if record.get("cpu_share_enforced") else ", CPU share not enforced"
    log(f"memory {memory_mb} MB: infer tune's {policy} choice for {name} ({record.get('arch')}, {record.get('region')}, "
        f"measured {record.get('measured_at', '?')}{enforced})")
    return memory_mb


@app.command()
def deploy(
    ctx: typer.Context,
    model: Annotated[Path, typer.Argument(help="The .onnx model to deploy.")],
    stage: Annotated[str | None, typer.Option(help="Take settings from \\[environments.STAGE] of infer.toml (or \\[tool.infer] in pyproject.toml); flags override them.")] = None,
    name: Annotated[str | None, typer.Option(help="Function name for infer predict/destroy (default: the model's name).")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region (default: AWS_REGION or your profile's).")] = None,
    profile: Annotated[str | None, typer.Option(help="AWS profile to deploy with.")] = None,
    memory: Annotated[str, typer.Option(help="Memory in MB (1769 MB = 1 vCPU), or tuned (infer tune's balanced choice for this model; tuned:cheapest, tuned:fastest).")] = "2048",
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
    url: Annotated[bool, typer.Option("--url/--no-url", help="A function URL (the default); --no-url for a function fed only by its queue or bucket (or invoked directly).")] = True,
    snapstart: Annotated[bool | None, typer.Option("--snapstart/--no-snapstart", help="SnapStart on a published version behind the alias live (zip route only; its default unless --provisioned-concurrency).")] = None,
    queue: Annotated[bool, typer.Option("--queue", help="An SQS queue (with a dead-letter queue) whose messages are prediction requests, read in batches that report partial failures.")] = False,
    max_receives: Annotated[int | None, typer.Option(help="Receives before a message goes to the dead-letter queue (default 5, AWS's advice: throttled batches count too).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Messages per invocation (default 10; above 10 needs --batching-window; up to 10000).")] = None,
    batching_window: Annotated[int | None, typer.Option(help="Seconds Lambda may wait to fill a batch (0-300, default 0).")] = None,
    max_concurrency: Annotated[int | None, typer.Option(help="Environments the queue may use at once (2-1000; default: the reserved concurrency, never more).")] = None,
    bucket: Annotated[str | None, typer.Option(help="new: a bucket the stack creates; each object created under --prefix is predicted.")] = None,
    prefix: Annotated[str | None, typer.Option(help="The bucket's input prefix (default in/).")] = None,
    suffix: Annotated[list[str] | None, typer.Option(help="Only objects whose key ends so, e.g. .json (repeat).")] = None,
    output: Annotated[str | None, typer.Option(help="Where results go: PREFIX/ in the stack's bucket (default out/), s3://BUCKET/PREFIX/, or an SQS queue URL.")] = None,
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
     vpc_id, subnet_id, kms_key, invoke_principal, dead_letter_queue, monitoring, alarm_topic, url, snapstart, queue,
     max_receives, batch_size, batching_window, max_concurrency, bucket, prefix, suffix,
     output) = (settings[k] for k in DEPLOY_SETTINGS)
    if not model.is_file():
        raise fail(f"model file not found: {model}", 2)
    memory_mb = _memory_mb(memory, name or served_name(model), _log(as_json))
    if synth_only and out is None:
        raise fail("--synth-only writes to a directory: give -o DIR", 2)
    if synth_only and diff:
        raise fail("give --synth-only (offline) or --diff (against the deployed stack), not both", 2)
    if no_reserved_concurrency and reserved_concurrency is not None:
        raise fail("give --reserved-concurrency N or --no-reserved-concurrency, not both", 2)
    concurrency = {"reserved_concurrency": None} if no_reserved_concurrency else (
        {} if reserved_concurrency is None else {"reserved_concurrency": reserved_concurrency})
    options = DeployOptions(
        name=name, region=region, profile=profile, memory_mb=memory_mb, timeout_s=timeout, arch=arch, python=python,
        package_format=format, public=public, provisioned_concurrency=provisioned_concurrency,
        ephemeral_storage_mb=ephemeral_storage, log_retention_days=log_retention, cors_origins=list(cors_origin or []),
        tags=_pairs(tag, "--tag"), environment=_pairs(env, "--env"), vpc_id=vpc_id, subnet_ids=list(subnet_id or []),
        kms_key=kms_key, invoke_principals=list(invoke_principal or []), dead_letter_queue=dead_letter_queue,
        monitoring=monitoring, alarm_topic_arn=alarm_topic, url=url, snapstart=snapstart, queue=queue,
        max_receives=max_receives, batch_size=batch_size, batching_window_s=batching_window,
        max_concurrency=max_concurrency, bucket=bucket, prefix=prefix, suffixes=list(suffix or []), output=output,
        **concurrency,
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
    deployed = name or served_name(model)
    record = state.lookup(deployed) or {}
    if not options.url:
        head = "No function URL (--no-url): send work to the queue or the bucket below, or invoke the function directly"
    elif outputs.url:
        head = f"Function URL ({outputs.auth}): {outputs.url}"
    else:
        head = "warning: the stack reported no function URL (see the CloudFormation console)"
    lines = [head, f"  function {outputs.function_name}, logs {outputs.log_group}"]
    if outputs.queue_url:
        lines.append(f"  queue {outputs.queue_url} (dead letters: {outputs.dead_letter_queue_url})")
    if outputs.input_bucket:
        lines.append(f"  bucket s3://{outputs.input_bucket}/{record.get('bucket', {}).get('prefix', '')}")
    if outputs.output:
        lines.append(f"  results {outputs.output}")
    if record.get("bench"):
        lines.append(f"  measure: {record['bench']}")
    if options.url:
        lines.append(f"  try: infer predict {deployed} --data '[[...]]'")
    typer.echo("\n".join(lines))


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
