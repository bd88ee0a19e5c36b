"""podman as argument lists: a storage location and the options that make it work without Docker's engine.

`runc` and `cgroupfs` (crun refuses hybrid cgroups), explicit ulimits, explicit --root/--runroot (a storage
configuration file costs every run a stall), and host networking (builds reach the package index, and
containers reach a Runtime API server on the host's loopback).
"""

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from platform import machine as host_machine

from infer.runtime.contract import OCI_PLATFORMS


class PodmanError(RuntimeError):
    """podman is missing or a command failed; the message says which and what to do."""

ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


def host_platform() -> str:
    """This machine's OCI platform (linux/amd64, linux/arm64): where a build's first stage runs."""
    machine = host_machine().lower()
    arch = {"aarch64": "arm64", "amd64": "x86_64"}.get(machine, machine)
    return OCI_PLATFORMS.get(arch, f"linux/{machine}")


@dataclass(frozen=True)
class Podman:
    root: str | None = None  # image and container storage (podman's default when None)
    runroot: str | None = None
    executable: str = "podman"

    def argv(self, *args: str) -> list[str]:
        argv = [self.executable, "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
        if self.root:
            argv += ["--root", self.root]
        if self.runroot:
            argv += ["--runroot", self.runroot]
        return argv + list(args)

    def build_argv(self, context: str | Path, tag: str, platform: str | None = None) -> list[str]:
        """`podman build`; BUILDPLATFORM is passed because podman 4.3 leaves it unset (a stage that says
        `FROM --platform=$BUILDPLATFORM` would otherwise run on the target's platform)."""
        args = ["build", "--network", "host", *ULIMITS, "--tag", tag, "--build-arg", f"BUILDPLATFORM={host_platform()}"]
        if platform:
            args += ["--platform", platform]
        return self.argv(*args, str(context))

    def run_argv(self, image: str, name: str, environment: dict[str, str], pass_through: list[str],
                 labels: dict[str, str] | None = None) -> list[str]:
        """`podman run` for one Lambda execution environment. Variables in `pass_through` take their
        values from podman's own environment (kept out of the argument list); `environment` is set as given."""
        args = ["run", "--rm", "--init", "--network", "host", "--name", name, *ULIMITS]
        for key, value in sorted((labels or {}).items()):
            args += ["--label", f"{key}={value}"]
        for key in pass_through:
            args += ["--env", key]
        for key, value in environment.items():
            args += ["--env", f"{key}={value}"]
        return self.argv(*args, image)

    def run(self, *args: str, timeout_s: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        if shutil.which(self.executable) is None:
            raise PodmanError(f"{self.executable} is not installed (Debian/Ubuntu: apt-get install podman runc uidmap)")
        done = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout_s)
        if check and done.returncode != 0:
            raise PodmanError(f"podman {args[0]} failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
        return done

    def build(self, context: str | Path, tag: str, platform: str | None = None, log=None) -> None:
        """Build the context; its output goes to `log` line by line (default: discarded unless it fails)."""
        argv = self.build_argv(context, tag, platform)
        tail: list[str] = []
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
            assert proc.stdout is not None  # stdout=PIPE
            for line in proc.stdout:
                tail = (tail + [line.rstrip()])[-20:]
                if log:
                    log(line.rstrip())
        if proc.returncode != 0:
            raise PodmanError("podman build failed:\n" + "\n".join(tail))

    def container_names(self, label: str) -> list[str]:
        done = self.run("ps", "--all", "--filter", f"label={label}", "--format", "{{.Names}}", check=False)
        return done.stdout.split()

    def remove(self, *names: str) -> None:
        if names:
            self.run("rm", "--force", "--ignore", "--time", "0", *names, check=False)
