"""Each prerequisite removed in turn is named with how to get it; AWS is stubbed (botocore's Stubber)."""

import botocore.session
from botocore.stub import Stubber

from infer.deploy.prerequisites import BOOTSTRAP_PARAMETER, check

ALL_TOOLS = {"node": "/usr/bin/node", "cdk": "/usr/bin/cdk", "docker": "/usr/bin/docker", "podman": "/usr/bin/podman"}


def which_from(tools):
    return lambda name: tools.get(name)


class StubbedSession:
    """A real botocore session with credentials from the environment, whose SSM client is stubbed."""

    def __init__(self, bootstrap: bool, region="eu-west-1"):
        self.session = botocore.session.Session()
        self.bootstrap = bootstrap
        self.region = region

    def get_credentials(self):
        return self.session.get_credentials()

    def get_config_variable(self, name):
        return self.region if name == "region" else None

    def create_client(self, service, region_name):
        client = self.session.create_client(service, region_name=region_name)
        stubber = Stubber(client)
        if self.bootstrap:
            stubber.add_response("get_parameter", {"Parameter": {"Name": BOOTSTRAP_PARAMETER, "Value": "27"}},
                                 {"Name": BOOTSTRAP_PARAMETER})
        else:
            stubber.add_client_error("get_parameter", "ParameterNotFound", http_status_code=400)
        stubber.activate()
        return client


def with_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")


def test_everything_present(monkeypatch):
    with_credentials(monkeypatch)
    assert check("image", "eu-west-1", environ={}, which=which_from(ALL_TOOLS), session=StubbedSession(True)) == []


def test_no_cdk_cli(monkeypatch):
    with_credentials(monkeypatch)
    missing = check("zip", "eu-west-1", environ={}, which=which_from({"node": "x"}), session=StubbedSession(True))
    assert [str(m) for m in missing] == ["the AWS CDK CLI (cdk): install it with npm install -g aws-cdk (needs Node.js 20+)"]


def test_no_container_builder(monkeypatch):
    with_credentials(monkeypatch)
    tools = {"node": "/usr/bin/node", "cdk": "/usr/bin/cdk", "podman": "/usr/bin/podman"}
    (missing,) = check("image", "eu-west-1", environ={}, which=which_from(tools), session=StubbedSession(True))
    assert str(missing) == "a container builder (docker not found): set CDK_DOCKER=podman"
    (missing,) = check("image", "eu-west-1", environ={}, which=which_from({"node": "x", "cdk": "x"}), session=StubbedSession(True))
    assert "install Docker, or podman or finch" in str(missing)
    assert check("image", "eu-west-1", environ={"CDK_DOCKER": "podman"}, which=which_from(tools),
                 session=StubbedSession(True)) == []
    assert check("zip", "eu-west-1", environ={}, which=which_from({"node": "x", "cdk": "x"}), session=StubbedSession(True)) == []


def test_no_credentials():
    missing = check("zip", "eu-west-1", environ={}, which=which_from(ALL_TOOLS))  # a real session: nothing found
    assert [m.what for m in missing] == ["AWS credentials"]
    assert "aws configure" in missing[0].how


def test_no_region(monkeypatch):
    with_credentials(monkeypatch)
    missing = check("zip", None, environ={}, which=which_from(ALL_TOOLS))
    assert [m.what for m in missing] == ["an AWS region"]


def test_not_bootstrapped(monkeypatch):
    with_credentials(monkeypatch)
    (missing,) = check("zip", "eu-west-1", environ={}, which=which_from(ALL_TOOLS), session=StubbedSession(False))
    assert str(missing) == ("the CDK bootstrap stack in eu-west-1: run cdk bootstrap aws://ACCOUNT/eu-west-1 once "
                            "(with the same credentials)")


def test_missing_node_is_named_with_the_fix(monkeypatch):
    with_credentials(monkeypatch)
    (missing,) = check("zip", "eu-west-1", environ={}, which=which_from({"cdk": "x"}), session=StubbedSession(True))
    assert "Node.js" in missing.what and "apt-get install nodejs" in missing.how
