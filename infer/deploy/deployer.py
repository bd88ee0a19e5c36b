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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

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
            (self.package_format == "image" or self.python in contract.SNAPSTART_PYTHON_VERSIONS,
             "the zip route uses SnapStart, which needs --python 3.12 or newer"),
            (not any(key.lower().startswith("aws:") for key in self.tags),
             "--tag keys may not start with aws: (AWS reserves them)"),
        ]
        try:
            contract.check_variables(self.environment)
        except ValueError as exc:
            checks.append((False, f"--env: {exc}"))
        if problem := contract.environment_size_problem(self.environment):
            checks.append((False, f"--env: {problem}"))
        checks += self._security_checks()
        for ok, message in checks:
            if not ok:
                raise DeployError(message, 2)

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
        "dead_letter_queue": options.dead_letter_queue,
        "monitoring": options.monitoring, "alarm_topic_arn": options.alarm_topic_arn,
        "metrics_model": environment.get(contract.MODEL_NAME) or options.environment.get(contract.MODEL_NAME)
        or metrics_model or name,
        # where `cdk deploy` will build the image's first stage: this machine
        "build_platform": host_platform() if options.package_format == "image" else None,
    }


def package_for_deploy(model: Path, options: DeployOptions, out: Path, log) -> tuple[Path, dict[str, str]]:
    """Step 1: the asset CDK deploys, and the environment the function needs (zip route only)."""
    from infer.package.context import describe, write_context
    from infer.package.zip_route import describe_zip, package_zip

    try:
        if options.package_format == "zip":
            zipped = package_zip(model, out / "function.zip", options.arch, options.python, options.environment, log)
            log(describe_zip(zipped))
            return zipped.path, zipped.environment
        result = write_context(model, out / "context", options.arch, options.python, environment=options.environment)
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
                      "deployed_at": datetime.now(UTC).isoformat(timespec="seconds")})
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
    state.forget(name)
    return record["stack"]
