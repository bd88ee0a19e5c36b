"""Routes an HTTP request to the endpoint that serves it; every failure becomes {"error": ...}."""

import os
import re
import sys
import time
import traceback
from collections.abc import Callable
from urllib.parse import unquote

from . import __version__, v1, v2
from .errors import BadRequest, InferError, MethodNotAllowed, NotFound
from .events import Request, Response
from .model import ModelHolder, holder

SERVER_NAME = "infer"
MODEL_VERSION = "1"
EXTENSIONS = ["binary_tensor_data"]
OPENAPI_PATH = os.path.join(os.path.dirname(__file__), "openapi.json")


def _model_named(name: str, version: str | None = None) -> ModelHolder:
    current = holder()
    if name != current.name:
        raise NotFound(f"model '{name}' not found; this function serves '{current.name}'")
    if version is not None and version != MODEL_VERSION:
        raise NotFound(f"model '{name}' has no version '{version}'; the only version is '{MODEL_VERSION}'")
    return current


def predict(request: Request, name: str | None = None) -> Response:
    current = _model_named(name) if name is not None else holder()
    payload = request.json()
    model = current.get()
    feeds, fmt = v1.decode(payload, model)
    outputs, inference_ms = run(model, feeds)
    first = next(iter(feeds.values()))
    batch_size = first.shape[0] if first.ndim else 1
    return Response(200, v1.encode(outputs, fmt, batch_size), inference_ms=inference_ms)


def run(model, feeds: dict, output_names: list[str] | None = None) -> tuple[dict, float]:
    """The model's outputs and the milliseconds it took."""
    start = time.perf_counter()
    try:
        return model.run(feeds, output_names), (time.perf_counter() - start) * 1000.0
    except Exception as exc:  # onnxruntime reports bad feeds with its own exception types
        kind = type(exc).__name__
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else kind
        empty = [f"'{name}' of shape {list(array.shape)}" for name, array in feeds.items() if array.size == 0]
        if empty:  # the signature allows it, yet an operator may not: e.g. ArrayFeatureExtractor on no rows
            raise BadRequest(f"the model rejected the input: it cannot run on the empty input(s) {', '.join(empty)}: "
                             f"{message}") from None
        if kind in ("InvalidArgument", "InvalidGraph", "NotImplemented") or isinstance(exc, (ValueError, TypeError)):
            raise BadRequest(f"the model rejected the input: {message}") from None
        raise


def infer(request: Request, name: str, version: str | None = None) -> Response:
    current = _model_named(name, version)
    model = current.get()
    decoded = v2.decode(request, model)
    results, inference_ms = run(model, decoded.feeds, [n for n, _ in decoded.outputs])
    body, headers = v2.encode(model, decoded, results)
    return Response(200, body, headers, inference_ms)


def openapi(request: Request) -> Response:
    with open(OPENAPI_PATH, "rb") as f:
        return Response(200, f.read(), {"content-type": "application/json"})


def live(request: Request) -> Response:
    return Response(200, {"live": True})


def ready(request: Request) -> Response:
    holder().get()
    return Response(200, {"ready": True})


def model_ready(request: Request, name: str, version: str | None = None) -> Response:
    _model_named(name, version).get()
    return Response(200, {"name": name, "ready": True})


def server_metadata(request: Request) -> Response:
    return Response(200, {"name": SERVER_NAME, "version": __version__, "extensions": EXTENSIONS})


def model_metadata(request: Request, name: str, version: str | None = None) -> Response:
    model = _model_named(name, version).get()
    body: dict[str, object] = {
        "name": model.name,
        "versions": [MODEL_VERSION],
        "platform": "onnxruntime_onnx",
        "inputs": [s.metadata() for s in model.inputs],
        "outputs": [s.metadata() for s in model.outputs],
    }
    if model.labels:
        body["parameters"] = {"labels": model.labels}
    return Response(200, body)


_NAME = r"(?P<name>[^/:]+)"
_MODEL = rf"/v2/models/{_NAME}(?:/versions/(?P<version>[^/]+))?"
ROUTES: list[tuple[re.Pattern, dict[str, Callable[..., Response]]]] = [
    (re.compile(rf"/v1/models/{_NAME}:predict"), {"POST": predict}),
    (re.compile(r"/predict"), {"POST": predict}),
    (re.compile(rf"{_MODEL}/infer"), {"POST": infer}),
    (re.compile(rf"/v1/models/{_NAME}"), {"GET": model_ready}),
    (re.compile(r"/v2/health/live"), {"GET": live}),
    (re.compile(r"/v2/health/ready"), {"GET": ready}),
    (re.compile(r"/v2"), {"GET": server_metadata}),
    (re.compile(_MODEL), {"GET": model_metadata}),
    (re.compile(rf"{_MODEL}/ready"), {"GET": model_ready}),
    (re.compile(r"/openapi\.json"), {"GET": openapi}),
]


def route(method: str, path: str):
    """Return (endpoint, path parameters) or raise 404/405. HEAD is served wherever GET is."""
    path = unquote(path)  # rawPath arrives percent-encoded: /v1/models/iris%3Apredict
    if len(path) > 1:
        path = path.rstrip("/")
    for pattern, methods in ROUTES:
        match = pattern.fullmatch(path)
        if match:
            endpoint = methods.get("GET" if method == "HEAD" else method)
            if endpoint is None:
                raise MethodNotAllowed(method, path, sorted(methods) + (["HEAD"] if "GET" in methods else []))
            return endpoint, {k: v for k, v in match.groupdict().items() if v is not None}
    raise NotFound(
        f"no endpoint at {path}; try POST /v1/models/{{name}}:predict, POST /predict, "
        "POST /v2/models/{name}/infer, GET /v2/models/{name} or GET /openapi.json"
    )


def dispatch(request: Request) -> Response:
    try:
        endpoint, params = route(request.method, request.path)
        return endpoint(request, **params)
    except InferError as exc:
        return Response(exc.status, {"error": exc.message}, exc.headers)
    except Exception as exc:  # a defect in infer or the model, never the caller's fault: log it fully
        traceback.print_exc(file=sys.stderr)  # the caller gets its type only: its text may hold paths or data
        return Response(500, {"error": f"internal error ({type(exc).__name__}); the function's log has the traceback"})
