"""A change that lets more callers in (a public URL, a new invoke principal) is asked about before deploying,
refused without a terminal unless --yes; `infer deploy --diff` runs `cdk diff` and deploys nothing."""

import json

import pytest
from test_security import CASES
from typer.testing import CliRunner

from helpers import MODELS
from infer.cli import app
from infer.deploy import DeployError, access, deployer
from infer.deploy.deployer import DeployOptions


@pytest.fixture
def case(synthesised):
    return lambda name: synthesised(**CASES[name][0])


def test_widening_is_a_public_url_or_a_new_principal(case):
    default, public = case("default").template, case("flags").template
    one, two = case("alias-dlq").template, case("private").template  # one principal; two (the first the same)
    assert access.widened(None, default) == [] and access.widened(public, default) == []
    assert access.widened(default, public) == access.widened(None, public) == [
        "the function URL becomes public (AuthType NONE): anyone with the URL can call it"]
    assert access.widened(public, public) == []
    assert access.widened(one, two) == ["arn:aws:iam::210987654321:role/ml/caller may newly invoke the function"]
    assert len(access.widened(default, two)) == 2 and access.widened(two, one) == []


class Cdk:
    def __init__(self):
        self.calls = []

    def __call__(self, argv, log):
        self.calls.append(argv)
        log("  cdk: Resources")
        log("  cdk: [~] AWS::Lambda::Url ModelFunctionFunctionUrl")


@pytest.fixture
def public_synth(case, monkeypatch):
    """deploy() with the synthesis taken from the session's cache (the public "flags" case)."""
    monkeypatch.setattr(deployer, "synthesise", lambda model, options, out, log: case("flags"))
    return case("default").template


def test_deploy_asks_before_widening_and_stops_when_refused(public_synth, tmp_path):
    cdk, asked = Cdk(), []
    run = dict(log=lambda _: None, runner=cdk, checker=lambda *a, **k: [],
               template_reader=lambda stack, region, profile: public_synth)
    with pytest.raises(DeployError, match=r"not deployed: this change widens access to infer-iris \(the function URL "
                                          r"becomes public.*pass --yes") as refused:
        deployer.deploy(MODELS / "iris.onnx", DeployOptions(public=True), tmp_path, **run)
    assert refused.value.code == 2 and cdk.calls == []
    with pytest.raises(DeployError, match="outputs file"):  # confirmed: the CDK CLI ran (and wrote no outputs)
        deployer.deploy(MODELS / "iris.onnx", DeployOptions(public=True), tmp_path,
                        confirm=lambda reasons: asked.append(reasons) or True,
                        reader=lambda *a: (_ for _ in ()).throw(DeployError("no outputs file")), **run)
    assert [argv[1] for argv in cdk.calls] == ["deploy"] and len(asked) == 1


def test_diff_runs_cdk_diff_and_nothing_else(public_synth, tmp_path):
    cdk = Cdk()
    template = deployer.diff(MODELS / "iris.onnx", DeployOptions(profile="ml"), tmp_path, log=lambda _: None,
                             runner=cdk, checker=lambda *a, **k: [])
    assert cdk.calls == [["cdk", "diff", "infer-iris", "--app", str(template.parent), "--profile", "ml"]]


def test_the_cli_refuses_widening_without_a_terminal_unless_yes(monkeypatch, tmp_path):
    answers = []

    def fake_deploy(model, options, out, log, confirm):
        answers.append(confirm(["the function URL becomes public"]))
        raise DeployError("stopped", 1)

    monkeypatch.setattr(deployer, "deploy", fake_deploy)
    args = ["deploy", str(MODELS / "iris.onnx"), "--public"]
    CliRunner().invoke(app, args)  # CliRunner's stdin is not a terminal
    CliRunner().invoke(app, [*args, "--yes"])
    assert answers == [False, True]


def test_the_cli_diff_prints_the_cdk_lines_as_json(monkeypatch, tmp_path):
    def fake_diff(model, options, out, log):
        log("[1/2] packaging")
        Cdk()(["cdk", "diff"], log)
        return tmp_path / "infer-iris.template.json"

    monkeypatch.setattr(deployer, "diff", fake_diff)
    result = CliRunner().invoke(app, ["deploy", str(MODELS / "iris.onnx"), "--diff", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["diff"] == ["Resources", "[~] AWS::Lambda::Url ModelFunctionFunctionUrl"]
    both = CliRunner().invoke(app, ["deploy", str(MODELS / "iris.onnx"), "--diff", "--synth-only", "-o", str(tmp_path)])
    assert both.exit_code == 2 and "not both" in both.stderr
