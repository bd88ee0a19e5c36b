"""The model files a package carries: the .onnx file, its manifest, and any weights sidecars, verified."""

from dataclasses import dataclass, field
from pathlib import Path

from infer.runtime import contract
from infer.runtime import manifest as manifests

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
    return manifests.sha256(str(path))


def model_files(model: str | Path) -> ModelFiles:
    """Find the manifest and sidecars beside `model` and check every sha256 the manifest records, as the
    runtime would (so the image may skip the check at cold start)."""
    model = Path(model)
    if not model.is_file():
        raise PackageError(f"model file not found: {model}")
    if model.suffix not in (".onnx", ".ort"):
        raise PackageError(f"{model} is not an .onnx (or .ort) model; convert it first: infer convert {model}")
    try:
        manifest = manifests.read(str(model))
        sidecars = [Path(p) for p in manifests.verify(str(model), manifest)]
    except manifests.ManifestError as exc:
        raise PackageError(str(exc)) from None
    manifest_path = Path(manifests.path_for(str(model))) if manifest else None
    found = ModelFiles(model, manifest_path, sidecars, name=contract.model_name(str(model), manifest.get("name")),
                       verified=bool(manifest.get("sha256")))
    sidecar = Path(contract.sidecar_path(str(model)))
    if sidecar.is_file() and sidecar not in found.sidecars:
        if manifest.get("files"):
            raise PackageError(f"{sidecar} is beside the model but {found.manifest.name if found.manifest else 'its manifest'} "
                               "does not list it; "
                               "convert the model again so the manifest covers its weights")
        found.sidecars.append(sidecar)
    return found
