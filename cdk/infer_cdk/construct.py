"""`OnnxFunction`: an ONNX Runtime function (container image, or zip with SnapStart) behind a function URL,
and optionally fed by an SQS queue and a bucket prefix (sources.py).

It owns its log group (explicit retention) and its role, whose permissions are writing to that log group
and only what the chosen security settings and sources need (security.py, sources.py): no managed policy, no
wildcard action, and no wildcard resource except where EC2 allows nothing narrower (a VPC's network
interfaces) and the objects under the input and output prefixes.
"""

from dataclasses import dataclass, field
from typing import Any

from aws_cdk import CfnResource, Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.aws_ecr_assets import Platform
from constructs import Construct

from infer.event_sources import OUTPUT_VARIABLE, SNAPSTART_ALIAS
from infer.runtime import contract
from infer.runtime.contract import HANDLER

from . import security
from .monitoring import Monitoring
from .sources import Sources, SourceSettings

ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
PLATFORMS = {"arm64": Platform.LINUX_ARM64, "x86_64": Platform.LINUX_AMD64}
PYTHON_RUNTIMES = {"3.12": lambda_.Runtime.PYTHON_3_12, "3.13": lambda_.Runtime.PYTHON_3_13,
                   "3.14": lambda_.Runtime.PYTHON_3_14}


@dataclass
class FunctionSettings:
    """What `infer deploy` chooses; the construct turns it into resources."""

    asset: str  # the build context directory (image) or the deployment zip (zip)
    package_format: str = "image"  # image | zip
    arch: str = contract.DEFAULT_ARCH
    python: str = contract.DEFAULT_PYTHON
    memory_mb: int = 2048
    timeout_s: int = 30
    ephemeral_storage_mb: int = 512
    public: bool = False
    reserved_concurrency: int | None = None  # None: no reservation (infer deploy passes its DEFAULT_RESERVED_CONCURRENCY)
    provisioned_concurrency: int | None = None
    cors_origins: list[str] = field(default_factory=list)
    log_retention_days: int = 30
    environment: dict[str, str] = field(default_factory=dict)
    vpc_id: str | None = None  # with subnet_ids: the function's ENIs go in those (private) subnets
    subnet_ids: list[str] = field(default_factory=list)
    kms_key_arn: str | None = None  # encrypts the environment variables, the log group and the dead letters
    create_kms_key: bool = False  # the same, with a key the stack creates
    invoke_principals: list[str] = field(default_factory=list)  # account IDs or IAM ARNs allowed to call the URL
    dead_letter_queue: bool = False  # an SQS queue for failed asynchronous invocations
    monitoring: bool = True  # alarms (Errors, Throttles, p99 Duration) and a dashboard (monitoring.py)
    alarm_topic_arn: str | None = None  # an SNS topic the alarms notify
    metrics_model: str = "model"  # the runtime's model name: the EMF metrics' "model" dimension
    # The OCI platform the image's first stage runs on: Docker's buildx sets BUILDPLATFORM itself, podman 4.3 does not.
    build_platform: str | None = None
    url: bool = True  # False: no function URL (the function is fed by its queue or bucket, or invoked directly)
    snapstart: bool | None = None  # None: on for the zip route unless provisioned concurrency is asked for
    sources: SourceSettings = field(default_factory=SourceSettings)

    @property
    def uses_snapstart(self) -> bool:
        if self.snapstart is not None:
            return self.snapstart
        return self.package_format == "zip" and not self.provisioned_concurrency


class OnnxFunction(Construct):
    def __init__(self, scope: Construct, construct_id: str, settings: FunctionSettings):
        super().__init__(scope, construct_id)
        self.settings = settings
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                             description=_role_description(settings))
        self.key = security.encryption_key(self, settings.kms_key_arn, settings.create_kms_key)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=_retention(settings.log_retention_days), removal_policy=RemovalPolicy.DESTROY,
            encryption_key=self.key, log_group_name=security.log_group_name(self) if self.key else None,
        )
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[f"{self.log_group.log_group_arn}"],
        ))
        self.sources = Sources(self, "Sources", settings.sources, self.key, Stack.of(self).stack_name)
        environment = dict(settings.environment)
        if self.sources.output_value is not None:
            environment[OUTPUT_VARIABLE] = self.sources.output_value
        common: dict[str, Any] = dict(
            memory_size=settings.memory_mb,
            timeout=Duration.seconds(settings.timeout_s),
            architecture=ARCHITECTURES[settings.arch],
            ephemeral_storage_size=Size.mebibytes(settings.ephemeral_storage_mb),
            reserved_concurrent_executions=settings.reserved_concurrency,
            role=self.role,
            log_group=self.log_group,
            environment=environment or None,
            environment_encryption=self.key,
        )
        if self.key:
            security.allow_decrypt(self.role, self.key)
        if settings.vpc_id:
            common.update(security.network(self, settings.vpc_id, settings.subnet_ids, self.role))
        self.dead_letter_queue = None
        if settings.dead_letter_queue:
            self.dead_letter_queue = security.dead_letter_queue(self, self.key, self.role)
            common["dead_letter_queue"] = self.dead_letter_queue
        if settings.package_format == "zip":
            self.function = lambda_.Function(
                self, "Function", code=lambda_.Code.from_asset(settings.asset), handler=HANDLER,
                runtime=PYTHON_RUNTIMES[settings.python],
                snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if settings.uses_snapstart else None, **common,
            )
        else:
            self.function = lambda_.DockerImageFunction(
                self, "Function",
                code=lambda_.DockerImageCode.from_image_asset(
                    settings.asset, platform=PLATFORMS[settings.arch],
                    build_args={"BUILDPLATFORM": settings.build_platform} if settings.build_platform else None),
                **common,
            )
        self._depend_on_policy_only()
        self.target = self._target()
        self.sources.attach(self.target, self.role, settings.timeout_s)
        self.url: lambda_.FunctionUrl | None = None
        if settings.url:
            cors = None
            if settings.cors_origins:
                cors = lambda_.FunctionUrlCorsOptions(allowed_origins=settings.cors_origins,
                                                      allowed_methods=[lambda_.HttpMethod.ALL])
            auth = lambda_.FunctionUrlAuthType.NONE if settings.public else lambda_.FunctionUrlAuthType.AWS_IAM
            self.url = self.target.add_function_url(auth_type=auth, cors=cors)
            security.grant_invoke(self.target, settings.invoke_principals)
        self.monitoring = None
        if settings.monitoring:
            self.monitoring = Monitoring(self, "Monitoring", self.function, settings.timeout_s,
                                         settings.metrics_model, settings.alarm_topic_arn, self.sources.dead_letters)

    def _depend_on_policy_only(self) -> None:
        """The function waits for its role's policy; the role itself it already references (cfn-lint W3005)."""
        policy = self.role.node.find_child("DefaultPolicy").node.default_child
        function = self.function.node.default_child
        assert isinstance(policy, CfnResource) and isinstance(function, CfnResource)
        function.add_override("DependsOn", [Stack.of(self).get_logical_id(policy)])

    def _target(self) -> lambda_.IFunction:
        """The URL and the sources point at the alias `live` when a version is needed (SnapStart restores only
        published versions; provisioned concurrency lives on an alias)."""
        if not self.settings.uses_snapstart and not self.settings.provisioned_concurrency:
            return self.function
        return lambda_.Alias(
            self, "Live", alias_name=SNAPSTART_ALIAS, version=self.function.current_version,
            provisioned_concurrent_executions=self.settings.provisioned_concurrency or None,
        )


def _role_description(settings: FunctionSettings) -> str:
    uses = ["Writes the function's own logs"]
    if settings.kms_key_arn or settings.create_kms_key:
        uses.append("decrypts with its key")
    if settings.vpc_id:
        uses.append("manages its network interfaces")
    if settings.dead_letter_queue:
        uses.append("sends to its dead-letter queue")
    sources = settings.sources
    if sources.queue:
        uses.append("receives and deletes messages of its queue")
    if sources.bucket:
        uses.append(f"reads objects under {sources.prefix or '/'} of its bucket")
    if sources.output is not None:
        where = (f"sends results to {sources.output.queue_url}" if sources.output.kind == "sqs"
                 else f"writes results under {sources.output.prefix or '/'} of "
                 + ("its bucket" if sources.output.in_stack_bucket else f"bucket {sources.output.bucket}"))
        uses.append(where)
    return ", ".join(uses) + "; nothing else"


RETENTION_DAYS = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}


def _retention(days: int) -> logs.RetentionDays:
    if days not in RETENTION_DAYS:
        raise ValueError(f"log retention must be one of CloudWatch's values {sorted(RETENTION_DAYS)} (days); got {days}")
    return getattr(logs.RetentionDays, RETENTION_DAYS[days])
