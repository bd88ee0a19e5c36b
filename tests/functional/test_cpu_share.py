"""Lambda's resource model in the emulator, on this machine's real cgroups (skipped where none can be
written): each environment is in its own group with the CPU quota and memory limit its memory size buys,
a memory update gives new environments the new share, a busy loop under a quarter of a CPU gets clearly
less than a whole one, and every group is removed when the pool closes."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import FUNCTIONS
from infer.local import cgroups
from infer.local.function import FunctionConfig
from infer.local.pool import Pool

HIERARCHY, PROBLEM = cgroups.detect()
if HIERARCHY is not None:
    HIERARCHY.close()
pytestmark = pytest.mark.skipif(HIERARCHY is None, reason=f"no writable cgroups here: {PROBLEM}")


def membership(pid: int) -> dict[str, str]:
    groups = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            groups[controller] = path
    return groups


def pid_of(pool: Pool) -> int:
    invocation = pool.invoke(json.dumps({"rawPath": "/pid"}).encode())
    assert invocation.outcome == "ok", invocation.reason
    return json.loads(invocation.payload)["pid"]


def test_each_environment_runs_in_a_group_with_its_memory_share_and_the_groups_go_away():
    function = FunctionConfig(name="share", handler="behaviours.handler", task_root=str(FUNCTIONS), memory_mb=442)
    pool = Pool(function, concurrency=2, log=lambda line: None)
    assert pool.cpu_share_enforced
    resources = pool.resources
    assert resources is not None
    try:
        pid = pid_of(pool)
        group = pool.environments[0].group
        assert group is not None
        where = membership(pid)
        if resources.version == 1:
            assert where["cpu"].endswith(f"/{resources.name}/env-1") and where["memory"].endswith(f"/{resources.name}/env-1")
            assert (group.cpu_dir / "cpu.cfs_period_us").read_text().strip() == "100000"
            assert (group.cpu_dir / "cpu.cfs_quota_us").read_text().strip() == "24986"  # 442 / 1769 of a period
            assert int((group.memory_dir / "memory.limit_in_bytes").read_text()) == 442 * 1024 * 1024
            memsw = group.memory_dir / "memory.memsw.limit_in_bytes"
            assert not memsw.exists() or int(memsw.read_text()) == 442 * 1024 * 1024, "no swapping past the limit"
        else:
            assert where[""].endswith(f"/{resources.name}/env-1")
            assert (group.cpu_dir / "cpu.max").read_text().split() == ["24986", "100000"]
        pool.reconfigure(memory_mb=3538)  # retires the idle environment; the next one gets two vCPUs
        new_pid = pid_of(pool)
        assert new_pid != pid
        new_group = next(env.group for env in pool.environments if env.proc and env.proc.pid == new_pid)
        assert new_group is not None and new_group.quota_us == 200_000
        deadline = time.monotonic() + 5
        while group.cpu_dir.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not group.cpu_dir.exists(), "a retired environment's group is removed once its process is gone"
    finally:
        pool.close()
    assert not resources.cpu_base.exists() and not resources.memory_base.exists()


BUSY = ("import sys, time\nsys.stdin.read(1)  # start once it is in the group\nend = time.monotonic() + 1.0\n"
        "while time.monotonic() < end:\n    pass\nprint(time.process_time())\n")


def test_a_busy_loop_under_a_quarter_of_a_cpu_gets_clearly_less_than_a_whole_one():
    hierarchy, problem = cgroups.detect()
    assert hierarchy is not None, problem
    try:
        group = hierarchy.group(442)  # a quota of 25% of one CPU
        proc = subprocess.Popen([sys.executable, "-c", BUSY], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        group.add(proc.pid)
        out, _ = proc.communicate("x", timeout=30)
        cpu_seconds = float(out)
        assert cpu_seconds < 0.6, f"{cpu_seconds:.2f} CPU-seconds in 1 s of wall time under a 25% quota"
    finally:
        hierarchy.close()
