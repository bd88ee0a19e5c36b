"""A container image as the emulator's function: each execution environment is a `podman run` of the image.

    fn = ContainerFunction(name="iris", image="localhost/iris:latest", podman=Podman(root, runroot))
    with Emulator(fn) as emulator: ...

The image's own entry point runs (the AWS base image's, or awslambdaric for other bases); the variables
Lambda sets, including AWS_LAMBDA_RUNTIME_API on the host's loopback, are passed into the container. The
container gets the CPU share and memory limit its memory size buys (podman's --cpu-quota and --memory), as
the pool's process environments get them from cgroups.py, where this process can make control groups.
"""

import itertools
import os
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from infer.podman import Podman
from infer.runtime.contract import HANDLER

from .cgroups import PERIOD_US, cpu_quota_us, usable
from .function import FunctionConfig
from .peer import process_tree

TASK_ROOT = "/var/task"
HOST_ONLY = {"PATH", "PYTHONPATH", "LAMBDA_TASK_ROOT"}  # the podman process needs these; the image has its own


@dataclass
class ContainerFunction(FunctionConfig):
    handler: str = HANDLER
    task_root: str = ""  # on the host: the environments' working directory (empty, temporary)
    image: str = ""
    podman: Podman = field(default_factory=Podman)
    instance: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    resource_limits: bool | None = None  # the CPU share and memory limit on the container; None: where cgroups work

    def limit_options(self) -> list[str]:
        """podman run's options for Lambda's resource model at this memory size (no swap, as on Lambda)."""
        memory = f"{self.memory_mb}m"
        return ["--cpu-period", str(PERIOD_US), "--cpu-quota", str(cpu_quota_us(self.memory_mb)),
                "--memory", memory, "--memory-swap", memory]

    def __post_init__(self):
        if not self.task_root:
            self.task_root = tempfile.mkdtemp(prefix="infer-container-")
            self.cleanup.append(self.task_root)
        self._numbers = itertools.count(1)

    @property
    def label(self) -> str:
        return f"infer.emulator={self.instance}"

    def command(self, environment: dict[str, str]) -> list[str]:
        name = f"infer-{self.instance}-{next(self._numbers)}"
        pass_through = sorted(key for key in environment if key not in HOST_ONLY)
        run = self.podman.run_argv(self.image, name, {"LAMBDA_TASK_ROOT": TASK_ROOT}, pass_through,
                                   labels={"infer.emulator": self.instance})
        at = run.index("run") + 1  # conmon, the container's parent, is not below the environment's process
        run[at:at] = ["--conmon-pidfile", self._conmon_pidfile(environment["AWS_LAMBDA_RUNTIME_API"])]
        if self.resource_limits if self.resource_limits is not None else usable():
            run[at:at] = self.limit_options()
        return [sys.executable, "-m", "infer.local.supervise", name, "--", *run]

    def runtime_processes(self, pid: int, runtime_api: str) -> list[int]:
        """The supervisor and podman below `pid`, and the container's processes, below its conmon."""
        processes = process_tree(pid)
        try:
            processes += process_tree(int(Path(self._conmon_pidfile(runtime_api)).read_text().strip()))
        except (OSError, ValueError):
            pass  # not started yet: only the supervisor's own processes
        return processes

    def _conmon_pidfile(self, runtime_api: str) -> str:
        return os.path.join(self.task_root, f"conmon-{runtime_api.rsplit(':', 1)[-1]}.pid")

    def containers(self) -> list[str]:
        """Containers of this function that still exist (running or not)."""
        return self.podman.container_names(self.label)

    def remove_staging(self) -> None:
        """After the emulator stops: remove any container of this function still there, then the staging."""
        self.podman.remove(*self.containers())
        super().remove_staging()
