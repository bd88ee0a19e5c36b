"""The model files a package carries: the .onnx file, its manifest, and any weights sidecars, verified."""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from . import PackageError


@dataclass
class ModelFiles:
    model: Path
    manifest: Path | None = None
    sidecars: list[Path] = field(default_factory=list)
    name: str = ""
    verified: bool = False  # every sha256 in the manifest was checked here

    @property
    def paths(self) -> list[Path]:
        return [self.model, *([self.manifest] if self.manifest else []), *self.sidecars]

    @property
    def size_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.paths)


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def model_files(model: str | Path) -> ModelFiles:
    """Find the manifest and sidecars beside `model` and check every sha256 the manifest records."""
    model = Path(model)
    if not model.is_file():
        raise PackageError(f"model file not found: {model}")
    if model.suffix not in (".onnx", ".ort"):
        raise PackageError(f"{model} is not an .onnx (or .ort) model; convert it first: infer convert {model}")
    manifest_path = model.with_suffix(".json")
    manifest = {}
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except ValueError as exc:
            raise PackageError(f"the manifest {manifest_path} is not valid JSON: {exc}") from None
        if not isinstance(manifest, dict):
            raise PackageError(f"the manifest {manifest_path} is not a JSON object")
    else:
        manifest_path = None
    found = ModelFiles(model, manifest_path, name=manifest.get("name") or model.stem)
    expected = manifest.get("sha256")
    if expected and sha256_of(model) != expected:
        raise PackageError(f"{model} does not match the sha256 in {manifest_path.name}; convert the model again, "
                           "or put back the file the manifest describes")
    for name, digest in (manifest.get("files") or {}).items():
        if digest == expected or name == model.name:
            continue
        path = model.parent / name
        if not path.is_file():
            raise PackageError(f"{name}, which {manifest_path.name} lists, is missing beside {model}")
        if sha256_of(path) != digest:
            raise PackageError(f"{path} does not match the sha256 that {manifest_path.name} records for it")
        found.sidecars.append(path)
    sidecar = model.with_name(model.name + ".data")
    if sidecar.is_file() and sidecar not in found.sidecars:
        if manifest.get("files"):
            raise PackageError(f"{sidecar} is beside the model but {manifest_path.name} does not list it; "
                               "convert the model again so the manifest covers its weights")
        found.sidecars.append(sidecar)
    found.verified = bool(expected)
    return found
