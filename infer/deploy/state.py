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


# What `infer tune MODEL` measured, by model name, so that `infer deploy MODEL --memory tuned` can use it.
POLICIES = ("balanced", "cheapest", "fastest")


def _tuning_path(name: str) -> Path:
    return config_dir() / "tuned" / f"{name}.json"


def save_tuning(name: str, record: dict) -> Path:
    path = _tuning_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(path)
    return path


def tuned_memory(name: str, policy: str) -> tuple[int, dict]:
    """The memory size `infer tune` recommended for `name` under `policy`, and the record it comes from;
    ValueError says what to run when there is none."""
    if policy not in POLICIES:
        raise ValueError(f"--memory tuned:POLICY takes one of {', '.join(POLICIES)}, not {policy!r}")
    try:
        record = json.loads(_tuning_path(name).read_text())
        return int(record["recommendation"][policy]), record
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(f"no tuning recorded for {name!r}: run infer tune MODEL --memory 512,1024,1769,3008 "
                         "first, or give --memory in MB") from None
