"""The event sources of `OnnxFunction` and where their results go, with the role's grants on exactly those
queues and prefixes.

- Queue (`--queue`): an SQS queue whose messages are prediction requests, a dead-letter queue it redrives to
  after `max_receives` receives, both encrypted (the stack's key, else SQS-managed) and TLS only; the queue's
  visibility timeout is six times the function's timeout (AWS's advice for Lambda's poller); an event source
  mapping with ReportBatchItemFailures, the batch size, batching window and maximum concurrency.
- Bucket (`--bucket new`): a bucket the stack creates (public access blocked, TLS only, encrypted, versioned,
  access logs to a log bucket) whose ObjectCreated events under the prefix (and suffixes) invoke the function.
  The notification is the bucket's own NotificationConfiguration: the bucket's name is fixed in advance
  (infer/event_sources.input_bucket_stem), so the notification, S3's permission to invoke and the role's policy
  need no CDK custom resource and form no circular dependency.
- Output (INFER_OUTPUT): a prefix in the stack's bucket (the input bucket, else a results bucket), or an
  existing bucket's prefix, or an existing queue.
"""

from dataclasses import dataclass

from aws_cdk import Aws, CfnResource, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infer.event_sources import VISIBILITY_TIMEOUT_FACTOR, Output, input_bucket_stem

DEAD_LETTER_RETENTION = Duration.days(14)  # SQS's maximum: time to look at the messages that failed
NONCURRENT_VERSION_DAYS = 30  # old versions of overwritten objects (a result written again) are kept this long
ACCESS_LOG_DAYS = 365


@dataclass
class SourceSettings:
    queue: bool = False
    max_receives: int = 5
    batch_size: int = 10
    batching_window_s: int = 0
    max_concurrency: int | None = None
    bucket: bool = False  # a stack-created input bucket
    prefix: str = "in/"
    suffixes: tuple[str, ...] = ()
    output: Output | None = None  # None: no source, no output


def s3_arn(bucket_name: str, key_pattern: str = "") -> str:
    return f"arn:{Aws.PARTITION}:s3:::{bucket_name}" + (f"/{key_pattern}" if key_pattern else "")


class Sources(Construct):
    """Created before the function (its buckets and the INFER_OUTPUT value), attached after it (`attach`)."""

    def __init__(self, scope: Construct, construct_id: str, settings: SourceSettings, key: kms.IKey | None,
                 stack_name: str):
        super().__init__(scope, construct_id)
        self.settings = settings
        self.key = key
        self.access_logs: s3.Bucket | None = None
        self.input_bucket: s3.Bucket | None = None
        self.input_bucket_name: str | None = None
        self.results_bucket: s3.Bucket | None = None
        self.queue: sqs.Queue | None = None
        self.dead_letters: sqs.Queue | None = None
        output = settings.output
        if settings.bucket:
            self.input_bucket_name = f"{input_bucket_stem(stack_name)}-{Aws.ACCOUNT_ID}-{Aws.REGION}"
            self.input_bucket = self._bucket("Input", self.input_bucket_name)
        if output is not None and output.in_stack_bucket and not settings.bucket:
            self.results_bucket = self._bucket("Results")
        self.output_value = self._output_value()

    @property
    def output_bucket_name(self) -> str | None:
        output = self.settings.output
        if output is None or output.kind != "s3":
            return None
        if output.bucket:
            return output.bucket
        if self.input_bucket_name:
            return self.input_bucket_name
        assert self.results_bucket is not None
        return self.results_bucket.bucket_name

    def _output_value(self) -> str | None:
        output = self.settings.output
        if output is None:
            return None
        if output.kind == "sqs":
            return output.queue_url
        return f"s3://{self.output_bucket_name}/{output.prefix}"

    def _logs(self) -> s3.Bucket:
        """Server access logs of the stack's buckets (S3 delivers them only to SSE-S3 buckets)."""
        if self.access_logs is None:
            self.access_logs = s3.Bucket(
                self, "AccessLogs", encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True, versioned=True,
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL, object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                removal_policy=RemovalPolicy.RETAIN,
                lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(ACCESS_LOG_DAYS),
                                                  noncurrent_version_expiration=Duration.days(1))])
        return self.access_logs

    def _bucket(self, construct_id: str, name: str | None = None) -> s3.Bucket:
        encryption = (dict(encryption=s3.BucketEncryption.KMS, encryption_key=self.key, bucket_key_enabled=True)
                      if self.key else dict(encryption=s3.BucketEncryption.S3_MANAGED))
        return s3.Bucket(
            self, construct_id, bucket_name=name, enforce_ssl=True, versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self._logs(), server_access_logs_prefix=f"{construct_id.lower()}/",
            removal_policy=RemovalPolicy.RETAIN,  # the objects are the user's data: destroying the stack keeps them
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS))],
            **encryption)

    def attach(self, target: lambda_.IFunction, role: iam.Role, timeout_s: int) -> None:
        """The queue and its mapping, the bucket's notification, and the grants; `target` is what is invoked."""
        if self.settings.queue:
            self._queue(target, timeout_s)
        if self.input_bucket is not None:
            self._notification(target, role)
        self._grant_output(role)

    def _queue(self, target: lambda_.IFunction, timeout_s: int) -> None:
        settings = self.settings
        encryption = (dict(encryption=sqs.QueueEncryption.KMS, encryption_master_key=self.key) if self.key
                      else dict(encryption=sqs.QueueEncryption.SQS_MANAGED))
        self.dead_letters = sqs.Queue(self, "DeadLetters", enforce_ssl=True, retention_period=DEAD_LETTER_RETENTION,
                                      **encryption)
        self.queue = sqs.Queue(
            self, "Queue", enforce_ssl=True, visibility_timeout=Duration.seconds(VISIBILITY_TIMEOUT_FACTOR * timeout_s),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=settings.max_receives, queue=self.dead_letters),
            **encryption)
        # The mapping's own permissions (receive, delete, change visibility, attributes; kms:Decrypt with a key) go
        # to the function's role, on this queue only.
        target.add_event_source(event_sources.SqsEventSource(
            self.queue, batch_size=settings.batch_size, report_batch_item_failures=True,
            max_batching_window=Duration.seconds(settings.batching_window_s) if settings.batching_window_s else None,
            max_concurrency=settings.max_concurrency))

    def _notification(self, target: lambda_.IFunction, role: iam.Role) -> None:
        settings = self.settings
        assert self.input_bucket is not None and self.input_bucket_name is not None
        bucket_arn = s3_arn(self.input_bucket_name)
        permission = lambda_.CfnPermission(
            self, "S3Invokes", action="lambda:InvokeFunction", function_name=target.function_arn,
            principal="s3.amazonaws.com", source_arn=bucket_arn, source_account=Aws.ACCOUNT_ID)
        rules = [s3.CfnBucket.FilterRuleProperty(name="prefix", value=settings.prefix)] if settings.prefix else []
        configurations = [
            s3.CfnBucket.LambdaConfigurationProperty(
                event="s3:ObjectCreated:*", function=target.function_arn,
                filter=s3.CfnBucket.NotificationFilterProperty(s3_key=s3.CfnBucket.S3KeyFilterProperty(
                    rules=rules + ([s3.CfnBucket.FilterRuleProperty(name="suffix", value=suffix)] if suffix else []))))
            for suffix in (settings.suffixes or ("",))
        ]
        bucket = self.input_bucket.node.default_child
        assert isinstance(bucket, s3.CfnBucket)
        bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            lambda_configurations=configurations)
        bucket.add_resource_dependency(permission)  # S3 checks that it may invoke the function when the notification is set
        role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"],
                                               resources=[s3_arn(self.input_bucket_name, f"{settings.prefix}*")]))

    def _grant_output(self, role: iam.Role) -> None:
        output = self.settings.output
        if output is None:
            return
        if output.kind == "sqs":
            queue_arn = f"arn:{Aws.PARTITION}:sqs:{output.region}:{output.account}:{output.queue_name}"
            role.add_to_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue_arn]))
            return
        bucket_name = self.output_bucket_name
        assert bucket_name is not None
        role.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"],
                                               resources=[s3_arn(bucket_name, f"{output.prefix}*")]))
        if self.key is not None and output.in_stack_bucket:
            role.add_to_policy(iam.PolicyStatement(actions=["kms:GenerateDataKey"], resources=[self.key.key_arn]))

    def resources(self) -> dict[str, CfnResource]:
        """The CloudFormation resources by role, for checkov's skips."""
        found = {}
        for name in ("access_logs", "input_bucket", "results_bucket", "queue", "dead_letters"):
            construct = getattr(self, name)
            if construct is not None:
                child = construct.node.default_child
                assert isinstance(child, CfnResource)
                found[name] = child
        return found
