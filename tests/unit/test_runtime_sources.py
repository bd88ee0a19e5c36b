"""The handler serving SQS batches and S3 ObjectCreated events against moto's server mode, with real models.

Events are AWS's documented shapes (tests/events/sqs_*.json, s3_*.json, checked with Powertools' own
models); results are read back from moto's S3 and SQS through boto3.
"""

import io
import json
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import quote_plus

import boto3
import numpy as np
import pytest
from aws_lambda_powertools.utilities.parser.models import S3Model, SqsModel

from helpers import EVENTS, MODELS, ROOT, make_model
from infer.runtime import batch, contract, output, sources
from infer.runtime.errors import BadRequest
from infer.runtime.handler import handler

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def aws(moto_url, monkeypatch, use_model):
    """The runtime pointed at moto (as AWS_ENDPOINT_URL does it for every boto3 client), serving iris, with
    an input and an output bucket of its own; returns the test's S3 client and the bucket names."""
    for name, value in {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "INFER_METRICS": "on"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "INFER_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    output.reset_clients()
    use_model(MODELS / "iris.onnx")
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_url)
    suffix = uuid.uuid4().hex[:10]
    buckets = {"input": f"infer-in-{suffix}", "output": f"infer-out-{suffix}"}
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    monkeypatch.setenv("INFER_OUTPUT", f"s3://{buckets['output']}/results/")
    yield s3, buckets
    output.reset_clients()


def objects(s3, bucket: str) -> dict[str, bytes]:
    listing = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing}


def sqs_event(bodies: dict[str, str]) -> dict:
    """An SQS event of the documented shape with these messageId -> body records."""
    template = load_event("sqs_batch.json")["Records"][0]
    return {"Records": [{**template, "messageId": message_id, "body": body} for message_id, body in bodies.items()]}


def function_url_body(body: str, path: str) -> str:
    """What a function URL request with this body answers: the body text, as the function returns it."""
    event = load_event("function_url_post.json")
    event.update(body=body, rawPath=path, isBase64Encoded=False)
    event["requestContext"]["http"].update(method="POST", path=path)
    response = handler(event)
    assert response["statusCode"] == 200, response
    return response["body"]


def same_answer(got, expected) -> bool:
    """Equal JSON answers, numbers up to float32 rounding: ONNX Runtime's kernels for a stacked batch may round a
    row's float32 values in their last bits differently from a run of that row alone (so do a one-row and a
    five-row function URL request); labels, shapes, names and every other value are equal exactly."""
    if isinstance(got, dict):
        return isinstance(expected, dict) and got.keys() == expected.keys() and all(
            same_answer(got[k], expected[k]) for k in got)
    if isinstance(got, list):
        return isinstance(expected, list) and len(got) == len(expected) and all(map(same_answer, got, expected))
    if isinstance(got, float) and isinstance(expected, float):
        return abs(got - expected) <= 1e-6 * max(1.0, abs(expected))
    return type(got) is type(expected) and got == expected


def test_same_answer_is_strict_except_for_float_rounding():
    assert same_answer({"a": [1, 0.5]}, {"a": [1, 0.5 + 1e-9]})
    assert not same_answer({"a": [1, 0.5]}, {"a": [2, 0.5]})
    assert not same_answer({"a": [1, 0.5]}, {"a": [1, 0.51]})
    assert not same_answer({"a": [1]}, {"a": [1.0]})
    assert not same_answer({"a": [1]}, {"b": [1]})


class CountingSession:
    """The real ONNX Runtime session, counting its run calls."""

    def __init__(self, session):
        self.session, self.runs = session, 0

    def run(self, *args, **kwargs):
        self.runs += 1
        return self.session.run(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.session, name)


def count_runs(holder) -> CountingSession:
    model = holder.get()
    model.session = CountingSession(model.session)
    return model.session


def test_sample_events_have_aws_shapes():
    SqsModel(**load_event("sqs_batch.json"))
    S3Model(**load_event("s3_object_created.json"))
    notification = load_event("sqs_s3_notification.json")
    SqsModel(**notification)
    S3Model(**json.loads(notification["Records"][0]["body"]))


def test_batch_is_one_session_run_and_each_result_is_the_function_url_answer(aws, use_model):
    s3, buckets = aws
    runs = count_runs(use_model(MODELS / "iris.onnx"))
    event = load_event("sqs_batch.json")
    assert handler(event) == {"batchItemFailures": []}
    assert runs.runs == 1, "V1 rows, V1 columns and an Open Inference Protocol request stacked into one run"
    written = objects(s3, buckets["output"])
    assert sorted(written) == sorted(f"results/{r['messageId']}.json" for r in event["Records"])
    for record in event["Records"]:
        path = "/v2/models/iris/infer" if '"datatype"' in record["body"] else "/predict"
        expected = json.loads(function_url_body(record["body"], path))
        assert same_answer(json.loads(written[f"results/{record['messageId']}.json"]), expected)


def test_poison_bodies_fail_alone(aws, capfd):
    s3, buckets = aws
    bodies = {"good-1": json.dumps({"instances": [IRIS_ROW]}), "not-json": "{oops",
              "wrong-shape": json.dumps({"instances": [[1.0, 2.0]]}), "not-a-request": json.dumps({"hello": 1}),
              "good-2": json.dumps({"instances": [IRIS_ROW, IRIS_ROW]})}
    result = handler(sqs_event(bodies))
    assert result == {"batchItemFailures": [{"itemIdentifier": i} for i in ("not-json", "wrong-shape", "not-a-request")]}
    assert sorted(objects(s3, buckets["output"])) == ["results/good-1.json", "results/good-2.json"]
    err = capfd.readouterr().err.splitlines()
    for message_id, reason in [("not-json", "not valid JSON"), ("wrong-shape", "expects shape [-1, 4]"),
                               ("not-a-request", 'got keys: "hello"')]:
        assert any(line.startswith(f"infer: sqs message {message_id} failed: ") and reason in line for line in err), err


def test_requests_that_cannot_stack_run_in_their_own_groups(aws, use_model):
    s3, buckets = aws
    runs = count_runs(use_model(MODELS / "iris.onnx"))
    label_only = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": IRIS_ROW}],
                  "outputs": [{"name": "label"}]}
    bodies = {"rows-1": json.dumps({"instances": [IRIS_ROW]}), "rows-2": json.dumps({"instances": [IRIS_ROW] * 2}),
              "label-only": json.dumps(label_only), "empty": json.dumps({"instances": []})}
    assert handler(sqs_event(bodies)) == {"batchItemFailures": []}
    assert runs.runs == 3, "the V1 rows together; the request for one output apart; the empty batch alone"
    written = objects(s3, buckets["output"])
    assert json.loads(written["results/label-only.json"])["outputs"] == [
        {"name": "label", "datatype": "INT64", "shape": [1], "data": [0]}]
    assert json.loads(written["results/empty.json"]) == {"predictions": []}


def test_result_puts_overlap(aws, monkeypatch):
    s3, buckets = aws
    real_client = output.client
    state = {"in_flight": 0, "most": 0}
    lock = threading.Lock()

    class Slow:
        def __init__(self, client):
            self.client = client

        def put_object(self, **kwargs):
            with lock:
                state["in_flight"] += 1
                state["most"] = max(state["most"], state["in_flight"])
            time.sleep(0.05)
            try:
                return self.client.put_object(**kwargs)
            finally:
                with lock:
                    state["in_flight"] -= 1

    monkeypatch.setattr(output, "client", lambda service, region="": Slow(real_client(service, region)))
    bodies = {f"m{i}": json.dumps({"instances": [IRIS_ROW]}) for i in range(8)}
    assert handler(sqs_event(bodies)) == {"batchItemFailures": []}
    assert len(objects(s3, buckets["output"])) == 8
    assert state["most"] > 1, "PutObject calls of one batch run concurrently"


def test_from_a_fifo_queue_every_message_after_a_failure_fails_too(aws):
    bodies = {"first": json.dumps({"instances": [IRIS_ROW]}), "poison": "{oops", "later": json.dumps({"instances": [IRIS_ROW]})}
    event = sqs_event(bodies)
    for record in event["Records"]:
        record["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:requests.fifo"
    assert handler(event) == {"batchItemFailures": [{"itemIdentifier": "poison"}, {"itemIdentifier": "later"}]}


def test_batches_of_digits_and_different_row_counts_split_back_correctly(aws, use_model):
    s3, buckets = aws
    runs = count_runs(use_model(MODELS / "digits.onnx"))
    rng = np.random.default_rng(0)
    requests = {f"m{i}": rng.uniform(0, 16, size=(i + 1, 64)).round(1).tolist() for i in range(5)}
    assert handler(sqs_event({k: json.dumps({"instances": v}) for k, v in requests.items()})) == {"batchItemFailures": []}
    assert runs.runs == 1
    written = objects(s3, buckets["output"])
    for message_id, rows in requests.items():
        alone = json.loads(function_url_body(json.dumps({"instances": rows}), "/predict"))
        assert same_answer(json.loads(written[f"results/{message_id}.json"]), alone)


def test_output_bucket_missing_fails_every_record_with_a_reason(aws, monkeypatch, capfd):
    monkeypatch.setenv("INFER_OUTPUT", "s3://infer-no-such-bucket-here/x/")
    event = load_event("sqs_batch.json")
    result = handler(event)
    assert result == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}
    err = capfd.readouterr().err
    assert "Traceback" not in err
    assert err.count("NoSuchBucket") == len(event["Records"])


def test_bad_output_setting_fails_every_record_in_one_line(aws, monkeypatch, capfd):
    monkeypatch.setenv("INFER_OUTPUT", "ftp://somewhere/else")
    event = load_event("sqs_batch.json")
    assert len(handler(event)["batchItemFailures"]) == len(event["Records"])
    err = [line for line in capfd.readouterr().err.splitlines() if "failed" in line]
    assert len(err) == len(event["Records"]) and all("INFER_OUTPUT must be s3://bucket/prefix/" in line for line in err)


def test_without_boto3_every_record_fails_in_one_line(aws, monkeypatch, capfd):
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if not installed: importing it raises ImportError
    output.reset_clients()
    event = load_event("sqs_batch.json")
    assert len(handler(event)["batchItemFailures"]) == len(event["Records"])
    err = capfd.readouterr().err
    assert err.count("boto3 is not installed in this function") == len(event["Records"]) and "Traceback" not in err


def test_model_that_cannot_load_fails_every_record(aws, use_model, tmp_path, capfd):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    use_model(broken)
    event = load_event("sqs_batch.json")
    assert len(handler(event)["batchItemFailures"]) == len(event["Records"])
    assert "the model cannot be loaded" in capfd.readouterr().err


def test_same_batch_twice_writes_the_same_objects(aws):
    s3, buckets = aws
    event = load_event("sqs_batch.json")
    handler(event)
    first = objects(s3, buckets["output"])
    handler(event)
    assert objects(s3, buckets["output"]) == first and len(first) == len(event["Records"])


def test_s3_key_is_url_decoded_and_the_result_lands_at_the_decoded_key(aws):
    s3, buckets = aws
    event = load_event("s3_object_created.json")
    key = "incoming/iris rows+1 ü.json"
    assert sources.unquote_plus(event["Records"][0]["s3"]["object"]["key"]) == key
    body = json.dumps({"instances": [IRIS_ROW]}).encode()
    s3.put_object(Bucket=buckets["input"], Key=key, Body=body)
    event["Records"][0]["s3"]["bucket"]["name"] = buckets["input"]
    event["Records"][0]["s3"]["object"]["size"] = len(body)
    assert handler(event)["objects"] == 1
    assert objects(s3, buckets["output"]) == {f"results/{key}.json": function_url_body(body.decode(), "/predict").encode()}


def s3_event(bucket: str, key: str, size: int | None = None) -> dict:
    event = load_event("s3_object_created.json")
    record = event["Records"][0]
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["object"]["key"] = quote_plus(key)
    if size is None:
        del record["s3"]["object"]["size"]
    else:
        record["s3"]["object"]["size"] = size
    return event


def test_npy_and_csv_objects_are_predicted_as_rows(aws, use_model):
    s3, buckets = aws
    rows = [IRIS_ROW, [6.7, 3.0, 5.2, 2.3]]
    expected = function_url_body(json.dumps({"instances": rows}), "/predict")
    buffer = io.BytesIO()
    np.save(buffer, np.array(rows, dtype=np.float64))
    inputs = {"in/rows.npy": buffer.getvalue(),
              "in/header.csv": b"sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n\n6.7,3.0,5.2,2.3\n",
              "in/plain.csv": b"5.1,3.5,1.4,0.2\r\n6.7,3.0,5.2,2.3\r\n"}
    for key, body in inputs.items():
        s3.put_object(Bucket=buckets["input"], Key=key, Body=body)
        handler(s3_event(buckets["input"], key, len(body)))
    written = objects(s3, buckets["output"])
    assert written == {f"results/{key}.json": expected.encode() for key in inputs}


@pytest.mark.parametrize("key, body, reason", [
    ("in/bad.csv", b"1,2,3,4\n1,2,x,4\n", "row 2 (after any header) has 'x', which is not a number"),
    ("in/ragged.csv", b"1,2,3,4\n1,2,3\n", "row 2 (after any header) has 3 fields"),
    ("in/pickle.npy", b"\x93NUMPY garbage", "not a readable .npy array"),
    ("in/notes.txt", b"hello", "infer reads .json, .npy, .csv objects"),
    ("in/shape.npy", None, "expects shape [-1, 4]"),
])
def test_unreadable_objects_raise_one_line_and_the_next_event_works(aws, key, body, reason, capfd):
    s3, buckets = aws
    if body is None:
        buffer = io.BytesIO()
        np.save(buffer, np.ones((2, 3)))
        body = buffer.getvalue()
    s3.put_object(Bucket=buckets["input"], Key=key, Body=body)
    with pytest.raises(sources.ObjectsFailed) as failed:
        handler(s3_event(buckets["input"], key, len(body)))
    assert str(failed.value) == f"1 of 1 objects failed (see the log): s3://{buckets['input']}/{key}"
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("infer: s3 object")]
    assert lines == [f"infer: s3 object s3://{buckets['input']}/{key} failed: " + lines[0].split(" failed: ", 1)[1]]
    assert reason in lines[0]
    s3.put_object(Bucket=buckets["input"], Key="in/good.json", Body=json.dumps({"instances": [IRIS_ROW]}).encode())
    assert handler(s3_event(buckets["input"], "in/good.json"))["objects"] == 1


def test_missing_object_raises_one_line_naming_it_and_the_process_goes_on(aws, capfd):
    s3, buckets = aws
    with pytest.raises(sources.ObjectsFailed, match=r"^1 of 1 objects failed \(see the log\): s3://\S+/gone\.json$"):
        handler(s3_event(buckets["input"], "gone.json"))
    assert "gone.json failed: cannot read it: NotFound" in capfd.readouterr().err
    s3.put_object(Bucket=buckets["input"], Key="here.json", Body=json.dumps({"instances": [IRIS_ROW]}).encode())
    assert handler(s3_event(buckets["input"], "here.json"))["objects"] == 1


def test_too_large_object_is_refused_before_reading(aws, monkeypatch, capfd):
    s3, buckets = aws
    body = json.dumps({"instances": [IRIS_ROW] * 20}).encode()
    s3.put_object(Bucket=buckets["input"], Key="big.json", Body=body)
    reads = []
    original = sources.read_object

    def spy(client, item):
        get = client.get_object
        client.get_object = lambda **kwargs: reads.append(kwargs) or get(**kwargs)
        try:
            return original(client, item)
        finally:
            del client.get_object

    monkeypatch.setattr(sources, "read_object", spy)
    # the event's size (a GiB, which the real object is not) is refused without a read
    with pytest.raises(sources.ObjectsFailed):
        handler(s3_event(buckets["input"], "big.json", 2 ** 30))
    assert f"the object is {2 ** 30} bytes; infer reads objects of at most {contract.MAX_OBJECT_BYTES} bytes (64 MB)" \
        in capfd.readouterr().err
    # without a size in the event, HeadObject's is checked, still before reading
    monkeypatch.setattr(contract, "MAX_OBJECT_BYTES", len(body) - 1)
    with pytest.raises(sources.ObjectsFailed):
        handler(s3_event(buckets["input"], "big.json"))
    assert f"the object is {len(body)} bytes" in capfd.readouterr().err
    assert reads == []
    monkeypatch.setattr(contract, "MAX_OBJECT_BYTES", len(body))
    assert handler(s3_event(buckets["input"], "big.json"))["objects"] == 1 and len(reads) == 1


def test_results_are_never_predicted_again(aws, capfd):
    s3, buckets = aws
    s3.put_object(Bucket=buckets["output"], Key="results/x.json.json", Body=b"{}")
    assert handler(s3_event(buckets["output"], "results/x.json.json"))["skipped"] == 1
    assert "skipped, it is under INFER_OUTPUT" in capfd.readouterr().err
    assert sorted(objects(s3, buckets["output"])) == ["results/x.json.json"]


def test_s3_notifications_through_sqs_and_the_test_event(aws, capfd):
    s3, buckets = aws
    event = load_event("sqs_s3_notification.json")
    notification = json.loads(event["Records"][0]["body"])
    notification["Records"][0]["s3"]["bucket"]["name"] = buckets["input"]
    event["Records"][0]["body"] = json.dumps(notification)
    body = b"5.1,3.5,1.4,0.2\n"
    s3.put_object(Bucket=buckets["input"], Key="incoming/rows.csv", Body=body)
    assert handler(event) == {"batchItemFailures": []}
    assert sorted(objects(s3, buckets["output"])) == ["results/incoming/rows.csv.json"]
    assert "s3:TestEvent, acknowledged" in capfd.readouterr().err
    s3.delete_object(Bucket=buckets["input"], Key="incoming/rows.csv")
    failed = handler(event)["batchItemFailures"]
    assert failed == [{"itemIdentifier": event["Records"][0]["messageId"]}], "a missing object fails its message only"


def test_notifications_moto_sends_through_a_queue(aws, moto_url):
    """S3 -> SQS -> Lambda as the local emulator delivers it: moto's own notification messages, test event included."""
    s3, buckets = aws
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_url)
    url = sqs.create_queue(QueueName=f"notes-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=buckets["input"], NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    key = "in/a b+c ü.csv"
    s3.put_object(Bucket=buckets["input"], Key=key, Body=b"5.1,3.5,1.4,0.2\n")
    template = load_event("sqs_batch.json")["Records"][0]
    records = [{**template, "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "md5OfBody": m["MD5OfBody"], "eventSourceARN": arn}
               for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    assert any("s3:TestEvent" in r["body"] for r in records) and len(records) == 2
    assert handler({"Records": records}) == {"batchItemFailures": []}
    assert sorted(objects(s3, buckets["output"])) == [f"results/{key}.json"]


@pytest.mark.parametrize("event", [
    {"Records": [{"eventSource": "aws:dynamodb", "eventName": "INSERT", "dynamodb": {}}]},
    {"Records": [{"eventSource": "aws:sqs", "messageId": "a", "body": "{}"}, {"eventSource": "aws:s3"}]},
    {"Records": []},
])
def test_unknown_sources_are_a_one_line_error_not_a_prediction(aws, event, capfd):
    with pytest.raises(sources.EventSourceError) as raised:
        handler(event)
    message = str(raised.value)
    assert "\n" not in message and message.startswith("unrecognised event: infer serves function URL, direct invoke, SQS")
    assert f"infer: {message}" in capfd.readouterr().err


def test_results_to_an_sqs_queue_in_batches_of_ten(aws, moto_url, monkeypatch):
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_url)
    url = sqs.create_queue(QueueName=f"results-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    monkeypatch.setenv("INFER_OUTPUT", url)
    calls = []
    real = output.SqsDestination._send
    monkeypatch.setattr(output.SqsDestination, "_send", lambda self, client, batch: calls.append(len(batch)) or real(self, client, batch))
    bodies = {f"m{i:02}": json.dumps({"instances": [IRIS_ROW]}) for i in range(12)}
    bodies["poison"] = "[]"
    assert handler(sqs_event(bodies)) == {"batchItemFailures": [{"itemIdentifier": "poison"}]}
    assert calls == [10, 2]
    received = {}
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            body = json.loads(message["Body"])
            received[body["id"]] = body["result"]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    expected = json.loads(function_url_body(bodies["m00"], "/predict"))
    assert sorted(received) == sorted(message_id for message_id in bodies if message_id != "poison")
    assert all(same_answer(result, expected) for result in received.values())


def test_fifo_output_queue_gets_each_result_once(aws, moto_url, monkeypatch):
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_url)
    url = sqs.create_queue(QueueName=f"results-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    monkeypatch.setenv("INFER_OUTPUT", url)
    event = load_event("sqs_batch.json")
    handler(event)
    handler(event)  # redelivered: the same deduplication ids
    ids = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            ids.append(json.loads(message["Body"])["id"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert sorted(ids) == sorted(r["messageId"] for r in event["Records"])


def test_without_output_results_go_to_the_log_after_one_warning(aws, monkeypatch, capfd):
    monkeypatch.delenv("INFER_OUTPUT")
    event = load_event("sqs_batch.json")
    for _ in range(2):
        assert handler(event) == {"batchItemFailures": []}
    captured = capfd.readouterr()
    assert captured.err.count("INFER_OUTPUT is not set") == 1
    lines = [json.loads(line) for line in captured.out.splitlines() if line.startswith('{"message":"result"')]
    assert [line["id"] for line in lines] == [r["messageId"] for r in event["Records"]] * 2
    assert same_answer(lines[0]["result"], json.loads(function_url_body(event["Records"][0]["body"], "/predict")))


def test_one_metrics_line_per_batch(aws, capfd):
    handler(sqs_event({"a": json.dumps({"instances": [IRIS_ROW]}), "b": "nope"}))
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith('{"message":"batch"')]
    assert len(lines) == 1
    line = lines[0]
    assert (line["source"], line["Records"], line["FailedRecords"], line["SessionRuns"]) == ("sqs", 2, 1, 1)
    names = {m["Name"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"Records", "FailedRecords", "SessionRuns", "BatchInferenceMs"} <= names and all(n in line for n in names)


@pytest.mark.parametrize("value, problem", [
    ("s3://results-bucket/out", None),
    ("https://sqs.eu-west-1.amazonaws.com/123456789012/results", None),
    ("http://127.0.0.1:5000/123456789012/results.fifo", None),
    ("s3://Bad_Bucket/x/", "is not an S3 bucket name"),
    ("http://sqs.eu-west-1.amazonaws.com/123456789012/results", "is not an SQS endpoint"),
    ("https://example.com/results", "must be s3://bucket/prefix/ or an SQS queue URL"),
    ("results", "must be s3://bucket/prefix/"),
])
def test_output_setting_rules(value, problem):
    found = contract.setting_problem(contract.OUTPUT, value)
    assert (found is None) if problem is None else (problem in found)


def test_output_targets():
    assert contract.output_target("s3://results-bucket/out") == ("s3", "results-bucket", "out/")
    assert contract.output_target("s3://results-bucket") == ("s3", "results-bucket", "")
    assert contract.output_target("https://sqs.eu-west-1.amazonaws.com/123456789012/r")[2] == "eu-west-1"


def test_function_url_invoke_imports_no_boto3():
    probe = f"""
import json, sys
sys.path.insert(0, {str(ROOT / "tests")!r})
import os
os.environ["INFER_MODEL_PATH"] = {str(MODELS / "iris.onnx")!r}
from infer.runtime.handler import handler
event = json.loads(open({str(EVENTS / "function_url_post.json")!r}).read())
assert handler(event)["statusCode"] == 200
assert handler({{"instances": [[5.1, 3.5, 1.4, 0.2]]}})["predictions"]
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore", "infer"))))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    loaded = json.loads(out.stdout.splitlines()[-1])
    assert not [m for m in loaded if m.startswith(("boto3", "botocore"))], loaded
    assert "infer.runtime.sources" not in loaded and "infer.runtime.output" not in loaded


def test_s3_notifications_through_sns_are_unwrapped():
    inner = load_event("s3_object_created.json")
    envelope = {"Type": "Notification", "MessageId": "x", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
                "Message": json.dumps(inner)}
    assert sources.s3_notification(json.dumps(envelope)) == inner["Records"]
    assert sources.s3_notification(json.dumps({"instances": [IRIS_ROW]})) is None
    assert sources.s3_notification(json.dumps({"Records": [{"eventSource": "aws:sqs"}]})) is None


def test_an_array_object_for_a_model_of_two_inputs_is_refused(use_model, tmp_path):
    from onnx import TensorProto, helper

    path = make_model(tmp_path / "two.onnx", [("a", TensorProto.FLOAT, [None, 2]), ("b", TensorProto.FLOAT, [None, 2])],
                      [("sum", TensorProto.FLOAT, [None, 2])], [helper.make_node("Add", ["a", "b"], ["sum"])])
    model = use_model(path).get()
    with pytest.raises(BadRequest, match="a .npy object holds one array, but this model has 2 inputs \\('a', 'b'\\)"):
        batch.decode_rows("k", np.ones((1, 2)), model, ".npy")
    job = batch.decode_body("k", json.dumps({"instances": [{"a": [1, 2], "b": [3, 4]}]}).encode(), model)
    assert batch.run([job], model)[0] == {"k": '{"predictions":[[4.0,6.0]]}'}


def test_an_object_overwritten_within_one_event_is_predicted_at_its_newest_version(aws):
    s3, buckets = aws
    s3.put_bucket_versioning(Bucket=buckets["input"], VersioningConfiguration={"Status": "Enabled"})
    old_body, new_body = json.dumps({"instances": [IRIS_ROW]}), json.dumps({"instances": [[6.7, 3.0, 5.2, 2.3]]})
    records = []
    for body in (old_body, new_body):
        version = s3.put_object(Bucket=buckets["input"], Key="in/row.json", Body=body.encode())["VersionId"]
        (record,) = s3_event(buckets["input"], "in/row.json", len(body))["Records"]
        record["s3"]["object"]["versionId"] = version
        records.append(record)
    assert handler({"Records": records})["objects"] == 2
    assert objects(s3, buckets["output"]) == {"results/in/row.json.json": function_url_body(new_body, "/predict").encode()}


def test_a_defect_while_decoding_fails_that_message_alone(aws, monkeypatch, capfd):
    s3, buckets = aws
    real = sources.decode

    def decode(item, model):
        if item.result_id == "unlucky":
            raise RuntimeError("a defect")
        return real(item, model)

    monkeypatch.setattr(sources, "decode", decode)
    body = json.dumps({"instances": [IRIS_ROW]})
    assert handler(sqs_event({"good": body, "unlucky": body})) == {"batchItemFailures": [{"itemIdentifier": "unlucky"}]}
    assert sorted(objects(s3, buckets["output"])) == ["results/good.json"]
    err = capfd.readouterr().err
    assert "infer: sqs message unlucky failed: internal error (RuntimeError)" in err and "Traceback" in err
