"""The Dockerfile and .dockerignore are pure text: checked line by line."""

import pytest

from infer.package.dockerfile import ImageSpec, render_dockerfile, render_dockerignore


def test_lambda_base_uses_its_own_runtime_interface_client():
    text = render_dockerfile(ImageSpec(model_file="iris.onnx", python="3.13", verified=True))
    assert text.splitlines()[1] == "FROM public.ecr.aws/lambda/python:3.13"
    assert '--target "${LAMBDA_TASK_ROOT}"' in text and "--no-deps" in text
    assert "ENTRYPOINT" not in text  # the base image's entry point runs the handler
    assert text.rstrip().endswith('CMD ["infer.runtime.handler.handler"]')
    assert 'ENV INFER_MODEL_PATH="/var/task/model/iris.onnx"' in text
    assert "PIP_CERT" not in text and "ca-bundle" not in text


def test_other_base_gets_a_venv_and_awslambdaric_as_entry_point():
    text = render_dockerfile(ImageSpec(model_file="m.onnx", base_image="python:3.12-slim", ca_bundle=True))
    assert "FROM python:3.12-slim" in text
    assert "RUN python3 -m venv /opt/infer" in text
    assert 'ENTRYPOINT ["/opt/infer/bin/python", "-m", "awslambdaric"]' in text
    assert "--mount=type=bind,source=.,target=/tmp/infer" in text and "PIP_CERT=/tmp/infer/ca-bundle.crt" in text
    assert "COPY ca-bundle" not in text  # mounted for the build, never copied into the image


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


def test_dockerignore_sends_only_what_the_image_needs():
    lines = render_dockerignore(ca_bundle=False).splitlines()
    assert lines[1] == "*"
    assert {"!infer/", "!model/", "!requirements.txt"} <= set(lines)
    assert "!ca-bundle.crt" not in lines and "!ca-bundle.crt" in render_dockerignore(ca_bundle=True)
