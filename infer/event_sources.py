"""Event sources and outputs of a deployment, as `infer deploy` checks them (no AWS, no CDK import): the SQS
queue's limits, where results go (INFER_OUTPUT), and SnapStart's rules. The CDK side (cdk/infer_cdk/sources.py)
builds the resources from the same values; this module lives outside infer/deploy so that the CDK app may
import it (tests/unit/test_boundaries.py).

Output forms (`--output`):
    s3://bucket/prefix/          an existing bucket: the role may put objects under the prefix only
    https://sqs.R.amazonaws.com/ACCOUNT/NAME   an existing queue: the role may send to it only
    prefix/                      a prefix in the stack's own bucket (the --bucket new bucket, else a results bucket)
"""

import hashlib
import re
from dataclasses import dataclass

from infer.runtime import contract

OUTPUT_VARIABLE = contract.OUTPUT  # the runtime's variable, read by its S3 and SQS sources

# SQS event source mapping and queue (AWS Lambda developer guide, "Lambda parameters for Amazon SQS event source
# mappings" and "Creating and configuring an Amazon SQS event source mapping").
VISIBILITY_TIMEOUT_FACTOR = 6  # AWS: the queue's visibility timeout at least six times the function's timeout
DEFAULT_BATCH_SIZE = 10  # Lambda's default, and the largest batch without a batching window
MAX_BATCH_SIZE_WITHOUT_WINDOW = 10
MAX_BATCH_SIZE = 10_000  # standard queues, with a batching window
MAX_BATCHING_WINDOW_S = 300
MIN_MAX_CONCURRENCY, MAX_MAX_CONCURRENCY = 2, 1000  # the mapping's ScalingConfig.MaximumConcurrency
# AWS recommends a redrive maxReceiveCount of at least 5 for queues Lambda reads: a batch the function could not
# take (throttled at its reserved concurrency, or while a previous batch ran) still counts as a receive, so a
# smaller count sends good messages to the dead-letter queue under load.
DEFAULT_MAX_RECEIVES = 5
MAX_RECEIVES = 1000  # SQS's limit for maxReceiveCount

DEFAULT_INPUT_PREFIX = "in/"
DEFAULT_OUTPUT_PREFIX = "out/"
MAX_PREFIX_BYTES = 900  # S3 keys take at most 1024 bytes; results are <output prefix><input key>.json

# SnapStart ("Improving startup performance with Lambda SnapStart", supported features and limitations).
SNAPSTART_RULE = ("AWS: SnapStart works with Lambda's managed runtimes (Python 3.12 and newer); OS-only runtimes "
                  "and container images are not supported")
SNAPSTART_MAX_EPHEMERAL_STORAGE_MB = 512
SNAPSTART_ALIAS = "live"

S3_URI = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?")
SQS_URL = re.compile(r"https://sqs\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?/(\d{12})/([A-Za-z0-9_-]{1,80})")


@dataclass(frozen=True)
class Output:
    """Where results go: kind "s3" (bucket None: the stack's own bucket) or "sqs" (a queue in `region`/`account`)."""

    kind: str
    bucket: str | None = None
    prefix: str = ""
    queue_url: str = ""
    region: str = ""
    account: str = ""
    queue_name: str = ""

    @property
    def in_stack_bucket(self) -> bool:
        return self.kind == "s3" and self.bucket is None


def _folder(prefix: str) -> str:
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def parse_output(value: str | None) -> Output:
    """The --output value (None: `out/` in the stack's bucket); ValueError with a one-line reason otherwise."""
    if value is None:
        return Output("s3", None, DEFAULT_OUTPUT_PREFIX)
    text = value.strip()
    if text.startswith("s3://"):
        match = S3_URI.fullmatch(text)
        if not match or ".." in match.group(1):
            raise ValueError(f"--output s3://BUCKET/PREFIX/ needs a bucket name of 3-63 lowercase letters, digits, dots "
                             f"and hyphens; got {value!r}")
        prefix = _folder(match.group(2) or "")
        _check_prefix(prefix, "--output")
        return Output("s3", match.group(1), prefix)
    if text.startswith(("https://", "http://")):
        match = SQS_URL.fullmatch(text.rstrip("/"))
        if not match:
            raise ValueError("--output takes s3://BUCKET/PREFIX/, an SQS queue URL like "
                             f"https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, or a PREFIX/ in the stack's bucket; got {value!r}")
        return Output("sqs", queue_url=text.rstrip("/"), region=match.group(1), account=match.group(2),
                      queue_name=match.group(3))
    if not text or text.startswith("/") or "://" in text:
        raise ValueError(f"--output takes s3://BUCKET/PREFIX/, an SQS queue URL, or a PREFIX/ in the stack's bucket "
                         f"(like results/); got {value!r}")
    prefix = _folder(text)
    _check_prefix(prefix, "--output")
    return Output("s3", None, prefix)


def _check_prefix(prefix: str, option: str) -> None:
    if len(prefix.encode()) > MAX_PREFIX_BYTES:
        raise ValueError(f"{option}: the prefix is longer than {MAX_PREFIX_BYTES} bytes (S3 keys take at most 1024)")
    if prefix.startswith("/") or any(ord(c) < 32 for c in prefix) or "*" in prefix:
        raise ValueError(f"{option}: {prefix!r} is not a key prefix (no leading /, no control characters, no *)")


def check_input_prefix(prefix: str) -> None:
    _check_prefix(prefix, "--prefix")


def prefixes_overlap(a: str, b: str) -> bool:
    """True when a key could be under both prefixes (one starts with the other)."""
    return a.startswith(b) or b.startswith(a)


def input_bucket_stem(stack_name: str) -> str:
    """The start of the input bucket's name, fixed before deployment: the stack's name (lowercased, at most 24
    characters) and 6 hex digits of its hash; the account and region follow (`<stem>-<account>-<region>`, at most
    63 characters). A name known in advance lets the bucket's notification, the function's permission for S3 and
    the role's policy refer to each other without a circular dependency in CloudFormation."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", stack_name.lower()).strip("-")[:24].strip("-") or "infer"
    return f"{cleaned}-{hashlib.sha256(stack_name.encode()).hexdigest()[:6]}"
