"""The zip route: a deployment zip for Lambda's managed Python runtime (and SnapStart).

Steps: verify the model's files; stage the runtime alone; install the pinned dependencies as manylinux
wheels for the target architecture and Python (pip --platform, --no-deps, binary only); put the model in
model/ as model.onnx (the runtime's default path) with its manifest and weights; compile bytecode for the
target Python when one is at hand; check the unzipped size against Lambda's 250 MB; write the zip.
"""

import compileall
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from infer.load_choice import recommend
from infer.runtime import contract
from infer.staging import stage_runtime

from . import PackageError, imports
from .context import check_options
from .dockerfile import OLDEST_MANYLINUX_MINOR, check_environment
from .model import model_files
from .requirements import RUNTIME_PACKAGES, RUNTIME_RANGES, WHEEL_MACHINES, pins

UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024  # Lambda: function code and layers, unzipped


def manylinux_tags(python: str, glibc: tuple[int, int] | None = None) -> list[str]:
    """Every manylinux tag the managed runtime's glibc (or `glibc`) can load, newest first."""
    major, minor = glibc or contract.RUNTIME_GLIBC[python]
    return [f"manylinux_{major}_{m}" for m in range(minor, OLDEST_MANYLINUX_MINOR - 1, -1)] + ["manylinux2014"]


@dataclass
class ZipResult:
    path: Path
    unzipped_bytes: int
    zipped_bytes: int
    compiled: bool  # .pyc for the target Python are inside
    requirements: dict[str, str]
    environment: dict[str, str] = field(default_factory=dict)  # for the function's configuration


def pip_argv(target: Path, requirements: dict[str, str], arch: str, python: str, exact: bool = True,
             glibc: tuple[int, int] | None = None) -> list[str]:
    """pip installing `requirements` (name -> version, or -> a range when not `exact`) as wheels for the target."""
    argv = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
            "--only-binary=:all:", "--no-compile", "--implementation", "cp", "--python-version", python,
            "--target", str(target)]  # bytecode is compiled afterwards, for the target Python
    for tag in manylinux_tags(python, glibc):
        argv += ["--platform", f"{tag}_{WHEEL_MACHINES[arch]}"]
    return argv + [f"{name}{'==' if exact else ''}{version}" for name, version in sorted(requirements.items())]


def installed_versions(root: Path) -> dict[str, str]:
    """name -> version of the distributions pip put in `root`."""
    found = {}
    for info in root.glob("*.dist-info"):
        name, _, version = info.name[:-len(".dist-info")].partition("-")
        found[name.lower().replace("_", "-")] = version
    return found


def fetch_wheels(root: Path, requirements: dict[str, str], arch: str, python: str, log,
                 glibc: tuple[int, int] | None = None) -> dict[str, str]:
    """The pinned versions as wheels for the target; where one has none (an older glibc), the newest supported
    versions that do, said in the log. Returns what was installed."""
    where = f"Lambda's python{python} on {arch} (glibc {'.'.join(map(str, glibc or contract.RUNTIME_GLIBC[python]))})"
    done = subprocess.run(pip_argv(root, requirements, arch, python, glibc=glibc), capture_output=True, text=True)
    if done.returncode != 0 and "No matching distribution" in done.stderr + done.stdout:
        log(f"the pinned versions have no wheels for {where}; taking the newest supported versions that do")
        ranges = {name: RUNTIME_RANGES[name] for name in requirements}
        done = subprocess.run(pip_argv(root, ranges, arch, python, exact=False, glibc=glibc),
                              capture_output=True, text=True)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise PackageError(f"pip could not fetch wheels for {where}: {detail[0]}; "
                           "use --python 3.12 or newer (Amazon Linux 2023), or the image route")
    return {name: version for name, version in installed_versions(root).items() if name in requirements}


def tree_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file() and not path.is_symlink())


def compile_tree(root: Path, python: str) -> bool:
    """Bytecode for `python` (this interpreter, or a pythonX.Y on PATH); False when none is at hand."""
    if python == f"{sys.version_info.major}.{sys.version_info.minor}":
        return compileall.compile_dir(str(root), quiet=2, workers=0,
                                      invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    other = shutil.which(f"python{python}")
    if other is None:
        return False
    argv = [other, "-m", "compileall", "-q", "-q", "--invalidation-mode", "unchecked-hash", str(root)]
    return subprocess.run(argv, capture_output=True).returncode == 0


def write_zip(root: Path, out: Path) -> None:
    """Files in a fixed order with fixed timestamps, so the same input gives the same zip."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(str(path.relative_to(root)), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(path, "rb") as f:
                    archive.writestr(info, f.read())


def package_zip(model: str | Path, out: str | Path, arch: str = contract.DEFAULT_ARCH, python: str = contract.DEFAULT_PYTHON,
                environment: dict[str, str] | None = None, log=None, strategy: str | None = None,
                glibc: tuple[int, int] | None = None, snapstart: bool = True) -> ZipResult:
    """The deployment zip; `glibc` replaces the managed runtime's (contract.RUNTIME_GLIBC) when the zip is meant
    to run elsewhere, e.g. under the emulator on this machine. `snapstart`: the function will run with SnapStart
    (the model is then loaded eagerly, into the snapshot); without it, the load strategy the cold-start sweep
    recommends for the model's size."""
    check_options(arch, python)
    environment = dict(environment or {})
    if Path(model).suffix == ".ort":
        raise PackageError("the zip route packages an .onnx model (it loads eagerly into a SnapStart snapshot); "
                           "give the .onnx, or use the image route for an .ort model")
    if strategy is not None:
        if strategy not in contract.STRATEGIES:
            raise PackageError(f"--strategy must be one of {', '.join(contract.STRATEGIES)}, not {strategy!r}")
        environment[contract.LOAD_STRATEGY] = strategy
    try:
        check_environment(environment)
    except ValueError as exc:
        raise PackageError(str(exc)) from None
    out = Path(out)
    if out.suffix != ".zip":
        raise PackageError(f"the zip route writes a .zip file; give -o NAME.zip, not {out}")
    if out.exists() and not out.is_file():
        raise PackageError(f"{out} exists and is not a file")
    files = model_files(model)
    log = log or (lambda line: None)
    requirements = pins(RUNTIME_PACKAGES)
    with tempfile.TemporaryDirectory(prefix="infer-zip-") as staging:
        root = Path(staging)
        stage_runtime(root, compile_bytecode=False)  # compiled below, for the target Python
        imports.write(root / "infer" / "runtime", python=python, arch=arch)  # read ahead at init (runtime/preload.py)
        log(f"installing {', '.join(f'{k}=={v}' for k, v in sorted(requirements.items()))} for "
            f"Python {python} on {arch} (manylinux wheels)")
        requirements = fetch_wheels(root, requirements, arch, python, log, glibc)
        shutil.rmtree(root / "bin", ignore_errors=True)  # console scripts: nothing on Lambda runs them
        model_dir = root / "model"
        model_dir.mkdir()
        shutil.copy2(files.model, model_dir / "model.onnx")
        if files.manifest:
            shutil.copy2(files.manifest, model_dir / "model.json")
        for sidecar in files.sidecars:
            shutil.copy2(sidecar, model_dir / sidecar.name)  # the model refers to its weights by this name
        compiled = compile_tree(root, python)
        if not compiled:
            log(f"no Python {python} here to compile bytecode with; the zip holds sources only "
                "(slower cold starts: Lambda's code directory is read-only, so nothing is cached)")
        unzipped = tree_bytes(root)
        if unzipped > UNZIPPED_LIMIT_BYTES:
            raise PackageError(
                f"the zip would unpack to {unzipped / 2**20:.0f} MB, over Lambda's 250 MB limit for zip packages; "
                f"use the container image instead (up to 10 GB): infer package {model} -o DIR")
        out.parent.mkdir(parents=True, exist_ok=True)
        write_zip(root, out)
    if files.verified:
        environment.setdefault(contract.VERIFY_SHA256, "off")  # checked above, and a zip cannot change once deployed
    # SnapStart snapshots the environment after init: an eager load puts the loaded session in the snapshot, so a
    # restored environment starts with the model ready. Without it, init runs at every cold start.
    environment.setdefault(contract.LOAD_STRATEGY, "eager" if snapstart else recommend(files.size_bytes).strategy)
    return ZipResult(out, unzipped, out.stat().st_size, compiled, requirements, environment)


def describe_zip(result: ZipResult) -> str:
    mb = 2**20
    return "\n".join([
        f"Deployment zip written to {result.path}",
        f"  size          {result.zipped_bytes / mb:.1f} MB zipped, {result.unzipped_bytes / mb:.1f} MB unzipped "
        f"(Lambda allows 250 MB unzipped)",
        "  dependencies  " + ", ".join(f"{k}=={v}" for k, v in sorted(result.requirements.items())),
        f"  bytecode      {'compiled for the target Python' if result.compiled else 'not compiled (no matching Python here)'}",
        f"  handler       {contract.HANDLER}",
    ] + ([f"  environment   {k}={v}" for k, v in sorted(result.environment.items())]))
