"""The emulator's control groups, on fake cgroup trees: what is written for cgroup v1 and v2, how the
hierarchy is found from the mounts, and that every group made is removed."""

from pathlib import Path

from infer.local import cgroups
from infer.runtime.contract import MB_PER_VCPU


def test_the_cpu_quota_is_lambdas_share_of_a_vcpu():
    assert cgroups.cpu_quota_us(MB_PER_VCPU) == cgroups.PERIOD_US
    assert cgroups.cpu_quota_us(512) == round(512 / 1769 * 100_000)
    assert cgroups.cpu_quota_us(10240) == round(10240 / 1769 * 100_000)  # about 5.8 vCPUs
    assert cgroups.cpu_quota_us(1) == cgroups.MIN_QUOTA_US


def fake_tree(root: Path, version: int) -> tuple[Path, Path]:
    mounts, own = root / "mounts", root / "cgroup"
    if version == 2:
        (root / "unified").mkdir()
        (root / "unified" / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
        (root / "unified" / "cgroup.subtree_control").write_text("")
        mounts.write_text(f"cgroup2 {root / 'unified'} cgroup2 rw,relatime 0 0\n")
        own.write_text("0::/\n")
    else:
        for name in ("cpu", "memory"):
            (root / name / "mine").mkdir(parents=True)
        mounts.write_text(f"cgroup {root / 'cpu'} cgroup rw,cpu 0 0\ncgroup {root / 'memory'} cgroup rw,memory 0 0\n"
                          f"cgroup2 {root / 'none'} cgroup2 rw 0 0\n")
        own.write_text("4:memory:/mine\n1:cpu:/mine\n0::/\n")
    return mounts, own


def test_cgroup_v1_files(tmp_path):
    mounts, own = fake_tree(tmp_path, 1)
    hierarchy, problem = cgroups.detect(str(mounts), str(own))
    assert hierarchy is not None and problem == "" and hierarchy.version == 1
    assert hierarchy.cpu_base.parent == tmp_path / "cpu" / "mine"
    group = hierarchy.group(512)
    assert (group.cpu_dir / "cpu.cfs_period_us").read_text() == "100000"
    assert (group.cpu_dir / "cpu.cfs_quota_us").read_text() == str(cgroups.cpu_quota_us(512))
    assert (group.memory_dir / "memory.limit_in_bytes").read_text() == str(512 * 1024 * 1024)
    group.add(1234)
    assert (group.cpu_dir / "cgroup.procs").read_text() == "1234"
    assert not group.oom_killed()
    (group.memory_dir / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    assert group.oom_killed()


def test_cgroup_v2_files(tmp_path):
    mounts, own = fake_tree(tmp_path, 2)
    hierarchy, problem = cgroups.detect(str(mounts), str(own))
    assert hierarchy is not None and hierarchy.version == 2, problem
    assert (tmp_path / "unified" / "cgroup.subtree_control").read_text() == "+cpu +memory"
    assert (hierarchy.cpu_base / "cgroup.subtree_control").read_text() == "+cpu +memory"
    group = hierarchy.group(3008)
    assert group.cpu_dir == group.memory_dir
    assert (group.cpu_dir / "cpu.max").read_text() == f"{cgroups.cpu_quota_us(3008)} 100000"
    assert (group.cpu_dir / "memory.max").read_text() == str(3008 * 1024 * 1024)
    (group.cpu_dir / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert group.oom_killed()


def test_no_hierarchy_says_why(tmp_path):
    (tmp_path / "mounts").write_text("proc /proc proc rw 0 0\n")
    (tmp_path / "cgroup").write_text("0::/\n")
    hierarchy, problem = cgroups.detect(str(tmp_path / "mounts"), str(tmp_path / "cgroup"))
    assert hierarchy is None and "no cgroup hierarchy" in problem
    (tmp_path / "v2").mkdir()
    mounts, own = fake_tree(tmp_path / "v2", 2)
    (tmp_path / "v2" / "unified" / "cgroup.controllers").write_text("pids\n")
    hierarchy, problem = cgroups.detect(str(mounts), str(own))
    assert hierarchy is None and "no cpu and memory controllers" in problem


def test_read_only_hierarchy_is_refused_with_its_reason(tmp_path):
    mounts, own = fake_tree(tmp_path, 1)
    (tmp_path / "cpu" / "mine").chmod(0o500)
    try:
        hierarchy, problem = cgroups.detect(str(mounts), str(own))
        if hierarchy is not None:  # root ignores the mode: nothing to check here
            hierarchy.close()
            return
        assert "cannot create a group in cgroup v1" in problem
    finally:
        (tmp_path / "cpu" / "mine").chmod(0o700)


def test_groups_and_folders_are_removed_and_stale_ones_swept(tmp_path):
    mounts, own = fake_tree(tmp_path, 1)
    stale = tmp_path / "cpu" / "mine" / "infer-999999999-1"
    (stale / "env-1").mkdir(parents=True)
    hierarchy, _ = cgroups.detect(str(mounts), str(own))
    assert hierarchy is not None
    assert not stale.exists(), "the folder of an emulator that is gone was swept"
    for memory in (128, 1769):
        group = hierarchy.group(memory)
        for folder in group.dirs:  # a fake tree keeps the files a kernel would not: empty it as rmdir would find it
            for file in folder.iterdir():
                file.unlink()
    for base in (hierarchy.cpu_base, hierarchy.memory_base):
        for folder in base.iterdir():
            if folder.is_file():
                folder.unlink()
    hierarchy.close()
    assert not hierarchy.cpu_base.exists() and not hierarchy.memory_base.exists()


def test_without_cgroups_the_pool_says_so_once(monkeypatch):
    from infer.local import environment
    from infer.local.function import FunctionConfig
    from infer.local.pool import Pool

    monkeypatch.setattr(cgroups, "detect", lambda: (None, "cgroup v1 at /sys/fs/cgroup/cpu is read-only"))
    monkeypatch.setattr(environment, "_warned", set())
    lines: list[str] = []
    function = FunctionConfig(name="f", handler="h.handler", task_root="/nonexistent")
    pools = [Pool(function, log=lines.append) for _ in range(2)]
    assert [p.cpu_share_enforced for p in pools] == [False, False]
    assert len(lines) == 1 and lines[0].startswith("warning: CPU share not enforced: cgroup v1")
    assert Pool(function, log=lines.append, resources=None).cpu_share_enforced is False
    for pool in pools:
        pool.close()


def test_a_container_environment_gets_the_same_share_through_podman():
    from infer.local.container import ContainerFunction

    function = ContainerFunction(name="f", image="localhost/f:latest", memory_mb=512, resource_limits=True)
    try:
        argv = function.command({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9"})
        run = argv[argv.index("run"):]
        assert run[1:9] == ["--cpu-period", "100000", "--cpu-quota", str(cgroups.cpu_quota_us(512)),
                            "--memory", "512m", "--memory-swap", "512m"]
        without = ContainerFunction(name="f", image="localhost/f:latest", resource_limits=False)
        assert "--cpu-quota" not in without.command({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9"})
        without.remove_staging()
    finally:
        function.remove_staging()
