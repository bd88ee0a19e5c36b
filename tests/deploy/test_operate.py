"""Operating a deployment: `infer logs` and `infer list` (`--remote`) against moto's server mode, with log
events and stacks the tests write themselves, and the `--json` outputs of logs, list, package and deploy."""

import io
import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from helpers import INFER, MODELS
from infer.cli import app
from infer.deploy import DeployError, deployer, listing, state
from infer.deploy import logs as log_reader
from infer.runtime import metrics

REGION = "us-east-1"
GROUP = "/aws/lambda/infer-iris-Function"
RECORD = {"url": "", "auth": "AWS_IAM", "region": REGION, "profile": None, "stack": "infer-iris",
          "function_name": "infer-iris-Function", "log_group": GROUP, "arch": "arm64", "memory_mb": 2048,
          "package_format": "zip", "deployed_at": "2026-11-27T12:00:00+00:00"}


@pytest.fixture
def aws(moto_endpoint, tmp_path, monkeypatch):
    """A fresh moto, this process's AWS variables pointed at it, and the environment for `infer` subprocesses."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=10)
    values = {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
              "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return dict(os.environ)


def client(service: str):
    return boto3.client(service, region_name=REGION)


def emf(request_id: str, status: int, cold: bool, inference_ms: float | None) -> str:
    """The runtime's own line for one request."""
    out = io.StringIO()
    metrics.record(request_id, "/predict", status, "iris", cold, inference_ms, 812.5 if cold else None, stream=out)
    return out.getvalue()


def write_events(lines: list[str], stream: str = "2026/11/27/[$LATEST]abc") -> None:
    logs = client("logs")
    try:
        logs.create_log_group(logGroupName=GROUP)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    try:
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    now_ms = int(time.time() * 1000)
    logs.put_log_events(logGroupName=GROUP, logStreamName=stream,
                        logEvents=[{"timestamp": now_ms + i, "message": line} for i, line in enumerate(lines)])


def infer(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([INFER, *args], env=env, capture_output=True, text=True, timeout=120)


def test_logs_summarise_the_request_lines_and_filter(aws):
    state.save("iris", RECORD)
    write_events(["START RequestId: r-1 Version: $LATEST\n", emf("r-1", 200, True, 1.25),
                  "END RequestId: r-1\n", "REPORT RequestId: r-1\tDuration: 9.1 ms\tInit Duration: 901.2 ms\n",
                  emf("r-2", 400, False, None)])
    shown = infer(aws, "logs", "iris", "--since", "1h")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert len(lines) == 5 and "_aws" not in shown.stdout
    assert lines[1].endswith(" r-1 /predict 200 InferenceMs=1.25 ModelLoadMs=812.5 cold start"), lines[1]
    assert lines[4].endswith(" r-2 /predict 400"), lines[4]
    assert "REPORT RequestId: r-1\tDuration: 9.1 ms" in lines[3]

    raw = infer(aws, "logs", "iris", "--since", "1h", "--raw", "--filter", "InferenceMs")
    assert raw.returncode == 0, raw.stderr
    [line] = raw.stdout.splitlines()
    assert json.loads(line)["request_id"] == "r-1"

    as_json = json.loads(infer(aws, "logs", "iris", "--since", "1h", "--json").stdout)
    assert as_json["log_group"] == GROUP and len(as_json["events"]) == 5
    requests = [e["request"] for e in as_json["events"] if e["request"]]
    assert [(r["request_id"], r["status"], r["cold_start"]) for r in requests] == [("r-1", 200, True), ("r-2", 400, False)]


def test_logs_refuse_bad_input_in_one_line(aws):
    state.save("iris", RECORD)
    for args, message in [(("logs", "nope"), "no function named 'nope' was deployed from here (saved: iris"),
                          (("logs", "iris", "--since", "yesterday"), "--since takes a duration like 30s")]:
        refused = CliRunner().invoke(app, list(args))
        assert refused.exit_code == 2 and message in refused.stderr and refused.stderr.count("\n") == 1, refused.stderr
    missing = CliRunner().invoke(app, ["logs", "iris"])  # no such group in this (fresh) moto
    assert missing.exit_code == 1 and f"log group {GROUP} does not exist" in missing.stderr


def test_follow_prints_each_event_once_as_it_arrives(aws):
    write_events([emf("r-1", 200, True, 2.0)])
    arrivals = [[emf("r-2", 200, False, 1.0)], [], [emf("r-3", 500, False, None)]]

    def sleep(seconds):  # the time between polls: more events arrive
        if arrivals and (batch := arrivals.pop(0)):
            write_events(batch)

    followed = log_reader.follow(client("logs"), GROUP, int(time.time() * 1000) - 60_000, None, sleep=sleep)
    ids = [next(followed).request["request_id"] for _ in range(3)]
    assert ids == ["r-1", "r-2", "r-3"]


def test_since_and_summary_without_a_server():
    now_ms = 1_800_000_000_000
    assert log_reader.since_ms("10m", now_ms) == now_ms - 600_000
    assert log_reader.since_ms("2026-11-27T13:00:00", now_ms) == 1795784400000
    with pytest.raises(DeployError):
        log_reader.since_ms("10 minutes", now_ms)
    assert log_reader.request_line('{"message": "other", "_aws": {}}') is None
    assert log_reader.request_line("not json {") is None


def stack_template() -> str:
    return json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}})


def test_list_shows_records_and_the_stacks_infer_made(aws):
    state.save("iris", RECORD)
    state.save("old", {"stack": "infer-old", "region": "eu-west-1"})  # a record from before the new fields
    cloudformation = client("cloudformation")
    cloudformation.create_stack(StackName="infer-iris", TemplateBody=stack_template(),
                                Tags=[{"Key": "infer:model", "Value": "infer-iris"}])
    cloudformation.create_stack(StackName="infer-orphan", TemplateBody=stack_template(),
                                Tags=[{"Key": "infer:model", "Value": "infer-orphan"}])
    cloudformation.create_stack(StackName="someone-else", TemplateBody=stack_template())

    text = infer(aws, "list")
    assert text.returncode == 0, text.stderr
    header, iris, old = text.stdout.splitlines()
    assert header.split() == [c.upper() for c in listing.COLUMNS]
    assert iris.split() == ["iris", REGION, "-", "AWS_IAM", "arm64", "2048", "zip", "2026-11-27T12:00:00+00:00"]
    assert old.split()[:2] == ["old", "eu-west-1"]

    remote = infer(aws, "list", "--remote", "--json")
    assert remote.returncode == 0, remote.stderr
    answer = json.loads(remote.stdout)
    assert [d["name"] for d in answer["deployments"]] == ["iris", "old"]
    assert answer["deployments"][0]["log_group"] == GROUP
    stacks = {s["stack"]: s for s in answer["stacks"]}
    assert set(stacks) == {"infer-iris", "infer-orphan"}  # not the untagged stack
    assert stacks["infer-iris"]["recorded_as"] == "iris" and stacks["infer-orphan"]["recorded_as"] == ""
    assert stacks["infer-iris"]["region"] == REGION and stacks["infer-iris"]["status"] == "CREATE_COMPLETE"
    assert "infer-orphan" in infer(aws, "list", "--remote").stdout


def test_package_and_synth_only_print_one_json_object(synthesised, monkeypatch, tmp_path):
    packaged = CliRunner().invoke(app, ["package", str(MODELS / "iris.onnx"), "-o", str(tmp_path / "ctx"), "--json"])
    assert packaged.exit_code == 0, packaged.stderr
    context = json.loads(packaged.stdout)
    assert context["format"] == "image" and context["path"] == str(tmp_path / "ctx")
    assert context["image_added_bytes"] == context["model_bytes"] + context["runtime_bytes"] + context["dependency_bytes"]

    monkeypatch.setattr(deployer, "synthesise", lambda model, options, out, log: synthesised())
    synth = CliRunner().invoke(app, ["deploy", str(MODELS / "iris.onnx"), "--synth-only", "-o", str(tmp_path), "--json"])
    assert synth.exit_code == 0, synth.stderr
    answer = json.loads(synth.stdout)
    assert answer["stack"] == "infer-iris" and answer["name"] == "iris"
    assert json.loads(Path(answer["template"]).read_text())["Resources"]


def test_deploy_json_carries_what_a_ci_script_needs(monkeypatch, tmp_path):
    def deploy(model, options, out, log, confirm):
        log("deploying (progress goes to stderr)")
        state.save("iris", {**RECORD, "template": "/x/infer-iris.template.json", "assembly": "/x"})
        return deployer.Outputs("https://abc.lambda-url.us-east-1.on.aws/", RECORD["function_name"], GROUP, "AWS_IAM")

    monkeypatch.setattr(deployer, "deploy", deploy)
    result = CliRunner().invoke(app, ["deploy", str(MODELS / "iris.onnx"), "--json"])
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert "progress goes to stderr" in result.stderr
    assert answer == {"name": "iris", "url": "https://abc.lambda-url.us-east-1.on.aws/", "auth": "AWS_IAM",
                      "function_name": RECORD["function_name"], "log_group": GROUP, "stack": "infer-iris",
                      "region": REGION, "template": "/x/infer-iris.template.json", "assembly": "/x",
                      "arch": "arm64", "memory_mb": 2048, "package_format": "zip"}
