"""Images for both architectures, built on this x86_64 machine without emulation (it has no QEMU): nothing runs
in the final stage, so an arm64 image that builds here proves it. Each image is checked as a whole: its
configured platform, the machine of every ELF file in it, no RUN in its history, and its layers."""

import json
import shutil
import subprocess
import tarfile
import uuid

import pytest

from helpers import MODELS
from infer import podman as podman_module
from infer.package.context import write_context
from infer.podman import Podman, PodmanError
from infer.runtime.contract import ARCHITECTURES, OCI_PLATFORMS

E_MACHINES = {"arm64": 0xB7, "x86_64": 0x3E}  # ELF e_machine: EM_AARCH64, EM_X86_64
MB = 1024 * 1024


def image_files(podman, image: str) -> dict[str, bytes]:
    """Every regular file of the image's file system and its first 20 bytes, read from `podman export`."""
    name = f"infer-test-export-{uuid.uuid4().hex[:8]}"
    podman.run("create", "--name", name, image)
    try:
        files = {}
        with subprocess.Popen(podman.argv("export", name), stdout=subprocess.PIPE) as proc:
            assert proc.stdout is not None
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                for member in tar:
                    if member.isreg():
                        reader = tar.extractfile(member)
                        files[member.name.lstrip("./")] = reader.read(20) if reader else b""
        assert proc.returncode == 0
        return files
    finally:
        podman.remove(name)


def elf_machine(head: bytes) -> int | None:
    if head[:4] != b"\x7fELF" or len(head) < 20:
        return None
    return int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")


def inspect(podman, image: str, template: str) -> str:
    return podman.run("image", "inspect", "--format", template, image).stdout.strip()


def layers(podman, image: str) -> list[str]:
    return inspect(podman, image, "{{range .RootFS.Layers}}{{.}} {{end}}").split()


def test_build_names_the_build_platform(monkeypatch):
    """podman 4.3 leaves BUILDPLATFORM unset: without it the first stage would run on the target's platform."""
    for machine, platform in (("x86_64", "linux/amd64"), ("aarch64", "linux/arm64"), ("arm64", "linux/arm64")):
        monkeypatch.setattr(podman_module, "host_machine", lambda machine=machine: machine)
        argv = Podman().build_argv("ctx", "t", "linux/arm64")
        assert argv[argv.index("--platform") + 1] == "linux/arm64"
        assert argv[argv.index("--build-arg") + 1] == f"BUILDPLATFORM={platform}"
        assert argv[-1] == "ctx"


@pytest.fixture(scope="module", params=ARCHITECTURES)
def arch(request) -> str:
    return request.param


def test_image_is_for_the_target_platform(podman, build_image, arch):
    image = build_image(arch).tag
    assert inspect(podman, image, "{{.Os}}/{{.Architecture}}") == OCI_PLATFORMS[arch]
    history = podman.run("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout.splitlines()
    assert history and all("#(nop)" in step for step in history), history  # no RUN step: nothing ran in the image


def test_every_elf_file_is_for_the_target_machine(podman, build_image, arch):
    image = build_image(arch)
    files = image_files(podman, image.tag)
    machines = {path: elf_machine(head) for path, head in files.items()}
    elves = {path: machine for path, machine in machines.items() if machine is not None}
    wrong = sorted(path for path, machine in elves.items() if machine != E_MACHINES[arch])
    assert wrong == [], f"{len(wrong)} ELF files are not for {arch}: {wrong[:10]}"
    assert len(elves) > 50
    assert any(p.startswith("opt/infer/onnxruntime/capi/") and p.endswith(".so") for p in elves)  # the wheels too
    assert any(p.startswith("opt/infer/numpy/") for p in elves) and "usr/bin/python3.11" in elves
    # Bytecode for the image's Python, hash-based and unchecked (the code directory is read-only on Lambda).
    tag = f".cpython-{image.context.spec.python.replace('.', '')}.pyc"
    pycs = {p: head for p, head in files.items() if p.startswith(("var/task/infer/", "opt/infer/")) and p.endswith(".pyc")}
    assert any(p.startswith("var/task/infer/runtime/__pycache__/handler") for p in pycs)
    assert all(p.endswith(tag) and int.from_bytes(head[4:8], "little") == 1 for p, head in pycs.items())
    # Only what the function needs: no build stage, no requirements.txt, no CA bundle.
    assert {p.split("/")[2] for p in files if p.startswith("var/task/")} == {"infer", "model"}
    assert not any(p.startswith("stage/") or p.endswith(("requirements.txt", "ca-bundle.crt")) for p in files)


def test_a_new_model_changes_only_the_last_layer(podman, build_image, base_tags, debian_base, arch, tmp_path):
    iris = build_image(arch)
    out = tmp_path / "digits"
    write_context(MODELS / "digits.onnx", out, arch=arch, python=iris.context.spec.python, base_image=debian_base,
                  environment={"INFER_THREADS": "1"}, ca_bundle=iris.context.out / "ca-bundle.crt" if iris.context.spec.ca_bundle else None)
    shutil.rmtree(out / "infer")  # the same runtime as the first build, even if infer/ is edited meanwhile
    shutil.copytree(iris.context.out / "infer", out / "infer")
    podman.build(out, f"localhost/infer-test-digits:{arch}", OCI_PLATFORMS[arch])
    before, after = layers(podman, iris.tag), layers(podman, f"localhost/infer-test-digits:{arch}")
    base = layers(podman, base_tags[arch])
    assert len(before) == len(after) == len(base) + 3  # dependencies, runtime, model
    assert before[:-1] == after[:-1] and before[:len(base)] == base
    assert before[-1] != after[-1]


def test_image_sizes(podman, build_image, base_tags, arch):
    """What infer adds over the base image: about the size of its wheels (printed; run with -s to see it)."""
    image = build_image(arch)
    sizes = [step["size"] for step in json.loads(podman.run("history", "--format", "json", image.tag).stdout)]
    image_bytes = int(inspect(podman, image.tag, "{{.Size}}"))
    base_bytes = int(inspect(podman, base_tags[arch], "{{.Size}}"))
    model_bytes, runtime_bytes, dependency_bytes = [size for size in sizes if size][:3]  # newest first
    added = image_bytes - base_bytes
    print(f"\n{arch}: image {image_bytes / MB:.1f} MB, base {base_bytes / MB:.1f} MB, infer adds {added / MB:.1f} MB "
          f"(dependencies {dependency_bytes / MB:.1f} MB, runtime {runtime_bytes / 1024:.0f} KB, model {model_bytes / 1024:.0f} KB); "
          f"infer package estimated {image.context.added_bytes / MB:.1f} MB")
    assert abs(added - (dependency_bytes + runtime_bytes + model_bytes)) < MB
    assert added < 1.2 * image.context.added_bytes  # the estimate infer package prints holds


def test_a_build_for_another_platform_or_python_stops_with_what_to_do(podman, build_image, debian_base, tmp_path):
    with pytest.raises(PodmanError, match="this context is for arm64, the build is for amd64: build it with --platform linux/arm64"):
        podman.build(build_image("arm64").context.out, "localhost/infer-test-refused", "linux/amd64")
    write_context(MODELS / "iris.onnx", tmp_path / "ctx", arch="x86_64", python="3.12", base_image=debian_base)
    with pytest.raises(PodmanError, match="has Python 3.11, not 3.12: write the context again with infer package --python 3.11"):
        podman.build(tmp_path / "ctx", "localhost/infer-test-refused", "linux/amd64")
