"""The manifest beside a model (`iris.onnx` -> `iris.json`), and the sha256 check of the files it lists.

Standard library only: the runtime checks a model with it before loading, and `infer package` checks
one with it before building an image.
"""

import json
import os

from . import contract


class ManifestError(ValueError):
    """The manifest cannot be read, or a file does not match it; the message says which and what to do."""


def path_for(model_path: str) -> str:
    return os.path.splitext(model_path)[0] + ".json"


def read(model_path: str) -> dict:
    """The manifest beside `model_path`, or {} when there is none."""
    path = path_for(model_path)
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ManifestError(f"cannot read the model manifest {path}: {exc}") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"cannot read the model manifest {path}: it is not a JSON object")
    return manifest


def served_name(model_path, name: str | None = None) -> str:
    """The name a model is served under: `name`, else its manifest's, else the file's stem."""
    try:
        manifest = read(str(model_path))
    except ManifestError:
        manifest = {}
    return contract.model_name(str(model_path), manifest.get("name"), name)


def sha256(path: str) -> str:
    import hashlib  # only when a manifest asks for the check: its OpenSSL binding costs ~2 ms of an init

    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def verify(model_path: str, manifest: dict) -> list[str]:
    """Check the model and every other file the manifest lists (weights sidecars) against their sha256;
    returns the sidecars' paths. Nothing is checked when the manifest records no digest."""
    expected = manifest.get("sha256")
    if not expected:
        return []
    name = os.path.basename(path_for(model_path))
    actual = sha256(model_path)
    if actual != expected:
        raise ManifestError(
            f"{model_path} does not match its manifest {name}: sha256 {actual[:12]}... does not match the sha256 "
            f"{expected[:12]}... it records; convert the model again, or put back the file the manifest describes")
    directory, sidecars = os.path.dirname(model_path), []
    for listed, digest in (manifest.get("files") or {}).items():
        if digest == expected or listed == os.path.basename(model_path):
            continue  # the model file itself, whatever it is called now
        path = os.path.join(directory, listed)
        if not os.path.isfile(path):
            raise ManifestError(f"{listed}, which {name} lists, is missing beside {model_path}")
        if sha256(path) != digest:
            raise ManifestError(f"{path} does not match the sha256 that {name} records for it")
        sidecars.append(path)
    return sidecars
