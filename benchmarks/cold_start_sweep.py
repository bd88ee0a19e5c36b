"""The cold-start sweep: synthetic MLPs of about 1, 10, 100 and 400 MB, measured by `infer bench`.

    .venv/bin/python benchmarks/cold_start_sweep.py [--sizes 1,10,100,400] [--cold 5] [--warm 100]

Models are written to benchmarks/out/ (git-ignored), as `infer convert` would write them: weights
of 64 MiB or more in an external-data sidecar. Each model is 4 layers of MatMul + Relu, D x D float32
weights, batch-1 input of width D. Writes benchmarks/out/sweep.json and benchmarks/cold_start.png.
"""

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"
LAYERS = 4
SIDECAR_FROM_BYTES = 64 * 1024 * 1024


def build(size_mb: float, out: Path = OUT) -> Path:
    width = int(math.sqrt(size_mb * 1_000_000 / (4 * LAYERS)))
    path = out / f"mlp_{size_mb:g}mb.onnx"
    if path.exists():
        return path
    rng = np.random.default_rng(int(size_mb * 1000))
    nodes, weights, previous = [], [], "x"
    for i in range(LAYERS):
        weights.append(numpy_helper.from_array((rng.standard_normal((width, width)) / math.sqrt(width)).astype(np.float32), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [previous, f"w{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Relu", [f"m{i}"], [f"y{i}" if i < LAYERS - 1 else "y"]))
        previous = f"y{i}"
    graph = helper.make_graph(nodes, f"mlp_{size_mb:g}mb",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    external = size_mb * 1_000_000 >= SIDECAR_FROM_BYTES
    onnx.save_model(model, str(path), save_as_external_data=external, all_tensors_to_one_file=True,
                    location=path.name + ".data", size_threshold=1024)
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,10,100,400")
    parser.add_argument("--cold", type=int, default=5)
    parser.add_argument("--warm", type=int, default=100)
    parser.add_argument("--out", type=Path, default=OUT, help="where the models and sweep.json go")
    parser.add_argument("--plot", type=Path, default=ROOT / "cold_start.png")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    models = [build(float(size), args.out) for size in args.sizes.split(",")]
    infer = str(Path(sys.executable).with_name("infer"))
    # Replace this process rather than wait on a child: it has numpy mapped, and mapped pages cannot be
    # evicted from the page cache, which would warm numpy for every cold sample.
    os.execv(infer, [infer, "bench", *map(str, models), "--cold", str(args.cold), "--warm", str(args.warm),
                     "--json", str(args.out / "sweep.json"), "--plot", str(args.plot)])


if __name__ == "__main__":
    main()
