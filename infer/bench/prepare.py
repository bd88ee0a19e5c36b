"""Run in a subprocess by `infer bench`, so that the benchmark's own process never maps numpy or
onnxruntime (pages a process has mapped cannot be evicted from the page cache).

    python -m infer.bench.prepare MODEL.onnx WORK_DIR

Writes WORK_DIR/<stem>.ort and WORK_DIR/request.json (one instance of the model's first input, batch 1),
and prints {"input": ..., "shape": [...], "model_bytes": N, "ort": path} as JSON.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from infer.convert.optimize import to_ort
from infer.runtime import contract
from infer.runtime.types import ORT_TYPES

# Numeric inputs a random request can be generated for (from the one datatype table).
FEED_TYPES = {ort_type: dtype for ort_type, (dtype, _) in ORT_TYPES.items() if dtype is not None and dtype.kind in "fiu"}


def main(model: Path, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    if len(session.get_inputs()) != 1 or first.type not in FEED_TYPES:
        raise SystemExit(f"infer bench needs a model with one numeric input; {model.name} has "
                         f"{', '.join(f'{i.name} ({i.type})' for i in session.get_inputs())}")
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in first.shape]
    values = np.random.default_rng(0).random(shape).astype(FEED_TYPES[first.type])
    (work / "request.json").write_text(json.dumps({"instances": values.tolist()}))
    ort_path = to_ort(model, work / (model.stem + ".ort"))
    sidecar = Path(contract.sidecar_path(str(model)))
    size = model.stat().st_size + (sidecar.stat().st_size if sidecar.exists() else 0)
    return {"input": first.name, "shape": shape, "model_bytes": size, "ort": str(ort_path),
            "ort_bytes": os.path.getsize(ort_path)}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]))))
