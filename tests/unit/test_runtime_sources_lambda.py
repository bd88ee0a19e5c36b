"""SQS and S3 events through the emulator's real awslambdaric process: the batch response, a raised
ObjectsFailed reported as a function error (one line), and the same environment serving the next event."""

import json
import threading
import uuid

import boto3

from helpers import EVENTS, MODELS
from infer.local.function import model_function
from infer.local.pool import Pool

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


class Lines(list):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

    def __call__(self, line: str):
        with self.lock:
            self.extend(line.splitlines())


def test_sqs_and_s3_events_through_awslambdaric(moto_url):
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_url,
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    suffix = uuid.uuid4().hex[:10]
    source, results = f"infer-in-{suffix}", f"infer-out-{suffix}"
    for bucket in (source, results):
        s3.create_bucket(Bucket=bucket)
    environment = {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "INFER_OUTPUT": f"s3://{results}/out/"}
    log = Lines()
    pool = Pool(model_function(MODELS / "iris.onnx", environment=environment), concurrency=1, log=log, resources=None)
    try:
        sqs_event = json.loads((EVENTS / "sqs_batch.json").read_text())
        sqs_event["Records"][1]["body"] = "poison"
        invocation = pool.invoke(json.dumps(sqs_event).encode())
        assert invocation.outcome == "ok", invocation.reason
        poisoned = sqs_event["Records"][1]["messageId"]
        assert json.loads(invocation.payload) == {"batchItemFailures": [{"itemIdentifier": poisoned}]}
        written = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=results)["Contents"])
        assert written == sorted(f"out/{r['messageId']}.json" for r in sqs_event["Records"] if r["messageId"] != poisoned)
        pid = pool.environments[0].proc.pid

        s3_event = json.loads((EVENTS / "s3_object_created.json").read_text())
        s3_event["Records"][0]["s3"]["bucket"]["name"] = source
        missing = pool.invoke(json.dumps(s3_event).encode())
        assert missing.outcome == "error" and missing.error_type == "ObjectsFailed"
        error = json.loads(missing.payload)
        assert error["errorMessage"] == f"1 of 1 objects failed (see the log): s3://{source}/incoming/iris rows+1 ü.json"

        s3.put_object(Bucket=source, Key="incoming/iris rows+1 ü.json", Body=json.dumps({"instances": [IRIS_ROW]}).encode())
        again = pool.invoke(json.dumps(s3_event).encode())
        assert again.outcome == "ok", again.reason
        assert json.loads(again.payload)["objects"] == 1
        assert pool.environments[0].proc.pid == pid, "the same environment served every event"
        assert "out/incoming/iris rows+1 ü.json.json" in [o["Key"] for o in s3.list_objects_v2(Bucket=results)["Contents"]]
    finally:
        pool.close()
    assert any(f"infer: sqs message {poisoned} failed: request body is not valid JSON" in line for line in log)
