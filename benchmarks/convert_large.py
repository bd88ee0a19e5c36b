"""Time `infer convert` of a ~100 MB PyTorch MLP, end to end as a user runs it.

    .venv/bin/python benchmarks/convert_large.py [--runs 3] [--hidden 4096]

Builds MLP(2048 -> HIDDEN -> HIDDEN -> 10) (about 100 MB of float32 weights at HIDDEN=4096), saves it
with torch.save under benchmarks/out/ (git-ignored), then runs `infer convert` in a fresh process
RUNS times and prints each wall time and the median. The model is converted with the default
settings (parity on 64 generated rows; weights above 64 MiB go to a .onnx.data sidecar).
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
INFER = str(Path(sys.executable).with_name("infer"))


def build(hidden: int) -> Path:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(2048, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, 10),
    ).eval()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "large.pt"
    torch.save(model, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=4096)
    args = parser.parse_args()
    source = build(args.hidden)
    print(f"model: {source} ({source.stat().st_size / 1e6:.1f} MB)")
    times_s = []
    for run in range(1, args.runs + 1):
        start = time.perf_counter()
        done = subprocess.run([INFER, "convert", str(source), "-o", str(OUT / "large.onnx")], capture_output=True, text=True)
        elapsed_s = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"infer convert failed ({done.returncode}):\n{done.stderr}")
        times_s.append(elapsed_s)
        print(f"run {run}: {elapsed_s:.2f} s")
    manifest = json.loads((OUT / "large.json").read_text())
    size_mb = sum((OUT / name).stat().st_size for name in manifest["files"]) / 1e6
    print(f"output: {', '.join(manifest['files'])} ({size_mb:.1f} MB), parity passed: {manifest['parity']['passed']}")
    print(f"median of {args.runs}: {statistics.median(times_s):.2f} s")


if __name__ == "__main__":
    main()
