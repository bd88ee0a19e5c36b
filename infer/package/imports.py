"""The files the runtime's imports read, in the order they read them: recorded once by importing the runtime
(its handler, lazy strategy, no model: numpy, onnxruntime and infer.runtime) in a child interpreter,
written beside the staged runtime as `import_files.txt`, and read ahead at process start by
`infer.runtime.preload` (a cold import reads ~75 MB from ~110 files: three large shared libraries and
many small .pyc files that would otherwise be read one at a time).

Paths are relative to the directory that holds the package (site-packages, the image's dependencies
directory, the task root), so the list holds wherever the same wheels are installed. Files a target
does not have (another Python or architecture) are skipped at run time.
"""

import json
import platform
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

from infer.staging import stage_runtime

FILE_NAME = "import_files.txt"  # infer.runtime.preload.IMPORT_FILES reads it; a unit test keeps them equal
PACKAGES = ("numpy", "numpy.libs", "onnxruntime", "infer")

# Run in a child: an audit hook sees every file Python opens (.py, .pyc); the shared libraries dlopen maps
# are found in /proc/self/maps, checked at every import and open event so that they land in order.
RECORDER = """
import json, sys
order, seen, busy = [], set(), [False]
def note(path):
    if path not in seen:
        seen.add(path)
        order.append(path)
def maps():
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[5].startswith("/"):
                note(fields[5].strip())
def hook(event, args):
    if busy[0] or event not in ("open", "import"):
        return
    busy[0] = True
    try:
        maps()
        if event == "open" and isinstance(args[0], str):
            note(args[0])
    finally:
        busy[0] = False
sys.addaudithook(hook)
import infer.runtime.handler
maps()
print(json.dumps(order))
"""


@cache
def record(python: str = sys.executable) -> tuple[str, ...]:
    """The package files (relative to their package's parent directory) a cold import of the runtime reads with
    this interpreter, in order; empty where it cannot be recorded (no /proc)."""
    with tempfile.TemporaryDirectory(prefix="infer-imports-") as root:
        stage_runtime(root)  # the runtime as the image holds it, compiled
        environment = {"INFER_LOAD_STRATEGY": "lazy", "INFER_MODEL_PATH": "/nonexistent/model.onnx",
                       "INFER_METRICS": "off", "PYTHONPATH": root, "PYTHONDONTWRITEBYTECODE": "1"}
        out = subprocess.run([python, "-c", RECORDER], capture_output=True, text=True, env=environment, cwd=root)
        if out.returncode != 0:
            return ()
        relative = []
        for path in json.loads(out.stdout):
            parts = Path(path).resolve().parts
            for index, part in enumerate(parts[:-1]):
                if part in PACKAGES and Path(*parts[:index + 1]).is_dir() and Path(path).is_file():
                    relative.append(str(Path(*parts[index:])))
                    break
    return tuple(dict.fromkeys(relative))


MACHINES = {"x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}


def for_target(files: tuple[str, ...], python: str | None = None, arch: str | None = None) -> tuple[str, ...]:
    """The list recorded here, renamed for another Python (X.Y: bytecode and extension modules carry its tag)
    or architecture (extension modules carry its machine). Bundled libraries named by a hash of their wheel
    (numpy.libs/...) cannot be renamed: on another architecture they are skipped at run time."""
    here_tag, here_machine = f"cpython-{sys.version_info[0]}{sys.version_info[1]}", platform.machine()
    renamed = []
    for path in files:
        if python:
            path = path.replace(here_tag, "cpython-" + python.replace(".", ""))
        if arch and MACHINES.get(arch, arch) != here_machine:
            path = path.replace(f"-{here_machine}-linux-gnu", f"-{MACHINES.get(arch, arch)}-linux-gnu")
        renamed.append(path)
    return tuple(renamed)


def write(runtime_dir: str | Path, files: tuple[str, ...] | None = None, python: str | None = None,
          arch: str | None = None) -> Path:
    """Write the list into a staged runtime's directory (infer/runtime/ of a task root or build context), for
    the target's Python and architecture when they are given."""
    target = Path(runtime_dir) / FILE_NAME
    listed = for_target(record() if files is None else files, python, arch)
    target.write_text("".join(f"{f}\n" for f in listed))
    return target
