"""The emulated S3 trigger: a bucket's ObjectCreated events run the function asynchronously, as Lambda does.

1. The bucket's notification configuration (ObjectCreated:*, the prefix) sends each new object's event
   to an internal queue; the AWS API does this, as S3 does (sources.py sets it up).
2. A poller receives those messages, skips S3's s3:TestEvent, completes each S3 event where moto's
   differs from S3's (as_lambda_delivers), and queues it for an asynchronous invocation, as Lambda's
   own event queue holds an S3 trigger's events.
3. Workers invoke the function through the emulator's pool. A function error, a timeout or a crash is
   retried twice, after `retry_delay_s` and then twice that (Lambda waits about one and two minutes);
   a throttle is retried after a pause without counting as an attempt, as Lambda does.
4. After the last failed attempt, the event goes to a failures queue as a record in the format of
   Lambda's on-failure destinations, and a line says so: an event is never dropped silently (when
   even that queue cannot be written, the log line carries the whole event).
5. The notification message is deleted only once its event succeeded or was kept: an event still in
   flight when infer stops reappears on the internal queue.
"""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from .aws_api import one_line
from .queue_mapping import ERROR_PAUSE_S, LONG_POLL_S, RECEIVE_MAX

ATTEMPTS = 3  # Lambda's asynchronous invocation: the first attempt and two retries


@dataclass(frozen=True)
class BucketSource:
    bucket: str
    prefix: str
    events_url: str  # the internal queue the bucket's notifications go to
    failures_url: str  # where events go after their last failed attempt
    failures_name: str
    function_arn: str
    retry_delay_s: float = 1.0


@dataclass(order=True)
class _Pending:
    due: float
    order: int
    event: bytes = field(compare=False)
    label: str = field(compare=False)
    attempts: int = field(compare=False, default=0)  # invocations made so far (throttles not counted)
    finished: Callable[[], None] = field(compare=False, default=lambda: None)


def as_lambda_delivers(event: dict) -> dict:
    """The S3 event with the fields S3 sends and moto leaves out (who, from where, the request ids, the
    sequencer), and keys encoded as S3 encodes them (moto also encodes "/"); what is there is kept."""
    for record in event.get("Records", []):
        if not isinstance(record, dict) or not isinstance(record.get("s3"), dict):
            continue
        record.setdefault("userIdentity", {"principalId": "AWS:INFERLOCAL"})
        record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
        record.setdefault("responseElements", {"x-amz-request-id": uuid.uuid4().hex[:16].upper(),
                                               "x-amz-id-2": uuid.uuid4().hex})
        bucket, item = record["s3"].get("bucket"), record["s3"].get("object")
        if isinstance(bucket, dict):
            bucket.setdefault("ownerIdentity", {"principalId": "INFERLOCAL"})
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            item["key"] = quote_plus(unquote_plus(item["key"]), safe="/")
            item.setdefault("sequencer", f"{time.time_ns():016X}")
    return event


def describe(event: dict) -> str:
    """`key (ObjectCreated:Put)` for an S3 event's first record: keys arrive URL-encoded, as S3 sends them."""
    try:
        record = event["Records"][0]
        key = unquote_plus(record["s3"]["object"]["key"])
        return f"{key} ({record.get('eventName', '?')})"
    except (KeyError, IndexError, TypeError):
        return "an event without an S3 record"


def failure_record(event: dict, invocation, attempts: int, function_arn: str) -> dict:
    """What Lambda sends an on-failure destination after an asynchronous invocation's last attempt."""
    try:
        response: Any = json.loads(invocation.payload) if invocation.payload else None
    except ValueError:
        response = invocation.payload.decode("utf-8", "replace")
    if response is None:
        response = {"errorMessage": invocation.reason or str(invocation.outcome),
                    "errorType": invocation.error_type or "Runtime.Unknown"}
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {"requestId": invocation.request_id, "functionArn": f"{function_arn}:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": attempts},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": response,
    }


def failure_reason(invocation) -> str:
    """One line: what went wrong in a failed invocation (the function's own errorMessage when it raised)."""
    outcome = str(invocation.outcome)
    if outcome == "error":
        try:
            document = json.loads(invocation.payload)
            return f"error {document.get('errorType', 'Unhandled')}: {' '.join(str(document.get('errorMessage', '')).split())[:200]}"
        except (ValueError, AttributeError):
            return f"error: {invocation.reason}"
    return f"{outcome}: {invocation.reason or invocation.error_type or 'no response'}"


class BucketTrigger:
    """The internal queue's poller and the asynchronous invoker behind it."""

    def __init__(self, source: BucketSource, sqs, invoke: Callable[[bytes], Any], log: Callable[[str], None],
                 workers: int = 1, long_poll_s: int = LONG_POLL_S):
        self.source = source
        self.sqs = sqs
        self.invoke = invoke
        self.log = log
        self.long_poll_s = long_poll_s
        self._stopping = threading.Event()
        self._queue: list[_Pending] = []  # the asynchronous invocations waiting, earliest due first
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._running = 0
        self._threads = [threading.Thread(target=self._poll, name="s3-events-poller", daemon=True)]
        self._threads += [threading.Thread(target=self._work, name=f"s3-async-{i}", daemon=True) for i in range(workers)]

    def start(self) -> BucketTrigger:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, drain_s: float) -> None:
        """Stop polling and invoking; wait up to `drain_s` for invocations running now. Events waiting for a
        retry are left: their notification messages were not deleted, and reappear."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._running == 0, timeout=drain_s)

    # The internal queue

    def _poll(self) -> None:
        while not self._stopping.is_set():
            try:
                reply = self.sqs.receive_message(QueueUrl=self.source.events_url, MaxNumberOfMessages=RECEIVE_MAX,
                                                 WaitTimeSeconds=self.long_poll_s)
                for message in reply.get("Messages", []):
                    if not self._stopping.is_set():
                        self._accept(message)
            except Exception as exc:  # the API failed or stopped: say so unless stopping, and poll again
                if self._stopping.is_set():
                    return
                self.log(f"bucket {self.source.bucket}: reading its events failed: {one_line(exc)}; "
                         f"polling again in {ERROR_PAUSE_S:g} s")
                self._stopping.wait(ERROR_PAUSE_S)

    def _accept(self, message: dict) -> None:
        handle = message["ReceiptHandle"]

        def delete() -> None:
            try:
                self.sqs.delete_message(QueueUrl=self.source.events_url, ReceiptHandle=handle)
            except Exception as exc:  # it reappears and runs again: at least once, as S3 events are
                self.log(f"bucket {self.source.bucket}: could not delete a handled event ({one_line(exc)}); "
                         "it may run again")

        try:
            event = json.loads(message.get("Body", ""))
        except ValueError:
            event = None
        if isinstance(event, dict) and event.get("Event") == "s3:TestEvent":
            return delete()  # S3's check that the queue accepts notifications; never a function's event
        if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
            self.log(f"bucket {self.source.bucket}: a message on its events queue is not an S3 event; left there: "
                     f"{message.get('Body', '')[:200]}")
            return
        self.submit(json.dumps(as_lambda_delivers(event)).encode(), describe(event), delete)

    # Asynchronous invocations

    def submit(self, event: bytes, label: str, finished: Callable[[], None] = lambda: None) -> None:
        """Queue an asynchronous invocation of `event`; `finished` runs once it succeeded or was kept."""
        with self._changed:
            heapq.heappush(self._queue, _Pending(time.monotonic(), next(self._order), event, label, 0, finished))
            self._changed.notify()

    def _next_due(self) -> _Pending | None:
        with self._changed:
            while not self._stopping.is_set():
                if self._queue and self._queue[0].due <= time.monotonic():
                    self._running += 1
                    return heapq.heappop(self._queue)
                wait_s = self._queue[0].due - time.monotonic() if self._queue else None
                self._changed.wait(wait_s)
            return None

    def _work(self) -> None:
        while (pending := self._next_due()) is not None:
            try:
                self._attempt(pending)
            except Exception as exc:  # never lose an event to a bug here: keep it, and say so
                self._keep(pending, None, f"the emulator failed to invoke it: {one_line(exc)}")
            finally:
                with self._changed:
                    self._running -= 1
                    self._changed.notify_all()

    def _attempt(self, pending: _Pending) -> None:
        where = f"bucket {self.source.bucket}: {pending.label}"
        invocation = self.invoke(pending.event)
        outcome = str(invocation.outcome)
        if outcome == "throttled":  # retried without counting, as Lambda retries throttled async events
            self._later(pending, ERROR_PAUSE_S)
            return self.log(f"{where}: throttled ({invocation.reason}); retrying in {ERROR_PAUSE_S:g} s")
        pending.attempts += 1
        if outcome == "ok":
            pending.finished()
            return self.log(f"{where}: succeeded on attempt {pending.attempts} (request {invocation.request_id})")
        reason = failure_reason(invocation)
        if pending.attempts < ATTEMPTS:
            delay_s = self.source.retry_delay_s * 2 ** (pending.attempts - 1)
            self._later(pending, delay_s)
            return self.log(f"{where}: attempt {pending.attempts} of {ATTEMPTS} failed (request "
                            f"{invocation.request_id}, {reason}); retrying in {delay_s:g} s")
        self._keep(pending, invocation, reason)

    def _later(self, pending: _Pending, delay_s: float) -> None:
        with self._changed:
            pending.due = time.monotonic() + delay_s
            heapq.heappush(self._queue, pending)
            self._changed.notify()

    def _keep(self, pending: _Pending, invocation, reason: str) -> None:
        """After the last attempt: the event and its error to the failures queue, and one line saying so."""
        where = f"bucket {self.source.bucket}: {pending.label}"
        event = json.loads(pending.event)
        record = failure_record(event, invocation, pending.attempts, self.source.function_arn) if invocation \
            else {"requestPayload": event, "error": reason}
        try:
            self.sqs.send_message(QueueUrl=self.source.failures_url, MessageBody=json.dumps(record))
        except Exception as exc:  # the failures queue is out of reach: the log line keeps the event
            return self.log(f"{where}: failed {pending.attempts} attempts ({reason}); the failures queue cannot be "
                            f"written ({one_line(exc)}), so here is the event: {json.dumps(event)}")
        pending.finished()
        self.log(f"{where}: failed all {pending.attempts} attempts ({reason}); the event is kept in queue "
                 f"{self.source.failures_name}")
