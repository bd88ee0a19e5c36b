"""The naive function: the handler of AWS's tutorials. A default InferenceSession on the single-file .onnx
(as torch.onnx.export and skl2onnx write it) created at import; JSON body -> numpy -> run -> JSON."""

import json
import os
import time

import numpy as np
import onnxruntime as ort

session = ort.InferenceSession(os.environ["INFER_MODEL_PATH"])
input_name = session.get_inputs()[0].name


def handler(event, context):
    body = json.loads(event["body"])
    x = np.array(body["instances"], dtype=np.float32)
    start = time.perf_counter()
    outputs = session.run(None, {input_name: x})
    print(json.dumps({"message": "request", "InferenceMs": (time.perf_counter() - start) * 1000}))  # for infer bench
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"predictions": outputs[0].tolist()})}
