"""`infer deploy MODEL`, step by step:

1. Check the options, then the prerequisites: Node.js and the CDK CLI, a container builder (image route),
   credentials, a region, the CDK bootstrap. Anything missing is named with its fix (exit code 2) before
   anything is built or uploaded.
2. Package the model into DIR/package: a container build context (default) or a deployment zip.
3. Synthesise the CDK app (`infer_cdk`) into DIR/cdk.out (template and assets), with cdk-nag's AwsSolutions
   checks; any finding that is not acknowledged with a reason fails here. `--synth-only` does steps 2 and 3
   only, offline, with no AWS account and no Docker.
4. `cdk deploy --app DIR/cdk.out`, which builds and pushes the image (or uploads the zip) and creates the stack.
5. Read the stack outputs back (the CLI's outputs file, else CloudFormation), print the function URL, and
   save the deployment so `infer predict NAME` and `infer destroy NAME` find it.

Before step 4, the synthesised template is compared with the deployed stack's: a change that lets more callers
in (a public URL, a new invoke principal) needs a confirmation or --yes. `infer deploy --diff` does steps 1 to 3
and shows `cdk diff` against the deployed stack instead of deploying.

`infer destroy NAME` runs `cdk destroy` on the saved assembly and forgets the function.
"""

import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from infer import event_sources as sources
from infer.package import PackageError
from infer.podman import host_platform
from infer.runtime import contract
from infer.runtime.manifest import served_name

from . import DeployError, access, state
from .cdk_cli import Outputs, deploy_argv, destroy_argv, diff_argv, quiet_node_warnings, read_outputs, run_cdk
from .prerequisites import check

if TYPE_CHECKING:
    from infer_cdk.stack import SynthResult

LOG_RETENTION_DAYS = 30
# Reserved concurrency unless told otherwise: a ceiling on what a busy (or abused) URL can cost, 10 environments
# billed at once, and 1% of the regional pool of 1000 concurrent executions that every function in the account
# shares (Lambda keeps 100 of them unreserved). --no-reserved-concurrency where the account's quota is lower.
DEFAULT_RESERVED_CONCURRENCY = 10
MAX_SUBNETS = 16  # Lambda's VpcConfig limit

# Formats checked before anything is packaged, each with what the user should give instead.
VPC_ID = re.compile(r"vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})")
SUBNET_ID = re.compile(r"subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})")
KMS_KEY_ARN = re.compile(r"arn:aws(?:-cn|-us-gov)?:kms:([a-z]{2}(?:-[a-z]+)+-\d):\d{12}:key/"
                         r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})")
SNS_TOPIC_ARN = re.compile(r"arn:aws(?:-cn|-us-gov)?:sns:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_-]{1,256}(?:\.fifo)?")
PRINCIPAL = re.compile(r"\d{12}|arn:aws(?:-cn|-us-gov)?:iam::\d{12}:(?:root|(?:user|role)/[\w+=,.@/-]+)")


@dataclass
class DeployOptions:
    name: str | None = None
    region: str | None = None
    profile: str | None = None
    memory_mb: int = 2048  # until the benchmark picks a default
    timeout_s: int = 30
    arch: str = contract.DEFAULT_ARCH
    python: str = contract.DEFAULT_PYTHON
    package_format: str = "image"
    public: bool = False
    reserved_concurrency: int | None = DEFAULT_RESERVED_CONCURRENCY  # None: no reservation
    provisioned_concurrency: int | None = None
    ephemeral_storage_mb: int = 512
    log_retention_days: int = LOG_RETENTION_DAYS
    cors_origins: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    vpc_id: str | None = None
    subnet_ids: list[str] = field(default_factory=list)
    kms_key: str | None = None  # a key ARN, or "create"
    invoke_principals: list[str] = field(default_factory=list)
    dead_letter_queue: bool = False
    monitoring: bool = True  # alarms and a dashboard
    alarm_topic_arn: str | None = None
    url: bool = True  # the function URL (--no-url: none)
    snapstart: bool | None = None  # None: on for the zip route (without provisioned concurrency), off for images
    queue: bool = False  # an SQS queue (and its dead-letter queue) feeding the function
    max_receives: int | None = None  # the queue's redrive count (sources.DEFAULT_MAX_RECEIVES)
    batch_size: int | None = None
    batching_window_s: int | None = None
    max_concurrency: int | None = None  # the event source mapping's; default: the reserved concurrency
    bucket: str | None = None  # "new": a bucket the stack creates, whose new objects under `prefix` feed the function
    prefix: str | None = None
    suffixes: list[str] = field(default_factory=list)
    output: str | None = None  # s3://BUCKET/PREFIX/, an SQS queue URL, or PREFIX/ in the stack's bucket

    @property
    def has_sources(self) -> bool:
        return self.queue or self.bucket is not None

    @property
    def uses_snapstart(self) -> bool:
        if self.snapstart is not None:
            return self.snapstart
        return self.package_format == "zip" and not self.provisioned_concurrency

    @property
    def qualifier(self) -> str | None:
        """The alias the URL, the sources and `infer bench --qualifier` use, when there is one."""
        return sources.SNAPSTART_ALIAS if self.uses_snapstart or self.provisioned_concurrency else None

    def resolved_output(self) -> sources.Output | None:
        """Where results go (None without a source); ValueError for a bad --output."""
        if not self.has_sources:
            return None
        return sources.parse_output(self.output)

    def effective_max_concurrency(self) -> int | None:
        """The mapping's maximum concurrency: as given, else the reserved concurrency (so that the mapping never
        takes more environments than the function may run: a throttled batch counts as a receive)."""
        if self.max_concurrency is not None or not self.queue:
            return self.max_concurrency
        return self.reserved_concurrency

    def validate(self) -> None:
        checks = [
            (contract.memory_problem(self.memory_mb) is None, f"--memory {contract.memory_problem(self.memory_mb)}"),
            (contract.timeout_problem(self.timeout_s) is None, f"--timeout {contract.timeout_problem(self.timeout_s)}"),
            (contract.MIN_EPHEMERAL_STORAGE_MB <= self.ephemeral_storage_mb <= contract.MAX_EPHEMERAL_STORAGE_MB,
             f"--ephemeral-storage must be from {contract.MIN_EPHEMERAL_STORAGE_MB} to "
             f"{contract.MAX_EPHEMERAL_STORAGE_MB} MB"),
            (self.package_format in ("image", "zip"), "--format must be image or zip"),
            (self.reserved_concurrency is None or self.reserved_concurrency >= 1,
             "--reserved-concurrency must be at least 1 (0 would stop the function)"),
            (self.provisioned_concurrency is None or self.provisioned_concurrency >= 1,
             "--provisioned-concurrency must be at least 1"),
            (not (self.reserved_concurrency and self.provisioned_concurrency)
             or self.provisioned_concurrency <= self.reserved_concurrency,
             f"--provisioned-concurrency ({self.provisioned_concurrency}) cannot exceed --reserved-concurrency "
             f"({self.reserved_concurrency}{', the default' if self.reserved_concurrency == DEFAULT_RESERVED_CONCURRENCY else ''}): "
             "raise --reserved-concurrency"),
            (not self.uses_snapstart or self.python in contract.SNAPSTART_PYTHON_VERSIONS,
             f"SnapStart{' (the zip route default)' if self.snapstart is None else ''} needs --python 3.12 or newer "
             "(AWS supports it on Lambda's Python 3.12+ runtimes); pass --no-snapstart or a newer --python"),
            (not any(key.lower().startswith("aws:") for key in self.tags),
             "--tag keys may not start with aws: (AWS reserves them)"),
        ]
        try:
            contract.check_variables(self.environment)
        except ValueError as exc:
            checks.append((False, f"--env: {exc}"))
        if problem := contract.environment_size_problem(self.environment):
            checks.append((False, f"--env: {problem}"))
        checks += self._security_checks() + self._snapstart_checks() + self._source_checks()
        for ok, message in checks:
            if not ok:
                raise DeployError(message, 2)

    def _snapstart_checks(self) -> list[tuple[bool, str]]:
        default = " (the zip route's default)" if self.snapstart is None else ""
        return [
            (not (self.snapstart and self.package_format == "image"),
             f"--snapstart is for --format zip: {sources.SNAPSTART_RULE}"),
            (not (self.snapstart and self.provisioned_concurrency),
             "--snapstart and --provisioned-concurrency exclude each other (AWS: SnapStart does not support provisioned "
             "concurrency); drop one"),
            (not self.uses_snapstart or self.ephemeral_storage_mb <= sources.SNAPSTART_MAX_EPHEMERAL_STORAGE_MB,
             f"SnapStart{default} allows at most {sources.SNAPSTART_MAX_EPHEMERAL_STORAGE_MB} MB of --ephemeral-storage "
             f"(AWS's limit); got {self.ephemeral_storage_mb}: lower it, or pass --no-snapstart"),
        ]

    def _source_checks(self) -> list[tuple[bool, str]]:
        """The queue, bucket and output options: their ranges, and the combinations that cannot work."""
        window = self.batching_window_s or 0
        batch = self.batch_size if self.batch_size is not None else sources.DEFAULT_BATCH_SIZE
        queue_options = [name for name, value in (("--max-receives", self.max_receives), ("--batch-size", self.batch_size),
                                                  ("--batching-window", self.batching_window_s),
                                                  ("--max-concurrency", self.max_concurrency)) if value is not None]
        bucket_options = [name for name, given in (("--prefix", self.prefix is not None), ("--suffix", bool(self.suffixes)))
                          if given]
        try:
            output = self.resolved_output()
            output_problem = None
        except ValueError as exc:
            output, output_problem = None, str(exc)
        checks = [
            (self.queue or not queue_options, f"{', '.join(queue_options)} configure the queue source: add --queue"),
            (self.bucket is not None or not bucket_options,
             f"{', '.join(bucket_options)} configure the bucket source: add --bucket new"),
            (self.bucket in (None, "new"),
             f"--bucket takes new (a bucket the stack creates and secures), not {self.bucket!r}: an existing bucket's "
             "notifications can only be set through CDK's custom resource, whose handler needs a managed policy and "
             "s3:PutBucketNotification on every bucket (cdk-nag IAM4/IAM5); point that bucket at the function yourself"),
            (self.has_sources or self.output is None, "--output is where queue and bucket results go: add --queue or --bucket new"),
            (output_problem is None, output_problem or ""),
            (self.max_receives is None or 1 <= self.max_receives <= sources.MAX_RECEIVES,
             f"--max-receives must be from 1 to {sources.MAX_RECEIVES} (SQS's limit); got {self.max_receives}"),
            (0 <= window <= sources.MAX_BATCHING_WINDOW_S,
             f"--batching-window must be from 0 to {sources.MAX_BATCHING_WINDOW_S} seconds (Lambda's limit); got {window}"),
            (1 <= batch <= sources.MAX_BATCH_SIZE,
             f"--batch-size must be from 1 to {sources.MAX_BATCH_SIZE} (Lambda's limit for standard queues); got {batch}"),
            (batch <= sources.MAX_BATCH_SIZE_WITHOUT_WINDOW or window > 0,
             f"--batch-size above {sources.MAX_BATCH_SIZE_WITHOUT_WINDOW} needs --batching-window of at least 1 second "
             f"(Lambda's rule for SQS); got --batch-size {batch} without one"),
            (self.max_concurrency is None
             or sources.MIN_MAX_CONCURRENCY <= self.max_concurrency <= sources.MAX_MAX_CONCURRENCY,
             f"--max-concurrency must be from {sources.MIN_MAX_CONCURRENCY} to {sources.MAX_MAX_CONCURRENCY} "
             f"(Lambda's limit); got {self.max_concurrency}"),
            (not (self.queue and self.reserved_concurrency is not None and self.max_concurrency is None
                  and self.reserved_concurrency < sources.MIN_MAX_CONCURRENCY),
             f"--queue with --reserved-concurrency {self.reserved_concurrency}: the queue's mapping needs at least "
             f"{sources.MIN_MAX_CONCURRENCY} environments; raise --reserved-concurrency or pass --no-reserved-concurrency"),
            (self.max_concurrency is None or self.reserved_concurrency is None
             or self.max_concurrency <= self.reserved_concurrency,
             f"--max-concurrency ({self.max_concurrency}) cannot exceed --reserved-concurrency ({self.reserved_concurrency}): "
             "the mapping's extra batches would be throttled, and each throttled receive counts towards the dead-letter "
             "queue; raise --reserved-concurrency"),
            (sources.OUTPUT_VARIABLE not in self.environment,
             f"--env {sources.OUTPUT_VARIABLE}: give --output instead (it also grants the function access there)"),
            (self.url or not (self.public or self.invoke_principals or self.cors_origins),
             "--no-url leaves no function URL for --public, --invoke-principal or --cors-origin; drop them or the --no-url"),
            (all(self.suffixes) and len(set(self.suffixes)) == len(self.suffixes), "--suffix: each non-empty suffix once"),
        ]
        if self.prefix is not None:
            try:
                sources.check_input_prefix(self.prefix)
            except ValueError as exc:
                checks.append((False, str(exc)))
        if output is not None and output.in_stack_bucket and self.bucket == "new":
            prefix = self.prefix if self.prefix is not None else sources.DEFAULT_INPUT_PREFIX
            checks.append((not sources.prefixes_overlap(prefix, output.prefix),
                           f"--output {output.prefix} overlaps --prefix {prefix or '(the whole bucket)'} in the same bucket: "
                           "results written there would invoke the function again; choose prefixes where neither "
                           "starts with the other"))
        return checks

    def _security_checks(self) -> list[tuple[bool, str]]:
        bad_subnet = next((s for s in self.subnet_ids if not SUBNET_ID.fullmatch(s)), None)
        key_region = KMS_KEY_ARN.fullmatch(self.kms_key or "")
        bad_principal = next((p for p in self.invoke_principals if not PRINCIPAL.fullmatch(p)), None)
        return [
            (self.vpc_id is None or bool(VPC_ID.fullmatch(self.vpc_id)),
             f"--vpc-id must be a VPC ID like vpc-0123456789abcdef0; got {self.vpc_id!r}"),
            (bad_subnet is None, f"--subnet-id must be a subnet ID like subnet-0123456789abcdef0; got {bad_subnet!r}"),
            (not self.vpc_id or bool(self.subnet_ids),
             "--vpc-id needs the private subnets to place the function in: add --subnet-id subnet-... (repeat)"),
            (not self.subnet_ids or bool(self.vpc_id), "--subnet-id needs the VPC the subnets are in: add --vpc-id vpc-..."),
            (len(set(self.subnet_ids)) == len(self.subnet_ids), "--subnet-id: each subnet once"),
            (len(self.subnet_ids) <= MAX_SUBNETS, f"--subnet-id: at most {MAX_SUBNETS} subnets (Lambda's limit)"),
            (self.kms_key in (None, "create") or bool(key_region),
             "--kms-key must be create or a key ARN like arn:aws:kms:REGION:ACCOUNT:key/KEY-ID (not an alias); "
             f"got {self.kms_key!r}"),
            (not (key_region and self.region) or key_region.group(1) == self.region,
             f"--kms-key is in {key_region.group(1) if key_region else ''}, the function in {self.region}: "
             "give a key in the function's region, or --kms-key create"),
            (bad_principal is None, "--invoke-principal must be an account ID (12 digits) or an IAM ARN like "
                                    f"arn:aws:iam::ACCOUNT:role/NAME (or :user/NAME, :root); got {bad_principal!r}"),
            (len(set(self.invoke_principals)) == len(self.invoke_principals), "--invoke-principal: each principal once"),
            (self.alarm_topic_arn is None or bool(SNS_TOPIC_ARN.fullmatch(self.alarm_topic_arn)),
             f"--alarm-topic must be an SNS topic ARN like arn:aws:sns:REGION:ACCOUNT:NAME; got {self.alarm_topic_arn!r}"),
            (self.monitoring or self.alarm_topic_arn is None, "--alarm-topic needs the alarms: drop --no-monitoring"),
            (not (self.public and self.invoke_principals),
             "--invoke-principal grants calls on an IAM-authenticated URL; drop --public (AuthType NONE lets anyone call)"),
        ]


def stack_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")
    return f"infer-{cleaned}"[:128]


def cdk_app():
    """The CDK app (`infer_cdk`, shipped with infer); its libraries come with the deploy extra."""
    quiet_node_warnings()  # before jsii starts
    try:
        from infer_cdk import stack
    except ImportError as exc:
        raise DeployError(f"infer deploy needs the AWS CDK libraries ({exc.name} is missing): "
                          "pip install 'infer[deploy]'") from None
    return stack


def synth_config(name: str, asset: Path, options: DeployOptions, environment: dict[str, str],
                 metrics_model: str = "") -> dict:
    return {
        "stack_name": stack_name(name), "model_name": name, "region": options.region,
        "asset": str(asset), "package_format": options.package_format, "arch": options.arch,
        "python": options.python, "memory_mb": options.memory_mb, "timeout_s": options.timeout_s,
        "ephemeral_storage_mb": options.ephemeral_storage_mb, "public": options.public,
        "reserved_concurrency": options.reserved_concurrency,
        "provisioned_concurrency": options.provisioned_concurrency,
        "cors_origins": list(options.cors_origins), "log_retention_days": options.log_retention_days,
        "tags": dict(options.tags), "environment": environment,
        "vpc_id": options.vpc_id, "subnet_ids": list(options.subnet_ids),
        "kms_key_arn": None if options.kms_key == "create" else options.kms_key,
        "create_kms_key": options.kms_key == "create", "invoke_principals": list(options.invoke_principals),
        # S3 invokes asynchronously: events that still fail after Lambda's retries go to a dead-letter queue
        "dead_letter_queue": options.dead_letter_queue or options.bucket is not None,
        "monitoring": options.monitoring, "alarm_topic_arn": options.alarm_topic_arn,
        "url": options.url, "snapstart": options.uses_snapstart, "sources": source_config(options),
        "metrics_model": environment.get(contract.MODEL_NAME) or options.environment.get(contract.MODEL_NAME)
        or metrics_model or name,
        # where `cdk deploy` will build the image's first stage: this machine
        "build_platform": host_platform() if options.package_format == "image" else None,
    }


def source_config(options: DeployOptions) -> dict:
    """The `sources` part of the synth config (cdk/infer_cdk/sources.py's SourceSettings), JSON-serialisable."""
    output = options.resolved_output()
    return {
        "queue": options.queue,
        "max_receives": options.max_receives if options.max_receives is not None else sources.DEFAULT_MAX_RECEIVES,
        "batch_size": options.batch_size if options.batch_size is not None else sources.DEFAULT_BATCH_SIZE,
        "batching_window_s": options.batching_window_s or 0,
        "max_concurrency": options.effective_max_concurrency(),
        "bucket": options.bucket == "new",
        "prefix": options.prefix if options.prefix is not None else sources.DEFAULT_INPUT_PREFIX,
        "suffixes": list(options.suffixes),
        "output": None if output is None else asdict(output),
    }


def package_for_deploy(model: Path, options: DeployOptions, out: Path, log) -> tuple[Path, dict[str, str]]:
    """Step 1: the asset CDK deploys, and the environment the function needs (zip route only)."""
    from infer.package.context import describe, write_context
    from infer.package.zip_route import describe_zip, package_zip

    try:
        if options.package_format == "zip":  # Lambda's managed Python runtimes include boto3
            zipped = package_zip(model, out / "function.zip", options.arch, options.python, options.environment, log,
                                 snapstart=options.uses_snapstart)
            log(describe_zip(zipped))
            return zipped.path, zipped.environment
        result = write_context(model, out / "context", options.arch, options.python, environment=options.environment,
                               sources=options.has_sources)
        log(describe(result))
        return result.out, {}
    except PackageError as exc:
        raise DeployError(str(exc)) from None


def synthesise(model: str | Path, options: DeployOptions, out: str | Path, log=print):
    """Steps 1 and 2: package and synthesise into `out`; returns the synth result."""
    options.validate()
    model, out = Path(model), Path(out)
    name = options.name or served_name(model)
    log(f"[1/2] packaging {model} ({options.package_format}, {options.arch}, Python {options.python})")
    asset, environment = package_for_deploy(model, options, out / "package", log)
    log(f"[2/2] synthesising stack {stack_name(name)} with cdk-nag's AwsSolutions checks")
    synth = cdk_app().synth

    assembly = out / "cdk.out"
    shutil.rmtree(assembly, ignore_errors=True)
    config = synth_config(name, asset, options, environment, served_name(model))
    (out / "deploy.json").write_text(json.dumps(config, indent=2) + "\n")  # for cdk/app.py: cdk synth -c infer_config=...
    try:
        return synth(config, assembly)
    except ValueError as exc:
        raise DeployError(str(exc)) from None
    except RuntimeError as exc:  # jsii: a validation failure (cdk-nag) or a construct error
        raise DeployError(f"synthesis failed: {str(exc).splitlines()[0]} (report: {assembly / 'validation-report.json'})") from None


def _prepare(model: str | Path, options: DeployOptions, out: str | Path | None, log, checker,
             package_format: str) -> tuple[str, Path, "SynthResult"]:
    """Steps 1 to 3: options and prerequisites checked, then packaged and synthesised; (name, out, synth result)."""
    options.validate()
    name = options.name or served_name(model)
    out = Path(out).resolve() if out else state.config_dir() / "deployments" / name  # recorded: absolute
    missing = checker(package_format, options.region, options.profile, vpc_id=options.vpc_id,
                      subnet_ids=options.subnet_ids, kms_key=options.kms_key)
    if missing:
        raise DeployError("cannot deploy yet; missing:\n" + "\n".join(f"  - {item}" for item in missing), 2)
    return name, out, synthesise(model, options, out, log)


def deployment_facts(options: DeployOptions, outputs: Outputs) -> dict:
    """What the record and `--json` say beyond the URL: SnapStart and the qualifier to bench, the sources."""
    facts: dict = {"function_url": options.url, "snapstart": options.uses_snapstart, "qualifier": options.qualifier}
    if outputs.function_name:
        facts["bench"] = f"infer bench --function {outputs.function_name}" + (
            f" --qualifier {options.qualifier}" if options.qualifier else "")
    if options.queue:
        facts["queue"] = {"url": outputs.queue_url, "dead_letter_queue_url": outputs.dead_letter_queue_url,
                          "max_receives": options.max_receives or sources.DEFAULT_MAX_RECEIVES,
                          "batch_size": options.batch_size or sources.DEFAULT_BATCH_SIZE,
                          "batching_window_s": options.batching_window_s or 0,
                          "max_concurrency": options.effective_max_concurrency()}
    if options.bucket is not None:
        facts["bucket"] = {"name": outputs.input_bucket, "prefix": options.prefix if options.prefix is not None
                           else sources.DEFAULT_INPUT_PREFIX, "suffixes": list(options.suffixes)}
    if options.has_sources:
        facts["output"] = outputs.output
        output = options.resolved_output()
        if output is not None and output.in_stack_bucket and outputs.output.startswith("s3://"):
            # kept when the stack is destroyed (their objects are the user's data), with the access-log bucket
            facts["kept_buckets"] = [outputs.output[len("s3://"):].split("/", 1)[0]]
    return facts


def refuse(reasons: list[str]) -> bool:
    return False


def deploy(model: str | Path, options: DeployOptions, out: str | Path | None = None, log=print,
           runner=run_cdk, checker=check, reader=read_outputs, confirm=refuse,
           template_reader=access.deployed_template) -> Outputs:
    """All five steps, the prerequisites checked before anything is built; `runner`, `checker`, `reader` and
    `template_reader` are the CDK CLI, the prerequisite check, the outputs reader and the deployed template's
    reader (tests swap them). A change that lets more callers in goes ahead only if `confirm(reasons)` says so."""
    name, out, result = _prepare(model, options, out, log, checker, options.package_format)
    reasons = access.widened(template_reader(result.stack_name, options.region, options.profile), result.template)
    if reasons and not confirm(reasons):
        raise DeployError(f"not deployed: this change widens access to {result.stack_name} ({'; '.join(reasons)}); "
                          "confirm it when asked, or pass --yes", 2)
    outputs_file = out / "outputs.json"
    outputs_file.unlink(missing_ok=True)
    log(f"deploying {result.stack_name} (this uploads the package and creates the stack; it takes a few minutes)")
    runner(deploy_argv(["cdk"], result.outdir, result.stack_name, outputs_file, options.profile), log)
    outputs = reader(outputs_file, result.stack_name, options.region, options.profile)
    state.save(name, {"url": outputs.url, "auth": outputs.auth, "region": options.region,
                      "profile": options.profile, "stack": result.stack_name, "function_name": outputs.function_name,
                      "log_group": outputs.log_group, "assembly": str(result.outdir), "arch": options.arch,
                      "memory_mb": options.memory_mb, "timeout_s": options.timeout_s,
                      "package_format": options.package_format, "template": str(result.template_path),
                      "deployed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                      **deployment_facts(options, outputs)})
    return outputs


def diff(model: str | Path, options: DeployOptions, out: str | Path | None = None, log=print,
         runner=run_cdk, checker=check) -> Path:
    """Steps 1 to 3, then `cdk diff` of the synthesised stack against the deployed one; nothing is changed.
    No container builder is needed: nothing is built."""
    _, _, result = _prepare(model, options, out, log, checker, "zip")
    runner(diff_argv(["cdk"], result.outdir, result.stack_name, options.profile), log)
    return result.template_path


def destroy(name: str, log=print, runner=run_cdk) -> str:
    record = state.lookup(name)
    if record is None:
        known = ", ".join(sorted(state.load_all())) or "none"
        raise DeployError(f"no function named {name!r} was deployed from here (saved: {known})")
    assembly = Path(record.get("assembly", ""))
    if not assembly.is_dir():
        raise DeployError(f"the synthesised app for {name} is gone ({assembly}); delete the stack {record['stack']} "
                          "with: aws cloudformation delete-stack --stack-name " + record["stack"])
    log(f"destroying stack {record['stack']}")
    runner(destroy_argv(["cdk"], assembly, record["stack"], record.get("profile")), log)
    if record.get("kept_buckets"):
        log(f"kept with their objects: {', '.join('s3://' + b for b in record['kept_buckets'])} and the stack's "
            "access-log bucket: empty and delete them yourself when done (deploying this name again needs the input "
            "bucket gone: its name is fixed)")
    state.forget(name)
    return record["stack"]
