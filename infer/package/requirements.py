"""Pinned requirements: the exact versions of the runtime's dependencies that infer runs with here."""

from importlib import metadata
from pathlib import Path

RUNTIME_PACKAGES = ("numpy", "onnxruntime")  # what infer/runtime imports; their other requirements are unused
# The versions the runtime supports (as pyproject.toml requires them): the fallback where the pinned version has
# no wheel for the target (e.g. numpy 2.3+ needs glibc 2.28; Lambda's python3.11 runs on glibc 2.26).
RUNTIME_RANGES = {"numpy": ">=1.26", "onnxruntime": ">=1.20"}
RIC_PACKAGES = ("awslambdaric",)  # only where the base image has no Runtime Interface Client
# Only for a function fed by an SQS queue or an S3 bucket, or writing its results to S3 or SQS (the runtime imports
# boto3 when such an event arrives). Lambda's managed Python runtimes include boto3, the container images do not.
SOURCE_PACKAGES = ("boto3",)
WHEEL_MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}  # Lambda's architectures as wheel platform tags spell them


def closure(names) -> tuple[str, ...]:
    """`names` and every package they require (whatever the markers say; extras left out), as installed here."""
    seen: list[str] = []
    todo = list(names)
    while todo:
        name = todo.pop(0)
        if name.lower() in (n.lower() for n in seen):
            continue
        seen.append(name)
        for requirement in metadata.requires(name) or []:
            if "extra ==" in requirement:
                continue
            required = requirement.split(";")[0].strip()
            for stop in "<>=!~[ (":
                required = required.split(stop)[0]
            todo.append(required)
    return tuple(seen)


def pins(packages) -> dict[str, str]:
    return {name: metadata.version(name) for name in packages}


def render_requirements(pinned: dict[str, str], comment: str) -> str:
    lines = [f"# {comment}"] + [f"{name}=={version}" for name, version in sorted(pinned.items())]
    return "\n".join(lines) + "\n"


def installed_size_bytes(packages) -> int:
    """What the packages take in this environment's site-packages: an estimate of what they add to an image."""
    total = 0
    for name in packages:
        for file in metadata.distribution(name).files or []:
            try:
                total += Path(file.locate()).stat().st_size
            except OSError:
                pass
    return total
