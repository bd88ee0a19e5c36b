"""Deploy settings from infer.toml or pyproject.toml's [tool.infer], named environments (--stage), INFER_*
variables, and flags: file < environment < flag; bad keys and values refused naming the file and the key."""

import pytest
from typer.testing import CliRunner

from helpers import MODELS
from infer.cli import app
from infer.deploy import DeployError, deployer

INFER_TOML = """
memory = 1024
tags = { team = "ml" }

[environments.prod]
region = "eu-west-1"
memory = 3008
public = false
reserved_concurrency = 20
subnet_ids = ["subnet-0123456789abcdef0"]
vpc_id = "vpc-0123456789abcdef0"

[environments.dev]
region = "us-east-1"
format = "zip"
reserved_concurrency = false
monitoring = false
"""


@pytest.fixture
def seen(monkeypatch, tmp_path):
    """Run `infer deploy --synth-only` in tmp_path, stopping before packaging; returns the options it built."""
    options = []

    def stop(model, chosen, out, log):
        options.append(chosen)
        raise DeployError("stopped before packaging", 1)

    monkeypatch.setattr(deployer, "synthesise", stop)
    monkeypatch.chdir(tmp_path)
    for name in ("INFER_REGION", "INFER_PROFILE", "INFER_NAME"):
        monkeypatch.delenv(name, raising=False)

    def deploy(*args, env=None):
        result = CliRunner().invoke(app, ["deploy", str(MODELS / "iris.onnx"), "--synth-only", "-o", "out", *args],
                                    env=env)
        if result.exit_code != 1:
            return result
        return options.pop()

    return deploy


def test_a_stage_overrides_the_top_level_and_flags_override_both(seen, tmp_path):
    (tmp_path / "infer.toml").write_text(INFER_TOML)
    top = seen()
    assert (top.memory_mb, top.region, top.tags, top.package_format) == (1024, None, {"team": "ml"}, "image")
    prod = seen("--stage", "prod")
    assert (prod.memory_mb, prod.region, prod.public, prod.reserved_concurrency) == (3008, "eu-west-1", False, 20)
    assert (prod.vpc_id, prod.subnet_ids) == ("vpc-0123456789abcdef0", ["subnet-0123456789abcdef0"])
    flagged = seen("--stage", "prod", "--memory", "4096", "--region", "eu-central-1", "--no-reserved-concurrency")
    assert (flagged.memory_mb, flagged.region, flagged.reserved_concurrency) == (4096, "eu-central-1", None)
    dev = seen("--stage", "dev")
    assert (dev.package_format, dev.reserved_concurrency, dev.region, dev.monitoring) == ("zip", None, "us-east-1", False)
    assert prod.monitoring and seen("--stage", "dev", "--monitoring").monitoring
    assert seen("--stage", "dev", "--reserved-concurrency", "3").reserved_concurrency == 3


def test_infer_variables_beat_the_file_and_flags_beat_them(seen, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.infer]\nregion = "eu-west-1"\n'
                                             'name = "from-file"\n')
    assert (seen().region, seen().name) == ("eu-west-1", "from-file")
    variables = {"INFER_REGION": "ap-south-1", "INFER_NAME": "from-env", "AWS_REGION": "us-west-2"}
    by_env = seen(env=variables)
    assert (by_env.region, by_env.name) == ("ap-south-1", "from-env")  # AWS_REGION stays below the file
    by_flag = seen("--region", "sa-east-1", env=variables)
    assert (by_flag.region, by_flag.name) == ("sa-east-1", "from-env")


@pytest.mark.parametrize("text, message", [
    ("memry = 1024\n", "infer.toml: unknown key 'memry'; allowed: name, region"),
    ("[environments.prod]\nmemory = \"big\"\n",
     "infer.toml: [environments.prod] memory must be a whole number from 128 to 10240, "
     "or \"tuned\" (infer tune's recommendation); got 'big'"),
    ("arch = \"arm\"\n", "infer.toml: arch must be one of arm64, x86_64; got 'arm'"),
    ("public = \"yes\"\n", "infer.toml: public must be true or false; got 'yes'"),
    ("tags = [\"a\"]\n", "infer.toml: tags must be a table of strings"),
    ("memory = \n", "infer.toml: not valid TOML"),
    ("[environments.dev]\n", "infer.toml has no [environments.prod] (it has: dev)"),
])
def test_bad_files_are_refused_naming_the_file_the_key_and_what_is_allowed(seen, tmp_path, text, message):
    (tmp_path / "infer.toml").write_text(text)
    result = seen("--stage", "prod")
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and str(tmp_path / "infer.toml") in result.stderr


def test_a_stage_without_a_file_is_refused(seen):
    result = seen("--stage", "prod")
    assert result.exit_code == 2 and "--stage prod needs infer.toml" in result.stderr


def test_list_remote_looks_where_the_stage_deploys(monkeypatch, tmp_path):
    from infer.deploy import listing

    looked = []
    monkeypatch.setattr(listing, "remote", lambda region, profile: looked.append((region, profile)) or [])
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INFER_REGION", raising=False)
    (tmp_path / "infer.toml").write_text(INFER_TOML)
    for args in (["--stage", "prod"], ["--stage", "prod", "--region", "ap-south-1"]):
        assert CliRunner().invoke(app, ["list", "--remote", "--json", *args]).exit_code == 0
    assert looked == [("eu-west-1", None), ("ap-south-1", None)]


def test_memory_may_name_infer_tunes_choice():
    from infer.deploy import config

    check = config.KEYS["memory"][1]
    assert check("tuned") is None and check("tuned:cheapest") is None and check(3008) is None
    assert 'or "tuned"' in check(100) and 'or "tuned"' in check("fast")
