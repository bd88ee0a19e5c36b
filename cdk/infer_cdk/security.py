"""The security settings of `OnnxFunction`: VPC placement, a customer-managed KMS key, a dead-letter queue,
and the principals allowed to call an IAM-authenticated function URL.

Each function adds resources and, where the function needs it, one explicit statement to the function's role.
Nothing here looks anything up in AWS: the VPC and subnets are taken as given IDs.
"""

from aws_cdk import Aws, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# What CloudWatch Logs does with a log group's key (AWS's documented key policy, wildcards spelt out).
LOGS_KEY_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"]
DLQ_RETENTION = Duration.days(14)  # SQS's maximum: time to look at failed asynchronous events


def arn(service: str, resource: str) -> str:
    """An ARN in this stack's partition, region and account."""
    return f"arn:{Aws.PARTITION}:{service}:{Aws.REGION}:{Aws.ACCOUNT_ID}:{resource}"


def log_group_name(scope: Construct) -> str:
    """The log group's name when a key encrypts it: known in advance, so a key policy can name it."""
    return f"/infer/{Stack.of(scope).stack_name}"


def network(scope: Construct, vpc_id: str, subnet_ids: list[str], role: iam.Role) -> dict:
    """The function's VPC properties: the given private subnets and a security group with no ingress and no egress.

    The function calls nothing (its model is in its package, and requests arrive through Lambda, not through
    its network interfaces), so no rule is needed either way. The role gets the network-interface permissions
    Lambda uses to attach the function, scoped to the subnets and the group where EC2 allows it.
    """
    # Only the ID is used (by the security group); the subnets are selected explicitly below.
    vpc = ec2.Vpc.from_vpc_attributes(scope, "Vpc", vpc_id=vpc_id, availability_zones=Fn.get_azs())
    subnets = [ec2.Subnet.from_subnet_id(scope, f"Subnet{i}", subnet_id) for i, subnet_id in enumerate(subnet_ids)]
    group = ec2.SecurityGroup(scope, "SecurityGroup", vpc=vpc, allow_all_outbound=False,
                              description="infer function: no ingress, no egress (it calls nothing)")
    interfaces = arn("ec2", "network-interface/*")
    role.add_to_policy(iam.PolicyStatement(  # EC2 only allows these on every resource
        actions=["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"], resources=["*"]))
    role.add_to_policy(iam.PolicyStatement(
        actions=["ec2:CreateNetworkInterface"],
        resources=[interfaces, arn("ec2", f"security-group/{group.security_group_id}"),
                   *(arn("ec2", f"subnet/{subnet_id}") for subnet_id in subnet_ids)]))
    role.add_to_policy(iam.PolicyStatement(
        actions=["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
        resources=[interfaces]))
    return dict(vpc=vpc, vpc_subnets=ec2.SubnetSelection(subnets=subnets), security_groups=[group])


def encryption_key(scope: Construct, key_arn: str | None, create: bool) -> kms.IKey | None:
    """The given key, a new one (rotated yearly; CloudWatch Logs may use it for this function's log group), or None."""
    if key_arn:
        return kms.Key.from_key_arn(scope, "Key", key_arn)
    if not create:
        return None
    key = kms.Key(scope, "Key", enable_key_rotation=True, removal_policy=RemovalPolicy.DESTROY,
                  description=f"infer: environment variables, logs and dead letters of {Stack.of(scope).stack_name}")
    key.add_to_resource_policy(iam.PolicyStatement(
        principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
        actions=LOGS_KEY_ACTIONS, resources=["*"],
        conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": arn("logs", f"log-group:{log_group_name(scope)}")}},
    ))
    return key


def dead_letter_queue(scope: Construct, key: kms.IKey | None, role: iam.Role) -> sqs.Queue:
    """A queue for asynchronous invocations that failed: encrypted (the key, or SQS-managed), TLS only."""
    if key is None:
        return sqs.Queue(scope, "DeadLetters", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
                         retention_period=DLQ_RETENTION)
    role.add_to_policy(iam.PolicyStatement(actions=["kms:GenerateDataKey"], resources=[key.key_arn]))
    return sqs.Queue(scope, "DeadLetters", encryption=sqs.QueueEncryption.KMS, encryption_master_key=key,
                     enforce_ssl=True, retention_period=DLQ_RETENTION)


def allow_decrypt(role: iam.Role, key: kms.IKey) -> None:
    """The function reads its environment variables (and its dead letters) through the key."""
    role.add_to_policy(iam.PolicyStatement(actions=["kms:Decrypt"], resources=[key.key_arn]))


def principal(value: str) -> iam.IPrincipal:
    """An account ID or an IAM principal ARN."""
    return iam.AccountPrincipal(value) if value.isdigit() else iam.ArnPrincipal(value)


def grant_invoke(target: lambda_.IFunction, principals: list[str]) -> None:
    """Resource-policy statements letting each principal call the IAM-authenticated URL (and nobody else)."""
    for value in principals:
        target.grant_invoke_url(principal(value))
