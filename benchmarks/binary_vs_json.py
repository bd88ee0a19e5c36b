"""Cost of one 1x3x224x224 FP32 inference request through `infer serve`: JSON tensors vs binary tensor data.

    .venv/bin/python benchmarks/binary_vs_json.py [--requests 30]

The model averages each channel (GlobalAveragePool), so the answer is tiny and the time is the
request's: the client encoding the tensor (tritonclient.http, unchanged), the transfer through the
function URL emulator (binary bodies travel base64-encoded, as on Lambda), the runtime decoding it,
and the answer coming back. JSON and binary requests alternate, so both see the same machine load.
"""

import argparse
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tritonclient.http as triton
from onnx import TensorProto, helper, save

SHAPE = [1, 3, 224, 224]


def build_model(path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["image"], ["means"])], "means",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, 224, 224])],
        [helper.make_tensor_value_info("means", TensorProto.FLOAT, ["n", 3, 1, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save(model, str(path))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="infer-bench-"))
    model = folder / "means.onnx"
    build_model(model)
    proc = subprocess.Popen([str(Path(sys.executable).with_name("infer")), "serve", str(model), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = re.search(r"http://(127\.0\.0\.1:\d+)", proc.stdout.readline()).group(1)
    image = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
    expected = image.mean(axis=(2, 3)).reshape(1, 3, 1, 1)
    client = triton.InferenceServerClient(url=url, network_timeout=120)
    samples = {"json": [], "binary": []}
    try:
        for i in range(args.requests + 2):
            for kind in ("json", "binary"):
                tensor = triton.InferInput("image", SHAPE, "FP32")
                start = time.perf_counter()
                tensor.set_data_from_numpy(image, binary_data=kind == "binary")
                result = client.infer("means", [tensor], outputs=[triton.InferRequestedOutput("means", binary_data=False)])
                elapsed_ms = (time.perf_counter() - start) * 1000.0
                np.testing.assert_allclose(result.as_numpy("means"), expected, rtol=1e-4)
                if i >= 2:  # the first rounds include the cold start
                    samples[kind].append(elapsed_ms)
    finally:
        client.close()
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
    json_ms, binary_ms = statistics.median(samples["json"]), statistics.median(samples["binary"])
    print(f"1x3x224x224 FP32 through infer serve, {args.requests} requests each, medians:")
    print(f"  JSON tensors:   {json_ms:8.1f} ms  (p90 {statistics.quantiles(samples['json'], n=10)[8]:.1f})")
    print(f"  binary tensors: {binary_ms:8.1f} ms  (p90 {statistics.quantiles(samples['binary'], n=10)[8]:.1f})")
    print(f"  JSON / binary:  {json_ms / binary_ms:8.1f}x")


if __name__ == "__main__":
    main()
