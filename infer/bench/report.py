"""`infer bench` output: the table, the JSON document, and the plot."""

import json
import os
import platform
import statistics
import sys
from importlib import metadata
from pathlib import Path


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def percentile(values, q: int) -> float | None:
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[q - 1]


def render(columns: list[tuple[str, int]], rows: list[list[str]], indent: str = "  ") -> str:
    """A right-aligned text table; the first column is left-aligned. `columns` are (heading, width)."""
    def line(cells):
        (first, width), *rest = zip(cells, (w for _, w in columns))
        return indent + f"{first:<{width}}" + "".join(f"{cell:>{w}}" for cell, w in rest)

    return "\n".join([line([heading for heading, _ in columns]), *(line(row) for row in rows)])


def config(cold: int, warm: int, memory_mb: int) -> dict:
    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(), "platform": platform.platform(), "machine": platform.machine(),
        "cpus": len(os.sched_getaffinity(0)), "cpu_model": _cpu_model(), "memory_mb": memory_mb,
        "cold_samples": cold, "warm_requests": warm,
        "versions": {name: version(name) for name in ("infer", "onnxruntime", "numpy", "awslambdaric", "fastapi", "mangum")},
        "method": "fresh execution environment per cold sample through the local emulator; model files and the "
                  "function's Python packages evicted from the page cache before each (posix_fadvise DONTNEED)",
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


VARIANT_COLUMNS = [("variant", 46), ("cold", 8), ("x floor", 9), ("x typical", 10), ("init", 8), ("wait", 8),
                   ("1st inf", 9), ("warm p50", 10), ("p90", 8), ("p99", 8)]
FUNCTION_COLUMNS = [("memory", 7), ("cold", 9), ("init", 9), ("restore", 9), ("billed rst", 11), ("duration", 10),
                    ("warm", 8), ("warm dur", 10), ("URL rt", 8), ("$/1M req", 10), ("not cold", 10)]


def function_table(measured: dict) -> str:
    """`infer bench --function`: one row per memory size, medians in ms."""
    rows = []
    for r in measured["results"]:
        cost = r["cost_per_million_usd"]
        rows.append([str(r["memory_mb"]), *(_f(median(r.get(key, [])), 1) for key in (
            "cold_ms", "init_ms", "restore_ms", "billed_restore_ms", "duration_ms", "warm_ms", "warm_duration_ms",
            "url_ms")), _f(cost, 2), str(r["not_cold"])])
    target = measured["function"] + (f":{measured['qualifier']}" if measured.get("qualifier") else "")
    clones = ("; cold samples on clones of it published for the purpose, warm ones on it"
              if measured.get("qualifier") else "")
    return (f"{target}: medians in ms (cold: client round trip of an invoke needing a new environment; restore: "
            f"SnapStart's Restore Duration, init: Init Duration{clones})\n" + render(FUNCTION_COLUMNS, rows))


def table(measured: list[dict]) -> str:
    """One block per model: medians of every variant, with ratios to the floor and the typical baseline."""
    lines = []
    for model in measured:
        results = model["results"]
        floor = next((median(r["cold_ms"]) for r in results if r["kind"] == "floor" and not r.get("informational")), None)
        typical = next((median(r["cold_ms"]) for r in results if r["kind"] == "typical"), None)
        lines.append(f"{Path(model['model']).name} ({size_text(model['model_bytes'])}), medians in ms")
        rows = []
        for r in results:
            cold = median(r["cold_ms"])
            phases = {k: median(v) for k, v in r["phases_ms"].items()}
            warm = r["warm_ms"]
            rows.append([("* " if r["default"] else "  ") + r["name"], _f(cold, 1), _ratio(cold, floor),
                         _ratio(cold, typical), _f(phases.get("init"), 1), _f(phases.get("load"), 1),
                         _f(phases.get("first_inference"), 2), _f(median(warm), 3), _f(percentile(warm, 90), 3),
                         _f(percentile(warm, 99), 3)])
        lines.append(render(VARIANT_COLUMNS, rows))
        lines.append("  * the variant `infer package` picks for this model. cold: client-observed first response of a "
                     "fresh environment; init: process start to ready; wait: the first request waiting for the model.")
    return "\n".join(lines)


def size_text(size_bytes: int) -> str:
    return f"{size_bytes / 1e6:.1f} MB" if size_bytes >= 1e6 else f"{size_bytes / 1e3:.0f} KB"


def _f(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ratio(value, base) -> str:
    return "-" if value is None or not base else f"{value / base:.2f}"


def write_json(path: Path, results: list[dict], settings: dict) -> None:
    """The raw samples with the configuration they were measured in."""
    path.write_text(json.dumps({"config": settings, "results": results}, indent=1))


def plot(path: Path, measured: list[dict]) -> None:
    """Stacked cold-start phases per variant; with several models, cold start against model size too."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    several = len(measured) > 1
    fig, axes = plt.subplots(1, 2 if several else 1, figsize=(14 if several else 9, 5.5), squeeze=False)
    ax = axes[0][0]
    biggest = max(measured, key=lambda m: m["model_bytes"])
    rows = [r for r in biggest["results"] if not r.get("informational")]
    names = [r["name"] for r in rows]
    bottoms = [0.0] * len(rows)
    for phase, colour in (("init", "#4c72b0"), ("load", "#dd8452"), ("first_inference", "#55a868")):
        values = [median(r["phases_ms"][phase]) or 0.0 for r in rows]
        ax.barh(names, values, left=bottoms, color=colour, label=phase.replace("_", " "))
        bottoms = [b + v for b, v in zip(bottoms, values)]
    other = [max(0.0, (median(r["cold_ms"]) or 0.0) - b) for r, b in zip(rows, bottoms)]
    ax.barh(names, other, left=bottoms, color="#bbbbbb", label="rest (HTTP, emulator, decode)")
    ax.set_xlabel("cold start, ms (median)")
    ax.set_title(f"Cold-start phases, {Path(biggest['model']).name} ({size_text(biggest['model_bytes'])})")
    ax.invert_yaxis()
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4, fontsize=8)
    if several:
        ax2 = axes[0][1]
        for name in dict.fromkeys(r["name"] for m in measured for r in m["results"] if not r.get("informational")):
            points = [(m["model_bytes"] / 1e6, median(r["cold_ms"])) for m in measured for r in m["results"] if r["name"] == name]
            points.sort()
            ax2.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
        ax2.set_xscale("log")
        ax2.set_xlabel("model size, MB")
        ax2.set_ylabel("cold start, ms (median)")
        ax2.set_title("Cold start against model size")
        ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def progress_line(text: str) -> None:
    sys.stderr.write("\r\033[K" + text if sys.stderr.isatty() else text + "\n")
    sys.stderr.flush()
