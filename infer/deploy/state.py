"""Deployed functions remembered on this machine, so `infer predict NAME` and `infer destroy NAME` find them.

One JSON file, `deployments.json`, in $INFER_CONFIG_DIR, else $XDG_CONFIG_HOME/infer, else ~/.config/infer.
"""

import json
import os
from pathlib import Path


def config_dir() -> Path:
    if os.environ.get("INFER_CONFIG_DIR"):
        return Path(os.environ["INFER_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "infer"


def _path() -> Path:
    return config_dir() / "deployments.json"


def load_all() -> dict[str, dict]:
    try:
        data = json.loads(_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def lookup(name: str) -> dict | None:
    record = load_all().get(name)
    return record if isinstance(record, dict) else None


def save(name: str, record: dict) -> Path:
    data = load_all()
    data[name] = record
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def forget(name: str) -> None:
    data = load_all()
    if data.pop(name, None) is not None:
        _path().write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
