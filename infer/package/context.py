"""Write a container build context for one model.

Steps: verify the model's files against its manifest; stage the runtime alone, precompiled; copy the
model, its manifest and weights sidecars; pin the requirements; render the Dockerfile and .dockerignore;
describe what the image will hold.
"""

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from infer.load_choice import LoadChoice, recommend
from infer.podman import host_platform
from infer.runtime import contract
from infer.staging import stage_runtime

from . import PackageError, imports
from .dockerfile import ImageSpec, check_environment, render_dockerfile, render_dockerignore
from .model import ModelFiles, model_files, sha256_of
from .requirements import RIC_PACKAGES, RUNTIME_PACKAGES, SOURCE_PACKAGES, closure, installed_size_bytes, pins, render_requirements

ARCHITECTURES = contract.ARCHITECTURES
PYTHONS = contract.PYTHON_VERSIONS
PLATFORMS = contract.OCI_PLATFORMS


@dataclass
class PackageResult:
    out: Path
    spec: ImageSpec
    arch: str
    model_bytes: int
    runtime_bytes: int
    dependency_bytes: int  # estimated from the same packages installed here
    requirements: dict[str, str]
    contents: list[tuple[str, int]] = field(default_factory=list)  # (path in the image, bytes)
    load: LoadChoice | None = None

    @property
    def added_bytes(self) -> int:
        return self.model_bytes + self.runtime_bytes + self.dependency_bytes


def check_options(arch: str, python: str, base_image: str | None = None) -> None:
    if arch not in ARCHITECTURES:
        raise PackageError(f"--arch must be one of {', '.join(ARCHITECTURES)}, not {arch!r}")
    if python not in PYTHONS:
        raise PackageError(f"--python must be one of {', '.join(PYTHONS)} (Lambda's Python runtimes), not {python!r}")
    if base_image is not None and (not base_image or base_image.startswith("-")
                                   or any(c.isspace() or c in "\"'$\\" for c in base_image)):
        raise PackageError(f"--base-image takes an image reference such as python:3.12-slim-bookworm, not {base_image!r}")


def prepare_out(out: Path) -> None:
    """An output directory must be new or empty, or one that infer package wrote before (it is replaced)."""
    if out.exists() and not out.is_dir():
        raise PackageError(f"{out} exists and is not a directory")
    if Path.cwd().resolve().is_relative_to(out.resolve()):
        raise PackageError(f"-o {out} is the current directory or holds it; give a new directory such as build/context")
    if out.is_dir() and any(out.iterdir()):
        if not (out / ".infer-package").is_file():  # only a context infer package wrote is ever replaced
            raise PackageError(f"{out} is not empty and was not written by infer package; choose another -o DIR")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def write_context(model: str | Path, out: str | Path, arch: str = contract.DEFAULT_ARCH, python: str = contract.DEFAULT_PYTHON,
                  base_image: str | None = None, environment: dict[str, str] | None = None,
                  ca_bundle: str | Path | None = None, strategy: str | None = None,
                  artifact: str | None = None, sources: bool = False) -> PackageResult:
    """Write the build context for `model` into `out` and return what the image will hold.

    `strategy` (lazy, prefetch, eager) and `artifact` (onnx, or ort: converted here and opened
    memory-mapped) default to what the cold-start sweep found best for the model's size. `sources` adds
    boto3 (and what it requires), for a function fed by a queue or a bucket or writing results to S3/SQS.
    """
    check_options(arch, python, base_image)
    environment = dict(environment or {})
    load = choose_load(model_files(model).size_bytes, strategy, artifact, environment)
    try:
        check_environment(environment)
    except ValueError as exc:
        raise PackageError(str(exc)) from None
    if ca_bundle is not None and not Path(ca_bundle).is_file():
        raise PackageError(f"CA bundle not found: {ca_bundle}")
    files = model_files(model)
    out = Path(out)
    prepare_out(out)
    (out / ".infer-package").write_text("build context written by infer package\n")
    stage_runtime(out)
    imports.write(out / "infer" / "runtime", python=python, arch=arch)  # read ahead at init (runtime/preload.py)
    model_dir = out / "model"
    model_dir.mkdir()
    if load.artifact == "ort" and files.model.suffix == ".onnx":
        files = to_ort_files(files, model_dir)
    else:
        for path in files.paths:
            shutil.copy2(path, model_dir / path.name)
    environment.setdefault(contract.LOAD_STRATEGY, load.strategy)
    packages = RUNTIME_PACKAGES if base_image is None else RUNTIME_PACKAGES + ric_closure()
    if sources:
        packages += tuple(name for name in closure(SOURCE_PACKAGES) if name not in packages)
    requirements = pins(packages)
    comment = ("pinned to the versions infer was tested with; installed --no-deps "
               "(the runtime imports numpy and onnxruntime" + (", and boto3 for queue and bucket events)" if sources
                                                              else " only)"))
    (out / "requirements.txt").write_text(render_requirements(requirements, comment))
    if ca_bundle is not None:
        shutil.copy2(ca_bundle, out / "ca-bundle.crt")
    spec = ImageSpec(model_file=files.model.name, arch=arch, python=python, base_image=base_image,
                     verified=files.verified, environment=environment, ca_bundle=ca_bundle is not None)
    (out / "Dockerfile").write_text(render_dockerfile(spec))
    (out / ".dockerignore").write_text(render_dockerignore(spec.ca_bundle))
    runtime = [p for p in (out / "infer").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    contents = [(f"/var/task/{p.relative_to(out)}", p.stat().st_size) for p in sorted(runtime)]
    contents += [(f"/var/task/model/{p.name}", p.stat().st_size) for p in files.paths]
    return PackageResult(
        out=out, spec=spec, arch=arch, model_bytes=files.size_bytes,
        runtime_bytes=sum(p.stat().st_size for p in runtime),
        dependency_bytes=installed_size_bytes(packages), requirements=requirements, contents=contents, load=load,
    )


def choose_load(model_bytes: int, strategy: str | None, artifact: str | None, environment: dict) -> LoadChoice:
    """The recommended load strategy and artifact for this size, with the user's overrides applied."""
    choice = recommend(model_bytes)
    strategy = strategy or environment.get(contract.LOAD_STRATEGY)
    if strategy and strategy not in contract.STRATEGIES:
        raise PackageError(f"--strategy must be one of {', '.join(contract.STRATEGIES)}, not {strategy!r}")
    if artifact and artifact not in contract.ARTIFACTS:
        raise PackageError(f"--artifact must be one of {', '.join(contract.ARTIFACTS)}, not {artifact!r}")
    if (strategy or choice.strategy) == choice.strategy and (artifact or choice.artifact) == choice.artifact:
        return choice
    return LoadChoice(strategy or choice.strategy, artifact or choice.artifact, "chosen with --strategy/--artifact")


def to_ort_files(files: ModelFiles, model_dir: Path) -> ModelFiles:
    """Convert the model to .ort in the build context, with a manifest that describes the .ort file."""
    from infer.convert.errors import ConvertError
    from infer.convert.optimize import to_ort

    target = model_dir / (files.model.stem + ".ort")
    try:
        to_ort(files.model, target)
    except ConvertError as exc:
        raise PackageError(f"{exc}; package the .onnx instead with --artifact onnx") from None
    manifest = json.loads(files.manifest.read_text()) if files.manifest else {"name": files.name}
    digest = sha256_of(target)
    manifest.update({"sha256": digest, "files": {target.name: digest}, "artifact": "ort",
                     "converted_from": files.model.name})
    manifest_path = target.with_suffix(".json")
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return ModelFiles(target, manifest_path, name=files.name, verified=True)


def ric_closure() -> tuple[str, ...]:
    """awslambdaric and the packages it requires, for a base image without a Runtime Interface Client."""
    return closure(RIC_PACKAGES)


def describe(result: PackageResult) -> str:
    """What the user is told: the files, the dependencies, and the estimated size over the base image."""
    mb = 1024 * 1024
    spec = result.spec
    lines = [
        f"Build context written to {result.out}",
        f"  base image    {spec.base}" + ("" if spec.lambda_base else " (entry point: awslambdaric)"),
        f"  architecture  {result.arch}, {PLATFORMS[result.arch]} (wheels fetched for it: builds anywhere, no emulation)",
        f"  python        {spec.python}" + ("" if spec.lambda_base else " (the base image must have it; the build checks)"),
        f"  model         {result.model_bytes / mb:.2f} MB: " + ", ".join(
            name.rsplit("/", 1)[1] for name, _ in result.contents if name.startswith("/var/task/model/")),
        f"  runtime       {result.runtime_bytes / 1024:.0f} KB in /var/task/infer (bytecode compiled during the build)",
        "  dependencies  " + ", ".join(f"{k}=={v}" for k, v in sorted(result.requirements.items()))
        + f" (about {result.dependency_bytes / mb:.0f} MB)",
        f"  expected size about {result.added_bytes / mb:.0f} MB on top of the base image",
        "  sha256        " + ("verified now; the image skips the check at cold start" if spec.verified
                              else "no digests in the manifest; not checked"),
        f"  loading       {spec.environment.get(contract.LOAD_STRATEGY)}, .{Path(spec.model_file).suffix.lstrip('.')}"
        + (f": {result.load.reason}" if result.load else "") + " (override: --strategy, --artifact)",
        f"Build it: podman build --platform {PLATFORMS[result.arch]} --build-arg BUILDPLATFORM={host_platform()} "
        f"-t {Path(spec.model_file).stem} {result.out}",
    ]
    return "\n".join(lines)
