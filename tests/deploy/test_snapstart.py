"""`infer deploy --snapstart/--no-snapstart`: SnapStart on a published version behind the alias `live` (the zip
route's default), the URL and the sources on that alias, the qualifier to bench recorded, and AWS's rules
(managed runtimes from Python 3.12, no container images, no provisioned concurrency, at most 512 MB of
ephemeral storage) enforced in one line before anything is packaged."""

import pytest
from stacks import of_type
from stacks import only as the
from typer.testing import CliRunner

from helpers import MODELS
from infer.cli import app
from infer.deploy import DeployError
from infer.deploy.cdk_cli import Outputs
from infer.deploy.deployer import DeployOptions, deployment_facts, synthesise

ZIP = dict(package_format="zip", arch="x86_64", python="3.12")  # test_synth's and test_security's zip stack (cached)
NO_URL_QUEUE = dict(queue=True, url=False, output="s3://team-results/iris/", package_format="zip", arch="x86_64",
                    python="3.12", reserved_concurrency=None)  # test_deploy_sources' "no-url" stack


def test_snapstart_on_the_published_version_and_the_url_on_the_alias(synthesised):
    result = synthesised(**ZIP)
    function_id, function = the(result, "AWS::Lambda::Function")
    assert function["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert function["Properties"]["Environment"]["Variables"]["INFER_LOAD_STRATEGY"] == "eager"  # into the snapshot
    version_id, version = the(result, "AWS::Lambda::Version")
    assert version["Properties"]["FunctionName"] == {"Ref": function_id}
    alias_id, alias = the(result, "AWS::Lambda::Alias")
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
    assert "ProvisionedConcurrencyConfig" not in alias["Properties"]
    _, url = the(result, "AWS::Lambda::Url")
    assert url["Properties"]["Qualifier"] == "live"
    assert result.template["Outputs"]["Qualifier"]["Value"] == "live"


def test_no_snapstart_on_the_zip_route_puts_the_url_on_the_function(synthesised):
    result = synthesised(**ZIP, snapstart=False)
    function_id, function = the(result, "AWS::Lambda::Function")
    assert "SnapStart" not in function["Properties"]
    assert not of_type(result, "AWS::Lambda::Alias") and "Qualifier" not in result.template["Outputs"]
    _, url = the(result, "AWS::Lambda::Url")
    assert url["Properties"]["TargetFunctionArn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert "Qualifier" not in url["Properties"]
    # no snapshot to load into: the load strategy the cold-start sweep recommends for the model's size
    assert function["Properties"]["Environment"]["Variables"]["INFER_LOAD_STRATEGY"] != "eager"


def test_images_have_no_snapstart_and_no_alias(synthesised):
    result = synthesised()  # test_synth's default stack
    _, function = the(result, "AWS::Lambda::Function")
    assert "SnapStart" not in function["Properties"] and not of_type(result, "AWS::Lambda::Alias")


def test_the_queue_invokes_the_snapshotted_alias(synthesised):
    result = synthesised(**NO_URL_QUEUE)
    alias_id, _ = the(result, "AWS::Lambda::Alias")
    _, function = the(result, "AWS::Lambda::Function")
    assert function["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    _, mapping = the(result, "AWS::Lambda::EventSourceMapping")
    name = mapping["Properties"]["FunctionName"]["Fn::Join"][1]
    assert name[-1] == ":live" and {"Ref": alias_id} in name[0]["Fn::Select"][1]["Fn::Split"]


def test_the_record_says_which_qualifier_to_bench():
    outputs = Outputs("https://x.lambda-url.eu-west-1.on.aws/", "infer-iris-ModelFunction", "/aws/lambda/x", "AWS_IAM")
    facts = deployment_facts(DeployOptions(**ZIP), outputs)
    assert (facts["snapstart"], facts["qualifier"]) == (True, "live")
    assert facts["bench"] == "infer bench --function infer-iris-ModelFunction --qualifier live"
    image = deployment_facts(DeployOptions(), outputs)
    assert (image["snapstart"], image["qualifier"], image["bench"]) == (False, None, "infer bench --function infer-iris-ModelFunction")
    provisioned = deployment_facts(DeployOptions(**ZIP, provisioned_concurrency=2), outputs)
    assert (provisioned["snapstart"], provisioned["qualifier"]) == (False, "live")  # the alias provisioned concurrency needs


REFUSED = [
    (dict(snapstart=True), "--snapstart is for --format zip: AWS: SnapStart works with Lambda's managed runtimes "
                           r"\(Python 3.12 and newer\); OS-only runtimes and container images are not supported"),
    (dict(ZIP, snapstart=True, provisioned_concurrency=2), "exclude each other .*SnapStart does not support provisioned"),
    (dict(ZIP, ephemeral_storage_mb=1024), r"SnapStart \(the zip route's default\) allows at most 512 MB of --ephemeral"),
    (dict(ZIP, python="3.11"), r"SnapStart \(the zip route default\) needs --python 3.12 or newer.*--no-snapstart"),
    (dict(ZIP, python="3.11", snapstart=True), r"^SnapStart needs --python 3.12 or newer"),
]


@pytest.mark.parametrize("options, message", REFUSED)
def test_what_snapstart_does_not_support_is_refused_in_one_line(tmp_path, options, message):
    with pytest.raises(DeployError, match=message) as refused:
        synthesise(MODELS / "iris.onnx", DeployOptions(**options), tmp_path / "out", log=lambda _: None)
    assert refused.value.code == 2 and "\n" not in str(refused.value)
    assert not (tmp_path / "out").exists()


def test_without_snapstart_the_zip_route_takes_what_snapstart_refuses():
    for options in (dict(ZIP, python="3.11"), dict(ZIP, ephemeral_storage_mb=1024), dict(ZIP, provisioned_concurrency=2)):
        DeployOptions(**options, snapstart=False).validate()
    DeployOptions(**ZIP, provisioned_concurrency=2).validate()  # the default gives way to provisioned concurrency


def test_the_cli_refuses_snapstart_for_images(tmp_path):
    result = CliRunner().invoke(app, ["deploy", str(MODELS / "iris.onnx"), "--synth-only", "-o", str(tmp_path / "out"),
                                      "--snapstart"])
    assert result.exit_code == 2 and result.stderr.startswith("error: --snapstart is for --format zip: AWS: SnapStart")
    assert result.stderr.count("\n") == 1 and not (tmp_path / "out").exists()
