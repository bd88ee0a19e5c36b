"""`infer serve --queue/--bucket`: the emulated SQS event source mapping and S3 trigger, against moto's server.

In this process: the poller's ReportBatchItemFailures rules with a test function that answers as its
messages say, and the SQS event checked by Powertools' own model. Through a real `infer serve` with the
infer runtime: a batch with a poison message, objects under the prefix, under the output prefix, and a
bad object, with the real local AWS API.
"""

import json
import re
import subprocess
import threading
import time
import uuid
from urllib.parse import unquote_plus

import pytest
from aws_lambda_powertools.utilities.parser.models import S3Model, SqsModel

from helpers import FUNCTIONS, INFER, MODELS, ROOT, ServeProcess, call
from infer.local import aws_api
from infer.local.aws_api import AwsApi
from infer.local.bucket_trigger import as_lambda_delivers
from infer.local.emulator import Emulator
from infer.local.function import FunctionConfig
from infer.local.queue_mapping import QueuePoller, QueueSource, batch_failures, sqs_record
from infer.local.sources import SourceError, SourceOptions, set_up

SETOSA = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture(scope="module")
def api():
    started = AwsApi.start("us-east-1")
    yield started
    started.stop()


@pytest.fixture(scope="module")
def emulator():
    lines: list[str] = []
    function = FunctionConfig(name="batch-answers", handler="batch_answers.handler", task_root=str(FUNCTIONS),
                              timeout_s=10.0)
    with Emulator(function, concurrency=2, log=lines.append) as emu:
        yield emu


def make_queue(api: AwsApi, visibility_s: int = 30) -> QueueSource:
    sqs = api.client("sqs")
    name = f"q-{uuid.uuid4().hex[:12]}"
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(visibility_s)})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return QueueSource(url=url, arn=arn, name=name, region=api.region, visibility_timeout_s=visibility_s)


def left_in(api: AwsApi, url: str) -> int:
    attributes = api.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def one_batch(api: AwsApi, emulator: Emulator, bodies: list[str]) -> tuple[str, int]:
    """Send `bodies`, let one poller take them as one batch: its log line, and how many messages are left."""
    source = make_queue(api)
    sqs = api.client("sqs")
    sqs.send_message_batch(QueueUrl=source.url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)])
    lines: list[str] = []
    logged = threading.Event()

    def log(line: str) -> None:
        lines.append(line)
        logged.set()

    poller = QueuePoller(source, sqs, emulator.pool.invoke, log, pollers=1, long_poll_s=1).start()
    try:
        assert logged.wait(30), "the poller logged no batch"
    finally:
        poller.stop(drain_s=5)
    return lines[0], left_in(api, source.url)


def test_partial_failure_deletes_only_the_records_that_succeeded(api, emulator):
    line, left = one_batch(api, emulator, ["ok", "fail", "ok", "ok"])
    assert "batch of 4" in line and "3 succeeded; 1 failed; 3 deleted" in line, line
    assert left == 1


@pytest.mark.parametrize("response", ["null", "{}", '{"batchItemFailures": []}', '{"batchItemFailures": null}'])
def test_empty_answers_are_complete_success(api, emulator, response):
    line, left = one_batch(api, emulator, [f"respond:{response}", "ok"])
    assert "2 succeeded; 0 failed; 2 deleted" in line, line
    assert left == 0


@pytest.mark.parametrize("response, why", [
    ('{"batchItemFailures": [{"itemIdentifier": ""}]}', "has no itemIdentifier"),
    ('{"batchItemFailures": [{"itemIdentifier": "not-a-message-of-the-batch"}]}', "is not a message of the batch"),
    ('{"batchItemFailures": [{"id": "x"}]}', "has no itemIdentifier"),
    ('{"batchItemFailures": "all"}', "batchItemFailures is not a list"),
    ('["a", "list"]', "not an object"),
])
def test_invalid_answers_fail_the_whole_batch(api, emulator, response, why):
    line, left = one_batch(api, emulator, [f"respond:{response}", "ok", "ok"])
    assert "0 succeeded; 3 failed" in line and why in line and "0 deleted" in line, line
    assert left == 3


def test_a_function_error_deletes_nothing(api, emulator):
    line, left = one_batch(api, emulator, ["ok", "raise"])
    assert "0 succeeded; 2 failed (error: the function raised an unhandled error (ValueError)" in line, line
    assert left == 2


def test_a_timeout_deletes_nothing(api):
    function = FunctionConfig(name="batch-answers", handler="batch_answers.handler", task_root=str(FUNCTIONS),
                              timeout_s=1.0)
    with Emulator(function, concurrency=1, log=lambda line: None) as short:
        line, left = one_batch(api, short, ["ok", "sleep:3"])
    assert "0 succeeded; 2 failed (timeout: Task timed out after 1.00 seconds" in line and "0 deleted" in line, line
    assert left == 2


def test_stopping_mid_batch_loses_nothing(api):
    """As infer serve stops: the pollers get a moment to finish, then the environments are killed; the batch they
    were running is not deleted, so its messages reappear."""
    source = make_queue(api)
    sqs = api.client("sqs")
    sqs.send_message_batch(QueueUrl=source.url, Entries=[{"Id": "0", "MessageBody": "sleep:5"},
                                                         {"Id": "1", "MessageBody": "ok"}])
    lines: list[str] = []
    function = FunctionConfig(name="batch-answers", handler="batch_answers.handler", task_root=str(FUNCTIONS))
    emu = Emulator(function, concurrency=1, log=lambda line: None).start()
    poller = QueuePoller(source, sqs, emu.pool.invoke, lines.append, pollers=1, long_poll_s=1).start()
    try:
        wait_for(lambda: emu.pool.environments and emu.pool.environments[0].current, what="the batch running")
        poller.stop(drain_s=0.2)
    finally:
        emu.stop()
    wait_for(lambda: lines, what="the batch's line")
    assert "0 succeeded; 2 failed" in lines[0] and "0 deleted" in lines[0], lines
    assert left_in(api, source.url) == 2


def test_batch_failures_rules():
    ids = ["a", "b"]
    assert batch_failures(b"", ids) == (set(), "")
    assert batch_failures(b'{"batchItemFailures": [{"itemIdentifier": "b"}]}', ids) == ({"b"}, "")
    assert batch_failures(b"not json", ids)[0] == {"a", "b"}
    assert batch_failures(b'{"batchItemFailures": [{"itemIdentifier": null}]}', ids)[0] == {"a", "b"}


def test_the_event_is_lambdas_sqs_event(api):
    """A message with string and binary attributes, received as Lambda's poller receives it, makes a record that
    Powertools' SqsModel (the shape Lambda sends) accepts, with the values SQS gave."""
    source = make_queue(api)
    sqs = api.client("sqs")
    sqs.send_message(QueueUrl=source.url, MessageBody=json.dumps({"instances": [SETOSA]}), MessageAttributes={
        "tenant": {"DataType": "String", "StringValue": "acme"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})
    message = sqs.receive_message(QueueUrl=source.url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"])["Messages"][0]
    record = sqs_record(message, source)
    parsed = SqsModel.model_validate({"Records": [record]}).Records[0]
    assert parsed.messageId == message["MessageId"] and parsed.body == message["Body"]
    assert parsed.eventSourceARN == source.arn and parsed.awsRegion == "us-east-1"
    assert parsed.attributes.ApproximateReceiveCount == "1"
    assert record["messageAttributes"]["tenant"] == {"stringValue": "acme", "stringListValues": [],
                                                     "binaryListValues": [], "dataType": "String"}
    assert record["messageAttributes"]["blob"]["binaryValue"] == "AAE="
    assert set(record["attributes"]) == {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                         "ApproximateFirstReceiveTimestamp"}


def test_s3_events_reach_the_function_as_s3_sends_them(api):
    """moto's notification, completed where it differs from S3's, is what Powertools' S3Model accepts, with the key
    encoded as S3 encodes it ("/" kept, space as +)."""
    sqs, s3 = api.client("sqs"), api.client("s3")
    url = sqs.create_queue(QueueName="s3-shape")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.create_bucket(Bucket="shape-bucket")
    s3.put_bucket_notification_configuration(Bucket="shape-bucket", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    s3.put_object(Bucket="shape-bucket", Key="in/a b+c ü.json", Body=b"{}")
    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                                 WaitTimeSeconds=1)["Messages"]]
    event = next(body for body in bodies if "Records" in body)
    with pytest.raises(ValueError):
        S3Model.model_validate(event)  # as moto sends it
    record = S3Model.model_validate(as_lambda_delivers(event)).Records[0]
    assert record.s3.object.key == "in/a+b%2Bc+%C3%BC.json"
    assert unquote_plus(record.s3.object.key) == "in/a b+c ü.json" and record.s3.object.size == 2


@pytest.mark.parametrize("options, message", [
    (SourceOptions(bucket="inbox", prefix="in/", output="s3://inbox/in/results/"), "is inside the input prefix"),
    (SourceOptions(bucket="inbox", prefix="in/", output="s3://inbox/"), "contains the input prefix"),
    (SourceOptions(queue="q", batch_size=50), "needs --batching-window of at least 1 second"),
    (SourceOptions(queue="q", output="ftp://x"), "INFER_OUTPUT must be s3://bucket/prefix/ or an SQS queue URL"),
    (SourceOptions(queue="q", output="http://127.0.0.1:4566/123456789012/q"), "--output names the input queue q"),
    (SourceOptions(prefix="in/"), "go with --queue or --bucket"),
])
def test_refusals_come_before_anything_starts(options, message):
    with pytest.raises(SourceError, match=re.escape(message)):
        set_up(options, "iris", "arn:aws:lambda:us-east-1:000000000000:function:iris", "us-east-1", 30.0, 4)


def test_without_moto_it_says_what_to_install(monkeypatch):
    real = aws_api.importlib.util.find_spec
    monkeypatch.setattr(aws_api.importlib.util, "find_spec", lambda name: None if name == "moto" else real(name))
    with pytest.raises(SourceError, match=re.escape("pip install 'infer[sources]'")):
        set_up(SourceOptions(queue="q"), "iris", "arn", "us-east-1", 30.0, 4)


def test_output_inside_the_input_prefix_is_one_line_from_the_cli():
    result = subprocess.run([INFER, "serve", str(MODELS / "iris.onnx"), "--bucket", "inbox", "--prefix", "in/",
                             "--output", "s3://inbox/in/out/"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --output s3://inbox/in/out/ is inside the input prefix s3://inbox/in/")
    assert len(result.stderr.strip().splitlines()) == 1


# Through `infer serve`, with the infer runtime and moto's server started by infer


@pytest.fixture(scope="module")
def served():
    # One batch at a time in one warm environment, so that no batch outlasts the short visibility timeout (one
    # that does is received again, as on Lambda, and its results written twice).
    server = ServeProcess(str(MODELS / "iris.onnx"), "--queue", "requests", "--max-receives", "3",
                          "--visibility-timeout", "2", "--max-concurrency", "1", "--bucket", "inbox",
                          "--retry-delay", "0.3")  # the prefix in/ and the output s3://inbox/out/ by default
    assert "results: s3://inbox/out/<messageId>.json" in "".join(server.banner)
    assert call(server.url + "/v1/models/iris:predict", "POST", body={"instances": [SETOSA]}).status == 200
    banner = "".join(server.banner)
    endpoint = re.search(r"AWS API \(moto's server, started by infer, stopped with it\): (http://127\.0\.0\.1:\d+),",
                         banner).group(1)
    api = AwsApi(endpoint, "us-east-1", (*aws_api.FAKE_CREDENTIALS, None))
    s3, sqs = api.client("s3"), api.client("sqs")
    s3.put_bucket_versioning(Bucket="inbox", VersioningConfiguration={"Status": "Enabled"})
    # a first message warms the queue's path too (the runtime imports boto3 for it), away from the tests' own
    warm_id = sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="requests")["QueueUrl"],
                               MessageBody=json.dumps({"instances": [SETOSA]}))["MessageId"]
    wait_for(lambda: s3.list_objects_v2(Bucket="inbox", Prefix=f"out/{warm_id}.json").get("KeyCount"), what="warm-up")
    server.warm_key = f"out/{warm_id}.json"
    yield server, api
    server.stop()


def wait_for(check, timeout_s: float = 30.0, what: str = ""):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_poison_message_ends_in_the_dead_letter_queue_and_every_good_result_is_written_once(served):
    server, api = served
    sqs, s3 = api.client("sqs"), api.client("s3")
    url = sqs.get_queue_url(QueueName="requests")["QueueUrl"]
    dead_letters_url = sqs.get_queue_url(QueueName="requests-dlq")["QueueUrl"]
    entries = [{"Id": str(i), "MessageBody": json.dumps({"instances": [SETOSA]})} for i in range(9)]
    entries.insert(4, {"Id": "poison", "MessageBody": "this is not a request"})
    sent = {e["Id"]: e["MessageId"] for e in sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]}
    assert len(sent) == 10
    good = {sent[str(i)] for i in range(9)}

    def dead() -> list[dict]:
        return sqs.receive_message(QueueUrl=dead_letters_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                   VisibilityTimeout=60).get("Messages", [])

    dead_letters = wait_for(dead, what="the poison message in the dead-letter queue")
    assert [m["MessageId"] for m in dead_letters] == [sent["poison"]]
    versions = s3.list_object_versions(Bucket="inbox", Prefix="out/").get("Versions", [])
    written = [v["Key"] for v in versions if v["Key"].count("/") == 1 and v["Key"] != server.warm_key]
    assert sorted(written) == sorted(f"out/{m}.json" for m in good), "every good result once, and nothing else"
    result = json.loads(s3.get_object(Bucket="inbox", Key=f"out/{sent['0']}.json")["Body"].read())
    assert result["predictions"][0]["label"] == 0
    assert len(written) + len(dead_letters) == len(entries), "messages in = results + dead letters"
    assert left_in(api, url) == 0
    receives = [line for line in server.stderr if line.startswith("queue requests:") and sent["poison"] in line]
    assert receives and "at receive 3 of 3, moved to requests-dlq" in receives[-1]


def test_objects_under_the_prefix_run_and_the_output_prefix_never_triggers(served):
    server, api = served
    s3 = api.client("s3")
    s3.put_object(Bucket="inbox", Key="out/direct.json", Body=json.dumps({"instances": [SETOSA]}))
    s3.put_object(Bucket="inbox", Key="in/setosa sample+1.json", Body=json.dumps({"instances": [SETOSA]}))
    key = "out/in/setosa sample+1.json.json"
    wait_for(lambda: s3.list_objects_v2(Bucket="inbox", Prefix=key).get("KeyCount"), what=key)
    assert json.loads(s3.get_object(Bucket="inbox", Key=key)["Body"].read())["predictions"][0]["label"] == 0
    assert server.log_lines("bucket inbox: in/setosa sample+1.json (ObjectCreated:Put): succeeded on attempt 1")
    logged = "".join(server.stderr)
    assert "out/direct.json" not in logged and "out/out/" not in logged
    outputs = [o["Key"] for o in s3.list_objects_v2(Bucket="inbox", Prefix="out/").get("Contents", [])]
    assert not any(k.startswith("out/out/") for k in outputs), "a result never triggers the function again"


def test_a_bad_object_is_retried_twice_then_kept_in_the_failures_queue(served):
    server, api = served
    sqs = api.client("sqs")
    api.client("s3").put_object(Bucket="inbox", Key="in/broken.json", Body=b"\x00 not json")
    prefix = "bucket inbox: in/broken.json (ObjectCreated:Put): "
    kept = server.log_lines(prefix + "failed all 3 attempts", timeout_s=30)
    assert kept and "the event is kept in queue infer-iris-s3-failures" in kept[0]
    attempts = [line for line in server.stderr if line.startswith(prefix)]
    assert "attempt 1 of 3 failed" in attempts[0] and "retrying in 0.3 s" in attempts[0]
    assert "attempt 2 of 3 failed" in attempts[1] and "retrying in 0.6 s" in attempts[1]
    failures_url = sqs.get_queue_url(QueueName="infer-iris-s3-failures")["QueueUrl"]
    record = json.loads(sqs.receive_message(QueueUrl=failures_url, WaitTimeSeconds=2)["Messages"][0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert unquote_plus(record["requestPayload"]["Records"][0]["s3"]["object"]["key"]) == "in/broken.json"
    assert record["responseContext"]["functionError"] == "Unhandled"


def test_ctrl_c_stops_the_pollers_and_the_aws_api_cleanly(served):
    server, api = served
    assert server.interrupt() == 0
    logged = "".join(server.stderr)
    assert logged.rstrip().endswith("stopped")
    assert "KeyboardInterrupt" not in logged and "Exception in thread" not in logged
    with pytest.raises(Exception):  # noqa: B017  (the moto server infer started is gone)
        api.client("sqs").list_queues()


def test_an_endpoint_url_is_used_and_left_running_with_its_bucket_configuration_restored(api):
    """--endpoint-url: infer's queues live in that API, which is still there after Ctrl-C, and the bucket's own
    notification configuration is back as it was."""
    sqs, s3 = api.client("sqs"), api.client("s3")
    theirs_url = sqs.create_queue(QueueName="their-queue")["QueueUrl"]
    theirs = {"QueueConfigurations": [{"Id": "theirs", "Events": ["s3:ObjectRemoved:*"], "QueueArn": sqs.get_queue_attributes(
        QueueUrl=theirs_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]}]}
    s3.create_bucket(Bucket="their-bucket")
    s3.put_bucket_notification_configuration(Bucket="their-bucket", NotificationConfiguration=theirs)
    server = ServeProcess(str(MODELS / "iris.onnx"), "--endpoint-url", api.endpoint_url, "--queue", "ext-requests",
                          "--bucket", "their-bucket", "--prefix", "in/", "--max-concurrency", "1")
    try:
        assert f"AWS API (--endpoint-url): {api.endpoint_url}" in "".join(server.banner)
        during = s3.get_bucket_notification_configuration(Bucket="their-bucket")["QueueConfigurations"]
        assert {c["Id"] for c in during} == {"theirs", "infer-serve-infer-iris"}
        url = sqs.get_queue_url(QueueName="ext-requests")["QueueUrl"]
        message_id = sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"instances": [SETOSA]}))["MessageId"]
        key = f"out/{message_id}.json"  # the default output beside the input prefix, as deployed
        wait_for(lambda: s3.list_objects_v2(Bucket="their-bucket", Prefix=key).get("KeyCount"), what=key)
        assert server.interrupt() == 0
    finally:
        server.stop()
    after = s3.get_bucket_notification_configuration(Bucket="their-bucket")["QueueConfigurations"]
    assert [c["Id"] for c in after] == ["theirs"]
    assert sqs.get_queue_url(QueueName="ext-requests-dlq")["QueueUrl"]


def test_results_to_a_queue_named_by_url(api):
    """--output as a queue URL: the queue is made by name in the local API, and each result arrives there."""
    server = ServeProcess(str(MODELS / "iris.onnx"), "--endpoint-url", api.endpoint_url, "--queue", "to-queue",
                          "--output", "https://sqs.us-east-1.amazonaws.com/123456789012/queued-results",
                          "--max-concurrency", "1")
    sqs = api.client("sqs")
    try:
        results_url = sqs.get_queue_url(QueueName="queued-results")["QueueUrl"]
        assert f"results: messages {{\"id\": messageId or key, \"result\": ...}} on {results_url}" in "".join(server.banner)
        url = sqs.get_queue_url(QueueName="to-queue")["QueueUrl"]
        message_id = sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"instances": [SETOSA]}))["MessageId"]
        received = wait_for(lambda: sqs.receive_message(QueueUrl=results_url, WaitTimeSeconds=1).get("Messages"),
                            what="a result on the results queue")
    finally:
        server.stop()
    result = json.loads(received[0]["Body"])
    assert result["id"] == message_id and result["result"]["predictions"][0]["label"] == 0
