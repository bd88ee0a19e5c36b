"""The cold-start sweep: models/iris.onnx (1 KB) and synthetic MLPs of about 100 and 400 MB, measured by
`infer bench`, then the ratios the targets of issue 13 are about.

    .venv/bin/python benchmarks/cold_start_sweep.py [--sizes iris,100,400] [--cold 7] [--warm 100]
    .venv/bin/python benchmarks/cold_start_sweep.py --summary benchmarks/out/sweep.json   # the ratios again

Models are written to benchmarks/out/ (git-ignored), as `infer convert` would write them: weights
of 64 MiB or more in an external-data sidecar (infer's variants load that, or its .ort; the typical and
naive functions get it as one file, as torch.onnx.export and skl2onnx write it). Each model is 4
layers of MatMul + Relu, D x D float32 weights, batch-1 input of width D. Writes
benchmarks/out/sweep.json and benchmarks/cold_start.png.

The models are built in a child process and `infer bench` runs in another: this process never imports
numpy or onnxruntime (pages a process has mapped cannot be evicted, which would warm them for every sample).
"""

import argparse
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"
IRIS = ROOT.parent / "models" / "iris.onnx"
VARIANTS = ["lazy .onnx", "prefetch .onnx", "eager .onnx", "lazy .ort", "prefetch .ort", "eager .ort"]
BASELINES = {"floor": "floor", "typical": "typical", "naive": "naive"}
LAYERS = 4
SIDECAR_FROM_BYTES = 64 * 1024 * 1024


def build(size_mb: float, out: Path = OUT) -> Path:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

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


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summary(document: dict) -> str:
    """Medians per model and variant (a markdown table), and the ratios the targets are stated in."""
    by_model: dict[str, dict] = {}
    for r in document["results"]:
        if not r.get("informational"):
            by_model.setdefault(r["model"], {"bytes": r["model_bytes"], "rows": {}})["rows"][r["name"]] = r
    columns = VARIANTS + list(BASELINES)
    lines = ["| model | " + " | ".join(columns) + " | default | default / floor | typical / default | naive / default |"
             " prefetch .ort / lazy .ort model load |",
             "| --- |" + " --- |" * (len(columns) + 5)]
    for model, found in sorted(by_model.items(), key=lambda item: item[1]["bytes"]):
        rows = found["rows"]
        cold = {name: median(r["cold_ms"]) for name, r in rows.items()}
        for kind in BASELINES:
            cold[kind] = next((median(r["cold_ms"]) for r in rows.values() if r["kind"] == kind), None)
        default = next((name for name, r in rows.items() if r["default"]), None)
        d = cold.get(default) if default else None
        loads = {n: median(rows[n].get("model_load_ms") or []) for n in ("prefetch .ort", "lazy .ort") if n in rows}

        def ratio(a, b):
            return f"{a / b:.2f}" if a and b else "-"

        cells = [f"{cold[c]:.1f}" if cold.get(c) else "-" for c in columns]
        load_text = (f"{loads['prefetch .ort']:.1f} / {loads['lazy .ort']:.1f} = "
                     f"{ratio(loads['prefetch .ort'], loads['lazy .ort'])}"
                     if loads.get("prefetch .ort") and loads.get("lazy .ort") else "-")
        size = f"{found['bytes'] / 1e6:.0f} MB" if found["bytes"] >= 1e6 else f"{found['bytes'] / 1e3:.0f} KB"
        lines.append(f"| {Path(model).name} ({size}) | " + " | ".join(cells)
                     + f" | {default} | {ratio(d, cold['floor'])} | {ratio(cold['typical'], d)} | {ratio(cold['naive'], d)}"
                     + f" | {load_text} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="iris,100,400", help="MB of the synthetic models; iris: models/iris.onnx")
    parser.add_argument("--cold", type=int, default=7)
    parser.add_argument("--warm", type=int, default=100)
    parser.add_argument("--out", type=Path, default=OUT, help="where the models and sweep.json go")
    parser.add_argument("--plot", type=Path, default=ROOT / "cold_start.png")
    parser.add_argument("--summary", type=Path, help="only print the ratios of a sweep.json written before")
    parser.add_argument("--build", type=float, help=argparse.SUPPRESS)  # in the child: write one model
    args = parser.parse_args()
    if args.build is not None:
        print(build(args.build, args.out))
        return
    if args.summary:
        print(summary(json.loads(args.summary.read_text())))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    models = []
    for size in args.sizes.split(","):
        if size.strip() == "iris":
            models.append(str(IRIS))
            continue
        built = subprocess.run([sys.executable, __file__, "--build", size, "--out", str(args.out)],
                               check=True, capture_output=True, text=True)
        models.append(built.stdout.strip())
    infer = str(Path(sys.executable).with_name("infer"))
    subprocess.run([infer, "bench", *models, "--cold", str(args.cold), "--warm", str(args.warm),
                    "--json", str(args.out / "sweep.json"), "--plot", str(args.plot)], check=True)
    print(summary(json.loads((args.out / "sweep.json").read_text())))


if __name__ == "__main__":
    main()
