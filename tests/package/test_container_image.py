"""The image `infer package` writes, really built with podman on a Debian base and run as a Lambda
function: the emulator's function URL front end and Runtime API, each environment a `podman run`."""

import time

import pytest

from helpers import call, descendants
from infer.local.container import ContainerFunction
from infer.local.emulator import Emulator
from infer.podman import ULIMITS

IRIS_ROW = {"instances": [[5.1, 3.5, 1.4, 0.2]]}


def wait_until(predicate, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.fixture
def function(podman, iris_image):
    return ContainerFunction(name="iris", image=iris_image, podman=podman, timeout_s=20)


def test_image_holds_only_what_the_function_needs(podman, iris_image):
    listing = podman.run("run", "--rm", *ULIMITS, "--entrypoint", "/bin/sh", iris_image, "-c",
                         "ls /var/task /var/task/model /var/task/infer; echo INFER_VERIFY_SHA256=$INFER_VERIFY_SHA256; "
                         "echo INFER_LOAD_STRATEGY=$INFER_LOAD_STRATEGY; "
                         "ls /var/task/infer/runtime/__pycache__ | head -1; echo LEFT $(ls -A /stage /opt/infer/bin 2>&1) END").stdout
    assert listing.split("/var/task:")[1].split()[:2] == ["infer", "model"]
    # the default for this size: converted to .ort, opened memory-mapped, prefetched during init
    assert "iris.json" in listing and "iris.ort" in listing and "iris.onnx" not in listing
    assert "INFER_LOAD_STRATEGY=prefetch" in listing
    assert "INFER_VERIFY_SHA256=off" in listing
    assert ".cpython-311.pyc" in listing  # compiled for the image's Python
    assert "LEFT ls:" in listing and "No such file" in listing  # the build stage stayed behind, console scripts too
    # The dependencies, awslambdaric among them, are found by the image's own python3 through PYTHONPATH.
    program = "import importlib.metadata as m; print(*sorted(d.metadata['Name'].lower() for d in m.distributions(path=['/opt/infer'])))"
    names = podman.run("run", "--rm", *ULIMITS, "--entrypoint", "python3", iris_image, "-c", program).stdout.split()
    assert {"numpy", "onnxruntime", "awslambdaric"} <= set(names)
    assert "protobuf" not in names and "flatbuffers" not in names  # requirements the runtime never imports
    assert "pip" not in names  # pip ran in the build stage only


def test_image_answers_through_the_function_url(function):
    with Emulator(function, concurrency=2, log=lambda line: None) as emulator:
        first = call(emulator.url + "/v1/models/iris:predict", "POST", IRIS_ROW)
        assert first.status == 200, first.body
        assert first.json()["predictions"][0]["label"] == 0
        second = call(emulator.url + "/v2/models/iris")
        assert second.status == 200 and second.json()["name"] == "iris"
        reports = emulator.reports
        assert [r["cold"] for r in reports] == [True, False]  # one container, reused warm
        assert reports[0]["init_ms"] > 0
        assert len(function.containers()) == 1
    assert wait_until(lambda: function.containers() == [])


def test_killed_environment_leaves_no_container_behind(podman, function):
    """A frozen function times out however fast the machine is; the pool kills its environment's process
    group, and the container goes with it."""
    with Emulator(function, concurrency=1, log=lambda line: None) as emulator:
        assert call(emulator.url + "/v1/models/iris:predict", "POST", IRIS_ROW).status == 200  # a warm environment
        [container] = function.containers()
        podman.run("pause", container)
        function.timeout_s = 0.5  # read by the pool at each invocation
        reply = call(emulator.url + "/v1/models/iris:predict", "POST", IRIS_ROW)
        assert reply.status == 502
        assert wait_until(lambda: function.containers() == [])  # removed by the watchdog, emulator still up
        assert emulator.pool.environments == []
    assert function.containers() == []


def test_stopping_the_emulator_removes_every_container(function):
    import os

    with Emulator(function, concurrency=2, log=lambda line: None) as emulator:
        assert call(emulator.url + "/v2/health/ready").status == 200
        pids = [e.proc.pid for e in emulator.pool.environments]
    assert function.containers() == []
    assert wait_until(lambda: not any(p in descendants(os.getpid()) for p in pids), 10)
