"""SQS batches and S3 ObjectCreated events: predict what they carry, write the results to INFER_OUTPUT.

The handler sends here every event with a "Records" list (events.RecordsEvent); this module, and
boto3 with it, is imported only then. Steps for one event:
1. Tell the source by the records' eventSource: all "aws:sqs", or all "aws:s3"; anything else is an
   EventSourceError (one line), raised so that Lambda retries or keeps the event.
2. Turn records into items: an SQS body is a request, or an S3 event notification (S3 -> SQS) whose
   objects are the items (S3's s3:TestEvent is acknowledged); an S3 record names one object.
3. Read the objects (size checked before reading), decode every item, predict them in as few
   session.run calls as their shapes allow (batch.py), and write the results (output.py).
4. Answer. SQS: {"batchItemFailures": [{"itemIdentifier": messageId}, ...]} naming exactly the
   messages with a failed item, so only those are retried. S3: a summary, or ObjectsFailed raised
   after every object was tried, so that the async invoke's retries and destinations apply.
Every failure is logged as one line naming the message or object and the reason; one EMF line per event.
"""

import json
import os
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_plus

from . import batch, contract, metrics, output
from .errors import BadRequest, InferError
from .events import json_type
from .model import holder

READ_THREADS = 8
OBJECT_TYPES = (".json", ".npy", ".csv")


class EventSourceError(Exception):
    """An event infer cannot serve; the message is one line."""


class ObjectsFailed(EventSourceError):
    """Some objects of an S3 event could not be read, predicted or written; the message lists their keys."""


class Item:
    """One thing to predict: an SQS message's body, or an S3 object. `owner` is the SQS messageId it came
    in (None for a direct S3 event); `result_id` names its result: the messageId, or the object's key."""

    __slots__ = ("owner", "result_id", "label", "body", "bucket", "key", "size", "version")

    def __init__(self, owner, result_id: str, label: str, body: bytes | None = None, bucket: str = "",
                 key: str = "", size: int | None = None, version: str | None = None):
        self.owner = owner
        self.result_id = result_id
        self.label = label  # how the log names it
        self.body = body
        self.bucket, self.key, self.size, self.version = bucket, key, size, version


def handle(event: dict, context, cold_start: bool) -> dict:
    start = time.perf_counter()
    records = event["Records"]
    kinds = sorted({str(r.get("eventSource")) if isinstance(r, dict) else json_type(r) for r in records})
    if kinds == ["aws:sqs"]:
        source = "sqs"
    elif kinds == ["aws:s3"]:
        source = "s3"
    else:
        what = f"its records come from {', '.join(kinds)}" if records else "its Records list is empty"
        message = (f"unrecognised event: infer serves function URL, direct invoke, SQS (aws:sqs) and S3 (aws:s3) "
                   f"events; {what}")
        log(message)
        raise EventSourceError(message)
    run = Run(source)
    run.fifo = source == "sqs" and str(records[0].get("eventSourceARN", "")).endswith(".fifo")
    if source == "sqs":
        for record in records:
            run.add_sqs_record(record)
    else:
        for record in records:
            run.add_s3_record(record, owner=None)
    run.execute()
    current = holder()
    wait_ms = current.take_wait_ms()
    write_metrics(run, getattr(context, "aws_request_id", "") or "", current, cold_start, wait_ms,
                  (time.perf_counter() - start) * 1000.0)
    if source == "sqs":
        return {"batchItemFailures": [{"itemIdentifier": owner} for owner in run.failed_owners()]}
    if run.failures:
        keys = ", ".join(f"s3://{item.bucket}/{item.key}" for item in run.items if item.result_id in run.failures)
        raise ObjectsFailed(f"{len(run.failures)} of {len(run.items)} objects failed (see the log): {keys}")
    return {"objects": len(run.items), "skipped": run.skipped, "output": run.output_description}


class Run:
    """The items of one event and what became of each."""

    def __init__(self, source: str):
        self.source = source
        self.owners: list[str] = []  # SQS messageIds, in the event's order
        self.items: list[Item] = []
        self.failures: dict[str, str] = {}  # result id -> reason
        self.failed_owner_ids: set[str] = set()
        self.skipped = 0
        self.session_runs = 0
        self.inference_ms = 0.0
        self.output_description = ""
        self.fifo = False  # from a FIFO queue: a failure fails every later message too, keeping their order

    # Records -> items

    def add_sqs_record(self, record: dict) -> None:
        message_id = record.get("messageId")
        if not isinstance(message_id, str) or not message_id:
            raise EventSourceError("an SQS record has no messageId, so its failure could not be reported; "
                                   "the event is not one SQS sends")
        self.owners.append(message_id)
        body = record.get("body")
        if not isinstance(body, str):
            self.fail_owner(message_id, f"its body must be a string; got {json_type(body)}")
            return
        notification = s3_notification(body)
        if notification is None:
            self.items.append(Item(message_id, message_id, f"sqs message {message_id}", body=body.encode("utf-8", "surrogatepass")))
        elif notification == "test":
            self.skipped += 1
            log(f"sqs message {message_id}: S3's s3:TestEvent, acknowledged")
        else:
            for s3_record in notification:
                self.add_s3_record(s3_record, owner=message_id)

    def add_s3_record(self, record, owner: str | None) -> None:
        s3 = record.get("s3") if isinstance(record, dict) else None
        bucket = s3.get("bucket", {}).get("name") if isinstance(s3, dict) and isinstance(s3.get("bucket"), dict) else None
        obj = s3.get("object") if isinstance(s3, dict) else None
        raw_key = obj.get("key") if isinstance(obj, dict) else None
        where = f"sqs message {owner}: " if owner else ""
        if not isinstance(bucket, str) or not isinstance(raw_key, str):
            reason = "an S3 record without s3.bucket.name and s3.object.key"
            if owner:
                self.fail_owner(owner, reason)
                return
            raise EventSourceError(f"{reason}; the event is not one S3 sends")
        key = unquote_plus(raw_key)
        name = str(record.get("eventName", ""))
        if not name.startswith("ObjectCreated:"):
            self.skipped += 1
            log(f"{where}s3://{bucket}/{key}: {name or 'an event without eventName'} skipped (only ObjectCreated:* is predicted)")
            return
        size = obj.get("size") if isinstance(obj, dict) else None
        version = obj.get("versionId") if isinstance(obj, dict) else None
        self.items.append(Item(owner, key, f"{where}s3 object s3://{bucket}/{key}", bucket=bucket, key=key,
                               size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                               version=version if isinstance(version, str) and version else None))

    # Failures

    def fail(self, item: Item, reason: str) -> None:
        reason = batch.one_line(reason)
        self.failures[item.result_id] = reason
        if item.owner is not None:
            self.failed_owner_ids.add(item.owner)
        log(f"{item.label} failed: {reason}")

    def fail_owner(self, owner: str, reason: str) -> None:
        self.failed_owner_ids.add(owner)
        log(f"sqs message {owner} failed: {batch.one_line(reason)}")

    def failed_owners(self) -> list[str]:
        """The messages to report as failed. From a FIFO queue, the first failed one and every one after it, as
        Lambda asks, so that SQS redelivers them in order (the results already written are written again, alike)."""
        owners = list(dict.fromkeys(self.owners))
        if self.fifo:
            first = next((i for i, owner in enumerate(owners) if owner in self.failed_owner_ids), len(owners))
            return owners[first:]
        return [owner for owner in owners if owner in self.failed_owner_ids]

    # The work

    def execute(self) -> None:
        if not self.items:
            return
        try:
            destination = output.destination()
        except output.OutputError as exc:
            for item in self.items:
                self.fail(item, str(exc))
            return
        self.output_description = destination.description
        try:
            model = holder().get()
        except InferError as exc:
            for item in self.items:
                self.fail(item, f"the model cannot be loaded: {exc.message}")
            return
        pending = []
        for item in self.items:
            if item.bucket and destination.covers(item.bucket, item.key):
                self.skipped += 1
                log(f"{item.label}: skipped, it is under {contract.OUTPUT} ({destination.description}): "
                    "results are never predicted on again")
            else:
                pending.append(item)
        self.items = pending
        # An object named twice in one event (overwritten within a batch) is read and predicted once, at its last
        # mention: the newest version; the earlier mentions share its fate.
        objects = list({item.result_id: item for item in pending if item.bucket}.values())
        try:
            self.read_objects(objects)
        except output.OutputError as exc:  # no boto3
            for item in pending:
                self.fail(item, str(exc))
            return
        latest = {id(item) for item in objects}
        jobs, by_id = [], {}
        for item in pending:
            if item.result_id in self.failures or (item.bucket and id(item) not in latest):
                continue  # failed to read; or an earlier mention of an object named again
            try:
                jobs.append(decode(item, model))
            except InferError as exc:
                self.fail(item, exc.message)
                continue
            except Exception as exc:  # a defect in infer, never the sender's fault: logged whole, this record fails
                traceback.print_exc(file=sys.stderr)
                self.fail(item, f"internal error ({type(exc).__name__}); the function's log has the traceback")
                continue
            by_id[item.result_id] = item
        results, failures, self.inference_ms, self.session_runs = batch.run(jobs, model)
        for result_id, reason in failures.items():
            self.fail(by_id[result_id], reason)
        try:
            unwritten = destination.write(results)
        except output.OutputError as exc:  # no boto3
            unwritten = dict.fromkeys(results, str(exc))
        for result_id, reason in unwritten.items():
            self.fail(by_id[result_id], reason)
        for item in pending:  # an object named twice in one event: every mention shares the fate of its last
            if item.result_id in self.failures and item.owner is not None:
                self.failed_owner_ids.add(item.owner)

    def read_objects(self, items: list[Item]) -> None:
        if not items:
            return
        s3 = output.client("s3", os.environ.get("AWS_REGION", ""))

        def read(item: Item) -> tuple[Item, str | None]:
            try:
                item.body = read_object(s3, item)
            except BadRequest as exc:
                return item, exc.message
            except Exception as exc:  # botocore: the service's answer, or none
                return item, f"cannot read it: {output.error_reason(exc)}"
            return item, None

        if len(items) == 1:
            done = [read(items[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(items)), thread_name_prefix="infer-get") as pool:
                done = list(pool.map(read, items))
        for item, reason in done:
            if reason is not None:
                self.fail(item, reason)


def s3_notification(body: str):
    """The S3 records an SQS body carries (S3 -> SQS, or S3 -> SNS -> SQS), "test" for S3's s3:TestEvent,
    or None when the body is not an S3 notification (it is then a prediction request)."""
    if "Records" not in body and "s3:TestEvent" not in body:  # a cheap test first: most bodies are requests
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    if isinstance(payload, dict) and payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str):
        return s3_notification(payload["Message"])  # through SNS without raw message delivery
    if not isinstance(payload, dict):
        return None
    if payload.get("Event") == "s3:TestEvent":
        return "test"
    records = payload.get("Records")
    if isinstance(records, list) and records and all(isinstance(r, dict) and r.get("eventSource") == "aws:s3"
                                                     for r in records):
        return records
    return None


def read_object(s3, item: Item) -> bytes:
    """The object's bytes, refused before reading when larger than MAX_OBJECT_BYTES or of a type infer cannot read."""
    limit = contract.MAX_OBJECT_BYTES
    if not item.key.lower().endswith(OBJECT_TYPES):
        raise BadRequest(f"infer reads {', '.join(OBJECT_TYPES)} objects; this key ends otherwise")
    version = {"VersionId": item.version} if item.version else {}
    size = item.size
    if size is None:
        size = s3.head_object(Bucket=item.bucket, Key=item.key, **version)["ContentLength"]
    if size > limit:
        raise BadRequest(f"the object is {size} bytes; infer reads objects of at most {limit} bytes "
                         f"({limit // (1024 * 1024)} MB)")
    body = s3.get_object(Bucket=item.bucket, Key=item.key, **version)["Body"]
    try:
        data = body.read(limit + 1)
    finally:
        body.close()
    if len(data) > limit:  # replaced by a larger object since the event
        raise BadRequest(f"the object is more than {limit} bytes; infer reads objects of at most {limit} bytes")
    return data


def decode(item: Item, model) -> batch.Job:
    assert item.body is not None
    if not item.bucket or item.key.lower().endswith(".json"):
        return batch.decode_body(item.result_id, item.body, model)
    if item.key.lower().endswith(".npy"):
        return batch.decode_rows(item.result_id, batch.load_npy(item.body), model, ".npy")
    return batch.decode_rows(item.result_id, batch.load_csv(item.body), model, ".csv")


def log(message: str) -> None:
    sys.stderr.write(f"infer: {message}\n")
    sys.stderr.flush()


def write_metrics(run: Run, request_id: str, current, cold_start: bool, wait_ms, duration_ms: float) -> dict:
    """One EMF line per event, beside the per-request lines of metrics.py (same namespace and dimension):
    Records, FailedRecords, SessionRuns, BatchInferenceMs, and ColdStart/ModelLoadMs/ModelWaitMs as there."""
    try:
        model_name = current.name
    except InferError:  # the manifest cannot be read: the records failed with that reason already
        model_name = ""
    return metrics.emit({
        "message": "batch", "request_id": request_id, "source": run.source, "model": model_name,
        "cold_start": cold_start, "restore": metrics.take_restore(), "ColdStart": 1 if cold_start else 0,
        "Records": len(run.owners) if run.source == "sqs" else len(run.items),
        "FailedRecords": len(run.failed_owners()) if run.source == "sqs" else len(run.failures),
        "SessionRuns": run.session_runs, "BatchInferenceMs": run.inference_ms, "BatchDurationMs": duration_ms,
        **metrics.load_timings(current, cold_start, wait_ms),
    }, {"ColdStart": metrics.COUNT, "Records": metrics.COUNT, "FailedRecords": metrics.COUNT,
        "SessionRuns": metrics.COUNT, "BatchInferenceMs": metrics.MS, "BatchDurationMs": metrics.MS,
        "ModelLoadMs": metrics.MS, "ModelWaitMs": metrics.MS})
