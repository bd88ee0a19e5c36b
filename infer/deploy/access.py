"""Who may call the function, read from a template: the function URL's auth type and the principals its
resource policy lets invoke it. `infer deploy` compares the synthesised template with the deployed one and
asks before a change that lets more callers in (a public URL, a new principal); `--yes` answers for you."""

import json

INVOKE_ACTIONS = ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction")


def _resources(template: dict, kind: str) -> list[dict]:
    return [r.get("Properties") or {} for r in (template.get("Resources") or {}).values()
            if isinstance(r, dict) and r.get("Type") == kind]


def url_auth_types(template: dict) -> set[str]:
    return {str(props.get("AuthType")) for props in _resources(template, "AWS::Lambda::Url")}


def invoke_principals(template: dict) -> set[str]:
    """Each principal granted an invoke action, as canonical JSON (a literal ID or ARN, or a CloudFormation
    expression as CDK wrote it). An AWS service invoking on behalf of one given resource (S3 for the stack's own
    input bucket: a SourceArn) is not a caller: it only delivers the stack's own events."""
    return {json.dumps(props.get("Principal"), sort_keys=True) for props in _resources(template, "AWS::Lambda::Permission")
            if props.get("Action") in INVOKE_ACTIONS
            and not (str(props.get("Principal")).endswith(".amazonaws.com") and props.get("SourceArn"))}


def widened(previous: dict | None, new: dict) -> list[str]:
    """How `new` lets more callers in than `previous` (None: nothing deployed yet), one reason each."""
    previous = previous or {}
    reasons = []
    if "NONE" in url_auth_types(new) and "NONE" not in url_auth_types(previous):
        reasons.append("the function URL becomes public (AuthType NONE): anyone with the URL can call it")
    for principal in sorted(invoke_principals(new) - invoke_principals(previous)):
        if principal == '"*"' and reasons:
            continue  # the public URL's own permission, said above
        reasons.append(f"{json.loads(principal)} may newly invoke the function")
    return reasons


def deployed_template(stack: str, region: str | None, profile: str | None) -> dict | None:
    """The stack's current template from CloudFormation; None when there is no such stack (or it cannot be read:
    then every widening is asked about, as for a new stack)."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return None
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        body = session.client("cloudformation").get_template(StackName=stack).get("TemplateBody")
    except (BotoCoreError, ClientError):
        return None
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    return body if isinstance(body, dict) else None
