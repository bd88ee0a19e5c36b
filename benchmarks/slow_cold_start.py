"""Cold starts through the emulator with the packages and the model on storage with a latency per read
request (benchmarks/slowfs.py): what reading ahead does where reads wait, as on Lambda's lazily loaded images.

    mkdir -p /tmp/slow-src/site
    cp -a .venv/lib/python3.11/site-packages/{numpy,numpy.libs,onnxruntime,awslambdaric} /tmp/slow-src/site/
    .venv/bin/python -c "from pathlib import Path; from infer.convert.optimize import to_ort; \\
        to_ort(Path('benchmarks/out/mlp_100mb.onnx'), Path('/tmp/slow-src/mlp_100mb.ort'))"
    .venv/bin/python benchmarks/slowfs.py mount /tmp/slow-src /tmp/slow --delay-us 1000
    .venv/bin/python benchmarks/slow_cold_start.py /tmp/slow/site /tmp/slow/mlp_100mb.ort [--cold 5]
    .venv/bin/python benchmarks/slowfs.py umount /tmp/slow

infer bench's method (infer/bench/cold.py), with PYTHONPATH putting the slow copies of numpy, onnxruntime
and awslambdaric first; those copies and the model are evicted (from the FUSE page cache) before each
sample too. The interpreter and the standard library stay on the local disk, cached.
"""

import argparse
import statistics
import tempfile
from pathlib import Path

from infer.bench import cold


class SlowVariant(cold.Variant):
    site: Path = Path()

    def function(self, task_roots, memory_mb):
        config = super().function(task_roots, memory_mb)
        config.environment["PYTHONPATH"] = f"{config.task_root}:{self.site}"
        return config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("site", type=Path, help="the slow copies of numpy, numpy.libs, onnxruntime, awslambdaric")
    parser.add_argument("ort", type=Path, help="an .ort model on the slow storage")
    parser.add_argument("--onnx", type=Path, default=Path(__file__).parent / "out" / "mlp_100mb.onnx",
                        help="the model the .ort was converted from (for its request)")
    parser.add_argument("--cold", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="infer-slow-"))
    cold.prepare(args.onnx, work)  # the request, generated from the model's signature
    body = (work / "request.json").read_bytes()
    roots = cold.stage_baselines(work)
    SlowVariant.site = args.site
    variants = [SlowVariant("lazy .ort, no list", "infer", args.ort, strategy="lazy", import_files=False),
                SlowVariant("lazy .ort, list", "infer", args.ort, strategy="lazy"),
                SlowVariant("prefetch .ort, model only", "infer", args.ort, strategy="prefetch", import_files=False),
                SlowVariant("prefetch .ort, list then model", "infer", args.ort, strategy="prefetch"),
                SlowVariant("eager .ort, list then model", "infer", args.ort, strategy="eager"),
                SlowVariant("floor (.ort)", "floor", args.ort, handler="floor.handler")]
    slow = [args.site / name for name in ("numpy", "numpy.libs", "onnxruntime", "awslambdaric")]
    for index in range(args.cold):
        for variant in variants:
            print(f"\rsample {index + 1}/{args.cold} {variant.name:<40}", end="", flush=True)
            cold.evict(slow)
            cold.cold_sample(variant, body, roots, 2048, 0)
    print(f"\r{args.ort.name} on slow storage, medians of {args.cold} cold starts, ms" + " " * 30)
    base = statistics.median(variants[0].samples["cold_ms"])
    print(f"  {'variant':<34}{'cold':>8}{'x lazy':>8}{'init':>8}{'wait':>8}{'1st inf':>9}")
    for v in variants:
        med = {k: statistics.median([x for x in v.samples[k] if x is not None] or [0.0])
               for k in ("cold_ms", "init", "load", "first_inference")}
        print(f"  {v.name:<34}{med['cold_ms']:8.1f}{med['cold_ms'] / base:8.2f}{med['init']:8.1f}{med['load']:8.1f}"
              f"{med['first_inference']:9.1f}")


if __name__ == "__main__":
    main()
