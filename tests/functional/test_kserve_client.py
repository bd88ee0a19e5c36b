"""The KServe Python client's REST types, unchanged, against `infer serve`: V1 JSON, and V2 JSON and binary."""

import asyncio

import numpy as np
import pytest
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput

SETOSA = [5.1, 3.5, 1.4, 0.2]


async def v2_infer(url: str, binary: bool):
    client = InferenceRESTClient(RESTConfig(protocol="v2"))
    try:
        tensor = InferInput("input", [2, 4], "FP32")
        tensor.set_data_from_numpy(np.array([SETOSA, [6.7, 3.0, 5.2, 2.3]], dtype=np.float32), binary_data=binary)
        request = InferRequest(model_name="iris", infer_inputs=[tensor], request_id="kserve-1",
                               request_outputs=[RequestedOutput("label", parameters={"binary_data": binary})])
        response = await client.infer(url, request, model_name="iris")
        ready = await client.is_server_ready(url), await client.is_model_ready(url, "iris")
        return response, ready
    finally:
        await client.close()


@pytest.mark.parametrize("binary", [False, True])
def test_v2_json_and_binary(iris_server, binary):
    response, ready = asyncio.run(v2_infer(iris_server.url, binary))
    assert ready == (True, True)
    assert response.id == "kserve-1"
    assert [(o.name, o.as_numpy().tolist()) for o in response.outputs] == [("label", [0, 2])]


async def v1_predict(url: str):
    client = InferenceRESTClient(RESTConfig(protocol="v1"))
    try:
        return await client.infer(url, {"instances": [SETOSA]}, model_name="iris")
    finally:
        await client.close()


def test_v1_predict(iris_server):
    response = asyncio.run(v1_predict(iris_server.url))
    assert response["predictions"][0]["label"] == 0
