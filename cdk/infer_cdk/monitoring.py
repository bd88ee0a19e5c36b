"""Alarms and a dashboard for an `OnnxFunction` (on unless `infer deploy --no-monitoring`).

Alarms: any Errors, any Throttles, and p99 Duration above DURATION_ALARM_SHARE of the timeout, each over
ALARM_PERIOD, sent to an SNS topic when one is given by ARN; with a queue source, any message waiting in its
dead-letter queue (a request that failed every receive: it needs a look, and a redrive). The dashboard: Lambda's own metrics (Invocations,
Errors, Throttles, Duration, ConcurrentExecutions) beside the runtime's EMF metrics (runtime/metrics.py).
"""

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infer.runtime.metrics import NAMESPACE

ALARM_PERIOD = Duration.minutes(5)
DURATION_ALARM_SHARE = 0.8  # p99 Duration above 80% of the timeout: requests are about to time out
# What the runtime's EMF line declares (runtime/metrics.py; a test holds the two together), dimension "model".
EMF_TIMINGS = ("InferenceMs", "ModelLoadMs", "ModelWaitMs")
EMF_COUNTS = ("ColdStart",)


class Monitoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, function: lambda_.Function, timeout_s: int,
                 model: str, topic_arn: str | None = None, dead_letters: sqs.IQueue | None = None):
        super().__init__(scope, construct_id)
        name = function.function_name
        self.alarms = [
            self._alarm("Errors", function.metric_errors(period=ALARM_PERIOD, statistic="Sum"), 1,
                        f"{name}: a request failed (Errors >= 1 in 5 minutes)"),
            self._alarm("Throttles", function.metric_throttles(period=ALARM_PERIOD, statistic="Sum"), 1,
                        f"{name}: requests were throttled (reserved concurrency reached)"),
            self._alarm("Duration", function.metric_duration(period=ALARM_PERIOD, statistic="p99"),
                        int(timeout_s * 1000 * DURATION_ALARM_SHARE),
                        f"{name}: p99 duration above {DURATION_ALARM_SHARE:.0%} of the {timeout_s} s timeout"),
        ]
        if dead_letters is not None:
            self.alarms.append(self._alarm(
                "DeadLetters", dead_letters.metric_approximate_number_of_messages_visible(period=ALARM_PERIOD,
                                                                                       statistic="Maximum"), 1,
                f"{name}: queued requests failed every receive and wait in the dead-letter queue (redrive them once fixed)"))
        if topic_arn:
            topic = sns.Topic.from_topic_arn(self, "Topic", topic_arn)
            for alarm in self.alarms:
                alarm.add_alarm_action(actions.SnsAction(topic))
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        self.dashboard.add_widgets(*self._lambda_widgets(function), *self._emf_widgets(model))

    def _alarm(self, construct_id: str, metric: cloudwatch.Metric, threshold: int, description: str):
        return cloudwatch.Alarm(
            self, construct_id, metric=metric, threshold=threshold, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING, actions_enabled=True,
            alarm_description=description)

    @staticmethod
    def _lambda_widgets(function: lambda_.Function) -> list[cloudwatch.GraphWidget]:
        return [
            cloudwatch.GraphWidget(title="Invocations, errors, throttles", width=8, left=[
                function.metric_invocations(statistic="Sum"), function.metric_errors(statistic="Sum"),
                function.metric_throttles(statistic="Sum")]),
            cloudwatch.GraphWidget(title="Duration (ms)", width=8, left=[
                function.metric_duration(statistic=s, label=f"Duration {s}") for s in ("p50", "p99", "Maximum")]),
            cloudwatch.GraphWidget(title="Concurrent executions", width=8, left=[
                function.metric("ConcurrentExecutions", statistic="Maximum")]),
        ]

    @staticmethod
    def _emf_widgets(model: str) -> list[cloudwatch.GraphWidget]:
        def emf(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(namespace=NAMESPACE, metric_name=name, dimensions_map={"model": model},
                                     statistic=statistic, label=f"{name} {statistic}")

        return [
            cloudwatch.GraphWidget(title=f"{name} (ms, model {model})", width=8,
                                   left=[emf(name, s) for s in ("p50", "p99")])
            for name in EMF_TIMINGS
        ] + [cloudwatch.GraphWidget(title=f"Cold starts (model {model})", width=8,
                                    left=[emf(name, "Sum") for name in EMF_COUNTS])]
