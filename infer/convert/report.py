"""The console summary of a conversion."""

from . import parity


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _tensors(entries: list[dict]) -> str:
    return ", ".join(f"{e['name']} {e['datatype']} {e['shape']}" for e in entries)


def summary(result) -> str:
    m = result.manifest
    files = ", ".join(result.model_path.with_name(f).name for f in m["files"])
    lines = [
        f"wrote {files} ({_size(sum((result.model_path.parent / f).stat().st_size for f in m['files']))}) and {result.manifest_path.name}",
        f"  model '{m['name']}' from {m['source']['model_class']} "
        f"({m['source']['framework']} {m['source']['framework_version']}), opset {m['opset']}",
        f"  inputs: {_tensors(m['inputs'])}",
        f"  outputs: {_tensors(m['outputs'])}",
    ]
    if "labels" in m:
        shown = ", ".join(m["labels"][:10]) + (", ..." if len(m["labels"]) > 10 else "")
        lines.append(f"  labels: {shown}")
    if "optimization" in m:
        lines.append(f"  optimised: {m['optimization']}")
    if "quantization" in m:
        q = m["quantization"]
        ratio = q["size_bytes_after"] / q["size_bytes_before"] if q["size_bytes_before"] else 1.0
        lines.append(f"  quantised {q['type']}: {_size(q['size_bytes_before'])} -> {_size(q['size_bytes_after'])} ({ratio:.0%})")
        lines.extend(_changes(q["parity_before"], m["parity"]))
    lines.append(parity.summary(m["parity"]) if m["parity"].get("outputs") else f"parity: FAILED: {m['parity'].get('error')}")
    return "\n".join(lines)


def _changes(before: dict, after: dict) -> list[str]:
    """Accuracy change from quantising: each output's agreement or error, before -> after."""
    lines = []
    for name, now in after.get("outputs", {}).items():
        was = before.get("outputs", {}).get(name, {})
        if "label_agreement" in now and "label_agreement" in was:
            lines.append(f"    {name}: agreement with the original {was['label_agreement']:.2%} -> {now['label_agreement']:.2%}")
        elif now.get("max_abs_error") is not None and was.get("max_abs_error") is not None:
            lines.append(f"    {name}: max abs error {was['max_abs_error']:.3g} -> {now['max_abs_error']:.3g}")
            if "argmax_agreement" in now and "argmax_agreement" in was:
                lines.append(f"    {name}: top class same as the original's {was['argmax_agreement']:.2%} -> {now['argmax_agreement']:.2%}")
    return lines
