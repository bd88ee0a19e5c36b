"""What `infer deploy` needs before it talks to AWS, each missing piece named with how to get it."""

import os
import shutil
from dataclasses import dataclass

BOOTSTRAP_PARAMETER = "/cdk-bootstrap/hnb659fds/version"  # written by `cdk bootstrap` (default qualifier)


@dataclass(frozen=True)
class Missing:
    what: str
    how: str

    def __str__(self) -> str:
        return f"{self.what}: {self.how}"


def container_builder(environ, which=shutil.which) -> str | None:
    """What the CDK CLI will build images with: $CDK_DOCKER, else docker."""
    name = environ.get("CDK_DOCKER") or "docker"
    return which(name)


def check(package_format: str, region: str | None, profile: str | None = None, environ=None,
          which=shutil.which, session=None, vpc_id: str | None = None, subnet_ids=(),
          kms_key: str | None = None) -> list[Missing]:
    """Every prerequisite that is missing (an empty list: ready to deploy), including a VPC, subnets or
    KMS key the options name that the account does not have.

    `session` is a botocore session (made from `profile` when None); tests pass one with stubbed clients."""
    environ = os.environ if environ is None else environ
    missing = []
    if which("node") is None:
        missing.append(Missing("Node.js (node), which the CDK CLI and the CDK libraries run on",
                               "install Node.js 20 or newer (Debian/Ubuntu: apt-get install nodejs npm)"))
    if which("cdk") is None:
        missing.append(Missing("the AWS CDK CLI (cdk)", "install it with npm install -g aws-cdk (needs Node.js 20+)"))
    if package_format == "image" and container_builder(environ, which) is None:
        alternatives = [name for name in ("podman", "finch") if which(name)]
        how = (f"set CDK_DOCKER={alternatives[0]}" if alternatives
               else "install Docker, or podman or finch and set CDK_DOCKER=podman (or finch)")
        missing.append(Missing(f"a container builder ({environ.get('CDK_DOCKER') or 'docker'} not found)", how))
    try:
        import botocore.session
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return missing + [Missing("botocore", "pip install 'infer[deploy]'")]
    try:
        session = session or botocore.session.Session(profile=profile)
        credentials = session.get_credentials()
    except BotoCoreError as exc:
        return missing + [Missing("AWS credentials", f"{exc}; fix the profile or run aws configure")]
    if credentials is None:
        missing.append(Missing("AWS credentials", "run aws configure (or aws sso login), or set AWS_PROFILE, or "
                                                  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"))
    region = region or session.get_config_variable("region")
    if not region:
        missing.append(Missing("an AWS region", "pass --region, or set AWS_REGION, or a region in your AWS profile"))
    if credentials is None or not region:
        return missing
    try:
        session.create_client("ssm", region_name=region).get_parameter(Name=BOOTSTRAP_PARAMETER)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ParameterNotFound":
            missing.append(Missing(f"the CDK bootstrap stack in {region}",
                                   f"run cdk bootstrap aws://ACCOUNT/{region} once (with the same credentials)"))
        else:
            missing.append(Missing(f"permission to check the CDK bootstrap in {region} ({code})",
                                   "use credentials that may read SSM parameter " + BOOTSTRAP_PARAMETER))
    except BotoCoreError as exc:
        missing.append(Missing(f"access to AWS in {region}", str(exc)))
    return missing + resources(session, region, vpc_id, list(subnet_ids), kms_key)


def resources(session, region: str, vpc_id: str | None, subnet_ids: list[str], kms_key: str | None) -> list[Missing]:
    """The VPC, subnets and KMS key the options name, looked up in the account: missing or unusable ones."""
    from botocore.exceptions import BotoCoreError, ClientError

    missing = []
    try:
        if vpc_id:
            ec2 = session.create_client("ec2", region_name=region)
            try:
                ec2.describe_vpcs(VpcIds=[vpc_id])
            except ClientError:
                missing.append(Missing(f"the VPC {vpc_id} in {region}", "give a --vpc-id from aws ec2 describe-vpcs "
                                       f"--region {region} (and the region it is in with --region)"))
            else:
                found = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
                strays = sorted(set(subnet_ids) - {s["SubnetId"] for s in found})
                if strays:
                    missing.append(Missing(f"the subnet {strays[0]} in VPC {vpc_id}", "give --subnet-id values from "
                                           f"aws ec2 describe-subnets --filters Name=vpc-id,Values={vpc_id}"))
        if kms_key and kms_key != "create":
            try:
                state = session.create_client("kms", region_name=region).describe_key(KeyId=kms_key)["KeyMetadata"]
            except ClientError:
                missing.append(Missing(f"the KMS key {kms_key}", "give a key ARN from aws kms list-keys in the "
                                       "function's region, or --kms-key create"))
            else:
                if state.get("KeyState") != "Enabled":
                    missing.append(Missing(f"an enabled KMS key ({kms_key} is {state.get('KeyState')})",
                                           "enable it (aws kms enable-key), or give another with --kms-key"))
    except BotoCoreError as exc:
        missing.append(Missing(f"access to EC2/KMS in {region}", str(exc)))
    return missing
