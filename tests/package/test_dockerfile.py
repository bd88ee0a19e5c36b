"""The Dockerfile and .dockerignore are pure text: checked line by line, and the two Python programs the build
stage runs are run here."""

import os
import subprocess
import sys

import pytest

from infer.package.dockerfile import (
    ImageSpec,
    python_check_program,
    render_dockerfile,
    render_dockerignore,
    wheel_platforms_program,
)
from infer.runtime.contract import ARCHITECTURES

HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
SPECS = [ImageSpec(model_file="m.ort", arch=arch, base_image=base, ca_bundle=ca)
         for arch in ARCHITECTURES for base in (None, "python:3.12-slim") for ca in (False, True)]


def stages(text: str) -> tuple[list[str], list[str]]:
    """The build stage's lines and the final stage's, without comments or blank lines."""
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    froms = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    assert len(froms) == 2, froms
    return lines[froms[0]:froms[1]], lines[froms[1]:]


def test_lambda_base_uses_its_own_runtime_interface_client():
    text = render_dockerfile(ImageSpec(model_file="iris.onnx", python="3.13", verified=True))
    deps, final = stages(text)
    assert deps[0] == "FROM --platform=$BUILDPLATFORM public.ecr.aws/lambda/python:3.13 AS deps"
    assert final[0] == "FROM --platform=linux/arm64 public.ecr.aws/lambda/python:3.13"  # arm64: the default
    assert "COPY --from=deps /stage/dependencies/ /var/task/" in final  # where the base image's RIC looks
    assert "ENTRYPOINT" not in text  # the base image's entry point runs the handler
    assert text.rstrip().endswith('CMD ["infer.runtime.handler.handler"]')
    assert 'ENV INFER_MODEL_PATH="/var/task/model/iris.onnx"' in final
    assert "PIP_CERT" not in text and "ca-bundle" not in text


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.arch}-{'lambda' if s.lambda_base else 'other'}-ca{s.ca_bundle:d}")
def test_final_stage_only_copies_dependencies_then_runtime_then_model(spec):
    deps, final = stages(render_dockerfile(spec))
    keywords = [line.split()[0] for line in final[1:]]
    assert set(keywords) <= {"COPY", "ENV", "WORKDIR", "ENTRYPOINT", "CMD"}  # no RUN: nothing to emulate
    copies = [line for line in final if line.startswith("COPY")]
    assert copies == [f"COPY --from=deps /stage/dependencies/ {spec.dependencies_dir}/",
                      "COPY --from=deps /stage/runtime/ /var/task/", "COPY model/ /var/task/model/"]
    assert len(keywords) - keywords[::-1].index("COPY") <= keywords.index("ENV")  # variables after the layers
    assert not any("requirements" in line or "ca-bundle" in line for line in final)
    assert any(line.startswith("COPY requirements.txt /stage/") for line in deps)  # a cache key in the build stage
    assert ("--mount=type=bind,source=ca-bundle.crt" in "\n".join(deps)) == spec.ca_bundle


@pytest.mark.parametrize("arch, machine, target_arch", [("arm64", "aarch64", "arm64"), ("x86_64", "x86_64", "amd64")])
def test_build_stage_fetches_wheels_for_the_target(arch, machine, target_arch):
    text = render_dockerfile(ImageSpec(model_file="m.ort", arch=arch, python="3.13", ca_bundle=True))
    deps, final = stages(text)
    pip = "\n".join(deps)
    for option in ("--only-binary=:all:", "--no-deps", "--implementation cp", "--python-version 3.13", "$platforms",
                   "--target /stage/dependencies", "PIP_CERT=/stage/ca-bundle.crt"):
        assert option in pip
    assert wheel_platforms_program(arch) in pip and f"manylinux2014_{machine}" in pip
    assert f'test "$TARGETARCH" = "{target_arch}"' in pip  # a build for another platform stops with a message
    assert python_check_program("3.13") in pip
    assert "--invalidation-mode unchecked-hash -s /stage/runtime -p /var/task /stage/runtime" in pip
    assert final[0].startswith(f"FROM --platform=linux/{target_arch} ")


def test_other_base_gets_awslambdaric_on_its_pythonpath_and_no_venv():
    text = render_dockerfile(ImageSpec(model_file="m.onnx", base_image="python:3.12-slim", ca_bundle=True))
    deps, final = stages(text)
    assert final[0] == "FROM --platform=linux/arm64 python:3.12-slim"
    assert "RUN python3 -m venv /stage/pip" in deps  # pip for the build stage alone
    assert 'ENV PYTHONPATH="/opt/infer"' in final and 'ENV LAMBDA_TASK_ROOT="/var/task"' in final
    assert 'ENTRYPOINT ["python3", "-m", "awslambdaric"]' in final
    assert "-p /opt/infer /stage/dependencies" in text  # bytecode names the files where the image has them


def test_wheel_platforms_are_every_manylinux_tag_this_glibc_loads():
    glibc_minor = int(os.confstr("CS_GNU_LIBC_VERSION").split()[1].split(".")[1])
    printed = subprocess.run([sys.executable, "-c", wheel_platforms_program("arm64")], capture_output=True, text=True,
                             check=True).stdout.split()
    expected = [f"--platform=manylinux_2_{m}_aarch64" for m in range(glibc_minor, 16, -1)]
    assert printed == expected + ["--platform=manylinux2014_aarch64"]


def test_python_check_names_the_option_to_use():
    assert subprocess.run([sys.executable, "-c", python_check_program(HOST_PYTHON)]).returncode == 0
    other = "3.14" if HOST_PYTHON != "3.14" else "3.13"
    wrong = subprocess.run([sys.executable, "-c", python_check_program(other)], capture_output=True, text=True)
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == (f"the base image has Python {HOST_PYTHON}, not {other}: "
                                    f"write the context again with infer package --python {HOST_PYTHON}")


def test_sha256_check_is_skipped_only_after_package_verified_it():
    verified = render_dockerfile(ImageSpec(model_file="m.onnx", verified=True)).splitlines()
    index = verified.index('ENV INFER_VERIFY_SHA256="off"')
    assert "verified every sha256" in verified[index - 2]  # the comment says why
    assert "INFER_VERIFY_SHA256" not in render_dockerfile(ImageSpec(model_file="m.onnx", verified=False))


def test_extra_environment_is_rendered_and_checked():
    text = render_dockerfile(ImageSpec(model_file="m.onnx", environment={"INFER_LOAD_STRATEGY": "eager",
                                                                         "QUOTED": 'a "b" c'}))
    assert 'ENV INFER_LOAD_STRATEGY="eager"' in text
    assert 'ENV QUOTED="a \\"b\\" c"' in text
    for bad in ({"1X": "y"}, {"A-B": "y"}, {"X": "two\nlines"}):
        with pytest.raises(ValueError):
            render_dockerfile(ImageSpec(model_file="m.onnx", environment=bad))


def test_unknown_target_is_refused():
    with pytest.raises(ValueError, match="arch must be one of arm64, x86_64"):
        render_dockerfile(ImageSpec(model_file="m.onnx", arch="sparc"))
    with pytest.raises(ValueError, match="python must be one of"):
        render_dockerfile(ImageSpec(model_file="m.onnx", python="2.7"))


def test_dockerignore_sends_only_what_the_image_needs():
    lines = render_dockerignore(ca_bundle=False).splitlines()
    assert lines[1] == "*"
    assert {"!infer/", "!model/", "!requirements.txt"} <= set(lines)
    assert "!ca-bundle.crt" not in lines and "!ca-bundle.crt" in render_dockerignore(ca_bundle=True)
