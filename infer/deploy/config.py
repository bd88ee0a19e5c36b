"""Deploy settings from a file, with named environments, and from INFER_* variables.

The file is `infer.toml` in the current directory, else the `[tool.infer]` table of its `pyproject.toml`.
Top-level keys apply to every deployment; `[environments.NAME]` (selected with `infer deploy --stage NAME`)
overrides them. Then INFER_REGION, INFER_PROFILE and INFER_NAME override the file, and flags override
everything: file < environment < flag. (AWS_REGION and AWS_PROFILE stay where botocore puts them, below the
file: a shell's everyday AWS_REGION should not silently move a stage the file pins to another region.)

    resolve(stage, cwd, environ) -> ({deploy parameter: value}, the file or None)
"""

import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from infer.runtime import contract

from . import DeployError

ENVIRONMENT_VARIABLES = {"INFER_REGION": "region", "INFER_PROFILE": "profile", "INFER_NAME": "name"}


def _text(value) -> str | None:
    return None if isinstance(value, str) and value else "a non-empty string"


def _choice(*allowed: str) -> Callable[[Any], str | None]:
    return lambda value: None if value in allowed else f"one of {', '.join(allowed)}"


def _whole(low: int, high: int) -> Callable[[Any], str | None]:
    def check(value) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return None if ok else f"a whole number from {low} to {high}"
    return check


def _flag(value) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _texts(value) -> str | None:
    ok = isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    return None if ok else 'a list of strings, like ["a", "b"]'


def _table(value) -> str | None:
    ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    return None if ok else 'a table of strings, like { KEY = "value" }'


def _memory(value) -> str | None:
    if isinstance(value, str) and value.split(":")[0] == "tuned":
        return None  # infer tune's recommendation, checked when it is looked up
    problem = _whole(contract.MIN_MEMORY_MB, contract.MAX_MEMORY_MB)(value)
    return problem and f'{problem}, or "tuned" (infer tune\'s recommendation)'


def _concurrency(value) -> str | None:
    return None if value is False or _whole(1, 1000)(value) is None else "a whole number from 1 to 1000, or false (none)"


def _prefix(value) -> str | None:
    return None if isinstance(value, str) else 'a string (a key prefix like "in/", or "" for the whole bucket)'


# file key: (the `infer deploy` parameter it sets, the check naming what is allowed)
KEYS: dict[str, tuple[str, Callable[[Any], str | None]]] = {
    "name": ("name", _text), "region": ("region", _text), "profile": ("profile", _text),
    "memory": ("memory", _memory),
    "timeout": ("timeout", _whole(contract.MIN_TIMEOUT_S, contract.MAX_TIMEOUT_S)),
    "arch": ("arch", _choice(*contract.ARCHITECTURES)), "python": ("python", _choice(*contract.PYTHON_VERSIONS)),
    "format": ("format", _choice("image", "zip")), "public": ("public", _flag),
    "reserved_concurrency": ("reserved_concurrency", _concurrency),
    "provisioned_concurrency": ("provisioned_concurrency", _whole(1, 1000)),
    "ephemeral_storage": ("ephemeral_storage",
                          _whole(contract.MIN_EPHEMERAL_STORAGE_MB, contract.MAX_EPHEMERAL_STORAGE_MB)),
    "log_retention": ("log_retention", _whole(1, 3653)), "cors_origins": ("cors_origin", _texts),
    "tags": ("tag", _table), "env": ("env", _table), "vpc_id": ("vpc_id", _text), "subnet_ids": ("subnet_id", _texts),
    "kms_key": ("kms_key", _text), "invoke_principals": ("invoke_principal", _texts),
    "dead_letter_queue": ("dead_letter_queue", _flag), "monitoring": ("monitoring", _flag),
    "alarm_topic": ("alarm_topic", _text),
    "url": ("url", _flag), "snapstart": ("snapstart", _flag), "queue": ("queue", _flag),
    "max_receives": ("max_receives", _whole(1, 1000)), "batch_size": ("batch_size", _whole(1, 10_000)),
    "batching_window": ("batching_window", _whole(0, 300)), "max_concurrency": ("max_concurrency", _whole(2, 1000)),
    "bucket": ("bucket", _choice("new")), "prefix": ("prefix", _prefix), "suffixes": ("suffix", _texts),
    "output": ("output", _text),
}


def find(cwd: Path) -> tuple[dict, Path | None]:
    """The settings table and its file: infer.toml, else pyproject.toml's [tool.infer], else nothing."""
    for path, table in ((cwd / "infer.toml", ()), (cwd / "pyproject.toml", ("tool", "infer"))):
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise DeployError(f"{path}: not valid TOML ({exc})", 2) from None
        for key in table:
            data = data.get(key, {}) if isinstance(data, dict) else {}
        if path.name == "infer.toml" or data:
            if not isinstance(data, dict):
                raise DeployError(f"{path}: [tool.infer] must be a table", 2)
            return data, path
    return {}, None


def _checked(values: Mapping, path: Path, where: str) -> dict[str, Any]:
    """{deploy parameter: value} for one table of the file; an unknown key or a bad value is refused."""
    params: dict[str, Any] = {}
    for key, value in values.items():
        if key not in KEYS:
            raise DeployError(f"{path}: {where}unknown key {key!r}; allowed: {', '.join(KEYS)}, environments", 2)
        param, check = KEYS[key]
        problem = check(value)
        if problem:
            raise DeployError(f"{path}: {where}{key} must be {problem}; got {value!r}", 2)
        if key == "reserved_concurrency" and value is False:
            params["no_reserved_concurrency"] = True
        elif isinstance(value, dict):
            params[param] = [f"{k}={v}" for k, v in value.items()]
        else:
            params[param] = value
    return params


def resolve(stage: str | None, cwd: Path, environ: Mapping[str, str]) -> tuple[dict[str, Any], Path | None]:
    """The file's settings (its top level, then the stage's), then the INFER_* variables."""
    data, path = find(cwd)
    params: dict[str, Any] = {}
    if path is not None:
        environments = data.get("environments", {})
        if not isinstance(environments, dict) or not all(isinstance(t, dict) for t in environments.values()):
            raise DeployError(f"{path}: environments must hold tables, like [environments.prod]", 2)
        params = _checked({k: v for k, v in data.items() if k != "environments"}, path, "")
        if stage is not None:
            if stage not in environments:
                known = ", ".join(sorted(environments)) or "none"
                raise DeployError(f"{path} has no [environments.{stage}] (it has: {known})", 2)
            params.update(_checked(environments[stage], path, f"[environments.{stage}] "))
    elif stage is not None:
        raise DeployError(f"--stage {stage} needs infer.toml or [tool.infer] in pyproject.toml in {cwd}, "
                          "with an [environments." + stage + "] table", 2)
    for variable, param in ENVIRONMENT_VARIABLES.items():
        if environ.get(variable):
            params[param] = environ[variable]
    return params, path
