"""`infer tune` output: the table and a plot like Power Tuning's (latency and cost against memory)."""

from pathlib import Path

from .report import render
from .tune import NOT_ENFORCED

COLUMNS = [("memory", 8), ("vCPU", 7), ("cold", 9), ("init", 9), ("warm p50", 10), ("warm mean", 11),
           ("billed", 9), ("$/1M req", 11), ("  pick", 20)]


def _f(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(doc: dict) -> str:
    """One row per memory size (ms; warm figures are the function's Duration, billed is its mean rounded up)."""
    picks: dict[int, list[str]] = {}
    for policy, memory in doc["recommendation"].items():
        picks.setdefault(memory, []).append(policy)
    mark = "" if doc["cpu_share_enforced"] else " *"
    rows = [[f"{r['memory_mb']} MB", f"{r['vcpus']:.2f}" + mark, _f(r["cold_ms"]), _f(r["init_ms"]),
             _f(r["warm_p50_ms"], 2), _f(r["warm_mean_ms"], 2), _f(r["billed_ms_mean"], 1),
             _f(r["cost_per_million_usd"], 4), ",".join(picks.get(r["memory_mb"], []))]
            for r in doc["results"]]
    head = (f"{doc.get('function') or Path(doc.get('model', '')).name}: {doc['arch']} in {doc['region']}, "
            f"${doc['price_per_gb_second']:.10f}/GB-s + ${doc['price_per_million_requests']:.2f}/1M requests; ms")
    lines = [head, render(COLUMNS, rows)]
    rec = doc["recommendation"]
    lines.append(f"  cheapest {rec['cheapest']} MB, fastest {rec['fastest']} MB, balanced {rec['balanced']} MB "
                 f"(the cheapest within {doc['balanced_margin']:.0%} of the fastest warm p50)")
    if not doc["cpu_share_enforced"]:
        lines.append(f"  * {NOT_ENFORCED}: every size ran with the whole machine's CPU; latency does not follow memory")
    return "\n".join(lines)


def plot(path: Path, doc: dict) -> None:
    """Warm p50 and cost per million requests against memory, on two axes, as Power Tuning draws them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = doc["results"]
    labels = [str(r["memory_mb"]) for r in results]
    fig, ax = plt.subplots(figsize=(8, 4.8))
    ax.plot(labels, [r["warm_p50_ms"] for r in results], marker="o", color="#d62728", label="warm p50 (ms)")
    ax.set_xlabel("memory (MB)")
    ax.set_ylabel("warm p50 duration, ms", color="#d62728")
    ax.set_ylim(bottom=0)
    cost = ax.twinx()
    cost.plot(labels, [r["cost_per_million_usd"] for r in results], marker="s", color="#1f77b4",
              label="$ per 1M requests")
    cost.set_ylabel("USD per million requests", color="#1f77b4")
    cost.set_ylim(bottom=0)
    title = f"{doc.get('function') or Path(doc.get('model', '')).name}: {doc['arch']}, {doc['region']}"
    if not doc["cpu_share_enforced"]:
        title += f" ({NOT_ENFORCED})"
    ax.set_title(title)
    rec = doc["recommendation"]
    ax.text(0.01, 0.02, f"cheapest {rec['cheapest']} MB · fastest {rec['fastest']} MB · balanced {rec['balanced']} MB",
            transform=ax.transAxes, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
