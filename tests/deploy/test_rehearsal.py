"""A deployment rehearsed end to end against moto's server mode (a local AWS-compatible API), driven by the
real CDK CLI: bootstrap, `infer deploy --format zip` (asset upload, stack creation, the stack read back
into the deployment record), `infer predict NAME` resolving that record, and `infer destroy`.

Not rehearsed, because moto cannot: its CloudFormation ignores AWS::Lambda::Url and returns no stack
outputs, so the function and log group are read back from the stack's resources and no URL exists to
call; and it cannot run a function. The refusals (no bootstrap, no credentials, no CDK CLI) are checked
to leave nothing built and no stack behind.
"""

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest

from helpers import INFER, MODELS
from infer.runtime import contract

ACCOUNT, REGION = "123456789012", "us-east-1"  # moto's default account
IRIS = "[[5.1, 3.5, 1.4, 0.2]]"


@pytest.fixture
def aws(moto_endpoint, tmp_path):
    """The environment a user's shell would have, pointed at a fresh moto; and a working directory with a model."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=10)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=moto_endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=str(tmp_path / "no-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
               INFER_CONFIG_DIR=str(tmp_path / "config"), JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
    for name in ("iris.onnx", "iris.json"):
        shutil.copy2(MODELS / name, tmp_path / name)
    return env


def infer(env, cwd, *args, timeout_s=900) -> subprocess.CompletedProcess:
    return subprocess.run([INFER, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s,
                          stdin=subprocess.DEVNULL)  # not a terminal: nothing is asked


def client(env, service: str):
    return boto3.client(service, endpoint_url=env["AWS_ENDPOINT_URL"], region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def stacks(env) -> list[str]:
    return [s["StackName"] for s in client(env, "cloudformation").describe_stacks()["Stacks"]
            if s["StackStatus"] != "DELETE_COMPLETE"]


def test_refusals_build_nothing_and_leave_no_stack(aws, tmp_path):
    deploy = ("deploy", "iris.onnx", "--format", "zip", "--region", REGION, "-o", "out")
    unbootstrapped = infer(aws, tmp_path, *deploy)
    assert unbootstrapped.returncode == 2, unbootstrapped.stderr
    assert f"cdk bootstrap aws://ACCOUNT/{REGION}" in unbootstrapped.stderr
    no_credentials = infer({k: v for k, v in aws.items() if not k.startswith("AWS_SECRET")}, tmp_path, *deploy)
    assert no_credentials.returncode == 2 and "AWS credentials" in no_credentials.stderr, no_credentials.stderr
    no_cdk = infer({**aws, "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}, tmp_path, *deploy)
    assert no_cdk.returncode == 2 and "npm install -g aws-cdk" in no_cdk.stderr, no_cdk.stderr
    for refused in (unbootstrapped, no_credentials, no_cdk):
        assert "Traceback" not in refused.stderr
    assert not (tmp_path / "out").exists(), "nothing was packaged or synthesised"
    assert stacks(aws) == [], "no stack was created"


def test_unknown_vpc_subnet_or_key_is_refused_before_anything_is_built(aws, tmp_path, monkeypatch):
    bootstrap = subprocess.run(["cdk", "bootstrap", f"aws://{ACCOUNT}/{REGION}"], env=aws, cwd=tmp_path,
                               capture_output=True, text=True, timeout=300)
    assert bootstrap.returncode == 0, bootstrap.stderr[-2000:]
    ec2 = client(aws, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    key = client(aws, "kms").create_key()["KeyMetadata"]["Arn"]
    absent_key = key.rsplit("/", 1)[0] + "/0123abcd-0123-4567-89ab-0123456789ab"
    deploy = ("deploy", "iris.onnx", "--format", "zip", "--region", REGION, "-o", "out")
    for extra, named in [(("--vpc-id", "vpc-0123456789abcdef0", "--subnet-id", subnet), "the VPC vpc-0123456789abcdef0"),
                         (("--vpc-id", vpc, "--subnet-id", "subnet-0123456789abcdef0"), "subnet-0123456789abcdef0"),
                         (("--kms-key", absent_key), f"the KMS key {absent_key}")]:
        refused = infer(aws, tmp_path, *deploy, *extra)
        assert refused.returncode == 2 and named in refused.stderr, (extra, refused.stderr)
        assert "Traceback" not in refused.stderr
    assert not (tmp_path / "out").exists() and stacks(aws) == ["CDKToolkit"]

    from infer.deploy.prerequisites import check

    for name in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in aws.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)  # the check's botocore session reads them
    assert check("zip", REGION, vpc_id=vpc, subnet_ids=[subnet], kms_key=key) == []


def test_deploy_predict_destroy_rehearsal(aws, tmp_path):
    bootstrap = subprocess.run(["cdk", "bootstrap", f"aws://{ACCOUNT}/{REGION}"], env=aws, cwd=tmp_path,
                               capture_output=True, text=True, timeout=300)
    assert bootstrap.returncode == 0, bootstrap.stderr[-2000:]

    deployed = infer(aws, tmp_path, "deploy", "iris.onnx", "--format", "zip", "--region", REGION, "-o", "out", "--json")
    assert deployed.returncode == 0, deployed.stderr[-3000:] + deployed.stdout[-3000:]
    record = json.loads((tmp_path / "config" / "deployments.json").read_text())["iris"]
    assert record["stack"] == "infer-iris" and record["region"] == REGION and record["auth"] == "AWS_IAM"
    answer = json.loads(deployed.stdout)  # one object; the CDK CLI's progress went to stderr
    assert (answer["stack"], answer["function_name"], answer["log_group"], answer["auth"]) == (
        "infer-iris", record["function_name"], record["log_group"], "AWS_IAM")
    assert answer["template"] == str(tmp_path / "out" / "cdk.out" / "infer-iris.template.json")
    # The stack the CDK CLI made carries infer's tag: infer list --remote finds it and the record naming it.
    listed = json.loads(infer(aws, tmp_path, "list", "--remote", "--json", timeout_s=60).stdout)
    assert [(s["stack"], s["recorded_as"]) for s in listed["stacks"]] == [("infer-iris", "iris")]
    # Making it public is a wider access than the deployed stack's: without a terminal or --yes it is refused.
    public = ("deploy", "iris.onnx", "--format", "zip", "--region", REGION, "-o", "out2", "--public")
    refused = infer(aws, tmp_path, *public)
    assert refused.returncode == 2 and "widens access to infer-iris (the function URL becomes public" in refused.stderr
    assert "Traceback" not in refused.stderr and "cdk: " not in refused.stdout  # the CDK CLI never ran
    # The record points at what CloudFormation created.
    function = client(aws, "lambda").get_function_configuration(FunctionName=record["function_name"])
    assert function["Handler"] == contract.HANDLER and function["Runtime"] == "python3.12"
    template = json.loads((tmp_path / "out" / "cdk.out" / "infer-iris.template.json").read_text())
    [spec] = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert spec["Architectures"] == ["arm64"]  # what was deployed (moto's CloudFormation drops Architectures)
    groups = client(aws, "logs").describe_log_groups()["logGroups"]
    assert record["log_group"] in [g["logGroupName"] for g in groups]
    # The zip asset went to the bootstrap bucket.
    assets = client(aws, "s3").list_objects_v2(Bucket=f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}").get("Contents", [])
    assert any(obj["Key"].endswith(".zip") and obj["Size"] > 1_000_000 for obj in assets), assets
    assert sorted(stacks(aws)) == ["CDKToolkit", "infer-iris"]

    # infer predict NAME finds the deployment in the record; moto made no URL, and predict says so.
    predicted = infer(aws, tmp_path, "predict", "iris", "--data", IRIS, timeout_s=60)
    assert predicted.returncode != 0 and "no function URL was recorded" in predicted.stderr, predicted.stderr

    destroyed = infer(aws, tmp_path, "destroy", "iris", "--json")
    assert destroyed.returncode == 0, destroyed.stderr[-2000:]
    assert json.loads(destroyed.stdout) == {"name": "iris", "stack": "infer-iris", "destroyed": True}
    assert stacks(aws) == ["CDKToolkit"]
    forgotten = infer(aws, tmp_path, "predict", "iris", "--data", IRIS, timeout_s=60)
    assert forgotten.returncode != 0 and "neither an http(s) URL nor a function deployed from here" in forgotten.stderr
