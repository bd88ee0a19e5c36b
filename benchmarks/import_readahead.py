"""Where a cold `import numpy, onnxruntime` spends its time, and whether reading the files it needs ahead
of it (on a thread, at process start) helps, with and without the model read as well.

    .venv/bin/python benchmarks/import_readahead.py [--runs 7] [--model benchmarks/out/mlp_400mb.onnx.data]
        [--site DIR]   # numpy and onnxruntime from DIR instead (python -S, PYTHONPATH=DIR), e.g. on slowfs

1. Records the files a cold import opens, in order (strace -f -e openat on one cold import).
2. Cold and warm imports compared: wall time, major faults, blocks read (rusage) and what `fincore` finds
   resident after a cold import (the bytes the import really needs).
3. Variants, each a fresh interpreter with the packages (and the model) evicted first, interleaved sample
   by sample, in a cgroup with the CPU share of 2048 MB (1.16 vCPU) as the emulator gives a function:
   no read-ahead; the recorded files read ahead in import order; only the shared libraries; the model
   alone (today's prefetch); the files then the model; the model then the files.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infer.bench.cold import RUNTIME_PACKAGES, evict, package_dir, resident_bytes

PYTHON = sys.executable
IMPORTS = "import numpy, onnxruntime"
PACKAGES = [package_dir(p) for p in RUNTIME_PACKAGES]
SITE: list[str] = []  # with --site: python -S, the packages from there
ENV = dict(os.environ)
QUOTA_US = round(2048 / 1769 * 100_000)

# Runs first in the child: start the read-ahead thread, then import; prints the import's ms.
CHILD = """
import os, sys, threading, time
start = time.perf_counter()
lists = [[line for line in open(f).read().splitlines() if line] for f in sys.argv[1:] if f[4:5] != ":"]
parallel = [line for f in sys.argv[1:] if f.startswith("par") for line in open(f[5:]).read().splitlines() if line]
threads = next((int(f[3]) for f in sys.argv[1:] if f.startswith("par")), 0)
idle = [[line for line in open(f[5:]).read().splitlines() if line] for f in sys.argv[1:] if f.startswith("idle:")]
def read(paths):
    null = os.open(os.devnull, os.O_WRONLY)
    for p in paths:
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        size, off = os.fstat(fd).st_size, 0
        while off < size and (n := os.sendfile(null, fd, off, 8 << 20)) > 0:
            off += n
        os.close(fd)
def read_all():
    for paths in lists:
        read(paths)
def read_idle():  # I/O priority class idle for this thread (ioprio_set, x86_64 syscall 251)
    import ctypes
    ctypes.CDLL(None, use_errno=True).syscall(251, 1, 0, 3 << 13)
    for paths in idle:
        read(paths)
if lists:
    threading.Thread(target=read_all, daemon=True).start()
if idle:
    threading.Thread(target=read_idle, daemon=True).start()
if parallel:  # threads take the files in order from one queue
    queue = iter(parallel)
    def take():
        for path in queue:
            read([path])
    for _ in range(threads):
        threading.Thread(target=take, daemon=True).start()
import numpy, onnxruntime
print((time.perf_counter() - start) * 1000)
"""


def record_files(work: Path) -> list[str]:
    """The package files a cold import opens, in the order it opens them."""
    evict(PACKAGES)
    trace = work / "strace.txt"
    subprocess.run(["strace", "-f", "-e", "trace=openat", "-o", str(trace), PYTHON, *SITE, "-c", IMPORTS], check=True,
                   env=ENV)
    roots = [str(p.resolve()) for p in PACKAGES if p]
    seen: dict[str, None] = {}
    for line in trace.read_text().splitlines():
        if "openat(" not in line or "= -1" in line or "O_DIRECTORY" in line:
            continue
        path = os.path.realpath(line.split('"')[1])
        if any(path.startswith(r + os.sep) for r in roots) and os.path.isfile(path):
            seen.setdefault(path)
    return list(seen)


class CpuShare:
    """A cgroup v1 cpu group with the quota of 2048 MB, if this process may make one."""

    def __init__(self):
        self.folder = Path(f"/sys/fs/cgroup/cpu/infer-import-{os.getpid()}")
        try:
            self.folder.mkdir()
            (self.folder / "cpu.cfs_quota_us").write_text(str(QUOTA_US))
        except OSError:
            self.folder = None

    def enter(self):
        if self.folder:
            (self.folder / "cgroup.procs").write_text(str(os.getpid()))

    def close(self):
        if self.folder:
            self.folder.rmdir()


def child(lists: list[str], share: CpuShare) -> tuple[float, float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run([PYTHON, *SITE, "-c", CHILD, *lists], capture_output=True, text=True, check=True,
                         preexec_fn=share.enter, env=ENV)
    wall_ms = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall_ms, float(out.stdout.strip()), after.ru_majflt - before.ru_majflt


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--model", type=Path, default=Path(__file__).parent / "out" / "mlp_400mb.onnx.data")
    parser.add_argument("--site", type=Path, help="import numpy and onnxruntime from here (python -S)")
    args = parser.parse_args()
    if args.site:
        PACKAGES[:] = [args.site / "numpy", args.site / "numpy.libs", args.site / "onnxruntime"]
        SITE.append("-S")
        ENV["PYTHONPATH"] = str(args.site)
    work = Path(tempfile.mkdtemp(prefix="infer-imports-"))
    files = record_files(work)
    sizes = {f: os.path.getsize(f) for f in files}
    libraries = [f for f in files if ".so" in Path(f).name]
    by_size = sorted(libraries, key=lambda f: -sizes[f])
    print(f"a cold import opens {len(files)} package files, {sum(sizes.values()) / 1e6:.1f} MB; "
          f"{len(libraries)} shared libraries, {sum(sizes[f] for f in libraries) / 1e6:.1f} MB")
    evict(PACKAGES)
    subprocess.run([PYTHON, *SITE, "-c", IMPORTS], check=True, env=ENV)
    resident = resident_bytes([Path(f) for f in files]) or 0
    print(f"resident after one cold import: {resident / 1e6:.1f} MB of them")
    lists = {"files": work / "files.txt", "libraries": work / "libraries.txt", "model": work / "model.txt",
             "by_size": work / "by_size.txt"}
    lists["by_size"].write_text("\n".join(by_size))
    lists["files"].write_text("\n".join(files))
    lists["libraries"].write_text("\n".join(libraries))
    lists["model"].write_text(str(args.model.resolve()))
    variants = {"warm (nothing evicted)": None, "cold, no read-ahead": [], "cold, files in import order": ["files"],
                "cold, shared libraries only": ["libraries"], "cold, libraries largest first": ["by_size"],
                "cold, model only": ["model"], "cold, files + model at idle I/O priority": ["files", "idle:model"],
                "cold, files in import order, 2 threads": ["par2:files"],
                "cold, files in import order, 4 threads": ["par4:files"],
                "cold, files in import order, 8 threads": ["par8:files"],
                "cold, files then model": ["files", "model"], "cold, model then files": ["model", "files"]}
    samples: dict[str, list] = {name: [] for name in variants}
    share = CpuShare()
    try:
        for _ in range(args.runs):
            for name, chosen in variants.items():
                if chosen is not None:
                    evict(PACKAGES + [args.model])
                samples[name].append(child([c[:5] + str(lists[c[5:]]) if c[4:5] == ":" else str(lists[c])
                                            for c in chosen or []], share))
    finally:
        share.close()
    print(f"medians of {args.runs}, CPU share {'1.16 vCPU (cgroup)' if share.folder else 'not enforced'}:")
    base = statistics.median(s[0] for s in samples["cold, no read-ahead"])
    for name, values in samples.items():
        wall, imports, faults = (statistics.median(v[i] for v in values) for i in range(3))
        print(f"  {name:<30} process {wall:6.1f} ms ({wall / base:4.2f}x)  import {imports:6.1f} ms  major faults {faults:4.0f}")


if __name__ == "__main__":
    main()
