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

from infer.event_sources import SNAPSTART_ALIAS, Output

from .construct import FunctionSettings, OnnxFunction
from .sources import SourceSettings

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


def acknowledged_for_sources(onnx: OnnxFunction) -> dict[str, str]:
    """cdk-nag's findings on the sources that are understood: the objects under a prefix (their keys are not known
    in advance)."""
    stack = cdk.Stack.of(onnx)
    found: dict[str, str] = {}
    for bucket_name, pattern, what in _object_grants(onnx):
        resource = stack.resolve(f"arn:{cdk.Aws.PARTITION}:s3:::{bucket_name}/{pattern}")
        found[f"AwsSolutions::AwsSolutions-IAM5[Resource::{_nag_text(resource)}]"] = (
            f"The function {what} objects whose keys are not known in advance; the grant is limited to that prefix.")
    return found


def _object_grants(onnx: OnnxFunction) -> list[tuple[str, str, str]]:
    sources = onnx.sources
    grants = []
    if sources.input_bucket_name is not None:
        grants.append((sources.input_bucket_name, f"{sources.settings.prefix}*", "reads the new"))
    output = sources.settings.output
    if output is not None and output.kind == "s3":
        bucket = sources.output_bucket_name
        assert bucket is not None
        grants.append((bucket, f"{output.prefix}*", "writes result"))
    return grants


def _nag_text(resolved) -> str:
    """A resolved CloudFormation value as cdk-nag names it in a finding: Fn::Join flattened, Ref X as <X>, and
    Fn::GetAtt X.Y as <X.Y>."""
    if isinstance(resolved, str):
        return resolved
    if isinstance(resolved, dict) and "Fn::Join" in resolved:
        separator, parts = resolved["Fn::Join"]
        return separator.join(_nag_text(part) for part in parts)
    if isinstance(resolved, dict) and "Ref" in resolved:
        return f"<{resolved['Ref']}>"
    if isinstance(resolved, dict) and "Fn::GetAtt" in resolved:
        return f"<{'.'.join(resolved['Fn::GetAtt'])}>"
    return json.dumps(resolved)


@dataclass(frozen=True)
class Skip:
    """A checkov check that does not apply to one of the function's resources under some settings, and why."""

    check: str
    resource: str  # the OnnxFunction attribute (function, log_group, url, dead_letter_queue), or sources.<name>
    applies: Callable[[FunctionSettings], bool]
    reason: str


def _has_key(settings: FunctionSettings) -> bool:
    return bool(settings.kms_key_arn or settings.create_kms_key)


def _has_variables(settings: FunctionSettings) -> bool:
    return bool(settings.environment or settings.sources.output)


def _stack_buckets(settings: FunctionSettings) -> bool:
    output = settings.sources.output
    return settings.sources.bucket or bool(output and output.in_stack_bucket)


SQS_MANAGED_REASON = ("The queue is encrypted with SQS-managed keys (SqsManagedSseEnabled), which this check does not "
                      "recognise; --kms-key encrypts it with a customer-managed key instead.")


# Every checkov skip: written into the resource's Metadata (checkov's skip syntax) only where it applies.
CHECKOV_SKIPS = (
    Skip("CKV_AWS_117", "function", lambda s: not s.vpc_id,
         "No VPC unless --vpc-id: the function reaches nothing over the network (its model is in its package) and "
         "requests arrive through its function URL, which no VPC fronts."),
    Skip("CKV_AWS_116", "function", lambda s: not s.dead_letter_queue,
         "The function URL (and an SQS event source mapping, whose failed messages go to the queue's own dead-letter "
         "queue) invokes synchronously; a function dead-letter queue only receives failed asynchronous invocations "
         "(--dead-letter-queue adds one; --bucket new, whose S3 events are asynchronous, always has one)."),
    Skip("CKV_AWS_158", "log_group", lambda s: not _has_key(s),
         "CloudWatch Logs encrypts every log group at rest with AWS-owned keys; a customer-managed key, billed per key "
         "and per request, is opt-in (--kms-key create|ARN)."),
    Skip("CKV_AWS_173", "function", lambda s: _has_variables(s) and not _has_key(s),
         "Lambda encrypts environment variables at rest with an AWS managed key; infer's own are settings, not "
         "secrets. --kms-key encrypts them with a customer-managed key instead."),
    Skip("CKV_AWS_115", "function", lambda s: s.reserved_concurrency is None,
         "No reserved concurrency, as asked (--no-reserved-concurrency): for accounts whose concurrency quota leaves "
         "no room for a reservation."),
    Skip("CKV_AWS_258", "url", lambda s: s.public,
         "--public asks for AuthType NONE: anyone with the URL may call it; reserved concurrency caps the cost."),
    Skip("CKV_AWS_27", "dead_letter_queue", lambda s: s.dead_letter_queue and not _has_key(s), SQS_MANAGED_REASON),
    Skip("CKV_AWS_27", "sources.queue", lambda s: s.sources.queue and not _has_key(s), SQS_MANAGED_REASON),
    Skip("CKV_AWS_27", "sources.dead_letters", lambda s: s.sources.queue and not _has_key(s), SQS_MANAGED_REASON),
    Skip("CKV_AWS_18", "sources.access_logs", _stack_buckets,
         "This bucket receives the server access logs of the stack's other buckets; logging its own accesses into "
         "itself would log every log delivery, without end."),
)


def checkov_skips(settings: FunctionSettings) -> list[Skip]:
    return [skip for skip in CHECKOV_SKIPS if skip.applies(settings)]


def skip_checkov_checks(onnx: OnnxFunction) -> None:
    by_resource: dict[str, list[dict[str, str]]] = {}
    for skip in checkov_skips(onnx.settings):
        by_resource.setdefault(skip.resource, []).append({"id": skip.check, "comment": skip.reason})
    for attribute, skips in by_resource.items():
        if attribute.startswith("sources."):
            resource = onnx.sources.resources()[attribute.removeprefix("sources.")]
        else:
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
        if self.onnx.url is not None:
            cdk.CfnOutput(self, "FunctionUrl", value=self.onnx.url.url)
            cdk.CfnOutput(self, "AuthType", value="NONE" if settings.public else "AWS_IAM")
        cdk.CfnOutput(self, "FunctionName", value=self.onnx.function.function_name)
        cdk.CfnOutput(self, "LogGroupName", value=self.onnx.log_group.log_group_name)
        if self.onnx.target is not self.onnx.function:
            cdk.CfnOutput(self, "Qualifier", value=SNAPSTART_ALIAS)
        self._source_outputs()
        skip_checkov_checks(self.onnx)
        acknowledged = {**ACKNOWLEDGED, **(ACKNOWLEDGED_IN_A_VPC if settings.vpc_id else {}),
                        **acknowledged_for_sources(self.onnx)}
        for rule, reason in acknowledged.items():
            cdk.Validations.of(self).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))

    def _source_outputs(self) -> None:
        sources = self.onnx.sources
        if sources.queue is not None and sources.dead_letters is not None:
            cdk.CfnOutput(self, "QueueUrl", value=sources.queue.queue_url)
            cdk.CfnOutput(self, "DeadLetterQueueUrl", value=sources.dead_letters.queue_url)
        if sources.input_bucket is not None:
            cdk.CfnOutput(self, "InputBucket", value=sources.input_bucket.bucket_name)
            cdk.CfnOutput(self, "InputPrefix", value=sources.settings.prefix)
        if sources.output_value is not None:
            cdk.CfnOutput(self, "Output", value=sources.output_value)


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
    values = {k: v for k, v in config.items() if k in known}
    if isinstance(values.get("sources"), dict):
        sources = dict(values["sources"])
        if isinstance(sources.get("output"), dict):
            sources["output"] = Output(**sources["output"])
        sources["suffixes"] = tuple(sources.get("suffixes") or ())
        values["sources"] = SourceSettings(**sources)
    return FunctionSettings(**values)


def build_app(config: dict, outdir: str | Path) -> tuple[cdk.App, InferStack]:
    """`config`: the stack name, account/region (optional), tags, and `FunctionSettings` fields."""
    # S3 server access logs are allowed by a bucket policy on the log bucket (no ACLs: its objects stay owned by
    # the bucket owner), CDK's recommended behaviour for new projects.
    app = cdk.App(outdir=str(outdir), context={"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True})
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
