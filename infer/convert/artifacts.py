"""The files `infer convert` writes: the .onnx model, its external-data sidecar, and the manifest."""

import hashlib
import json
import os
from pathlib import Path

from infer.runtime.contract import sidecar_path

# Weights above this size go to a sidecar (OUT.onnx.data): onnxruntime memory-maps external data, so
# a large model's session is created several times faster (see FACTS.md); small models stay one file.
EXTERNAL_DATA_MIN_BYTES = 64 * 1024 * 1024


def sidecar(out: Path) -> Path:
    return Path(sidecar_path(str(out)))


def manifest_path(out: Path) -> Path:
    return out.with_suffix(".json")


def weights_bytes(model) -> int:
    return sum(len(t.raw_data) or 4 * len(t.float_data) + 8 * len(t.int64_data) for t in model.graph.initializer)


def save_model(model, out: Path, external: bool | None = None) -> list[Path]:
    """Write the model (and a sidecar for large weights); return the files written, model first."""
    import onnx

    if external is None:
        external = weights_bytes(model) >= EXTERNAL_DATA_MIN_BYTES
    data = sidecar(out)
    if data.exists():
        data.unlink()
    tmp = out.with_name(f".{out.name}.tmp")
    if external:
        # Written under the final sidecar name, since the model refers to it by name.
        onnx.save_model(model, str(tmp), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data.name, size_threshold=1024)
    else:
        onnx.save_model(model, str(tmp))
    os.replace(tmp, out)
    return [out, data] if external else [out]


def load_model(path: Path):
    import onnx

    return onnx.load(str(path), load_external_data=True)


def files_of(out: Path) -> list[Path]:
    data = sidecar(out)
    return [out, data] if data.exists() else [out]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def size_bytes(out: Path) -> int:
    return sum(p.stat().st_size for p in files_of(out))


def opset_of(model) -> int:
    """The default-domain opset; a model of ai.onnx.ml operators alone has none, so give the highest import."""
    versions = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    return versions.get("ai.onnx") or max(versions.values(), default=0)


def opset_imports(model) -> dict[str, int]:
    return {o.domain or "ai.onnx": o.version for o in model.opset_import}


def write_manifest(out: Path, manifest: dict) -> Path:
    path = manifest_path(out)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def file_hashes(out: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in files_of(out)}
