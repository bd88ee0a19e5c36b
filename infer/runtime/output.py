"""Where the results of SQS and S3 events go (INFER_OUTPUT), and the boto3 clients that read and write them.

INFER_OUTPUT (rules in `contract.output_target`):
- `s3://bucket/prefix/`: each result is a JSON object at `<prefix><id>.json` (id: the SQS messageId, or
  the input object's key), put concurrently on a small thread pool. Same input, same key: writing again
  replaces the object with the same bytes.
- an SQS queue URL: each result is a message `{"id": id, "result": ...}`, sent with SendMessageBatch,
  10 to a call. A FIFO queue gets a deduplication id derived from the id, so a redelivered input is
  sent once (within SQS's five-minute deduplication window); a standard queue may receive it twice.
- unset (or empty): each result is one JSON line in the function's log `{"message": "result", "id",
  "result"}`, after one warning line per environment; the records succeed.

boto3 is imported here, and this module only when an SQS or S3 event arrives: a function URL cold start
never pays for it. One client per service for the environment, created on first use; it takes
AWS_ENDPOINT_URL and AWS_REGION from the environment as every boto3 client does.
"""

import hashlib
import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from . import contract

PUT_THREADS = 8  # concurrent PutObject calls: a PUT's latency (20-50 ms) otherwise dominates a batch
SQS_BATCH_ENTRIES = 10  # SendMessageBatch takes at most 10 messages
SQS_BATCH_BYTES = 256 * 1024  # and at most 256 KiB in all (the classic limit; newer queues allow 1 MiB)

_clients: dict[tuple[str, str], object] = {}
_clients_lock = threading.Lock()
_warned_unset = False


class OutputError(Exception):
    """INFER_OUTPUT is not usable; the message is one line."""


def client(service: str, region: str = ""):
    """The environment's boto3 client for `service` (one per service and region), created on first use."""
    key = (service, region)
    found = _clients.get(key)
    if found is not None:
        return found
    with _clients_lock:
        if key not in _clients:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise OutputError("boto3 is not installed in this function, and SQS and S3 events need it (Lambda's "
                                  "managed Python runtimes include it; an image must add it)") from None

            config = Config(retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=PUT_THREADS + 2,
                            connect_timeout=5, read_timeout=30)
            _clients[key] = boto3.session.Session().client(service, region_name=region or None, config=config)
        return _clients[key]


def reset_clients() -> None:
    """Forget the cached clients (tests that change AWS_ENDPOINT_URL)."""
    global _warned_unset
    _clients.clear()
    _warned_unset = False


def error_reason(exc: BaseException) -> str:
    """One line for a failed AWS call: the service's error code and message, else the exception's type and text."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        error = response["Error"]
        code, message = error.get("Code", ""), error.get("Message", "")
        if code == "404":  # HeadObject's answer has no body to name the error
            code, message = "NotFound", "no such object (or bucket)"
        return f"{code}: {message}".strip(": ").splitlines()[0] if (code or message) else type(exc).__name__
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


class Destination:
    """Writes results; `write` returns {id: reason} for the ones that failed."""

    description = ""

    def write(self, results: dict[str, str]) -> dict[str, str]:
        raise NotImplementedError

    def covers(self, bucket: str, key: str) -> bool:
        """Whether an object is one of this destination's results (it must never be predicted on again)."""
        return False


class S3Destination(Destination):
    def __init__(self, bucket: str, prefix: str):
        self.bucket, self.prefix = bucket, prefix
        self.description = f"s3://{bucket}/{prefix}"

    def key(self, result_id: str) -> str:
        return f"{self.prefix}{result_id}.json"

    def covers(self, bucket: str, key: str) -> bool:
        return bucket == self.bucket and key.startswith(self.prefix) and key.endswith(".json")

    def write(self, results: dict[str, str]) -> dict[str, str]:
        if not results:
            return {}
        s3 = client("s3", os.environ.get("AWS_REGION", ""))

        def put(item: tuple[str, str]) -> tuple[str, str | None]:
            result_id, body = item
            try:
                s3.put_object(Bucket=self.bucket, Key=self.key(result_id), Body=body.encode(),
                              ContentType="application/json")
            except Exception as exc:  # botocore's errors: the service's answer, or no answer at all
                return result_id, f"cannot write s3://{self.bucket}/{self.key(result_id)}: {error_reason(exc)}"
            return result_id, None

        if len(results) == 1:
            done = [put(next(iter(results.items())))]
        else:
            with ThreadPoolExecutor(max_workers=min(PUT_THREADS, len(results)), thread_name_prefix="infer-put") as pool:
                done = list(pool.map(put, results.items()))
        return {result_id: reason for result_id, reason in done if reason is not None}


class SqsDestination(Destination):
    def __init__(self, url: str, region: str):
        self.url, self.region = url, region
        self.description = url
        self.fifo = url.rstrip("/").endswith(".fifo")

    def write(self, results: dict[str, str]) -> dict[str, str]:
        if not results:
            return {}
        sqs = client("sqs", self.region or os.environ.get("AWS_REGION", ""))
        failed: dict[str, str] = {}
        batch: list[tuple[str, str]] = []
        size = 0
        for result_id, body in results.items():
            message = '{"id":' + json.dumps(result_id) + ',"result":' + body + "}"
            length = len(message.encode())
            if length > SQS_BATCH_BYTES:
                failed[result_id] = f"the result is {length} bytes; an SQS message takes at most {SQS_BATCH_BYTES}"
                continue
            if len(batch) == SQS_BATCH_ENTRIES or size + length > SQS_BATCH_BYTES:
                failed.update(self._send(sqs, batch))
                batch, size = [], 0
            batch.append((result_id, message))
            size += length
        if batch:
            failed.update(self._send(sqs, batch))
        return failed

    def _send(self, sqs, batch: list[tuple[str, str]]) -> dict[str, str]:
        entries = []
        for index, (result_id, message) in enumerate(batch):
            entry = {"Id": f"r{index}", "MessageBody": message}
            if self.fifo:
                entry["MessageGroupId"] = "infer"
                entry["MessageDeduplicationId"] = hashlib.sha256(result_id.encode()).hexdigest()
            entries.append(entry)
        try:
            response = sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
        except Exception as exc:
            reason = f"cannot send to {self.url}: {error_reason(exc)}"
            return {result_id: reason for result_id, _ in batch}
        failed = {}
        for entry in response.get("Failed", []):
            result_id = batch[int(entry["Id"][1:])][0]
            failed[result_id] = f"cannot send to {self.url}: {entry.get('Code', '')}: {entry.get('Message', '')}"
        return failed


class LogDestination(Destination):
    description = "the function's log (INFER_OUTPUT is not set)"

    def write(self, results: dict[str, str]) -> dict[str, str]:
        global _warned_unset
        if not _warned_unset:
            _warned_unset = True
            sys.stderr.write(f"infer: warning: {contract.OUTPUT} is not set, so results go to the log only; set it to "
                             "s3://bucket/prefix/ or an SQS queue URL\n")
        for result_id, body in results.items():
            sys.stdout.write('{"message":"result","id":' + json.dumps(result_id) + ',"result":' + body + "}\n")
        sys.stdout.flush()
        return {}


def destination() -> Destination:
    """The destination INFER_OUTPUT names now; OutputError (one line) when it names none."""
    value = os.environ.get(contract.OUTPUT, "")
    if not value.strip():
        return LogDestination()
    try:
        kind, where, detail = contract.output_target(value)
    except ValueError as exc:
        raise OutputError(str(exc)) from None
    return S3Destination(where, detail) if kind == "s3" else SqsDestination(where, detail)
