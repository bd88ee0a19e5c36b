"""Lambda's resource model for the emulator's execution environments: the CPU share and the memory limit
that a function's memory size buys, enforced with a control group per environment.

Lambda gives a function CPU in proportion to its memory: one vCPU at MB_PER_VCPU (1,769 MB), so 512 MB
gets 29% of one vCPU and 3,008 MB 1.7 vCPUs. Each environment gets its own group with a CPU quota of
memory / MB_PER_VCPU periods (cgroup v1 `cpu.cfs_quota_us` over a `cpu.cfs_period_us` of 100,000 us;
cgroup v2 `cpu.max`) and a memory limit of its memory size (`memory.limit_in_bytes`; `memory.max`). The
groups live under the emulator's own group, in one folder `infer-<pid>` per pool, and are removed when the
environment's process is gone and when the pool closes; folders left by an emulator that was killed are
swept when the next one starts.

`detect()` finds a hierarchy this process can write (cgroup v2 with the cpu and memory controllers, else
cgroup v1's cpu and memory hierarchies); where there is none (no root, a locked-down container), it says
why, and the pool runs without (`Pool.cpu_share_enforced` is False).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from infer.runtime.contract import MB_PER_VCPU

PERIOD_US = 100_000  # the CFS period the quota is a share of
MIN_QUOTA_US = 1_000  # the smallest quota the kernel takes
REMOVE_WAIT_S = 2.0  # how long a group may stay busy while its last processes are reaped
PREFIX = "infer-"


def cpu_quota_us(memory_mb: int) -> int:
    """The CPU time per PERIOD_US that `memory_mb` buys on Lambda (one vCPU per MB_PER_VCPU)."""
    return max(MIN_QUOTA_US, round(memory_mb / MB_PER_VCPU * PERIOD_US))


def vcpus(memory_mb: int) -> float:
    return cpu_quota_us(memory_mb) / PERIOD_US


def _write(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _read_counter(path: Path, key: str) -> int:
    """A `key value` line of a cgroup file (memory.events, memory.oom_control), 0 if absent."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class Layout:
    """Where one cgroup version keeps what this module writes."""

    version: int
    quota: tuple[str, str]  # (file, format of quota and period)
    memory_limit: str
    oom_events: tuple[str, str]  # (file, key of the OOM kill counter)
    no_swap: tuple[str, str]  # (file, value): no swapping past the limit, as Lambda has no swap (where the file exists)


V1 = Layout(1, ("cpu.cfs_quota_us", "{quota}"), "memory.limit_in_bytes", ("memory.oom_control", "oom_kill"),
            ("memory.memsw.limit_in_bytes", "{limit}"))
V2 = Layout(2, ("cpu.max", "{quota} {period}"), "memory.max", ("memory.events", "oom_kill"), ("memory.swap.max", "0"))


class Group:
    """One environment's group: its CPU quota and memory limit, the processes in it, and its removal."""

    def __init__(self, layout: Layout, cpu_dir: Path, memory_dir: Path, memory_mb: int):
        self.layout, self.cpu_dir, self.memory_dir = layout, cpu_dir, memory_dir
        self.memory_mb = memory_mb
        self.quota_us = cpu_quota_us(memory_mb)
        self._removed = False
        self._lock = threading.Lock()

    @property
    def dirs(self) -> list[Path]:
        return list(dict.fromkeys([self.cpu_dir, self.memory_dir]))

    def create(self) -> Group:
        for folder in self.dirs:
            folder.mkdir()
        try:
            if self.layout.version == 1:
                _write(self.cpu_dir / "cpu.cfs_period_us", str(PERIOD_US))
            name, template = self.layout.quota
            _write(self.cpu_dir / name, template.format(quota=self.quota_us, period=PERIOD_US))
            limit = self.memory_mb * 1024 * 1024
            _write(self.memory_dir / self.layout.memory_limit, str(limit))
            swap_file, value = self.layout.no_swap
            if (self.memory_dir / swap_file).exists():
                _write(self.memory_dir / swap_file, value.format(limit=limit))
        except OSError:
            self.remove()
            raise
        return self

    def add(self, pid: int) -> None:
        """Move process `pid` (and the threads and children it starts from now on) into the group."""
        for folder in self.dirs:
            _write(folder / "cgroup.procs", str(pid))

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the group for going over its memory limit."""
        name, key = self.layout.oom_events
        return _read_counter(self.memory_dir / name, key) > 0

    def remove(self) -> None:
        """Remove the group once its processes are gone (idempotent; waits briefly for them)."""
        with self._lock:
            if self._removed:
                return
            self._removed = True
        for folder in self.dirs:
            _remove_dir(folder)


def _remove_dir(folder: Path, wait_s: float = REMOVE_WAIT_S) -> bool:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            folder.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:  # EBUSY: a process is still in it
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


class Hierarchy:
    """The emulator's folder of groups (`infer-<pid>`) in one cgroup hierarchy: creates one group per environment."""

    def __init__(self, layout: Layout, cpu_parent: Path, memory_parent: Path):
        self.layout = layout
        self.name = f"{PREFIX}{os.getpid()}-{id(self):x}"
        self.parents = (cpu_parent, memory_parent)
        self.cpu_base, self.memory_base = cpu_parent / self.name, memory_parent / self.name
        self._count = 0
        self._lock = threading.Lock()
        self._groups: list[Group] = []

    @property
    def version(self) -> int:
        return self.layout.version

    def open(self) -> Hierarchy:
        """Create the pool's folder (sweeping those of emulators that are gone); OSError if it cannot."""
        for parent in dict.fromkeys(self.parents):
            sweep(parent)
            if self.layout.version == 2 and "cpu" not in (parent / "cgroup.subtree_control").read_text().split():
                _write(parent / "cgroup.subtree_control", "+cpu +memory")  # refused where the parent has processes
        for base in dict.fromkeys([self.cpu_base, self.memory_base]):
            base.mkdir()
            if self.layout.version == 2:  # let the environments' groups below it have cpu and memory
                _write(base / "cgroup.subtree_control", "+cpu +memory")
        return self

    def group(self, memory_mb: int) -> Group:
        """A new group for one environment of `memory_mb`; OSError if it cannot be made."""
        with self._lock:
            self._count += 1
            name = f"env-{self._count}"
        group = Group(self.layout, self.cpu_base / name, self.memory_base / name, memory_mb).create()
        with self._lock:
            self._groups.append(group)
        return group

    def close(self) -> None:
        """Remove every group made here, and the folder."""
        with self._lock:
            groups, self._groups = self._groups, []
        for group in groups:
            group.remove()
        for base in dict.fromkeys([self.cpu_base, self.memory_base]):
            _remove_dir(base, wait_s=0.5)


def sweep(parent: Path) -> None:
    """Remove the empty groups left under `parent` by emulators whose process is gone (killed, crashed)."""
    try:
        folders = [p for p in parent.iterdir() if p.is_dir() and p.name.startswith(PREFIX)]
    except OSError:
        return
    for folder in folders:
        pid = folder.name[len(PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or Path(f"/proc/{pid}").exists():
            continue
        for child in folder.iterdir():
            if child.is_dir():
                _remove_dir(child, wait_s=0)
        _remove_dir(folder, wait_s=0)


def _mounts(mounts_file: str) -> list[tuple[str, str, set[str]]]:
    """(mount point, type, options) of the cgroup filesystems."""
    found = []
    with open(mounts_file) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 4 and fields[2] in ("cgroup", "cgroup2"):
                found.append((fields[1], fields[2], set(fields[3].split(","))))
    return found


def _own_paths(cgroup_file: str) -> dict[str, str]:
    """This process's group per controller ("" for cgroup v2's unified hierarchy)."""
    paths = {}
    with open(cgroup_file) as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path.lstrip("/")
    return paths


def detect(mounts_file: str = "/proc/self/mounts", cgroup_file: str = "/proc/self/cgroup") -> tuple[Hierarchy | None, str]:
    """A writable hierarchy with CPU and memory control for the emulator's groups, or None and why not."""
    try:
        mounts, own = _mounts(mounts_file), _own_paths(cgroup_file)
    except (OSError, ValueError) as exc:
        return None, f"cannot read the cgroup mounts: {exc}"
    reasons = []
    for point, kind, _ in mounts:
        if kind != "cgroup2":
            continue
        parent = Path(point) / own.get("", "")
        try:
            controllers = set((parent / "cgroup.controllers").read_text().split())
        except OSError:
            controllers = set()
        if not {"cpu", "memory"} <= controllers:
            reasons.append(f"cgroup v2 at {point} has no cpu and memory controllers for this process")
            continue
        hierarchy, reason = _try(V2, parent, parent)
        if hierarchy:
            return hierarchy, ""
        reasons.append(reason)
    v1 = {c: Path(point) for point, kind, options in mounts if kind == "cgroup" for c in ("cpu", "memory") if c in options}
    if {"cpu", "memory"} <= set(v1):
        hierarchy, reason = _try(V1, v1["cpu"] / own.get("cpu", ""), v1["memory"] / own.get("memory", ""))
        if hierarchy:
            return hierarchy, ""
        reasons.append(reason)
    elif not reasons:
        reasons.append("no cgroup hierarchy with the cpu and memory controllers is mounted")
    return None, "; ".join(reasons)


@functools.cache
def usable() -> bool:
    """Whether this process can make control groups with CPU and memory control (found once)."""
    hierarchy, _ = detect()
    if hierarchy is not None:
        hierarchy.close()
    return hierarchy is not None


def _try(layout: Layout, cpu_parent: Path, memory_parent: Path) -> tuple[Hierarchy | None, str]:
    hierarchy = Hierarchy(layout, cpu_parent, memory_parent)
    try:
        return hierarchy.open(), ""
    except OSError as exc:
        hierarchy.close()
        return None, f"cannot create a group in cgroup v{layout.version} ({cpu_parent}): {exc.strerror or exc}"
