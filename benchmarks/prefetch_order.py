"""What reading ahead does to a cold start through the emulator: infer's runtime with and without the list
of files its imports read (import_files.txt), lazy and prefetch `.ort`, beside the floor.

    .venv/bin/python benchmarks/prefetch_order.py benchmarks/out/mlp_100mb.onnx benchmarks/out/mlp_400mb.onnx [--cold 7]

Same method as `infer bench` (infer/bench/cold.py: packages, model and task root evicted before each
sample, 2048 MB with its CPU share, variants interleaved sample by sample). Without the list, prefetch
reads only the model, from the start of init (as before); with it, one thread reads the imports' files
first, then the model.
"""

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from infer.bench import cold


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--cold", type=int, default=7)
    args = parser.parse_args()
    for model in args.models:
        work = Path(tempfile.mkdtemp(prefix="infer-order-"))
        try:
            info = cold.prepare(model.resolve(), work)
            body = (work / "request.json").read_bytes()
            roots = cold.stage_baselines(work)
            ort = Path(info["ort"])
            variants = [cold.Variant("lazy .ort, no list", "infer", ort, strategy="lazy", import_files=False),
                        cold.Variant("lazy .ort, list", "infer", ort, strategy="lazy"),
                        cold.Variant("prefetch .ort, model only", "infer", ort, strategy="prefetch", import_files=False),
                        cold.Variant("prefetch .ort, list then model", "infer", ort, strategy="prefetch"),
                        cold.Variant("eager .ort, list then model", "infer", ort, strategy="eager"),
                        cold.Variant("floor (.ort)", "floor", ort, handler="floor.handler")]
            for index in range(args.cold):
                for variant in variants:
                    print(f"\r{model.name}: sample {index + 1}/{args.cold} {variant.name:<40}", end="", flush=True)
                    cold.cold_sample(variant, body, roots, 2048, 0)
            print(f"\r{model.name} ({info['model_bytes'] / 1e6:.0f} MB), medians of {args.cold} cold starts, ms" + " " * 30)
            base = statistics.median(variants[0].samples["cold_ms"])
            print(f"  {'variant':<34}{'cold':>8}{'x lazy':>8}{'init':>8}{'wait':>8}{'1st inf':>9}{'load':>7}")
            for v in variants:
                s = v.samples
                med = {k: statistics.median([x for x in s[k] if x is not None] or [0.0])
                       for k in ("cold_ms", "init", "load", "first_inference", "model_load")}
                print(f"  {v.name:<34}{med['cold_ms']:8.1f}{med['cold_ms'] / base:8.2f}{med['init']:8.1f}{med['load']:8.1f}"
                      f"{med['first_inference']:9.1f}{med['model_load']:7.1f}")
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
