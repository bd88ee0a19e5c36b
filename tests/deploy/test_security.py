"""The security options, synthesised offline: every combination clean under cdk-nag, cfn-lint and checkov
(skips only where a check does not apply, with their reasons), the resources really configured, and bad
input refused in one line before anything is packaged."""

import pytest
from aws_cdk.assertions import Match
from stacks import case, of_type, validate_cases
from typer.testing import CliRunner

from helpers import MODELS
from infer.cli import app
from infer.deploy import DeployError, deployer
from infer.deploy.deployer import DEFAULT_RESERVED_CONCURRENCY, DeployOptions, synthesise

VPC = "vpc-0123456789abcdef0"
SUBNETS = ["subnet-0123456789abcdef0", "subnet-89abcdef"]
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:ml-alerts"
PRINCIPALS = ["123456789012", "arn:aws:iam::210987654321:role/ml/caller"]

# name -> (options, the checkov checks skipped in its template). "flags" and "zip" are test_synth's own
# options, so the session's cache synthesises each stack once.
CASES = {
    "default": ({}, {"CKV_AWS_117", "CKV_AWS_116", "CKV_AWS_158"}),
    "flags": (dict(memory_mb=3008, timeout_s=60, arch="x86_64", public=True, reserved_concurrency=10,
                   provisioned_concurrency=2, ephemeral_storage_mb=1024, log_retention_days=7,
                   cors_origins=["https://app.example.com"], tags={"team": "ml"}),
              {"CKV_AWS_117", "CKV_AWS_116", "CKV_AWS_158", "CKV_AWS_258"}),
    "zip": (dict(package_format="zip", arch="x86_64", python="3.12"),  # the zip sets INFER_* variables
            {"CKV_AWS_117", "CKV_AWS_116", "CKV_AWS_158", "CKV_AWS_173"}),
    "private": (dict(vpc_id=VPC, subnet_ids=SUBNETS, kms_key="create", invoke_principals=PRINCIPALS,
                     dead_letter_queue=True, reserved_concurrency=25), set()),
    "given-key": (dict(kms_key=KEY_ARN, region="eu-west-1", dead_letter_queue=True, reserved_concurrency=None,
                       alarm_topic_arn=TOPIC_ARN),
                  {"CKV_AWS_117", "CKV_AWS_115"}),
    "alias-dlq": (dict(dead_letter_queue=True, provisioned_concurrency=2, invoke_principals=PRINCIPALS[:1],
                       monitoring=False),
                  {"CKV_AWS_117", "CKV_AWS_158", "CKV_AWS_27"}),
}


@pytest.fixture(scope="module")
def validated(synthesised, validate):
    return validate_cases(synthesised, validate, CASES)


def statements(result):
    return [s for p in of_type(result, "AWS::IAM::Policy").values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


@pytest.mark.parametrize("name", CASES)
def test_cdk_nag_cfn_lint_and_checkov_pass(validated, name):
    result, findings = validated[name]
    for report in result.report.get("pluginReports", []):
        assert report["violations"] == [], report["violations"]
    assert [(f["Rule"]["Id"], f["Message"]) for f in findings["cfn_lint"] if f["Level"] in ("Error", "Warning")] == []
    assert [(c["check_id"], c["resource"]) for c in findings["failed"]] == []
    skipped = {c["check_id"]: c["check_result"]["suppress_comment"] for c in findings["skipped"]}
    assert set(skipped) == CASES[name][1]
    assert all(len(reason) > 40 for reason in skipped.values()), skipped


def test_vpc_placement_with_a_group_that_lets_nothing_in(validated):
    result, t = case(validated, "private")
    (group_id,) = of_type(result, "AWS::EC2::SecurityGroup")
    t.has_resource_properties("AWS::Lambda::Function", {"VpcConfig": {
        "SubnetIds": SUBNETS, "SecurityGroupIds": [{"Fn::GetAtt": [group_id, "GroupId"]}]}})
    group = result.template["Resources"][group_id]["Properties"]
    assert group["VpcId"] == VPC and "SecurityGroupIngress" not in group
    assert [rule["CidrIp"] for rule in group["SecurityGroupEgress"]] == ["255.255.255.255/32"]  # CDK's "no egress"
    assert not of_type(result, "AWS::EC2::SecurityGroupIngress") and not of_type(result, "AWS::EC2::SecurityGroupEgress")
    creates = next(s for s in statements(result) if s["Action"] == "ec2:CreateNetworkInterface")
    assert all(subnet in str(creates["Resource"]) for subnet in SUBNETS)
    # the only statement on every resource (acknowledged in cdk-nag, for VPC stacks only): EC2 allows nothing narrower
    assert [s["Action"] for s in statements(result) if s["Resource"] == "*"] == [
        ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]]


def test_a_created_key_encrypts_variables_logs_and_dead_letters(validated):
    result, t = case(validated, "private")
    ((key_id, key),) = of_type(result, "AWS::KMS::Key").items()
    assert key["Properties"]["EnableKeyRotation"] is True
    key_ref = {"Fn::GetAtt": [key_id, "Arn"]}
    t.has_resource_properties("AWS::Lambda::Function", {"KmsKeyArn": key_ref, "ReservedConcurrentExecutions": 25,
                                                        "DeadLetterConfig": {"TargetArn": Match.any_value()}})
    t.has_resource_properties("AWS::Logs::LogGroup", {"KmsKeyId": key_ref, "LogGroupName": "/infer/infer-iris"})
    t.has_resource_properties("AWS::SQS::Queue", {"KmsMasterKeyId": key_ref})
    logs = next(s for s in key["Properties"]["KeyPolicy"]["Statement"] if "Service" in s["Principal"])
    assert "logs." in str(logs["Principal"]["Service"]) and "*" not in "".join(logs["Action"])
    assert "log-group:/infer/infer-iris" in str(logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
    uses = {s["Action"] for s in statements(result) if s["Resource"] == key_ref}
    assert uses == {"kms:Decrypt", "kms:GenerateDataKey"}


def test_a_given_key_is_used_as_is_and_no_concurrency_is_reserved_when_asked(validated):
    result, t = case(validated, "given-key")
    assert not of_type(result, "AWS::KMS::Key")
    t.has_resource_properties("AWS::Lambda::Function", {"KmsKeyArn": KEY_ARN})
    t.has_resource_properties("AWS::Logs::LogGroup", {"KmsKeyId": KEY_ARN})
    t.has_resource_properties("AWS::SQS::Queue", {"KmsMasterKeyId": KEY_ARN})
    (function,) = of_type(result, "AWS::Lambda::Function").values()
    assert "ReservedConcurrentExecutions" not in function["Properties"]


@pytest.mark.parametrize("name", ["private", "alias-dlq"])
def test_only_the_given_principals_may_invoke_the_iam_url(validated, name):
    result, t = case(validated, name)
    principals = CASES[name][0]["invoke_principals"]
    permissions = [p["Properties"] for p in of_type(result, "AWS::Lambda::Permission").values()]
    url_grants = [p for p in permissions if p["Action"] == "lambda:InvokeFunctionUrl"]
    assert sorted(p["Principal"] for p in url_grants) == sorted(principals)
    assert all(p["FunctionUrlAuthType"] == "AWS_IAM" for p in url_grants)
    t.has_resource_properties("AWS::Lambda::Url", {"AuthType": "AWS_IAM"})
    if name == "alias-dlq":  # the URL and the grants are on the alias that provisioned concurrency needs
        (alias_id,) = of_type(result, "AWS::Lambda::Alias")
        assert all(p["FunctionName"] == {"Ref": alias_id} for p in url_grants)


def test_dead_letter_queue_is_encrypted_and_tls_only(validated):
    result, t = case(validated, "alias-dlq")
    ((queue_id, queue),) = of_type(result, "AWS::SQS::Queue").items()
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    t.has_resource_properties("AWS::Lambda::Function", {"DeadLetterConfig": {"TargetArn": {"Fn::GetAtt": [queue_id, "Arn"]}},
                                                        "ReservedConcurrentExecutions": DEFAULT_RESERVED_CONCURRENCY})
    t.has_resource_properties("AWS::SQS::QueuePolicy", {"PolicyDocument": {"Statement": [Match.object_like({
        "Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]}})
    assert {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": {"Fn::GetAtt": [queue_id, "Arn"]}} in statements(result)


@pytest.mark.parametrize("name", CASES)
def test_the_function_waits_for_its_policy_only(validated, name):
    result, _ = validated[name]
    (function,) = of_type(result, "AWS::Lambda::Function").values()
    assert function["DependsOn"] == list(of_type(result, "AWS::IAM::Policy"))


BAD = [
    (dict(vpc_id="vpc-12", subnet_ids=SUBNETS), "--vpc-id must be a VPC ID like vpc-"),
    (dict(vpc_id=VPC, subnet_ids=["subnet-xyz"]), "--subnet-id must be a subnet ID"),
    (dict(vpc_id=VPC), "--vpc-id needs the private subnets.*--subnet-id"),
    (dict(subnet_ids=SUBNETS), "--subnet-id needs the VPC.*--vpc-id"),
    (dict(vpc_id=VPC, subnet_ids=SUBNETS[:1] * 2), "each subnet once"),
    (dict(kms_key="alias/mine"), "--kms-key must be create or a key ARN"),
    (dict(kms_key=KEY_ARN.replace(":key/", ":alias/")), "not an alias"),
    (dict(kms_key=KEY_ARN, region="us-east-1"), "--kms-key is in eu-west-1, the function in us-east-1"),
    (dict(invoke_principals=["arn:aws:sts::123456789012:assumed-role/r/s"]), "--invoke-principal must be an account ID"),
    (dict(invoke_principals=["12345"]), "--invoke-principal must be"),
    (dict(invoke_principals=PRINCIPALS[:1], public=True), "drop --public"),
    (dict(provisioned_concurrency=DEFAULT_RESERVED_CONCURRENCY + 1), "cannot exceed --reserved-concurrency .*the default"),
]


@pytest.mark.parametrize("options, message", BAD)
def test_bad_security_input_is_refused_in_one_line_before_packaging(tmp_path, options, message):
    with pytest.raises(DeployError, match=message) as refused:
        synthesise(MODELS / "iris.onnx", DeployOptions(**options), tmp_path / "out", log=lambda _: None)
    assert refused.value.code == 2 and "\n" not in str(refused.value)
    assert not (tmp_path / "out").exists()


def test_the_cli_refuses_bad_input_with_exit_code_2(tmp_path):
    for extra, message in [(["--vpc-id", "vpc-nope", "--subnet-id", SUBNETS[0]], "error: --vpc-id must be a VPC ID"),
                           (["--reserved-concurrency", "3", "--no-reserved-concurrency"], "not both")]:
        result = CliRunner().invoke(app, ["deploy", str(MODELS / "iris.onnx"), "--synth-only", "-o", str(tmp_path / "out"),
                                          *extra])
        assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "out").exists()


def test_the_cli_passes_the_security_options_on(monkeypatch, tmp_path):
    seen = []

    def stop(model, options, out, log):
        seen.append(options)
        raise DeployError("stopped before packaging", 1)

    monkeypatch.setattr(deployer, "synthesise", stop)
    args = ["deploy", str(MODELS / "iris.onnx"), "--synth-only", "-o", str(tmp_path), "--vpc-id", VPC,
            *(arg for subnet in SUBNETS for arg in ("--subnet-id", subnet)), "--kms-key", "create",
            *(arg for principal in PRINCIPALS for arg in ("--invoke-principal", principal)), "--dead-letter-queue"]
    for extra, reserved in [([], DEFAULT_RESERVED_CONCURRENCY), (["--reserved-concurrency", "4"], 4),
                            (["--no-reserved-concurrency"], None)]:
        assert CliRunner().invoke(app, args + extra).exit_code == 1
        options = seen.pop()
        assert (options.vpc_id, options.subnet_ids, options.kms_key, options.invoke_principals) == (
            VPC, SUBNETS, "create", PRINCIPALS)
        assert options.dead_letter_queue and options.reserved_concurrency == reserved
