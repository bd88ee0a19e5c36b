"""The stack `infer deploy` synthesises: one `OnnxFunction`, its outputs, tags, cdk-nag's checks, and the
checkov checks that do not apply to it (skipped in the template, each with its reason).

    synth(config, outdir)  ->  outdir/<Stack>.template.json, the assets, outdir/validation-report.json
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import aws_cdk as cdk
import cdk_nag
from constructs import Construct

from .construct import FunctionSettings, OnnxFunction

# Findings that are understood and accepted, each with its reason (the report keeps them visible).
ACKNOWLEDGED = {
    "AwsSolutions::AwsSolutions-L1": "The runtime is the Python version the zip was built and tested for "
                                     "(--python), not necessarily the newest one Lambda offers.",
}
# The same, acknowledged only in stacks whose function is placed in a VPC (the role's network-interface statements).
ACKNOWLEDGED_IN_A_VPC = {
    "AwsSolutions::AwsSolutions-IAM5[Resource::*]":
        "ec2:DescribeNetworkInterfaces and ec2:DescribeSubnets, which Lambda needs to attach the function to its "
        "subnets, cannot be limited to resources: EC2 allows them only on *.",
    "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*]":
        "Lambda creates, re-addresses and deletes the function's network interfaces, whose IDs are not known in "
        "advance; the role may create them only in the given subnets with the function's security group.",
}


@dataclass(frozen=True)
class Skip:
    """A checkov check that does not apply to one of the function's resources under some settings, and why."""

    check: str
    resource: str  # the OnnxFunction attribute: function, log_group, url or dead_letter_queue
    applies: Callable[[FunctionSettings], bool]
    reason: str


def _has_key(settings: FunctionSettings) -> bool:
    return bool(settings.kms_key_arn or settings.create_kms_key)


# Every checkov skip: written into the resource's Metadata (checkov's skip syntax) only where it applies.
CHECKOV_SKIPS = (
    Skip("CKV_AWS_117", "function", lambda s: not s.vpc_id,
         "No VPC unless --vpc-id: the function reaches nothing over the network (its model is in its package) and "
         "requests arrive through its function URL, which no VPC fronts."),
    Skip("CKV_AWS_116", "function", lambda s: not s.dead_letter_queue,
         "The function URL invokes synchronously and returns errors to the caller; a dead-letter queue only receives "
         "failed asynchronous invocations (--dead-letter-queue adds one)."),
    Skip("CKV_AWS_158", "log_group", lambda s: not _has_key(s),
         "CloudWatch Logs encrypts every log group at rest with AWS-owned keys; a customer-managed key, billed per key "
         "and per request, is opt-in (--kms-key create|ARN)."),
    Skip("CKV_AWS_173", "function", lambda s: bool(s.environment) and not _has_key(s),
         "Lambda encrypts environment variables at rest with an AWS managed key; infer's own are settings, not "
         "secrets. --kms-key encrypts them with a customer-managed key instead."),
    Skip("CKV_AWS_115", "function", lambda s: s.reserved_concurrency is None,
         "No reserved concurrency, as asked (--no-reserved-concurrency): for accounts whose concurrency quota leaves "
         "no room for a reservation."),
    Skip("CKV_AWS_258", "url", lambda s: s.public,
         "--public asks for AuthType NONE: anyone with the URL may call it; reserved concurrency caps the cost."),
    Skip("CKV_AWS_27", "dead_letter_queue", lambda s: s.dead_letter_queue and not _has_key(s),
         "The queue is encrypted with SQS-managed keys (SqsManagedSseEnabled), which this check does not recognise; "
         "--kms-key encrypts it with a customer-managed key instead."),
)


def checkov_skips(settings: FunctionSettings) -> list[Skip]:
    return [skip for skip in CHECKOV_SKIPS if skip.applies(settings)]


def skip_checkov_checks(onnx: OnnxFunction) -> None:
    by_resource: dict[str, list[dict[str, str]]] = {}
    for skip in checkov_skips(onnx.settings):
        by_resource.setdefault(skip.resource, []).append({"id": skip.check, "comment": skip.reason})
    for attribute, skips in by_resource.items():
        resource = getattr(onnx, attribute).node.default_child
        assert isinstance(resource, cdk.CfnResource)
        resource.add_metadata("checkov", {"skip": skips})


class InferStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, settings: FunctionSettings,
                 tags: dict[str, str] | None = None, **kwargs):
        super().__init__(scope, construct_id, **kwargs)
        self.onnx = OnnxFunction(self, "Model", settings)
        for key, value in {"infer:model": construct_id, **(tags or {})}.items():
            cdk.Tags.of(self).add(key, value)
        cdk.CfnOutput(self, "FunctionUrl", value=self.onnx.url.url)
        cdk.CfnOutput(self, "FunctionName", value=self.onnx.function.function_name)
        cdk.CfnOutput(self, "LogGroupName", value=self.onnx.log_group.log_group_name)
        cdk.CfnOutput(self, "AuthType", value="NONE" if settings.public else "AWS_IAM")
        skip_checkov_checks(self.onnx)
        acknowledged = {**ACKNOWLEDGED, **(ACKNOWLEDGED_IN_A_VPC if settings.vpc_id else {})}
        for rule, reason in acknowledged.items():
            cdk.Validations.of(self).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


@dataclass
class SynthResult:
    outdir: Path
    stack_name: str
    template: dict
    report: dict  # cdk-nag's validation report (empty when no plugin ran)

    @property
    def template_path(self) -> Path:
        return self.outdir / f"{self.stack_name}.template.json"


def settings_from(config: dict) -> FunctionSettings:
    known = {f.name for f in fields(FunctionSettings)}
    return FunctionSettings(**{k: v for k, v in config.items() if k in known})


def build_app(config: dict, outdir: str | Path) -> tuple[cdk.App, InferStack]:
    """`config`: the stack name, account/region (optional), tags, and `FunctionSettings` fields."""
    app = cdk.App(outdir=str(outdir))
    cdk.Validations.of(app).add_plugins(cdk_nag.AwsSolutionsChecks(app))
    env = None
    if config.get("region") or config.get("account"):
        env = cdk.Environment(account=config.get("account"), region=config.get("region"))
    stack = InferStack(app, config["stack_name"], settings_from(config), tags=config.get("tags"), env=env,
                       description=f"infer: ONNX model '{config.get('model_name', config['stack_name'])}' on Lambda")
    return app, stack


def synth(config: dict, outdir: str | Path) -> SynthResult:
    outdir = Path(outdir)
    app, stack = build_app(config, outdir)
    app.synth()
    template = json.loads((outdir / stack.template_file).read_text())
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return SynthResult(outdir, stack.stack_name, template, report)
