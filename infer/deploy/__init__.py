"""`infer deploy` and `infer destroy`: the CDK app (`infer_cdk`) driven through the CDK CLI."""


class DeployError(Exception):
    """Bad input, a missing prerequisite or a failed step, reported in one line (or a short list).

    `code` is the exit code: 2 for what the user must fix before anything is built or uploaded, 1 for a
    step that failed."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code
