"""The CDK CLI as argument lists, and the outputs file it writes.

The stack is synthesised in-process (see synth.py) into a cloud assembly directory; the CLI deploys
that directory as it is (`--app DIR`), so no command string is ever handed to a shell.
"""

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import DeployError


@dataclass(frozen=True)
class Outputs:
    url: str
    function_name: str
    log_group: str
    auth: str


def deploy_argv(cdk: list[str], assembly: Path, stack: str, outputs_file: Path, profile: str | None = None) -> list[str]:
    argv = [*cdk, "deploy", stack, "--app", str(assembly), "--require-approval", "never",
            "--outputs-file", str(outputs_file), "--progress", "events", "--ci"]
    return argv + (["--profile", profile] if profile else [])


def destroy_argv(cdk: list[str], assembly: Path, stack: str, profile: str | None = None) -> list[str]:
    argv = [*cdk, "destroy", stack, "--app", str(assembly), "--force", "--ci"]
    return argv + (["--profile", profile] if profile else [])


def parse_outputs(text: str, stack: str) -> Outputs:
    """Read `cdk deploy --outputs-file`: {"<stack>": {"FunctionUrl": ..., "FunctionName": ..., ...}}."""
    try:
        values = json.loads(text)[stack]
        return Outputs(values["FunctionUrl"], values["FunctionName"], values["LogGroupName"],
                       values.get("AuthType", "AWS_IAM"))
    except (ValueError, KeyError, TypeError) as exc:
        raise DeployError(f"the CDK CLI's outputs file has no {exc} for stack {stack}; "
                          "see the output above and the CloudFormation console") from None


def run_cdk(argv: list[str], log, env: dict[str, str] | None = None) -> None:
    """Run the CDK CLI, showing its progress line by line; a failure ends with its last lines."""
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    except OSError as exc:
        raise DeployError(f"cannot run the CDK CLI ({argv[0]}): {exc.strerror}; install it: npm install -g aws-cdk") from None
    tail: list[str] = []
    assert proc.stdout is not None  # stdout=PIPE
    with proc:
        for line in proc.stdout:
            line = line.rstrip()
            tail = (tail + [line])[-10:]
            log(f"  cdk: {line}")
    if proc.returncode != 0:
        raise DeployError(f"`cdk {argv[1]}` failed (exit {proc.returncode}): " + " | ".join(t for t in tail if t)[-600:])


def outputs_from_file(path: Path, stack: str) -> Outputs:
    try:
        text = Path(path).read_text()
    except OSError:
        raise DeployError(f"the CDK CLI wrote no outputs file ({path}); the deployment did not finish") from None
    return parse_outputs(text, stack)
