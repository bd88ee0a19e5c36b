"""Deploy orchestration without AWS: the exact CDK CLI invocations, the outputs file, the saved URL."""

import json
import subprocess
import sys

import pytest

from helpers import INFER, MODELS
from infer.client import resolve
from infer.deploy import DeployError, state
from infer.deploy.cdk_cli import deploy_argv, destroy_argv, parse_outputs, run_cdk
from infer.deploy.deployer import DeployOptions, deploy, destroy
from infer.deploy.prerequisites import Missing

URL = "https://abc123def.lambda-url.eu-west-1.on.aws/"


class FakeCdk:
    """Stands in for the CDK CLI process: records each argv and writes the outputs file a deploy writes."""

    def __init__(self, outputs=None):
        self.calls = []
        self.outputs = outputs

    def __call__(self, argv, log):
        self.calls.append(argv)
        if argv[1] == "deploy":
            path = argv[argv.index("--outputs-file") + 1]
            with open(path, "w") as f:
                json.dump(self.outputs if self.outputs is not None else {argv[2]: {
                    "FunctionUrl": URL, "FunctionName": "infer-iris-fn", "LogGroupName": "/infer/iris",
                    "AuthType": "AWS_IAM"}}, f)


def test_deploy_runs_the_cdk_cli_on_the_synthesised_assembly(tmp_path):
    cdk = FakeCdk()
    outputs = deploy(MODELS / "iris.onnx", DeployOptions(region="eu-west-1", profile="ml", package_format="zip",
                                                         arch="x86_64"),
                     tmp_path / "d", log=lambda _: None, runner=cdk, checker=lambda *a, **k: [])
    assembly = tmp_path / "d" / "cdk.out"
    assert cdk.calls == [["cdk", "deploy", "infer-iris", "--app", str(assembly), "--require-approval", "never",
                          "--outputs-file", str(tmp_path / "d" / "outputs.json"), "--progress", "events", "--ci",
                          "--profile", "ml"]]
    assert (assembly / "infer-iris.template.json").is_file()
    assert outputs.url == URL and outputs.auth == "AWS_IAM"
    saved = state.lookup("iris")
    assert saved["url"] == URL and saved["region"] == "eu-west-1" and saved["assembly"] == str(assembly)
    # infer predict iris signs for the saved region, with the profile it was deployed with
    assert resolve("iris") == (URL, True, "eu-west-1", "ml")
    assert resolve("iris", profile="other") == (URL, True, "eu-west-1", "other")

    destroy("iris", log=lambda _: None, runner=cdk)
    assert cdk.calls[-1] == ["cdk", "destroy", "infer-iris", "--app", str(assembly), "--force", "--ci",
                             "--profile", "ml"]
    assert state.lookup("iris") is None


def test_missing_prerequisites_stop_before_the_cdk_cli(tmp_path):
    cdk = FakeCdk()
    missing = [Missing("the AWS CDK CLI (cdk)", "install it with npm install -g aws-cdk")]
    with pytest.raises(DeployError, match="missing:\n  - the AWS CDK CLI"):
        deploy(MODELS / "iris.onnx", DeployOptions(), tmp_path / "d", log=lambda _: None, runner=cdk,
               checker=lambda *a, **k: missing)
    assert cdk.calls == []


def test_outputs_file_is_parsed_or_refused():
    text = json.dumps({"infer-x": {"FunctionUrl": URL, "FunctionName": "f", "LogGroupName": "g", "AuthType": "NONE"}})
    assert parse_outputs(text, "infer-x").auth == "NONE"
    with pytest.raises(DeployError, match="no 'infer-x'"):
        parse_outputs(json.dumps({"other": {}}), "infer-x")
    with pytest.raises(DeployError, match="'FunctionName'"):
        parse_outputs(json.dumps({"infer-x": {}}), "infer-x")
    # a stack deployed with --no-url has no FunctionUrl (nor AuthType), but its queue and results
    no_url = parse_outputs(json.dumps({"infer-x": {"FunctionName": "f", "LogGroupName": "g", "QueueUrl": "q",
                                                   "Output": "s3://b/out/"}}), "infer-x")
    assert (no_url.url, no_url.auth, no_url.queue_url, no_url.output) == ("", "", "q", "s3://b/out/")
    with pytest.raises(DeployError):
        parse_outputs("not json", "infer-x")


def test_argument_lists_without_a_profile(tmp_path):
    assert deploy_argv(["cdk"], tmp_path, "s", tmp_path / "o.json")[-1] == "--ci"
    assert destroy_argv(["npx", "cdk"], tmp_path, "s") == ["npx", "cdk", "destroy", "s", "--app", str(tmp_path),
                                                           "--force", "--ci"]


def test_a_failing_cdk_cli_is_one_clear_error(tmp_path):
    script = "import sys; print('Stack infer-x failed: ROLLBACK_COMPLETE'); sys.exit(3)"
    lines = []
    with pytest.raises(DeployError, match=r"`cdk -c` failed \(exit 3\): Stack infer-x failed: ROLLBACK_COMPLETE"):
        run_cdk([sys.executable, "-c", script], lines.append)
    assert lines == ["  cdk: Stack infer-x failed: ROLLBACK_COMPLETE"]
    with pytest.raises(DeployError, match="npm install -g aws-cdk"):
        run_cdk([str(tmp_path / "no-cdk-here"), "deploy"], lines.append)


def test_destroy_and_predict_of_unknown_names(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "INFER_CONFIG_DIR": str(tmp_path), "AWS_EC2_METADATA_DISABLED": "true"}
    for args, message in [(["destroy", "nothing"], "no function named 'nothing'"),
                          (["predict", "nothing", "-d", "[[1]]"], "neither an http(s) URL nor a function deployed")]:
        result = subprocess.run([INFER, *args], capture_output=True, text=True, env=env)
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_values_aws_would_reject_are_refused_before_building():
    for options, message in [(DeployOptions(tags={"aws:team": "x"}), "aws:"),
                             (DeployOptions(environment={"AWS_REGION": "x"}), "reserved by Lambda"),
                             (DeployOptions(environment={"_HANDLER": "x"}), "reserved by Lambda"),
                             (DeployOptions(environment={"BIG": "x" * 5000}), "Lambda allows 4096 in all")]:
        with pytest.raises(DeployError, match=message):
            options.validate()


def test_jsii_node_version_banners_are_silenced_unless_the_user_set_them():
    from infer.deploy.cdk_cli import quiet_node_warnings

    environ: dict[str, str] = {}
    quiet_node_warnings(environ)
    assert "20" in environ["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"].split(",")
    assert "22" in environ["JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION"].split(",")
    own = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "18"}
    quiet_node_warnings(own)
    assert own["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] == "18"
