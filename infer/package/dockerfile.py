"""The text of a build context's Dockerfile and .dockerignore: pure functions, no I/O."""

import json
from dataclasses import dataclass, field

from infer.runtime import contract
from infer.runtime.contract import HANDLER

LAMBDA_BASE = "public.ecr.aws/lambda/python:{python}"
TASK_ROOT = "/var/task"
VENV = "/opt/infer"


@dataclass
class ImageSpec:
    """What the Dockerfile says: the base, where the model is, and the variables the function runs with."""

    model_file: str  # the model's file name under model/
    python: str = contract.DEFAULT_PYTHON
    base_image: str | None = None  # None: the AWS Lambda Python base image, which has its own RIC
    verified: bool = False  # infer package checked every sha256 in the manifest
    environment: dict[str, str] = field(default_factory=dict)
    ca_bundle: bool = False  # the context carries ca-bundle.crt for pip's HTTPS during the build

    @property
    def lambda_base(self) -> bool:
        return self.base_image is None

    @property
    def base(self) -> str:
        return self.base_image or LAMBDA_BASE.format(python=self.python)


def check_environment(environment: dict[str, str]) -> None:
    """Refuse names or values a Dockerfile ENV line (or Lambda) cannot carry."""
    contract.check_variables(environment)


def _env_line(name: str, value: str) -> str:
    return f"ENV {name}={json.dumps(value)}"


def render_dockerfile(spec: ImageSpec) -> str:
    check_environment(spec.environment)
    python = "python3" if spec.lambda_base else f"{VENV}/bin/python"
    # The context is mounted for the install step only: requirements.txt and the CA bundle never enter a layer.
    mounts = "--mount=type=bind,source=.,target=/tmp/infer"
    pip_env = "PIP_CERT=/tmp/infer/ca-bundle.crt " if spec.ca_bundle else ""
    pip = f"{pip_env}{python} -m pip install --no-cache-dir --disable-pip-version-check --no-deps"
    lines = [
        "# Written by `infer package`: the infer runtime serving one ONNX model on AWS Lambda.",
        f"FROM {spec.base}",
        "",
    ]
    if spec.lambda_base:
        lines += [
            "# The AWS base image has Python, the Runtime Interface Client and LAMBDA_TASK_ROOT.",
            "# Pinned dependencies only, without the requirements infer's runtime never imports.",
            f"RUN {mounts} \\",
            f'    {pip} --target "${{LAMBDA_TASK_ROOT}}" -r /tmp/infer/requirements.txt',
        ]
    else:
        lines += [
            "# Any Debian-based Python image: a virtual environment with the Runtime Interface Client.",
            f"ENV LAMBDA_TASK_ROOT={TASK_ROOT}",
            f"RUN python3 -m venv {VENV}",
            "# Pinned dependencies (awslambdaric included) without the requirements the runtime never imports.",
            f"RUN {mounts} \\",
            f"    {pip} -r /tmp/infer/requirements.txt",
        ]
    lines += [
        "",
        "# The runtime alone and the model with its manifest and weights.",
        f"COPY infer/ {TASK_ROOT}/infer/",
        f"COPY model/ {TASK_ROOT}/model/",
        "# The code directory is read-only on Lambda: ship bytecode for this image's Python.",
        f"RUN {python} -m compileall -q --invalidation-mode unchecked-hash {TASK_ROOT}/infer",
        "",
        _env_line(contract.MODEL_PATH, f"{TASK_ROOT}/model/{spec.model_file}"),
    ]
    if spec.verified:
        lines += [
            "# `infer package` verified every sha256 in the model's manifest when it wrote this context,",
            "# and the image's files cannot change after the build: skip hashing them on every cold start.",
            _env_line(contract.VERIFY_SHA256, "off"),
        ]
    lines += [_env_line(name, value) for name, value in sorted(spec.environment.items())]
    lines += ["", f"WORKDIR {TASK_ROOT}"]
    if not spec.lambda_base:
        lines.append(f'ENTRYPOINT ["{VENV}/bin/python", "-m", "awslambdaric"]')
    lines.append(f'CMD ["{HANDLER}"]')
    return "\n".join(lines) + "\n"


def render_dockerignore(ca_bundle: bool = False) -> str:
    """Only what the Dockerfile copies or mounts is sent to the builder."""
    keep = ["infer/", "model/", "requirements.txt"] + (["ca-bundle.crt"] if ca_bundle else [])
    return "# Written by `infer package`: send the builder nothing but what the image needs.\n*\n" + \
        "".join(f"!{path}\n" for path in keep) + "**/__pycache__\n"
