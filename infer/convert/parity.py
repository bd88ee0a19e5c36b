"""Run the ONNX model on the parity inputs and compare with what the original model answered.

A value passes when |onnx - original| <= tolerance * max(1, |original|): absolute error for values up
to 1, relative above. Labels must agree, except on rows where the original's two most likely classes
are within twice the tolerance of each other (a tie that the allowed probability error can flip).
"""

import numpy as np


def run_onnx(path, feeds: dict) -> dict:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def compare(reference: dict, got: dict, tolerance: float, samples: int, source: str) -> dict:
    outputs, passed = {}, True
    for name, want in reference.items():
        have = got.get(name)
        if have is None:
            outputs[name] = {"error": "missing from the ONNX model's outputs"}
            passed = False
            continue
        want, have = np.asarray(want), np.asarray(have)
        if want.size != have.size:
            outputs[name] = {"error": f"shape {list(have.shape)} where the original gives {list(want.shape)}"}
            passed = False
            continue
        if name == "label" or want.dtype.kind in "OUSb" or have.dtype.kind in "OUSb":
            report = _labels(want.ravel(), have.ravel(), reference.get("probabilities"), tolerance)
        else:
            report = _values(want.ravel().astype(np.float64), have.ravel().astype(np.float64), tolerance)
            if want.ndim == 2 and want.shape[1] > 1 and have.shape == want.shape:
                # scores per class (logits, probabilities): how often the top class stays the same
                report["argmax_agreement"] = float((want.argmax(1) == have.argmax(1)).mean())
        passed = passed and report.pop("ok")
        outputs[name] = report
    return {"samples": samples, "inputs": source, "tolerance": tolerance, "outputs": outputs, "passed": passed}


def _values(want: np.ndarray, have: np.ndarray, tolerance: float) -> dict:
    if not np.array_equal(np.isfinite(want), np.isfinite(have)) or not np.array_equal(want[~np.isfinite(want)], have[~np.isfinite(have)]):
        return {"max_abs_error": None, "max_rel_error": None, "error": "NaN or infinity differs", "ok": False}
    finite = np.isfinite(want)
    want, have = want[finite], have[finite]
    if want.size == 0:
        return {"max_abs_error": 0.0, "max_rel_error": 0.0, "ok": True}
    abs_error = np.abs(have - want)
    rel_error = abs_error / np.maximum(np.abs(want), np.finfo(np.float64).tiny)
    ok = bool(np.all(abs_error <= tolerance * np.maximum(1.0, np.abs(want))))
    return {"max_abs_error": float(abs_error.max()), "max_rel_error": float(rel_error[want != 0].max(initial=0.0)), "ok": ok}


def _labels(want: np.ndarray, have: np.ndarray, probabilities, tolerance: float) -> dict:
    if want.dtype.kind in "iu" and have.dtype.kind in "iu":
        same = want.astype(np.int64) == have.astype(np.int64)
    else:
        same = np.array([str(a) == str(b) for a, b in zip(want.tolist(), have.tolist())], dtype=bool)
    explained = np.zeros_like(same)
    if probabilities is not None and not same.all():
        p = np.asarray(probabilities, dtype=np.float64).reshape(len(want), -1)
        top_two = np.sort(p, axis=1)[:, -2:] if p.shape[1] >= 2 else np.zeros((len(want), 2))
        explained = (top_two[:, 1] - top_two[:, 0]) <= 2 * tolerance
    mismatches = int((~same).sum())
    return {
        "label_agreement": float(same.mean()) if same.size else 1.0,
        "label_mismatches": mismatches,
        "ok": bool(np.all(same | explained)),
    }


def summary(parity: dict) -> str:
    """One line per output, for the console."""
    lines = []
    for name, r in parity["outputs"].items():
        if "error" in r and r.get("max_abs_error") is None and "label_agreement" not in r:
            lines.append(f"  {name}: {r['error']}")
        elif "label_agreement" in r:
            lines.append(f"  {name}: label agreement {r['label_agreement']:.2%} ({r['label_mismatches']} of {parity['samples']} differ)")
        else:
            top = f", top-class agreement {r['argmax_agreement']:.2%}" if "argmax_agreement" in r else ""
            lines.append(f"  {name}: max abs error {r['max_abs_error']:.3g}, max rel error {r['max_rel_error']:.3g}{top}")
    verdict = "passed" if parity["passed"] else "FAILED"
    head = f"parity on {parity['samples']} {parity['inputs']} rows, tolerance {parity['tolerance']:g}: {verdict}"
    return "\n".join([head, *lines])
