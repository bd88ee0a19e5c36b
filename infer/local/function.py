"""What the emulator runs: a handler in a task root, with Lambda's environment variables."""

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from infer.runtime import contract
from infer.runtime.manifest import served_name
from infer.staging import stage_runtime

from .peer import process_tree


@dataclass
class FunctionConfig:
    name: str
    handler: str
    task_root: str
    environment: dict[str, str] = field(default_factory=dict)
    memory_mb: int = 2048
    timeout_s: float = 30.0
    region: str = "us-east-1"
    python: str = sys.executable
    cleanup: list[str] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:000000000000:function:{self.name}"

    def command(self, environment: dict[str, str]) -> list[str]:
        """How to start one execution environment whose process environment will be `environment`.

        Here a Python process running the real `awslambdaric`; a container image's function returns
        a `podman run` command that passes `environment` into the container instead.
        """
        return [self.python, "-m", "awslambdaric", self.handler]

    def runtime_processes(self, pid: int, runtime_api: str) -> list[int]:
        """The processes that may call the Runtime API at `runtime_api` of the environment started as `pid`:
        that process and those below it."""
        return process_tree(pid)

    def process_environment(self) -> dict[str, str]:
        """The variables Lambda sets; nothing else of the caller's environment leaks in (no credentials)."""
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "PYTHONPATH": self.task_root,
            "LAMBDA_TASK_ROOT": self.task_root,
            "_HANDLER": self.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{version}",
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }
        env.update(self.environment)
        return env

    def remove_staging(self) -> None:
        for path in self.cleanup:
            shutil.rmtree(path, ignore_errors=True)
        self.cleanup.clear()


def default_region() -> str:
    """The region the emulated function lives in, found as `infer predict` finds the one it signs for."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def model_function(model_path: str | Path, name: str | None = None, memory_mb: int = 2048,
                   timeout_s: float = 30.0, environment: dict[str, str] | None = None) -> FunctionConfig:
    """The infer runtime serving one model file, staged in a temporary task root; `environment` adds
    variables such as INFER_LOAD_STRATEGY."""
    model_path = Path(model_path).resolve()
    task_root = tempfile.mkdtemp(prefix="infer-task-")
    stage_runtime(task_root)
    environment = {**(environment or {}), contract.MODEL_PATH: str(model_path)}
    if name:
        environment[contract.MODEL_NAME] = name
    return FunctionConfig(
        name=served_name(model_path, name),
        handler=contract.HANDLER,
        task_root=task_root,
        environment=environment,
        memory_mb=memory_mb,
        timeout_s=timeout_s,
        region=default_region(),
        cleanup=[task_root],
    )
