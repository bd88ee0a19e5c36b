"""The floor: the smallest Lambda function that serves the model, opened the fastest way at import."""
import json
import os
import time

import numpy as np
import onnxruntime as ort

PATH, options = os.environ["INFER_MODEL_PATH"], ort.SessionOptions()
memory_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769"))
options.intra_op_num_threads = max(1, min(len(os.sched_getaffinity(0)), round(memory_mb / 1769)))
if PATH.endswith(".ort"):  # memory-mapped weights, nothing done at load
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for key in ("session.use_memory_mapped_ort_model", "session.use_ort_model_bytes_for_initializers", "session.disable_prepacking"):
        options.add_session_config_entry(key, "1")
session = ort.InferenceSession(PATH, options)


def handler(event, context):
    x = np.asarray(json.loads(event["body"])["instances"], dtype=np.float32)
    start = time.perf_counter()
    out = session.run(None, {session.get_inputs()[0].name: x})[0]
    print(json.dumps({"message": "request", "InferenceMs": (time.perf_counter() - start) * 1000}))
    return {"predictions": out.tolist()}
