"""The emulated SQS event source mapping: Lambda's queue poller, against a queue in a local AWS API.

Each poller repeats:
1. ReceiveMessage (up to 10 a call, long polling, the mapping's visibility timeout, every system and
   message attribute) until the batch holds `batch_size` records or `batching_window_s` has passed
   since its first record (a window of 0 takes what one receive returns);
2. the records become one SQS event, built as Lambda builds it, invoked synchronously through the
   emulator's pool (the environments that also serve the function URL);
3. after a response, DeleteMessageBatch removes every record the response does not list in
   `batchItemFailures` (ReportBatchItemFailures); an invalid response, or an itemIdentifier that is
   empty or not in the batch, fails the whole batch, as on Lambda; a function error, a timeout, a
   crash or a throttle deletes nothing;
4. what is not deleted reappears after the visibility timeout; the queue's redrive policy, kept by
   the AWS API and not here, moves a message to its dead-letter queue after its last allowed receive.
One line per batch is logged: received, succeeded, failed, deleted, and what reached its last receive.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infer.runtime.contract import MAX_PAYLOAD_BYTES

from .aws_api import one_line

LONG_POLL_S = 20  # the WaitTimeSeconds of Lambda's pollers, the most SQS allows
RECEIVE_MAX = 10  # the most messages one ReceiveMessage returns
DELETE_MAX = 10  # the most entries one DeleteMessageBatch takes
ERROR_PAUSE_S = 1.0  # after a failed AWS call or a throttle, before polling again
ATTRIBUTES = ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
              "AWSTraceHeader", "MessageGroupId", "MessageDeduplicationId", "SequenceNumber",
              "DeadLetterQueueSourceArn")  # the system attributes a Lambda SQS record carries when SQS sends them


@dataclass(frozen=True)
class QueueSource:
    url: str
    arn: str
    name: str
    region: str
    batch_size: int = 10
    batching_window_s: float = 0.0
    visibility_timeout_s: int = 180
    max_receives: int = 3
    dead_letter_name: str = ""


def sqs_record(message: dict, source: QueueSource) -> dict:
    """One record of the SQS event Lambda sends, from one message as ReceiveMessage returns it."""
    attributes = message.get("Attributes", {})
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {name: attributes[name] for name in ATTRIBUTES if name in attributes},
        "messageAttributes": {name: _attribute(value) for name, value in message.get("MessageAttributes", {}).items()},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": source.arn,
        "awsRegion": source.region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _attribute(value: dict) -> dict:
    """A message attribute as Lambda writes it: camelCase keys, binary values base64-encoded."""
    def b64(data) -> str:
        return base64.b64encode(data if isinstance(data, bytes) else str(data).encode()).decode()

    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [b64(v) for v in value.get("BinaryListValues", [])],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = b64(value["BinaryValue"])
    return attribute


def batch_failures(payload: bytes, message_ids: list[str]) -> tuple[set[str], str]:
    """The records a function's response fails, with ReportBatchItemFailures' rules, and why when all fail.

    A null or empty response, or a null or empty batchItemFailures, is complete success; a response that
    is not JSON or not an object, a batchItemFailures that is not a list, or an entry whose itemIdentifier
    is missing, empty or not a message of the batch fails the whole batch.
    """
    everything = set(message_ids)
    if not payload.strip():
        return set(), ""
    try:
        response = json.loads(payload)
    except ValueError:
        return everything, "the response is not JSON"
    if response is None:
        return set(), ""
    if not isinstance(response, dict):
        return everything, f"the response is a JSON {type(response).__name__}, not an object"
    entries = response.get("batchItemFailures")
    if entries is None:
        return set(), ""
    if not isinstance(entries, list):
        return everything, "batchItemFailures is not a list"
    failed = set()
    for entry in entries:
        identifier = entry.get("itemIdentifier") if isinstance(entry, dict) else None
        if not isinstance(identifier, str) or not identifier:
            return everything, f"a batchItemFailures entry has no itemIdentifier: {json.dumps(entry)[:100]}"
        if identifier not in everything:
            return everything, f"itemIdentifier {identifier[:60]!r} is not a message of the batch"
        failed.add(identifier)
    return failed, ""


class QueuePoller:
    """Pollers for one queue, each gathering a batch, invoking the function, and deleting what succeeded."""

    def __init__(self, source: QueueSource, sqs, invoke: Callable[[bytes], Any], log: Callable[[str], None],
                 pollers: int = 1, long_poll_s: int = LONG_POLL_S):
        self.source = source
        self.sqs = sqs  # a boto3 SQS client (thread-safe for calls)
        self.invoke = invoke  # event bytes -> a settled Invocation (Pool.invoke)
        self.log = log
        self.long_poll_s = long_poll_s
        self._stopping = threading.Event()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._threads = [threading.Thread(target=self._run, name=f"sqs-poller-{i}", daemon=True)
                         for i in range(pollers)]

    def start(self) -> QueuePoller:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, drain_s: float) -> None:
        """Stop receiving; wait up to `drain_s` for batches being invoked. Long polls still waiting, and batches
        still being gathered, are left: what they received is never deleted, and reappears after the visibility
        timeout."""
        self._stopping.set()
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=drain_s)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = self._gather()
                if batch and not self._stopping.is_set():
                    self._handle(batch)
            except Exception as exc:  # an AWS call failed (the API stopped, a network error): say so, go on
                if self._stopping.is_set():
                    return
                self.log(f"queue {self.source.name}: {one_line(exc)}; polling again in {ERROR_PAUSE_S:g} s")
                self._stopping.wait(ERROR_PAUSE_S)

    def _receive(self, count: int, wait_s: int) -> list[dict]:
        reply = self.sqs.receive_message(
            QueueUrl=self.source.url, MaxNumberOfMessages=count, WaitTimeSeconds=wait_s,
            VisibilityTimeout=self.source.visibility_timeout_s,
            MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
        )
        return reply.get("Messages", [])

    def _gather(self) -> list[dict]:
        """Receive until the batch is full, or the batching window since its first record has passed."""
        batch: list[dict] = []
        window_ends = None
        while not self._stopping.is_set() and len(batch) < self.source.batch_size:
            wanted = min(RECEIVE_MAX, self.source.batch_size - len(batch))
            if window_ends is None:
                wait_s = self.long_poll_s
            else:
                left_s = window_ends - time.monotonic()
                if left_s <= 0:
                    break
                wait_s = min(self.long_poll_s, int(left_s))  # whole seconds: SQS takes no fractions
            received = self._receive(wanted, wait_s)
            if received:
                batch += received
                if window_ends is None:
                    window_ends = time.monotonic() + self.source.batching_window_s
                    if self.source.batching_window_s <= 0:
                        break
            elif window_ends is not None and wait_s == 0:
                time.sleep(min(0.05, max(0.0, window_ends - time.monotonic())))
        return batch

    def _handle(self, messages: list[dict]) -> None:
        with self._lock:
            self._in_flight += 1
        try:
            self._invoke_batch(messages)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _invoke_batch(self, messages: list[dict]) -> None:
        records: list[dict] = []
        overflow: list[dict] = []
        size = 20
        for message in messages:  # an event over Lambda's 6 MB payload limit is never built
            record = sqs_record(message, self.source)
            size += len(json.dumps(record)) + 2
            (records if size <= MAX_PAYLOAD_BYTES or not records else overflow).append(record)
        if overflow:
            self._release(overflow)
        ids = [record["messageId"] for record in records]
        started = time.monotonic()
        invocation = self.invoke(json.dumps({"Records": records}).encode())
        took_s = time.monotonic() - started
        outcome = str(invocation.outcome)
        head = f"queue {self.source.name}: batch of {len(records)} (request {invocation.request_id})"
        if outcome == "ok":
            failed, why = batch_failures(invocation.payload, ids)
        else:
            failed = set(ids)
            why = f"{outcome}: {invocation.reason or invocation.error_type or 'no response'}"
        done = [record for record in records if record["messageId"] not in failed]
        deleted, delete_problem = self._delete(done)
        parts = [f"{len(done)} succeeded", f"{len(failed)} failed"]
        if why:
            parts[-1] += f" ({why})"
        parts.append(f"{deleted} deleted" + (f" ({delete_problem})" if delete_problem else ""))
        last = [r["messageId"] for r in records
                if r["messageId"] in failed and int(r["attributes"].get("ApproximateReceiveCount", "0")) >= self.source.max_receives]
        if failed:
            parts.append(f"the failed reappear after {self.source.visibility_timeout_s} s")
        if last:
            target = self.source.dead_letter_name or "its dead-letter queue"
            parts.append(f"{len(last)} at receive {self.source.max_receives} of {self.source.max_receives}, "
                         f"moved to {target} by the queue at its next receive: {', '.join(last)}")
        if overflow:
            parts.append(f"{len(overflow)} over the 6 MB payload limit made visible again")
        if took_s > self.source.visibility_timeout_s:
            parts.append(f"it took {took_s:.1f} s, longer than the visibility timeout: its messages may have been "
                         "received again meanwhile (raise --visibility-timeout)")
        self.log(f"{head}: " + "; ".join(parts))
        if outcome == "throttled":
            self._stopping.wait(ERROR_PAUSE_S)  # back off, as Lambda's pollers do when the function is throttled

    def _delete(self, records: list[dict]) -> tuple[int, str]:
        """DeleteMessageBatch for `records`, ten at a time: how many were deleted, and what went wrong."""
        deleted, problems = 0, []
        for start in range(0, len(records), DELETE_MAX):
            chunk = records[start:start + DELETE_MAX]
            entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)]
            try:
                reply = self.sqs.delete_message_batch(QueueUrl=self.source.url, Entries=entries)
            except Exception as exc:  # the API failed: these records stay and reappear
                problems.append(one_line(exc))
                continue
            deleted += len(reply.get("Successful", []))
            problems += [f"{f.get('Code')}: {f.get('Message')}" for f in reply.get("Failed", [])]
        return deleted, "; ".join(problems)

    def _release(self, records: list[dict]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": 0}
                   for i, r in enumerate(records)]
        for start in range(0, len(entries), DELETE_MAX):
            try:
                self.sqs.change_message_visibility_batch(QueueUrl=self.source.url, Entries=entries[start:start + DELETE_MAX])
            except Exception:  # they reappear after the visibility timeout anyway
                pass
