"""`infer package`: a model as a container build context (Dockerfile, runtime, pinned requirements, model)
or as a deployment zip for the zip + SnapStart route."""


class PackageError(Exception):
    """Bad input or a failed step, reported to the user in one line."""
