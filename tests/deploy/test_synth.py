"""The CDK stack, really synthesised offline, checked with aws_cdk.assertions and cdk-nag's report."""

import json
import shutil
import subprocess

import pytest
from aws_cdk.assertions import Match, Template

from helpers import INFER, MODELS
from infer.deploy import DeployError
from infer.deploy.deployer import DEFAULT_RESERVED_CONCURRENCY, DeployOptions, synthesise


def template(result) -> Template:
    return Template.from_json(result.template)


def resources(result, kind):
    return [r["Properties"] for r in result.template["Resources"].values() if r["Type"] == kind]


def no_unacknowledged_findings(result):
    for report in result.report.get("pluginReports", []):
        assert report["violations"] == [], report["violations"]


def test_default_image_function_behind_an_iam_url(synthesised):
    result = synthesised()
    t = template(result)
    t.has_resource_properties("AWS::Lambda::Function", {
        "PackageType": "Image", "MemorySize": 2048, "Timeout": 30, "Architectures": ["arm64"],
        "EphemeralStorage": {"Size": 512}, "LoggingConfig": {"LogGroup": Match.any_value()},
    })
    t.has_resource_properties("AWS::Lambda::Url", {"AuthType": "AWS_IAM"})
    t.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})
    assert not resources(result, "AWS::Lambda::Alias")
    # reserved concurrency by default: a ceiling on cost (infer/deploy/deployer.py says why this number)
    assert resources(result, "AWS::Lambda::Function")[0]["ReservedConcurrentExecutions"] == DEFAULT_RESERVED_CONCURRENCY
    outputs = result.template["Outputs"]
    assert {"FunctionUrl", "FunctionName", "LogGroupName"} <= set(outputs)
    assert outputs["AuthType"]["Value"] == "AWS_IAM"
    no_unacknowledged_findings(result)
    # cdk deploy builds the image here: its first stage is told this machine's platform (podman 4.3 does not)
    from infer.podman import host_platform

    assets = json.loads((result.outdir / f"{result.stack_name}.assets.json").read_text())
    [image] = assets["dockerImages"].values()
    assert image["source"]["dockerBuildArgs"] == {"BUILDPLATFORM": host_platform()}
    assert image["source"]["platform"] == "linux/arm64"


def test_role_may_only_write_its_own_logs(synthesised):
    result = synthesised()
    (role,) = resources(result, "AWS::IAM::Role")
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    statements = [s for p in resources(result, "AWS::IAM::Policy") for s in p["PolicyDocument"]["Statement"]]
    assert statements
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), actions
        assert set(actions) == {"logs:CreateLogStream", "logs:PutLogEvents"}
        assert "*" not in json.dumps(statement["Resource"])
        assert statement["Resource"] == {"Fn::GetAtt": [next(k for k, r in result.template["Resources"].items()
                                                             if r["Type"] == "AWS::Logs::LogGroup"), "Arn"]}


def test_flags_reach_the_template(synthesised):
    result = synthesised(memory_mb=3008, timeout_s=60, arch="x86_64", public=True, reserved_concurrency=10,
                         provisioned_concurrency=2, ephemeral_storage_mb=1024, log_retention_days=7,
                         cors_origins=["https://app.example.com"], tags={"team": "ml"})
    t = template(result)
    t.has_resource_properties("AWS::Lambda::Function", {
        "MemorySize": 3008, "Timeout": 60, "Architectures": ["x86_64"], "ReservedConcurrentExecutions": 10,
        "EphemeralStorage": {"Size": 1024}, "Tags": Match.array_with([{"Key": "team", "Value": "ml"}]),
    })
    t.has_resource_properties("AWS::Lambda::Alias", {
        "Name": "live", "ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": 2}})
    t.has_resource_properties("AWS::Lambda::Url", {
        "AuthType": "NONE", "Cors": {"AllowOrigins": ["https://app.example.com"]},
        "Qualifier": "live"})
    t.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 7})
    no_unacknowledged_findings(result)


def test_zip_route_uses_snapstart_on_a_published_version(synthesised):
    result = synthesised(package_format="zip", arch="x86_64", python="3.12")
    t = template(result)
    t.has_resource_properties("AWS::Lambda::Function", {
        "Runtime": "python3.12", "Handler": "infer.runtime.handler.handler",
        "SnapStart": {"ApplyOn": "PublishedVersions"},
        "Environment": {"Variables": {"INFER_VERIFY_SHA256": "off"}},
    })
    t.resource_count_is("AWS::Lambda::Version", 1)
    t.has_resource_properties("AWS::Lambda::Url", {"Qualifier": "live"})
    (report,) = result.report["pluginReports"]
    assert report["violations"] == []
    assert [v["ruleName"] for v in report["suppressedViolations"]] == ["AwsSolutions-L1"]  # acknowledged, with a reason
    assert report["suppressedViolations"][0]["reason"]


def test_an_unacknowledged_finding_fails_the_synth(monkeypatch, tmp_path):
    import infer_cdk.stack

    monkeypatch.setattr(infer_cdk.stack, "ACKNOWLEDGED", {})
    with pytest.raises(DeployError, match="synthesis failed.*validation-report.json"):
        synthesise(MODELS / "iris.onnx", DeployOptions(package_format="zip", arch="x86_64"), tmp_path, log=lambda _: None)
    report = json.loads((tmp_path / "cdk.out" / "validation-report.json").read_text())
    assert report["pluginReports"][0]["violations"][0]["ruleName"] == "AwsSolutions-L1"


def test_bad_options_are_refused_before_packaging(tmp_path):
    for options, message in [(dict(memory_mb=64), "--memory"), (dict(timeout_s=901), "--timeout"),
                             (dict(reserved_concurrency=0), "at least 1"),
                             (dict(reserved_concurrency=2, provisioned_concurrency=3), "cannot exceed"),
                             (dict(log_retention_days=11), "log retention must be one of")]:
        with pytest.raises(DeployError, match=message):
            synthesise(MODELS / "iris.onnx", DeployOptions(**options), tmp_path / "x", log=lambda _: None)


def test_synth_only_command_works_offline_and_the_cdk_cli_reads_it(tmp_path, validate):
    out = tmp_path / "deploy"
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "AWS_EC2_METADATA_DISABLED": "true",
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    result = subprocess.run([INFER, "deploy", str(MODELS / "iris.onnx"), "--synth-only", "-o", str(out),
                             "--memory", "1769", "--public"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "warning: --public" in result.stderr
    template_path = out / "cdk.out" / "infer-iris.template.json"
    stack = json.loads(template_path.read_text())
    (findings,) = validate([template_path]).values()
    assert not findings["failed"] and not [f for f in findings["cfn_lint"] if f["Level"] in ("Error", "Warning")]
    function = next(r for r in stack["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    assert function["Properties"]["MemorySize"] == 1769
    assert (out / "package" / "context" / "Dockerfile").is_file()
    cdk = shutil.which("cdk")
    assert cdk, "the CDK CLI (npm install -g aws-cdk) is needed; .ci/run installs it"
    listed = subprocess.run([cdk, "ls", "--app", str(out / "cdk.out")], capture_output=True, text=True, env=env,
                            timeout=120)
    assert listed.stdout.split() == ["infer-iris"], listed.stderr
    missing = subprocess.run([INFER, "deploy", str(MODELS / "iris.onnx"), "--synth-only"], capture_output=True,
                             text=True, env=env)
    assert missing.returncode == 2 and "give -o DIR" in missing.stderr
