"""`infer serve --queue/--bucket`: event sources for the emulated function, against a local AWS API.

Setting up, in order:
1. the options are checked (sizes and windows as Lambda allows them; an output that could trigger the
   function again is refused);
2. the AWS API: moto's server on loopback, started here, or the one --endpoint-url names (aws_api.py);
3. the output bucket; the queue and its dead-letter queue with a redrive policy (as `infer deploy`
   makes them: visibility timeout six times the function timeout unless shortened); the bucket, its
   internal events queue and failures queue, and a notification configuration for ObjectCreated:*
   under the prefix;
4. once the emulator runs: the queue's pollers (queue_mapping.py) and the bucket's trigger
   (bucket_trigger.py), both invoking through the same pool as the function URL.
Stopping reverses it: pollers first (a batch being invoked may finish), then the emulator, then the
AWS API if infer started it (its queues and buckets go with it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infer.event_sources import (
    DEFAULT_INPUT_PREFIX,
    DEFAULT_MAX_RECEIVES,
    DEFAULT_OUTPUT_PREFIX,
    MAX_BATCH_SIZE,
    MAX_BATCH_SIZE_WITHOUT_WINDOW,
    MAX_BATCHING_WINDOW_S,
    MAX_RECEIVES,
    VISIBILITY_TIMEOUT_FACTOR,
)
from infer.runtime import contract

from .aws_api import AwsApi, AwsApiError
from .bucket_trigger import BucketSource, BucketTrigger
from .queue_mapping import QueuePoller, QueueSource

DEFAULT_OUTPUT_BUCKET = "infer-results"  # for a queue alone, or a bucket whose input prefix would hold out/
DRAIN_S = 5.0  # on stop, how long a batch or an object being invoked may take to finish


class SourceError(Exception):
    """Why the event sources cannot be set up, in one line; `code` is the exit code (2: the user's input)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SourceOptions:
    queue: str | None = None  # "" asks for the default name
    bucket: str | None = None
    prefix: str | None = None  # None: in/
    output: str | None = None
    endpoint_url: str | None = None
    batch_size: int = 10
    batching_window_s: int = 0
    max_receives: int = DEFAULT_MAX_RECEIVES  # as infer deploy sets it (AWS advises at least 5)
    visibility_timeout_s: int | None = None  # None: six times the function timeout
    retry_delay_s: float = 1.0
    max_concurrency: int | None = None  # None: min(2, the function's concurrency)

    @property
    def wanted(self) -> bool:
        return self.queue is not None or self.bucket is not None

    def validate(self, concurrency: int) -> None:
        checks = [
            (self.wanted or not (self.endpoint_url or self.output or self.prefix is not None),
             "--endpoint-url, --output and --prefix go with --queue or --bucket"),
            (self.prefix is None or self.bucket is not None, "--prefix goes with --bucket"),
            (self.queue is None or not self.queue or re.fullmatch(r"[A-Za-z0-9_-]{1,80}", self.queue),
             "--queue must be 1-80 letters, digits, hyphens or underscores (a standard queue)"),
            (self.bucket is None or _bucket_name(self.bucket),
             "--bucket must be an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens"),
            (1 <= self.batch_size <= MAX_BATCH_SIZE, f"--batch-size must be from 1 to {MAX_BATCH_SIZE}"),
            (0 <= self.batching_window_s <= MAX_BATCHING_WINDOW_S,
             f"--batching-window must be from 0 to {MAX_BATCHING_WINDOW_S} seconds"),
            (self.batch_size <= MAX_BATCH_SIZE_WITHOUT_WINDOW or self.batching_window_s >= 1,
             f"--batch-size over {MAX_BATCH_SIZE_WITHOUT_WINDOW} needs --batching-window of at least 1 second, as on Lambda"),
            (1 <= self.max_receives <= MAX_RECEIVES, f"--max-receives must be from 1 to {MAX_RECEIVES}"),
            (self.visibility_timeout_s is None or 0 <= self.visibility_timeout_s <= 43200,
             "--visibility-timeout must be from 0 to 43200 seconds"),
            (self.retry_delay_s >= 0, "--retry-delay must be 0 or more seconds"),
            (self.max_concurrency is None or 1 <= self.max_concurrency <= concurrency,
             f"--max-concurrency must be from 1 to --concurrency ({concurrency})"),
        ]
        for ok, message in checks:
            if not ok:
                raise SourceError(message)

    def queue_name(self, function_name: str) -> str:
        return self.queue or re.sub(r"[^A-Za-z0-9_-]", "-", f"infer-{function_name}")[:80]

    @property
    def input_prefix(self) -> str:
        return DEFAULT_INPUT_PREFIX if self.prefix is None else self.prefix

    def output_location(self, function_name: str) -> str:
        """--output, or out/ beside the input prefix in the bucket (as deployed), or a results bucket."""
        if self.output:
            return self.output
        if self.bucket is not None and not DEFAULT_OUTPUT_PREFIX.startswith(self.input_prefix) \
                and not self.input_prefix.startswith(DEFAULT_OUTPUT_PREFIX):
            return f"s3://{self.bucket}/{DEFAULT_OUTPUT_PREFIX}"
        return f"s3://{DEFAULT_OUTPUT_BUCKET}/{function_name}/"


def _bucket_name(name: str) -> bool:
    return bool(re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name)) and ".." not in name


def parse_output(location: str) -> tuple[str, str, str]:
    """("s3", bucket, prefix) or ("sqs", queue URL, region): what --output names, by the runtime's own rule for
    INFER_OUTPUT; SourceError otherwise."""
    try:
        return contract.output_target(location)
    except ValueError as exc:
        raise SourceError(f"--output: {exc}") from None


def queue_name_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def loop_problem(options: SourceOptions, kind: str, output_bucket: str, output_prefix: str) -> str | None:
    """Why results written to the output would reach the function again, or None."""
    if kind == "s3" and options.bucket == output_bucket:
        where = f"s3://{output_bucket}/"
        prefix = options.input_prefix
        if output_prefix.startswith(prefix):
            return (f"--output {where}{output_prefix} is inside the input prefix {where}{prefix}: every result "
                    "would trigger the function again; choose a prefix outside it (or another bucket)")
        if prefix.startswith(output_prefix):
            return (f"--output {where}{output_prefix} contains the input prefix {where}{prefix}: results "
                    "written under it could trigger the function again; choose a prefix beside it")
    if kind == "sqs" and options.queue and queue_name_of(output_bucket) == options.queue:
        return f"--output names the input queue {options.queue}: every result would be read as a new request"
    return None


class EventSources:
    """The AWS API, the resources made in it, and (once started) the pollers that feed the function."""

    def __init__(self, api: AwsApi, options: SourceOptions, function_name: str, function_arn: str,
                 timeout_s: float, concurrency: int):
        self.api = api
        self.options = options
        self.function_name = function_name
        self.function_arn = function_arn
        self.sqs = api.client("sqs")
        self.s3 = api.client("s3")
        self.output = options.output_location(function_name)
        self.queue: QueueSource | None = None
        self.bucket: BucketSource | None = None
        self.visibility_timeout_s = options.visibility_timeout_s if options.visibility_timeout_s is not None \
            else int(VISIBILITY_TIMEOUT_FACTOR * max(1.0, timeout_s))
        self.timeout_s = timeout_s
        self.workers = options.max_concurrency or min(2, concurrency)
        self._previous_notifications: dict | None = None
        self._running: list[QueuePoller | BucketTrigger] = []

    def function_environment(self) -> dict[str, str]:
        return {contract.OUTPUT: self.output, **self.api.function_environment()}

    # Step 3: resources in the AWS API

    def create(self) -> EventSources:
        kind, where, _ = parse_output(self.output)
        if kind == "s3":
            self._ensure_bucket(where)
        else:  # the queue is made in this API by its name, and the function gets this API's URL for it
            self.output = self.sqs.create_queue(QueueName=queue_name_of(where))["QueueUrl"]
        if self.options.queue is not None:
            self.queue = self._create_queue(self.options.queue_name(self.function_name))
        if self.options.bucket is not None:
            self.bucket = self._create_bucket_source(self.options.bucket, self.options.input_prefix)
        return self

    def _create_queue(self, name: str) -> QueueSource:
        dead_letter = f"{name}-dlq"[:80]
        dead_letter_url = self.sqs.create_queue(QueueName=dead_letter)["QueueUrl"]
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        redrive = {"deadLetterTargetArn": self._arn(dead_letter_url), "maxReceiveCount": str(self.options.max_receives)}
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={
            "VisibilityTimeout": str(self.visibility_timeout_s), "RedrivePolicy": json.dumps(redrive)})
        return QueueSource(url=url, arn=self._arn(url), name=name, region=self.api.region,
                           batch_size=self.options.batch_size, batching_window_s=self.options.batching_window_s,
                           visibility_timeout_s=self.visibility_timeout_s, max_receives=self.options.max_receives,
                           dead_letter_name=dead_letter)

    def _create_bucket_source(self, bucket: str, prefix: str) -> BucketSource:
        self._ensure_bucket(bucket)
        base = re.sub(r"[^A-Za-z0-9_-]", "-", f"infer-{self.function_name}")[:60]
        # long enough for an event's three attempts and its retry delays, so that it is never received twice
        hold_s = int(3 * (self.timeout_s + contract.INIT_LIMIT_S) + 3 * self.options.retry_delay_s + 60)
        events_url = self.sqs.create_queue(QueueName=f"{base}-s3-events")["QueueUrl"]
        self.sqs.set_queue_attributes(QueueUrl=events_url, Attributes={"VisibilityTimeout": str(min(hold_s, 43200))})
        failures_name = f"{base}-s3-failures"
        failures_url = self.sqs.create_queue(QueueName=failures_name)["QueueUrl"]
        current = self.s3.get_bucket_notification_configuration(Bucket=bucket)
        current.pop("ResponseMetadata", None)
        self._previous_notifications = current
        ours: dict[str, Any] = {"Id": f"infer-serve-{base}"[:64], "QueueArn": self._arn(events_url), "Events": ["s3:ObjectCreated:*"]}
        if prefix:
            ours["Filter"] = {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}
        others = [c for c in current.get("QueueConfigurations", []) if c.get("Id") != ours["Id"]]
        self.s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={**current, "QueueConfigurations": [*others, ours]})
        return BucketSource(bucket=bucket, prefix=prefix, events_url=events_url, failures_url=failures_url,
                            failures_name=failures_name, function_arn=self.function_arn,
                            retry_delay_s=self.options.retry_delay_s)

    def _ensure_bucket(self, bucket: str) -> None:
        try:
            self.s3.head_bucket(Bucket=bucket)
            return
        except Exception:  # botocore's ClientError (404 or 403): try to create it, which says why if it fails
            pass
        location = {} if self.api.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": self.api.region}}
        self.s3.create_bucket(Bucket=bucket, **location)

    def _arn(self, queue_url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    # Step 4: the pollers

    def start(self, invoke: Callable[[bytes], Any], log: Callable[[str], None]) -> None:
        if self.queue is not None:
            self._running.append(QueuePoller(self.queue, self.sqs, invoke, log, pollers=self.workers).start())
        if self.bucket is not None:
            self._running.append(BucketTrigger(self.bucket, self.sqs, invoke, log, workers=self.workers).start())

    def stop_pollers(self, drain_s: float = DRAIN_S) -> None:
        for running in self._running:
            running.stop(drain_s)
        self._running.clear()

    def close(self) -> None:
        """Put back the bucket's notification configuration on an API infer did not start; stop the one it did."""
        if self.bucket is not None and self._previous_notifications is not None and not self.api.started_here:
            try:
                self.s3.put_bucket_notification_configuration(Bucket=self.bucket.bucket,
                                                              NotificationConfiguration=self._previous_notifications)
            except Exception:  # nothing more to do on the way out; the configuration names a queue of ours
                pass
        self.api.stop()

    # What the user is told

    def banner_lines(self, example: dict) -> list[str]:
        api = self.api
        how = "moto's server, started by infer, stopped with it" if api.started_here else "--endpoint-url"
        cli = f"aws --endpoint-url {api.endpoint_url} --region {api.region}"
        lines = [f"  AWS API ({how}): {api.endpoint_url}, region {api.region}"
                 + (", any credentials (aws CLI: export AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x)"
                    if api.started_here else "")]
        if self.queue is not None:
            q = self.queue
            window = f", batching window {q.batching_window_s:g} s" if q.batching_window_s else ""
            lines.append(f"  queue {q.name}: {q.url} (batches of up to {q.batch_size}{window}, visibility timeout "
                         f"{q.visibility_timeout_s} s; after {q.max_receives} receives to {q.dead_letter_name})")
        if self.bucket is not None:
            b = self.bucket
            lines.append(f"  bucket: s3://{b.bucket}/{b.prefix} (ObjectCreated:*, run asynchronously: 2 retries, "
                         f"{b.retry_delay_s:g} s and {2 * b.retry_delay_s:g} s apart; then kept in queue {b.failures_name})")
        kind, where, prefix = parse_output(self.output)
        if kind == "s3":
            lines.append(f"  results: s3://{where}/{prefix}<messageId>.json for messages, <key>.json for objects")
        else:
            lines.append(f"  results: messages {{\"id\": messageId or key, \"result\": ...}} on {where}")
        body = json.dumps(example)
        quoted = body.replace('"', '\\"')  # inside the shell's double quotes around python -c
        if self.queue is not None:
            lines += [f"  try: {cli} sqs send-message --queue-url {self.queue.url} --message-body '{body}'",
                      f"       python -c \"import boto3; boto3.client('sqs', endpoint_url='{api.endpoint_url}', "
                      f"region_name='{api.region}', aws_access_key_id='x', aws_secret_access_key='x').send_message("
                      f"QueueUrl='{self.queue.url}', MessageBody='{quoted}')\""]
        if self.bucket is not None:
            lines.append(f"  try: echo '{body}' > request.json && {cli} s3 cp request.json "
                         f"s3://{self.bucket.bucket}/{self.bucket.prefix}request.json")
        if kind == "s3":
            lines.append(f"  see: {cli} s3 ls --recursive s3://{where}/{prefix}")
        else:
            lines.append(f"  see: {cli} sqs receive-message --queue-url {where} --max-number-of-messages 10")
        return lines


def set_up(options: SourceOptions, function_name: str, function_arn: str, region: str, timeout_s: float,
           concurrency: int) -> EventSources:
    """Check the options, reach or start the AWS API, and create the queues and buckets; SourceError if not."""
    options.validate(concurrency)
    output = options.output_location(function_name)
    kind, out_bucket, out_prefix = parse_output(output)
    if problem := loop_problem(options, kind, out_bucket, out_prefix):
        raise SourceError(problem)
    try:
        api = AwsApi.at(options.endpoint_url, region) if options.endpoint_url else AwsApi.start(region)
    except AwsApiError as exc:
        raise SourceError(str(exc), exc.code) from None
    sources = EventSources(api, options, function_name, function_arn, timeout_s, concurrency)
    try:
        return sources.create()
    except SourceError:
        api.stop()
        raise
    except Exception as exc:  # an AWS call was refused: which one is in botocore's message
        api.stop()
        raise SourceError(f"setting up the queue or bucket in the AWS API at {api.endpoint_url} failed: "
                          f"{' '.join(str(exc).split())}", 1) from None
