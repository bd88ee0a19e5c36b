"""`infer deploy` and `infer destroy`: the CDK app in cdk/ driven through the CDK CLI."""


class DeployError(Exception):
    """Bad input, a missing prerequisite or a failed step, reported in one line (or a short list)."""
