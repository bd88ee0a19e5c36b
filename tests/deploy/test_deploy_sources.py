"""Queue and bucket sources, synthesised offline: every combination clean under cdk-nag, cfn-lint and checkov,
the resources configured as AWS advises for Lambda's SQS poller and S3 notifications, the role's grants on
exactly those queues and prefixes, and bad combinations refused in one line before anything is packaged."""

import json
import os
import shutil
import subprocess
import urllib.request

import boto3
import pytest
from aws_cdk.assertions import Match
from stacks import case, of_type, only, validate_cases
from typer.testing import CliRunner

from helpers import INFER, MODELS
from infer.cli import app
from infer.deploy import DeployError, deployer, report, state
from infer.deploy.deployer import DEFAULT_RESERVED_CONCURRENCY, DeployOptions, deploy, synthesise
from infer.event_sources import input_bucket_stem

RESULTS_QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/predictions"

# name -> (options, the checkov checks skipped in its template)
CASES = {
    "queue": (dict(queue=True), {"CKV_AWS_117", "CKV_AWS_116", "CKV_AWS_158", "CKV_AWS_173", "CKV_AWS_27", "CKV_AWS_18"}),
    "tuned-queue": (dict(queue=True, timeout_s=120, batch_size=500, batching_window_s=20, max_receives=8,
                         max_concurrency=4, reserved_concurrency=6, output=RESULTS_QUEUE),
                    {"CKV_AWS_117", "CKV_AWS_116", "CKV_AWS_158", "CKV_AWS_173", "CKV_AWS_27"}),
    "bucket": (dict(bucket="new", prefix="incoming/", suffixes=[".json", ".npy"], output="results/"),
               {"CKV_AWS_117", "CKV_AWS_158", "CKV_AWS_173", "CKV_AWS_27", "CKV_AWS_18"}),
    "both-with-key": (dict(queue=True, bucket="new", kms_key="create"), {"CKV_AWS_117", "CKV_AWS_18"}),
    # the zip route: SnapStart, so the mapping and the URL-less function are on the alias (test_snapstart reuses it)
    "no-url": (dict(queue=True, url=False, output="s3://team-results/iris/", package_format="zip", arch="x86_64",
                    python="3.12", reserved_concurrency=None),
               {"CKV_AWS_117", "CKV_AWS_116", "CKV_AWS_158", "CKV_AWS_173", "CKV_AWS_27", "CKV_AWS_115"}),
}


@pytest.fixture(scope="module")
def validated(synthesised, validate):
    return validate_cases(synthesised, validate, CASES)


def statements(result):
    return [s for p in of_type(result, "AWS::IAM::Policy").values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def flat(value) -> str:
    """A CloudFormation value with Fn::Join flattened and Ref/GetAtt written as <X>, for comparing ARNs."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        return value["Fn::Join"][0].join(flat(part) for part in value["Fn::Join"][1])
    if "Ref" in value:
        return f"<{value['Ref']}>"
    return f"<{'.'.join(value['Fn::GetAtt'])}>"


def input_bucket_name():
    return f"{input_bucket_stem('infer-iris')}-<AWS::AccountId>-<AWS::Region>"


@pytest.mark.parametrize("name", CASES)
def test_cdk_nag_cfn_lint_and_checkov_pass(validated, name):
    result, findings = validated[name]
    for plugin in result.report.get("pluginReports", []):
        assert plugin["violations"] == [], plugin["violations"]
    assert [(f["Rule"]["Id"], f["Message"]) for f in findings["cfn_lint"] if f["Level"] in ("Error", "Warning")] == []
    assert [(c["check_id"], c["resource"]) for c in findings["failed"]] == []
    skipped = {c["check_id"]: c["check_result"]["suppress_comment"] for c in findings["skipped"]}
    assert set(skipped) == CASES[name][1]
    assert all(len(reason) > 40 for reason in skipped.values()), skipped
    # cdk-nag's only acknowledged findings beyond the zip runtime's: the object grants under a prefix
    suppressed = {v["ruleName"] for plugin in result.report["pluginReports"] for v in plugin["suppressedViolations"]}
    assert all(rule == "AwsSolutions-L1" or rule.startswith("AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::")
               for rule in suppressed), suppressed


def test_queue_with_a_dead_letter_queue_and_a_mapping_that_reports_partial_failures(validated):
    result, t = case(validated, "queue")
    queues = of_type(result, "AWS::SQS::Queue")
    (main_id,) = [k for k, q in queues.items() if "RedrivePolicy" in q["Properties"]]
    (dlq_id,) = set(queues) - {main_id}
    main = queues[main_id]["Properties"]
    assert main["VisibilityTimeout"] == 6 * 30  # six times the function's timeout (AWS's advice)
    assert main["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}, "maxReceiveCount": 5}
    assert queues[dlq_id]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert all(q["Properties"]["SqsManagedSseEnabled"] is True for q in queues.values())
    policies = [p["Properties"] for p in of_type(result, "AWS::SQS::QueuePolicy").values()]
    assert len(policies) == 2 and all(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for p in policies for s in p["PolicyDocument"]["Statement"])
    function_id, _ = only(result, "AWS::Lambda::Function")
    _, mapping = only(result, "AWS::Lambda::EventSourceMapping")
    props = mapping["Properties"]
    assert props["FunctionName"] == {"Ref": function_id}  # the image route: no SnapStart, no alias
    # never more environments than the function may run (its reserved concurrency, 10 by default)
    assert (props["BatchSize"], props["FunctionResponseTypes"], props["ScalingConfig"]) == (
        10, ["ReportBatchItemFailures"], {"MaximumConcurrency": DEFAULT_RESERVED_CONCURRENCY})
    assert props["EventSourceArn"] == {"Fn::GetAtt": [main_id, "Arn"]} and "MaximumBatchingWindowInSeconds" not in props
    outputs = result.template["Outputs"]
    assert outputs["QueueUrl"]["Value"] == {"Ref": main_id} and outputs["DeadLetterQueueUrl"]["Value"] == {"Ref": dlq_id}
    (dead_letter_alarm,) = [a["Properties"] for a in of_type(result, "AWS::CloudWatch::Alarm").values()
                            if a["Properties"].get("Namespace") == "AWS/SQS"]
    assert (dead_letter_alarm["MetricName"], dead_letter_alarm["Threshold"], dead_letter_alarm["Dimensions"]) == (
        "ApproximateNumberOfMessagesVisible", 1, [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}])
    t.has_resource_properties("AWS::Lambda::Url", {"AuthType": "AWS_IAM"})  # the URL stays beside the queue


def test_the_mapping_may_only_touch_its_queue_and_results_go_to_a_secure_results_bucket(validated):
    result, _ = case(validated, "queue")
    main_id = next(k for k, q in of_type(result, "AWS::SQS::Queue").items() if "RedrivePolicy" in q["Properties"])
    results_id, results = next((k, b) for k, b in of_type(result, "AWS::S3::Bucket").items() if "LoggingConfiguration" in b["Properties"])
    by_resource = {flat(s["Resource"]): s["Action"] for s in statements(result)}
    assert by_resource[f"<{main_id}.Arn>"] == ["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl",
                                                "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    assert by_resource[f"arn:<AWS::Partition>:s3:::<{results_id}>/out/*"] == "s3:PutObject"
    assert len(by_resource) == 3  # and its own logs
    (function_id, function) = only(result, "AWS::Lambda::Function")
    assert flat(function["Properties"]["Environment"]["Variables"]["INFER_OUTPUT"]) == f"s3://<{results_id}>/out/"
    secure(results["Properties"])
    assert "BucketName" not in results["Properties"]  # CloudFormation names it
    (role,) = [r["Properties"] for r in of_type(result, "AWS::IAM::Role").values()]
    assert "receives and deletes messages of its queue" in role["Description"] and "out/" in role["Description"]


def secure(bucket):
    """What every bucket the stack creates has: no public access, encryption, versions, access logs."""
    assert bucket["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                        "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_tuned_queue_settings_reach_the_mapping_and_results_go_to_the_given_queue(validated):
    result, _ = case(validated, "tuned-queue")
    main = next(q for q in of_type(result, "AWS::SQS::Queue").values() if "RedrivePolicy" in q["Properties"])
    assert main["Properties"]["VisibilityTimeout"] == 6 * 120
    assert main["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 8
    _, mapping = only(result, "AWS::Lambda::EventSourceMapping")
    props = mapping["Properties"]
    assert (props["BatchSize"], props["MaximumBatchingWindowInSeconds"], props["ScalingConfig"]) == (
        500, 20, {"MaximumConcurrency": 4})
    assert not of_type(result, "AWS::S3::Bucket")  # results go to an existing queue: no bucket
    sends = [s for s in statements(result) if s["Action"] == "sqs:SendMessage"]
    assert [flat(s["Resource"]) for s in sends] == ["arn:<AWS::Partition>:sqs:eu-west-1:123456789012:predictions"]
    _, function = only(result, "AWS::Lambda::Function")
    assert function["Properties"]["Environment"]["Variables"]["INFER_OUTPUT"] == RESULTS_QUEUE
    assert function["Properties"]["ReservedConcurrentExecutions"] == 6


def test_bucket_prefix_notification_without_a_custom_resource(validated):
    result, t = case(validated, "bucket")
    buckets = of_type(result, "AWS::S3::Bucket")
    input_id, bucket = next((k, b) for k, b in buckets.items() if "NotificationConfiguration" in b["Properties"])
    props = bucket["Properties"]
    assert flat(props["BucketName"]) == input_bucket_name()
    secure(props)
    function_id, _ = only(result, "AWS::Lambda::Function")
    configurations = props["NotificationConfiguration"]["LambdaConfigurations"]
    assert [(c["Event"], c["Filter"]["S3Key"]["Rules"], c["Function"]) for c in configurations] == [
        ("s3:ObjectCreated:*", [{"Name": "prefix", "Value": "incoming/"}, {"Name": "suffix", "Value": suffix}],
         {"Fn::GetAtt": [function_id, "Arn"]}) for suffix in (".json", ".npy")]
    permission_id, permission = only(result, "AWS::Lambda::Permission")
    assert bucket["DependsOn"] == [permission_id]  # S3 checks its permission when the notification is set
    assert (permission["Properties"]["Principal"], flat(permission["Properties"]["SourceArn"])) == (
        "s3.amazonaws.com", f"arn:<AWS::Partition>:s3:::{input_bucket_name()}")
    assert not [r for r in result.template["Resources"].values() if r["Type"].startswith("Custom::")]
    assert len(of_type(result, "AWS::Lambda::Function")) == 1  # no notification handler function
    object_grants = {flat(s["Resource"]): s["Action"] for s in statements(result) if str(s["Action"]).startswith("s3:")}
    assert object_grants == {f"arn:<AWS::Partition>:s3:::{input_bucket_name()}/incoming/*": "s3:GetObject",
                             f"arn:<AWS::Partition>:s3:::{input_bucket_name()}/results/*": "s3:PutObject"}
    # S3 invokes asynchronously: the events that still fail after Lambda's retries go to a dead-letter queue
    t.has_resource_properties("AWS::Lambda::Function", {"DeadLetterConfig": {"TargetArn": Match.any_value()}})
    outputs = result.template["Outputs"]
    assert outputs["InputBucket"]["Value"] == {"Ref": input_id} and outputs["InputPrefix"]["Value"] == "incoming/"
    assert flat(outputs["Output"]["Value"]) == f"s3://{input_bucket_name()}/results/"
    logs = [b["Properties"] for b in buckets.values() if "LoggingConfiguration" not in b["Properties"]]
    assert len(logs) == 1 and logs[0]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}  # S3 delivers access logs to SSE-S3 only


def test_a_stack_key_encrypts_queues_and_buckets_and_the_role_may_use_it(validated):
    result, _ = case(validated, "both-with-key")
    key_id, _ = only(result, "AWS::KMS::Key")
    key_ref = {"Fn::GetAtt": [key_id, "Arn"]}
    assert all(q["Properties"]["KmsMasterKeyId"] == key_ref for q in of_type(result, "AWS::SQS::Queue").values())
    data = [b["Properties"] for b in of_type(result, "AWS::S3::Bucket").values() if "LoggingConfiguration" in b["Properties"]]
    assert len(data) == 1  # both sources share the input bucket; results under out/
    assert data[0]["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"BucketKeyEnabled": True, "ServerSideEncryptionByDefault": {"KMSMasterKeyID": key_ref, "SSEAlgorithm": "aws:kms"}}]
    uses = {a for s in statements(result) if s["Resource"] == key_ref
            for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert uses == {"kms:Decrypt", "kms:GenerateDataKey"}  # read the queue and objects; write results and dead letters
    assert len(of_type(result, "AWS::Lambda::EventSourceMapping")) == 1 and of_type(result, "AWS::Lambda::Permission")


def test_no_url_leaves_no_url_and_the_mapping_invokes_the_snapstart_alias(validated):
    result, t = case(validated, "no-url")
    assert not of_type(result, "AWS::Lambda::Url")
    assert "FunctionUrl" not in result.template["Outputs"] and "AuthType" not in result.template["Outputs"]
    alias_id, _ = only(result, "AWS::Lambda::Alias")
    _, mapping = only(result, "AWS::Lambda::EventSourceMapping")
    name = mapping["Properties"]["FunctionName"]  # CDK writes the alias as <function name>:live
    assert name["Fn::Join"][1][-1] == ":live" and {"Ref": alias_id} in name["Fn::Join"][1][0]["Fn::Select"][1]["Fn::Split"]
    assert "ScalingConfig" not in mapping["Properties"]  # no reserved concurrency: no cap asked for
    puts = [s for s in statements(result) if s["Action"] == "s3:PutObject"]
    assert [flat(s["Resource"]) for s in puts] == ["arn:<AWS::Partition>:s3:::team-results/iris/*"]
    assert not of_type(result, "AWS::S3::Bucket")


def test_image_context_carries_boto3_only_when_the_function_has_sources(validated, synthesised):
    def requirements(result):
        text = (result.outdir.parent / "package" / "context" / "requirements.txt").read_text()
        return {line.split("==")[0] for line in text.splitlines() if "==" in line}

    with_sources, _ = validated["queue"]
    assert {"numpy", "onnxruntime", "boto3", "botocore", "s3transfer", "jmespath", "urllib3",
            "python-dateutil", "six"} == requirements(with_sources)
    assert requirements(synthesised()) == {"numpy", "onnxruntime"}  # test_synth's default stack, from the cache


BAD = [
    (dict(batch_size=5), "--batch-size configure the queue source: add --queue"),
    (dict(queue=True, batch_size=11), "--batch-size above 10 needs --batching-window"),
    (dict(queue=True, batch_size=10_001, batching_window_s=1), "--batch-size must be from 1 to 10000"),
    (dict(queue=True, batching_window_s=301), "--batching-window must be from 0 to 300"),
    (dict(queue=True, max_receives=0), "--max-receives must be from 1 to 1000"),
    (dict(queue=True, max_concurrency=1), "--max-concurrency must be from 2 to 1000"),
    (dict(queue=True, max_concurrency=20), r"--max-concurrency \(20\) cannot exceed --reserved-concurrency \(10\)"),
    (dict(queue=True, reserved_concurrency=1), "needs at least 2 environments"),
    (dict(bucket="my-existing-bucket"), "--bucket takes new .*custom resource"),
    (dict(prefix="in/"), "--prefix configure the bucket source: add --bucket new"),
    (dict(bucket="new", prefix="data/", output="data/results/"), "overlaps --prefix data/ in the same bucket"),
    (dict(bucket="new", prefix="", output="out/"), "overlaps --prefix \\(the whole bucket\\)"),
    (dict(bucket="new", output="in"), "--output in/ overlaps --prefix in/"),
    (dict(output="s3://b-1/x/"), "--output is where queue and bucket results go"),
    (dict(queue=True, output="s3://Bad_Bucket/x/"), "--output s3://BUCKET/PREFIX/ needs a bucket name"),
    (dict(queue=True, output="https://example.com/queue"), "--output takes s3://BUCKET/PREFIX/, an SQS queue URL"),
    (dict(queue=True, environment={"INFER_OUTPUT": "s3://b-1/x/"}), "give --output instead"),
    (dict(url=False, public=True), "--no-url leaves no function URL"),
    (dict(url=False, invoke_principals=["123456789012"]), "--no-url leaves no function URL"),
    (dict(bucket="new", suffixes=[".json", ".json"]), "--suffix: each non-empty suffix once"),
]


@pytest.mark.parametrize("options, message", BAD)
def test_bad_combinations_are_refused_in_one_line_before_packaging(tmp_path, options, message):
    with pytest.raises(DeployError, match=message) as refused:
        synthesise(MODELS / "iris.onnx", DeployOptions(**options), tmp_path / "out", log=lambda _: None)
    assert refused.value.code == 2 and "\n" not in str(refused.value)
    assert not (tmp_path / "out").exists()


def test_the_cli_passes_the_source_options_on_and_refuses_bad_ones(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    base = ["deploy", str(MODELS / "iris.onnx"), "--synth-only", "-o", str(tmp_path / "out")]
    for extra, message in [(["--queue", "--batch-size", "50"], "error: --batch-size above 10 needs --batching-window"),
                           (["--bucket", "existing"], "error: --bucket takes new"),
                           (["--no-url", "--cors-origin", "https://a.example"], "error: --no-url leaves no function URL")]:
        result = CliRunner().invoke(app, base + extra)
        assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "out").exists()
    seen = []

    def stop(model, options, out, log):
        seen.append(options)
        raise DeployError("stopped before packaging", 1)

    monkeypatch.setattr(deployer, "synthesise", stop)
    args = ["--queue", "--batch-size", "100", "--batching-window", "5", "--max-receives", "7", "--max-concurrency", "3",
            "--bucket", "new", "--prefix", "incoming/", "--suffix", ".json", "--suffix", ".csv", "--output", "done/",
            "--no-url"]
    assert CliRunner().invoke(app, base + args).exit_code == 1
    options = seen.pop()
    assert (options.queue, options.batch_size, options.batching_window_s, options.max_receives, options.max_concurrency,
            options.bucket, options.prefix, options.suffixes, options.output, options.url) == (
        True, 100, 5, 7, 3, "new", "incoming/", [".json", ".csv"], "done/", False)
    # the same settings from infer.toml's stage
    (tmp_path / "infer.toml").write_text('[environments.batch]\nqueue = true\nbatch_size = 100\nbatching_window = 5\n'
                                         'max_receives = 7\nbucket = "new"\nprefix = "incoming/"\nsuffixes = [".json"]\n'
                                         'output = "done/"\nurl = false\nsnapstart = false\n')
    assert CliRunner().invoke(app, base + ["--stage", "batch"]).exit_code == 1
    staged = seen.pop()
    assert (staged.queue, staged.batch_size, staged.batching_window_s, staged.max_receives, staged.bucket, staged.prefix,
            staged.suffixes, staged.output, staged.url, staged.snapstart) == (
        True, 100, 5, 7, "new", "incoming/", [".json"], "done/", False, False)
    (tmp_path / "infer.toml").write_text('bucket = "mine"\n')
    refused = CliRunner().invoke(app, base)
    assert refused.exit_code == 2 and "bucket must be one of new" in refused.stderr


def test_deploy_records_the_queue_bucket_and_output_for_json(tmp_path):
    def cdk(argv, log):
        if argv[1] == "deploy":
            path = argv[argv.index("--outputs-file") + 1]
            with open(path, "w") as f:
                json.dump({argv[2]: {"FunctionName": "infer-iris-fn", "LogGroupName": "/infer/iris",
                                     "QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
                                     "DeadLetterQueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq",
                                     "InputBucket": "infer-iris-b", "Output": "s3://infer-iris-b/out/"}}, f)

    outputs = deploy(MODELS / "iris.onnx", DeployOptions(region="eu-west-1", queue=True, bucket="new", url=False),
                     tmp_path / "d", log=lambda _: None, runner=cdk, checker=lambda *a, **k: [])
    assert (outputs.url, outputs.auth) == ("", "")  # --no-url: the stack has no FunctionUrl output
    answer = report.deploy_json("iris", outputs, state.lookup("iris"))
    assert answer["queue"] == {"url": "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
                               "dead_letter_queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq",
                               "max_receives": 5, "batch_size": 10, "batching_window_s": 0, "max_concurrency": 10}
    assert answer["bucket"] == {"name": "infer-iris-b", "prefix": "in/", "suffixes": []}
    assert answer["output"] == "s3://infer-iris-b/out/" and answer["function_url"] is False
    assert (answer["snapstart"], answer["qualifier"], answer["bench"]) == (False, None, "infer bench --function infer-iris-fn")
    requirements = (tmp_path / "d" / "package" / "context" / "requirements.txt").read_text()
    assert "boto3==" in requirements  # the image route: deploy asked the package for boto3


def test_a_queue_and_bucket_stack_deploys_to_a_local_aws_api_and_is_read_back(moto_endpoint, tmp_path):
    """The real CDK CLI against moto's server mode: the queue (redrive, 6x visibility), the mapping, the input
    bucket under its name fixed in advance and INFER_OUTPUT are created, read back into the record and --json
    without stack outputs (moto returns none), and the buckets outlive `infer destroy`. Without SnapStart: moto's
    CloudFormation cannot resolve an alias as a Lambda permission's FunctionName. moto neither runs the function
    nor applies the bucket's NotificationConfiguration, so no event flows here."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=10)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=moto_endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "no-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"), INFER_CONFIG_DIR=str(tmp_path / "config"))
    for name in ("iris.onnx", "iris.json"):
        shutil.copy2(MODELS / name, tmp_path / name)

    def run(*argv):
        done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                              stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    run("cdk", "bootstrap", "aws://123456789012/us-east-1")
    answer = json.loads(run(INFER, "deploy", "iris.onnx", "--format", "zip", "--no-snapstart", "--queue",
                            "--max-receives", "4", "--bucket", "new", "--region", "us-east-1", "-o", "out", "--json").stdout)

    def client(service):
        return boto3.client(service, endpoint_url=moto_endpoint, region_name="us-east-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing")

    bucket = answer["bucket"]["name"]
    assert bucket == f"{input_bucket_stem('infer-iris')}-123456789012-us-east-1"
    assert answer["output"] == f"s3://{bucket}/out/"
    assert client("s3").head_bucket(Bucket=bucket)
    queue_name = answer["queue"]["url"].rsplit("/", 1)[1]
    sqs = client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=queue_name)["QueueUrl"],
                                          AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "180" and json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 4
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].endswith(
        answer["queue"]["dead_letter_queue_url"].rsplit("/", 1)[1])
    lambda_client = client("lambda")
    (mapping,) = lambda_client.list_event_source_mappings()["EventSourceMappings"]
    assert mapping["EventSourceArn"].endswith(":" + queue_name) and mapping["FunctionResponseTypes"] == [
        "ReportBatchItemFailures"]
    variables = lambda_client.get_function_configuration(FunctionName=answer["function_name"])["Environment"]["Variables"]
    assert variables["INFER_OUTPUT"] == answer["output"]

    destroyed = run(INFER, "destroy", "iris")
    assert f"kept with their objects: s3://{bucket}" in destroyed.stdout
    assert client("s3").head_bucket(Bucket=bucket)  # RemovalPolicy RETAIN: the user's objects stay


def test_the_deploy_summary_names_the_queue_and_says_there_is_no_url(monkeypatch, tmp_path):
    from infer.deploy.cdk_cli import Outputs

    def deployed(model, options, out, log, confirm):
        outputs = Outputs("", "infer-iris-fn", "/infer/iris", "", queue_url="https://sqs.eu-west-1.amazonaws.com/1/q",
                          dead_letter_queue_url="https://sqs.eu-west-1.amazonaws.com/1/dlq", output="s3://r-1/out/")
        state.save("iris", {"stack": "infer-iris", **deployer.deployment_facts(options, outputs)})
        return outputs

    monkeypatch.setattr(deployer, "deploy", deployed)
    result = CliRunner().invoke(app, ["deploy", str(MODELS / "iris.onnx"), "--queue", "--no-url"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "No function URL (--no-url): send work to the queue or the bucket below, or invoke the function directly",
        "  function infer-iris-fn, logs /infer/iris",
        "  queue https://sqs.eu-west-1.amazonaws.com/1/q (dead letters: https://sqs.eu-west-1.amazonaws.com/1/dlq)",
        "  results s3://r-1/out/",
        "  measure: infer bench --function infer-iris-fn"]


@pytest.mark.parametrize("given, kind, where", [
    ("s3://team-results/iris/", "s3", ("team-results", "iris/")), ("s3://team-results/iris", "s3", ("team-results", "iris/")),
    (RESULTS_QUEUE, "sqs", (RESULTS_QUEUE, "eu-west-1"))])
def test_what_deploy_writes_into_infer_output_the_runtime_reads_the_same_way(given, kind, where):
    from infer.event_sources import parse_output
    from infer.runtime.contract import output_target

    output = parse_output(given)
    value = output.queue_url if output.kind == "sqs" else f"s3://{output.bucket}/{output.prefix}"
    assert output_target(value) == (kind, *where)
