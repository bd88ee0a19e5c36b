"""The CDK CLI as argument lists, and the outputs file it writes.

The stack is synthesised in-process (see synth.py) into a cloud assembly directory; the CLI deploys
that directory as it is (`--app DIR`), so no command string is ever handed to a shell.
"""

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import DeployError


@dataclass(frozen=True)
class Outputs:
    url: str  # "" for a stack deployed with --no-url
    function_name: str
    log_group: str
    auth: str
    queue_url: str = ""
    dead_letter_queue_url: str = ""
    input_bucket: str = ""
    output: str = ""  # the function's INFER_OUTPUT


def _outputs(values: dict) -> Outputs:
    return Outputs(values.get("FunctionUrl", ""), values["FunctionName"], values["LogGroupName"],
                   values.get("AuthType", "AWS_IAM") if values.get("FunctionUrl") else "",
                   values.get("QueueUrl", ""), values.get("DeadLetterQueueUrl", ""), values.get("InputBucket", ""),
                   values.get("Output", ""))


def deploy_argv(cdk: list[str], assembly: Path, stack: str, outputs_file: Path, profile: str | None = None) -> list[str]:
    argv = [*cdk, "deploy", stack, "--app", str(assembly), "--require-approval", "never",
            "--outputs-file", str(outputs_file), "--progress", "events", "--ci"]
    return argv + (["--profile", profile] if profile else [])


def diff_argv(cdk: list[str], assembly: Path, stack: str, profile: str | None = None) -> list[str]:
    argv = [*cdk, "diff", stack, "--app", str(assembly)]
    return argv + (["--profile", profile] if profile else [])


def destroy_argv(cdk: list[str], assembly: Path, stack: str, profile: str | None = None) -> list[str]:
    argv = [*cdk, "destroy", stack, "--app", str(assembly), "--force", "--ci"]
    return argv + (["--profile", profile] if profile else [])


def parse_outputs(text: str, stack: str) -> Outputs:
    """Read `cdk deploy --outputs-file`: {"<stack>": {"FunctionUrl": ..., "FunctionName": ..., ...}}; a stack
    deployed with --no-url has no FunctionUrl."""
    try:
        return _outputs(json.loads(text)[stack])
    except (ValueError, KeyError, TypeError) as exc:
        raise DeployError(f"the CDK CLI's outputs file has no {exc} for stack {stack}; "
                          "see the output above and the CloudFormation console") from None


# jsii (the CDK libraries' Node.js bridge) prints a many-line banner on stderr for every Node.js major it
# considers end-of-life or untested; infer's prerequisite check already asks for Node.js 20+, so these say
# nothing the user can act on in the middle of a deploy. Each variable takes a comma-separated list of majors.
NODE_WARNING_VARIABLES = ("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION")
NODE_MAJORS = ",".join(str(major) for major in range(14, 41))


def quiet_node_warnings(environ=os.environ) -> None:
    """Silence jsii's Node.js version banners unless the user set the variables themselves."""
    for name in NODE_WARNING_VARIABLES:
        environ.setdefault(name, NODE_MAJORS)
    environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")


def run_cdk(argv: list[str], log, env: dict[str, str] | None = None) -> None:
    """Run the CDK CLI, showing its progress line by line; a failure ends with its last lines."""
    quiet_node_warnings()
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


def read_outputs(path: Path, stack: str, region: str | None = None, profile: str | None = None) -> Outputs:
    """The stack's outputs, from `cdk deploy --outputs-file`; when that file has none for the stack, read back
    from CloudFormation itself (see outputs_from_stack)."""
    try:
        return parse_outputs(Path(path).read_text(), stack)
    except (OSError, DeployError):
        return outputs_from_stack(stack, region, profile)


# The logical IDs the sources' resources start with (cdk/infer_cdk: construct "Model", its "Sources"): the queue
# and its dead-letter queue (physical ID: the queue URL), and the input bucket (physical ID: its name).
SOURCE_IDS = ("ModelSourcesQueue", "ModelSourcesDeadLetters", "ModelSourcesInput")


def _source_resource(by_logical_id: dict[str, str], start: str) -> str:
    return next((physical for logical, physical in by_logical_id.items()
                 if logical.startswith(start) and not logical.startswith(start + "Policy")), "")


def outputs_from_stack(stack: str, region: str | None, profile: str | None) -> Outputs:
    """The stack's Outputs through the CloudFormation API; without them (a local AWS-compatible API may not
    resolve outputs), the function, log group, queues and bucket among the stack's resources, and the URL and
    INFER_OUTPUT through Lambda."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.parsers import ResponseParserError  # not a BotoCoreError: an API answering with a broken page
    except ImportError:
        raise DeployError("reading the stack back needs boto3: pip install 'infer[deploy]'") from None
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        cloudformation = session.client("cloudformation")
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        values = {o.get("OutputKey"): o.get("OutputValue") for o in described.get("Outputs") or []}
        if values.get("FunctionName"):
            return parse_outputs(json.dumps({stack: values}), stack)
        resources = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
        physical = {r.get("ResourceType"): r.get("PhysicalResourceId") for r in resources}
        function_name = physical.get("AWS::Lambda::Function")
        if not function_name:
            raise DeployError(f"stack {stack} has no Lambda function; see the CloudFormation console")
        aliases = [r.get("PhysicalResourceId") or "" for r in resources if r.get("ResourceType") == "AWS::Lambda::Alias"]
        qualifier = {"Qualifier": aliases[0].rsplit(":", 1)[-1]} if aliases else {}
        lambda_client = session.client("lambda")
        try:
            url = lambda_client.get_function_url_config(FunctionName=function_name, **qualifier)
        except ClientError:
            url = {}  # the stack made no URL (or the API does not know of it)
        by_logical_id = {r.get("LogicalResourceId") or "": r.get("PhysicalResourceId") or "" for r in resources}
        try:
            variables = lambda_client.get_function_configuration(FunctionName=function_name).get("Environment", {})
        except ClientError:
            variables = {}
        return Outputs(url.get("FunctionUrl", ""), function_name, physical.get("AWS::Logs::LogGroup") or "",
                       url.get("AuthType", "AWS_IAM"), queue_url=_source_resource(by_logical_id, SOURCE_IDS[0]),
                       dead_letter_queue_url=_source_resource(by_logical_id, SOURCE_IDS[1]),
                       input_bucket=_source_resource(by_logical_id, SOURCE_IDS[2]),
                       output=(variables.get("Variables") or {}).get("INFER_OUTPUT", ""))
    except (BotoCoreError, ClientError, ResponseParserError) as exc:
        raise DeployError(f"cannot read stack {stack} back from CloudFormation: {exc}") from None
