"""Alarms and a dashboard in the stack by default (cdk-nag, cfn-lint and checkov run over these cases in
test_security.py),
notifying an SNS topic when given one, and absent with --no-monitoring."""

import io
import json

import pytest
from test_security import CASES, TOPIC_ARN
from typer.testing import CliRunner

from helpers import MODELS
from infer.cli import app
from infer.runtime import metrics
from infer_cdk.monitoring import EMF_COUNTS, EMF_TIMINGS


@pytest.fixture
def case(synthesised):
    """A case of test_security.py (which runs cdk-nag, cfn-lint and checkov over it), from the session's cache."""
    return lambda name: synthesised(**CASES[name][0])


def alarms(result) -> dict[str, dict]:
    return {r["Properties"]["MetricName"]: r["Properties"] for r in result.template["Resources"].values()
            if r["Type"] == "AWS::CloudWatch::Alarm"}


def dashboard(result) -> str:
    [body] = [json.dumps(r["Properties"]["DashboardBody"]) for r in result.template["Resources"].values()
              if r["Type"] == "AWS::CloudWatch::Dashboard"]
    return body


def test_alarms_on_errors_throttles_and_p99_duration_near_the_timeout(case):
    result = case("default")
    found = alarms(result)
    assert set(found) == {"Errors", "Throttles", "Duration"}
    assert found["Duration"]["ExtendedStatistic"] == "p99" and found["Duration"]["Threshold"] == 24000  # 80% of 30 s
    assert found["Errors"]["Threshold"] == found["Throttles"]["Threshold"] == 1
    assert all("AlarmActions" not in alarm for alarm in found.values())
    flagged = case("flags")  # --timeout 60
    assert alarms(flagged)["Duration"]["Threshold"] == 48000


def test_the_dashboard_shows_lambdas_metrics_and_the_runtimes(case):
    body = dashboard(case("default"))
    for name in ("Invocations", "Duration", "ConcurrentExecutions", "Errors", "Throttles", *EMF_TIMINGS, *EMF_COUNTS):
        assert f'\\"{name}\\"' in body, name
    assert f'[\\"{metrics.NAMESPACE}\\",\\"InferenceMs\\",\\"model\\",\\"iris\\"' in body  # the runtime's dimension


def test_the_dashboard_names_every_metric_the_runtime_declares():
    line = metrics.record("r", "/predict", 200, "iris", True, 1.0, 2.0, 3.0, stream=io.StringIO())
    [declared] = line["_aws"]["CloudWatchMetrics"]
    assert declared["Namespace"] == metrics.NAMESPACE
    assert {m["Name"] for m in declared["Metrics"]} == set(EMF_TIMINGS + EMF_COUNTS)


def test_alarms_notify_a_given_topic_and_are_absent_without_monitoring(case):
    with_topic = case("given-key")
    assert [alarm["AlarmActions"] for alarm in alarms(with_topic).values()] == [[TOPIC_ARN]] * 3
    without = case("alias-dlq")  # --no-monitoring
    kinds = {r["Type"] for r in without.template["Resources"].values()}
    assert not kinds & {"AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard"}


def test_a_bad_topic_is_refused_in_one_line(tmp_path):
    for extra, message in [(["--alarm-topic", "ml-alerts"], "--alarm-topic must be an SNS topic ARN"),
                           (["--alarm-topic", TOPIC_ARN, "--no-monitoring"], "--alarm-topic needs the alarms")]:
        result = CliRunner().invoke(app, ["deploy", str(MODELS / "iris.onnx"), "--synth-only", "-o", str(tmp_path / "o"),
                                          *extra])
        assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
