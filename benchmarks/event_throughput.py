"""Predictions per environment-second: SQS batches of 10 against one function URL request per prediction.

    .venv/bin/python benchmarks/event_throughput.py --models iris,digits --predictions 100 --rounds 5

Everything runs through the emulator, in one run, with one execution environment (concurrency 1) and
moto's server started on loopback as `infer serve --queue` starts it:
1. for each output of the SQS results (S3 objects, an SQS queue, and none: the function's log, which
   isolates what writing costs) the function is reconfigured, and warmed by one request and one batch;
2. each round sends `--predictions` function URL requests of one instance each, one after another,
   then puts as many one-instance messages on a queue and lets the emulated event source mapping take
   them in batches of 10 (with a batching window of 1 s, so that a poller already waiting in a long
   poll does not start a batch before its ten messages are in: the window is not environment time);
3. the SQS output queue is emptied before each round: moto's SendMessageBatch slows down with every
   message waiting in the queue (14 ms for 10 into an empty queue, 380 ms with 2000 waiting, here);
4. environment-seconds are the sum of the invocations' Duration, as their REPORT lines give it (from the
   runtime taking the event to its response: what Lambda bills, init excluded); the rate is
   predictions / environment-seconds, and the ratio SQS / URL is taken within each round.
Printed: medians over rounds per model and output, the mean batch size, and the median time of one
S3 PutObject and of one SQS SendMessageBatch of 10 from this process (to tell whether writing the
results dominates a batch). Then, for the same models, the handler alone in a fresh interpreter (no
emulator, results to the log): the median time of one function URL event against one SQS event of 10
records, the ratio the runtime itself allows once the per-invocation cost of the Runtime API is gone.
"""

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

from infer.local.aws_api import AwsApi
from infer.local.emulator import Emulator
from infer.local.function import model_function
from infer.local.queue_mapping import QueuePoller, QueueSource
from infer.runtime import contract, manifest

ROOT = Path(__file__).resolve().parent.parent


def instance(model: Path, rng: np.random.Generator) -> list:
    shape = manifest.read(str(model))["inputs"][0]["shape"][1:]
    return np.round(rng.random(shape) * 4, 3).tolist()


def url_round(emu: Emulator, name: str, bodies: list[bytes]) -> list[str]:
    """One function URL request per body, one after another on one connection: their request ids."""
    host, port = emu.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    ids = []
    for body in bodies:
        conn.request("POST", f"/v1/models/{name}:predict", body=body, headers={"content-type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"function URL answered {response.status}")
        ids.append(response.getheader("x-amzn-RequestId"))
    conn.close()
    return ids


class Batches:
    """The poller's log lines, read for each batch's request id, size and successes."""

    def __init__(self):
        self.lines: list[str] = []
        self.changed = threading.Condition()

    def log(self, line: str) -> None:
        with self.changed:
            self.lines.append(line)
            self.changed.notify_all()

    def wait(self, count: int, timeout_s: float = 120.0) -> list[tuple[str, int, int]]:
        """(request id, batch size, succeeded) for batches until `count` records have succeeded."""
        def parsed():
            found = []
            for line in self.lines:
                if ": batch of " in line:
                    size = int(line.split(": batch of ")[1].split()[0])
                    request = line.split("(request ")[1].split(")")[0]
                    succeeded = int(line.split("): ")[1].split(" succeeded")[0])
                    found.append((request, size, succeeded))
            return found
        with self.changed:
            if not self.changed.wait_for(lambda: sum(s for _, _, s in parsed()) >= count, timeout_s):
                raise SystemExit(f"the queue's batches did not all succeed: {self.lines[-3:]}")
            found = parsed()
            self.lines.clear()
            return found


def sqs_round(api: AwsApi, source: QueueSource, batches: Batches, bodies: list[str]) -> list[tuple[str, int, int]]:
    """Fill the queue, then wait until the running poller has taken every message in batches."""
    sqs = api.client("sqs")
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(QueueUrl=source.url, Entries=[
            {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start:start + 10])])
    return batches.wait(len(bodies))


def make_queue(api: AwsApi, name: str) -> QueueSource:
    sqs = api.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return QueueSource(url=url, arn=arn, name=name, region=api.region, batch_size=10, batching_window_s=1,
                       visibility_timeout_s=60)


def empty_queue(api: AwsApi, url: str) -> None:
    """Delete and re-create the queue at `url` (moto allows it at once; PurgeQueue only once a minute)."""
    sqs = api.client("sqs")
    sqs.delete_queue(QueueUrl=url)
    if sqs.create_queue(QueueName=url.rsplit("/", 1)[1])["QueueUrl"] != url:
        raise SystemExit(f"the re-created queue has another URL than {url}")


def write_latency_ms(api: AwsApi, bucket: str, queue_url: str, samples: int = 30) -> tuple[float, float]:
    """Median ms of one PutObject, and of one SendMessageBatch of 10 into an emptied queue, from this process."""
    s3, sqs = api.client("s3"), api.client("sqs")
    body = json.dumps({"id": "0" * 36, "result": {"predictions": [{"label": 1, "probabilities": [0.1] * 10}]}})

    def median_ms(call) -> float:
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    empty_queue(api, queue_url)
    put_ms = median_ms(lambda: s3.put_object(Bucket=bucket, Key="latency.json", Body=body.encode()))
    send_ms = median_ms(lambda: sqs.send_message_batch(QueueUrl=queue_url, Entries=[
        {"Id": str(i), "MessageBody": body} for i in range(10)]))
    empty_queue(api, queue_url)
    return put_ms, send_ms


def measure(model: Path, api: AwsApi, outputs: dict[str, str], predictions: int, rounds: int) -> list[dict]:
    rng = np.random.default_rng(0)
    function = model_function(model, environment=api.function_environment())
    name = function.name
    durations: dict[str, float] = {}
    rows = []
    with Emulator(function, concurrency=1, log=lambda line: None) as emu:
        for output, location in outputs.items():
            environment = {**function.environment, **api.function_environment()}
            if location:
                environment[contract.OUTPUT] = location
            else:
                environment.pop(contract.OUTPUT, None)
            emu.pool.reconfigure(environment=environment)
            source = make_queue(api, f"bench-{name}-{output}")
            # the queue is empty while the URL requests run: the poller waits in a long poll, taking no CPU
            batches = Batches()
            poller = QueuePoller(source, api.client("sqs"), emu.pool.invoke, batches.log, pollers=1).start()
            warm = json.dumps({"instances": [instance(model, rng)]})
            url_round(emu, name, [warm.encode()])
            sqs_round(api, source, batches, [warm] * 10)
            url_rates, sqs_rates, ratios, sizes = [], [], [], []
            for _ in range(rounds):
                if output == "sqs":  # moto's SendMessageBatch takes longer the more messages wait in the queue
                    empty_queue(api, location)
                bodies = [json.dumps({"instances": [instance(model, rng)]}) for _ in range(predictions)]
                url_ids = url_round(emu, name, [b.encode() for b in bodies])
                taken = sqs_round(api, source, batches, bodies)
                durations = {r["request_id"]: r["duration_ms"] for r in emu.pool.reports}
                url_s = sum(durations[i] for i in url_ids) / 1000
                sqs_s = sum(durations[r] for r, _, _ in taken) / 1000
                url_rates.append(predictions / url_s)
                sqs_rates.append(predictions / sqs_s)
                ratios.append(url_s / sqs_s)
                sizes += [size for _, size, _ in taken]
            poller.stop(drain_s=10)
            row = {"model": name, "output": output, "url_per_env_s": statistics.median(url_rates),
                   "sqs_per_env_s": statistics.median(sqs_rates), "ratio": statistics.median(ratios),
                   "ratios": [round(r, 2) for r in ratios], "mean_batch": statistics.fmean(sizes),
                   "url_ms_per_request": 1000 / statistics.median(url_rates),
                   "sqs_ms_per_batch": 10_000 / statistics.median(sqs_rates)}
            rows.append(row)
            print(f"{name:7} {output:4}  URL {row['url_per_env_s']:8.0f}/env-s ({row['url_ms_per_request']:.2f} ms each)"
                  f"  SQS {row['sqs_per_env_s']:8.0f}/env-s ({row['sqs_ms_per_batch']:.2f} ms per batch of "
                  f"{row['mean_batch']:.1f})  ratio {row['ratio']:.2f}x  rounds {row['ratios']}", flush=True)
    return rows


def handler_only(model: Path, samples: int = 300) -> None:
    """In this (fresh) process: time the runtime's handler on a function URL event and on an SQS event of 10."""
    import contextlib
    import os

    from infer.local.events import build_event
    from infer.local.queue_mapping import sqs_record

    os.environ[contract.MODEL_PATH] = str(model)
    os.environ.pop(contract.OUTPUT, None)
    from infer.runtime import handler

    rng = np.random.default_rng(0)
    body = json.dumps({"instances": [instance(model, rng)]})
    url_event = build_event("POST", "/predict", [("content-type", "application/json")], body.encode(), "r")
    source = QueueSource(url="", arn="arn:aws:sqs:us-east-1:123456789012:q", name="q", region="us-east-1")
    messages = [{"MessageId": f"m{i}", "ReceiptHandle": "r" * 200, "Body": body, "MD5OfBody": "0" * 32,
                 "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1", "SenderId": "s",
                                "ApproximateFirstReceiveTimestamp": "1"}} for i in range(10)]
    sqs_event = {"Records": [sqs_record(m, source) for m in messages]}

    class Context:
        aws_request_id = "r"

    def median_ms(event: dict) -> float:
        text, times = json.dumps(event), []
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            for _ in range(samples):
                started = time.perf_counter()
                handler.handler(json.loads(text), Context())
                times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    url_ms, sqs_ms = median_ms(url_event), median_ms(sqs_event)
    print(json.dumps({"url_ms": url_ms, "sqs10_ms": sqs_ms}))


def handler_times(model: Path) -> dict:
    import subprocess

    done = subprocess.run([sys.executable, __file__, "--handler-only", str(model)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="iris,digits")
    parser.add_argument("--predictions", type=int, default=100, help="per round and per kind (a multiple of 10)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--outputs", default="s3,sqs,log", help="where SQS results go: s3, sqs, log (INFER_OUTPUT unset)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--handler-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.handler_only:
        return handler_only(args.handler_only)
    api = AwsApi.start("us-east-1")
    try:
        s3, sqs = api.client("s3"), api.client("sqs")
        s3.create_bucket(Bucket="bench-results")
        queue_url = sqs.create_queue(QueueName="bench-results")["QueueUrl"]
        every = {"s3": "s3://bench-results/out/", "sqs": queue_url, "log": ""}
        outputs = {key: every[key] for key in args.outputs.split(",")}
        put_ms, send_ms = write_latency_ms(api, "bench-results", queue_url)  # first: before any poller long-polls
        rows = []
        for model in args.models.split(","):
            rows += measure(ROOT / "models" / f"{model}.onnx", api, outputs, args.predictions, args.rounds)
        print(f"from this process to moto: one S3 PutObject median {put_ms:.2f} ms, one SQS SendMessageBatch of 10 "
              f"median {send_ms:.2f} ms")
        target = all(row["ratio"] >= 5 for row in rows)
        print(f"target (SQS at least 5x the function URL's predictions per environment-second): "
              f"{'met' if target else 'NOT met'} for every row" if target else
              f"target NOT met for: {', '.join(r['model'] + '/' + r['output'] for r in rows if r['ratio'] < 5)}")
        handlers = {}
        for model in args.models.split(","):
            times = handlers[model] = handler_times(ROOT / "models" / f"{model}.onnx")
            print(f"{model:7} handler alone: function URL event {times['url_ms']:.3f} ms, SQS event of 10 "
                  f"{times['sqs10_ms']:.3f} ms: {10 * times['url_ms'] / times['sqs10_ms']:.2f}x per prediction")
        if args.json:
            args.json.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows, "put_ms": put_ms, "send10_ms": send_ms,
                                             "handler_alone": handlers}, indent=2))
    finally:
        api.stop()


if __name__ == "__main__":
    main()
