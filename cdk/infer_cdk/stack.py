"""The stack `infer deploy` synthesises: one `OnnxFunction`, its outputs, tags, and cdk-nag's checks.

    synth(config, outdir)  ->  outdir/<Stack>.template.json, the assets, outdir/validation-report.json
"""

import json
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
        for rule, reason in ACKNOWLEDGED.items():
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
