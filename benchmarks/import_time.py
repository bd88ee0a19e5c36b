"""The runtime's import cost against `import onnxruntime` alone, in fresh interpreters, interleaved.

    .venv/bin/python benchmarks/import_time.py [--runs 30]

Times `python -c "import onnxruntime"` and `python -c "import infer.runtime.handler"` (the staged
runtime, precompiled, lazy strategy: everything the runtime does before a model loads) from process
start to exit, alternating the two, page cache warm. Also reports a bare `python -c pass`.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infer.staging import stage_runtime


def timed(code: str, cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=cwd, check=True, env={"INFER_MODEL_PATH": "/nonexistent.onnx"})
    return (time.perf_counter() - start) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    root = stage_runtime(tempfile.mkdtemp(prefix="infer-import-"))
    cases = {"python -c pass": "pass", "import onnxruntime": "import onnxruntime",
             "import infer.runtime.handler": "import infer.runtime.handler"}
    samples = {name: [] for name in cases}
    for code in cases.values():
        timed(code, str(root))  # warm the page cache
    for _ in range(args.runs):
        for name, code in cases.items():
            samples[name].append(timed(code, str(root)))
    base = statistics.median(samples["import onnxruntime"])
    for name, values in samples.items():
        print(f"{name:<32} median {statistics.median(values):7.1f} ms   x onnxruntime {statistics.median(values) / base:5.2f}")


if __name__ == "__main__":
    main()
