"""The text of a build context's Dockerfile and .dockerignore: pure functions, no I/O.

Two stages. `deps` runs on the build machine's own platform ($BUILDPLATFORM): pip fetches manylinux
wheels for the target's architecture and Python, and the bytecode is compiled there. The final stage,
for the target platform, only COPYs, so an image for either architecture builds on any machine without
emulation. Its layers go from the least to the most often changed: dependencies, runtime, model.
"""

import json
from dataclasses import dataclass, field

from infer.runtime import contract
from infer.runtime.contract import HANDLER

from .requirements import WHEEL_MACHINES

LAMBDA_BASE = "public.ecr.aws/lambda/python:{python}"
TASK_ROOT = "/var/task"
DEPENDENCIES = "/opt/infer"  # on other bases: the pinned dependencies, awslambdaric included, on PYTHONPATH
STAGE = "/stage"  # in the deps stage: what the final stage copies, and the files pip needs
OLDEST_MANYLINUX_MINOR = 17  # manylinux_2_17 (manylinux2014): the oldest glibc a wheel infer pins may target


@dataclass
class ImageSpec:
    """What the Dockerfile says: the base, the target, where the model is, and the variables the function runs with."""

    model_file: str  # the model's file name under model/
    arch: str = contract.DEFAULT_ARCH
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

    @property
    def platform(self) -> str:
        return contract.OCI_PLATFORMS[self.arch]

    @property
    def dependencies_dir(self) -> str:
        """Where the dependencies go: the task root on the Lambda base (its RIC looks there), else their own directory."""
        return TASK_ROOT if self.lambda_base else DEPENDENCIES


def check_environment(environment: dict[str, str]) -> None:
    """Refuse names or values a Dockerfile ENV line (or Lambda) cannot carry."""
    contract.check_variables(environment)


def _env_line(name: str, value: str) -> str:
    return f"ENV {name}={json.dumps(value)}"


def python_check_program(python: str) -> str:
    """Python source that exits with a message unless it runs on `python` (X.Y)."""
    return (f"import sys; v = '%d.%d' % sys.version_info[:2]; sys.exit(v != '{python}' and "
            f"'the base image has Python ' + v + ', not {python}: write the context again with infer package --python ' + v)")


def wheel_platforms_program(arch: str) -> str:
    """Python source that prints pip's --platform options: every manylinux tag for `arch` that the running
    image's glibc can load (the same C library on every platform of a multi-platform image)."""
    machine = WHEEL_MACHINES[arch]
    return ("import os; major, minor = map(int, os.confstr('CS_GNU_LIBC_VERSION').split()[1].split('.')[:2]); "
            f"print(*('--platform=manylinux_%d_%d_{machine}' % (major, m) for m in range(minor, {OLDEST_MANYLINUX_MINOR - 1}, -1)), "
            f"'--platform=manylinux2014_{machine}')")


def _deps_stage(spec: ImageSpec) -> list[str]:
    target_arch = spec.platform.split("/")[1]  # as TARGETARCH spells it
    pip_python = "python3" if spec.lambda_base else f"{STAGE}/pip/bin/python"
    mount = f"--mount=type=bind,source=ca-bundle.crt,target={STAGE}/ca-bundle.crt " if spec.ca_bundle else ""
    pip_env = f"PIP_CERT={STAGE}/ca-bundle.crt " if spec.ca_bundle else ""
    compile_to = "python3 -m compileall -q -j 0 --invalidation-mode unchecked-hash"
    lines = [
        "# Stage 1, on the build machine's platform: wheels for the target fetched, bytecode compiled. Nothing of it",
        "# reaches the image but what the final stage copies (not requirements.txt, not the CA bundle).",
        f"FROM --platform=$BUILDPLATFORM {spec.base} AS deps",
        "ARG TARGETARCH",
        f'RUN test "$TARGETARCH" = "{target_arch}" || {{ echo "this context is for {spec.arch}, the build is for $TARGETARCH: '
        f'build it with --platform {spec.platform}, or write another with infer package --arch" >&2; exit 1; }}',
        f'RUN python3 -c "{python_check_program(spec.python)}"',
    ]
    if not spec.lambda_base:
        lines += ["# pip for this stage only: the image itself gets no virtual environment.",
                  f"RUN python3 -m venv {STAGE}/pip"]
    lines += [
        "# Pinned dependencies only, without the requirements the runtime never imports: manylinux wheels for",
        f"# {WHEEL_MACHINES[spec.arch]} and CPython {spec.python} that the base image's glibc can load; bytecode for this Python.",
        f"COPY requirements.txt {STAGE}/requirements.txt",
        f"RUN {mount}platforms=$(python3 -c \"{wheel_platforms_program(spec.arch)}\") && \\",
        f"    {pip_env}{pip_python} -m pip install --no-cache-dir --disable-pip-version-check --no-deps --no-compile \\",
        f"      --only-binary=:all: --implementation cp --python-version {spec.python} $platforms \\",
        f"      --target {STAGE}/dependencies -r {STAGE}/requirements.txt && \\",
        f"    rm -rf {STAGE}/dependencies/bin && \\",
        f"    {compile_to} -s {STAGE}/dependencies -p {spec.dependencies_dir} {STAGE}/dependencies",
        "# The runtime alone, compiled: the code directory is read-only on Lambda, so nothing is cached at run time.",
        f"COPY infer/ {STAGE}/runtime/infer/",
        f"RUN {compile_to} -s {STAGE}/runtime -p {TASK_ROOT} {STAGE}/runtime",
    ]
    return lines


def render_dockerfile(spec: ImageSpec) -> str:
    if spec.arch not in contract.ARCHITECTURES:
        raise ValueError(f"arch must be one of {', '.join(contract.ARCHITECTURES)}, not {spec.arch!r}")
    if spec.python not in contract.PYTHON_VERSIONS:
        raise ValueError(f"python must be one of {', '.join(contract.PYTHON_VERSIONS)}, not {spec.python!r}")
    check_environment(spec.environment)
    lines = [
        f"# Written by `infer package`: the infer runtime serving one ONNX model on AWS Lambda ({spec.arch}).",
        "",
        *_deps_stage(spec),
        "",
        f"# Stage 2, the image, for {spec.platform} (named, not inherited: the context was written for it). Nothing runs",
        "# here, only COPY, from the least to the most often changed: a new model changes only the last layer.",
        f"FROM --platform={spec.platform} {spec.base}",
    ]
    if spec.lambda_base:
        lines.append("# The AWS base image has Python, the Runtime Interface Client and LAMBDA_TASK_ROOT.")
    lines += [
        f"COPY --from=deps {STAGE}/dependencies/ {spec.dependencies_dir}/",
        f"COPY --from=deps {STAGE}/runtime/ {TASK_ROOT}/",
        f"COPY model/ {TASK_ROOT}/model/",
        "",
    ]
    if not spec.lambda_base:
        lines += [
            "# Any Debian-based Python image: the dependencies (awslambdaric included) on the path of its python3.",
            _env_line("LAMBDA_TASK_ROOT", TASK_ROOT),
            _env_line("PYTHONPATH", DEPENDENCIES),
        ]
    lines.append(_env_line(contract.MODEL_PATH, f"{TASK_ROOT}/model/{spec.model_file}"))
    if spec.verified:
        lines += [
            "# `infer package` verified every sha256 in the model's manifest when it wrote this context,",
            "# and the image's files cannot change after the build: skip hashing them on every cold start.",
            _env_line(contract.VERIFY_SHA256, "off"),
        ]
    lines += [_env_line(name, value) for name, value in sorted(spec.environment.items())]
    lines += ["", f"WORKDIR {TASK_ROOT}"]
    if not spec.lambda_base:
        lines.append('ENTRYPOINT ["python3", "-m", "awslambdaric"]')
    lines.append(f'CMD ["{HANDLER}"]')
    return "\n".join(lines) + "\n"


def render_dockerignore(ca_bundle: bool = False) -> str:
    """Only what the Dockerfile copies or mounts is sent to the builder."""
    keep = ["infer/", "model/", "requirements.txt"] + (["ca-bundle.crt"] if ca_bundle else [])
    return "# Written by `infer package`: send the builder nothing but what the image needs.\n*\n" + \
        "".join(f"!{path}\n" for path in keep) + "**/__pycache__\n"
