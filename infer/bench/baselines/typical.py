"""The typical function: FastAPI behind Mangum, a default InferenceSession created at import."""

import json
import os
import time

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI
from mangum import Mangum

session = ort.InferenceSession(os.environ["INFER_MODEL_PATH"])
app = FastAPI()


@app.post("/v1/models/{name}:predict")
def predict(name: str, body: dict):
    x = np.asarray(body["instances"], dtype=np.float32)
    start = time.perf_counter()
    out = session.run(None, {session.get_inputs()[0].name: x})[0]
    print(json.dumps({"message": "request", "InferenceMs": (time.perf_counter() - start) * 1000}))
    return {"predictions": out.tolist()}


handler = Mangum(app, lifespan="off")
