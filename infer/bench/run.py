"""`infer bench` as functions the command line calls: options checked, measurements run, results written."""

import sys
from pathlib import Path

from infer.runtime import contract

from . import BenchError


def parse_memories(text: str) -> list[int]:
    """`--memory 2048` or `--memory 1024,2048,4096`, each a size Lambda accepts."""
    try:
        memories = [int(m) for m in text.split(",") if m.strip()]
    except ValueError:
        raise BenchError(f"--memory must be MB, or a comma-separated list of MB; got {text!r}", 2) from None
    if not memories:
        raise BenchError("--memory needs at least one size in MB", 2)
    if problem := next(filter(None, map(contract.memory_problem, memories)), None):
        raise BenchError(f"--memory {problem}", 2)
    return memories


def parse_choices(text: str, allowed: tuple[str, ...], option: str, noun: str) -> list[str]:
    """A comma-separated list, each value one of `allowed`."""
    chosen = [value.strip().lstrip(".") for value in text.split(",") if value.strip()]
    if not chosen:
        raise BenchError(f"{option} needs at least one of {', '.join(allowed)}", 2)
    if bad := [value for value in chosen if value not in allowed]:
        raise BenchError(f"unknown {noun} {bad[0]!r} in {option}; use {', '.join(allowed)}", 2)
    return chosen


def check_extras(baselines: bool, plot: Path | None) -> None:
    """Before the first sample: the typical baseline needs FastAPI and Mangum, --plot needs matplotlib."""
    import importlib.util

    needed = (["fastapi", "mangum"] if baselines else []) + (["matplotlib"] if plot else [])
    if missing := [name for name in needed if importlib.util.find_spec(name) is None]:
        raise BenchError(f"{' and '.join(missing)} not installed: pip install 'infer[bench]'"
                         + (" (or --no-baselines)" if baselines and "matplotlib" not in missing else ""), 2)


def local(models: list[Path], cold: int, warm: int, strategies: str, formats: str, baselines: bool, memory_mb: int,
          json_out: Path | None, plot: Path | None, echo=print) -> None:
    """Measure models through the emulator; print the table, write the JSON and the plot if asked."""
    from infer.load_choice import recommend

    from . import cold as cold_bench
    from . import report

    chosen_strategies = parse_choices(strategies, contract.STRATEGIES, "--strategies", "strategy")
    chosen_formats = parse_choices(formats, contract.ARTIFACTS, "--formats", "format")
    if not models:
        raise BenchError("give one or more .onnx models, or --function NAME", 2)
    if missing := [m for m in models if not m.is_file()]:
        raise BenchError(f"model file not found: {missing[0]}", 2)
    check_extras(baselines, plot)
    measured = []
    for model in models:
        sidecar = Path(contract.sidecar_path(str(model)))
        choice = recommend(model.stat().st_size + (sidecar.stat().st_size if sidecar.exists() else 0))
        try:
            measured.append(cold_bench.run(model, cold, warm, chosen_strategies, chosen_formats, baselines, memory_mb,
                                           progress=report.progress_line, default=(choice.strategy, choice.artifact)))
        except RuntimeError as exc:
            raise BenchError(f"{model}: {exc}") from None
    echo(("\n" if sys.stderr.isatty() else "") + report.table(measured))
    if json_out:
        results = [r for model in measured for r in model["results"]]
        report.write_json(json_out, results, report.config(cold, warm, memory_mb))
        echo(f"raw samples: {json_out}")
    if plot:
        report.plot(plot, measured)
        echo(f"plot: {plot}")


def function(name: str, payload, cold: int, warm: int, memories: list[int], endpoint_url: str | None,
             region: str | None, profile: str | None, json_out: Path | None, echo=print) -> None:
    """Measure a deployed function (or `infer serve`'s Lambda API) at each memory size."""
    from . import aws, report

    measured = aws.measure(name, payload, cold, warm, memories, endpoint_url, region, profile, report.progress_line)
    echo(("\n" if sys.stderr.isatty() else "") + report.function_table(measured))
    if json_out:
        settings = report.config(cold, warm, memories[0]) | {
            "function": name, "memory_sizes_mb": memories, "endpoint_url": endpoint_url,
            "method": "cold starts forced by updating an environment variable through the Lambda API and waiting for "
                      "the update; Init/Restore Duration from the REPORT line of LogType=Tail; client round trips timed here"}
        report.write_json(json_out, measured["results"], settings)
        echo(f"raw samples: {json_out}")
