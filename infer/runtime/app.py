"""Routes an HTTP request to the endpoint that serves it; every failure becomes {"error": ...}."""

import re
import sys
import traceback


from . import __version__, v1
from .errors import BadRequest, InferError, MethodNotAllowed, NotFound
from .events import Request, Response
from .model import ModelHolder, holder

SERVER_NAME = "infer"


def _model_named(name: str) -> ModelHolder:
    current = holder()
    if name != current.name:
        raise NotFound(f"model '{name}' not found; this function serves '{current.name}'")
    return current


def predict(request: Request, name: str | None = None) -> Response:
    current = _model_named(name) if name is not None else holder()
    payload = request.json()
    model = current.get()
    feeds, fmt = v1.decode(payload, model)
    outputs = _run(model, feeds)
    first = next(iter(feeds.values()))
    batch_size = first.shape[0] if first.ndim else 1
    return Response(200, v1.encode(outputs, fmt, batch_size))


def _run(model, feeds: dict) -> dict:
    try:
        return model.run(feeds)
    except Exception as exc:  # onnxruntime reports bad feeds with its own exception types
        kind = type(exc).__name__
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else kind
        if kind in ("InvalidArgument", "InvalidGraph", "NotImplemented") or isinstance(exc, (ValueError, TypeError)):
            raise BadRequest(f"the model rejected the input: {message}") from None
        raise


def live(request: Request) -> Response:
    return Response(200, {"live": True})


def ready(request: Request) -> Response:
    holder().get()
    return Response(200, {"ready": True})


def model_ready(request: Request, name: str) -> Response:
    _model_named(name).get()
    return Response(200, {"name": name, "ready": True})


def server_metadata(request: Request) -> Response:
    return Response(200, {"name": SERVER_NAME, "version": __version__, "extensions": []})


def model_metadata(request: Request, name: str) -> Response:
    model = _model_named(name).get()
    body = {
        "name": model.name,
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        "inputs": [s.metadata() for s in model.inputs],
        "outputs": [s.metadata() for s in model.outputs],
    }
    if model.labels:
        body["parameters"] = {"labels": model.labels}
    return Response(200, body)


_NAME = r"(?P<name>[^/:]+)"
ROUTES = [
    (re.compile(rf"/v1/models/{_NAME}:predict"), {"POST": predict}),
    (re.compile(r"/predict"), {"POST": predict}),
    (re.compile(rf"/v1/models/{_NAME}"), {"GET": model_ready}),
    (re.compile(r"/v2/health/live"), {"GET": live}),
    (re.compile(r"/v2/health/ready"), {"GET": ready}),
    (re.compile(r"/v2"), {"GET": server_metadata}),
    (re.compile(rf"/v2/models/{_NAME}"), {"GET": model_metadata}),
    (re.compile(rf"/v2/models/{_NAME}/ready"), {"GET": model_ready}),
]


def route(method: str, path: str):
    """Return (endpoint, path parameters) or raise 404/405."""
    if len(path) > 1:
        path = path.rstrip("/")
    for pattern, methods in ROUTES:
        match = pattern.fullmatch(path)
        if match:
            endpoint = methods.get(method)
            if endpoint is None:
                raise MethodNotAllowed(method, path, sorted(methods))
            return endpoint, match.groupdict()
    raise NotFound(
        f"no endpoint at {path}; try POST /v1/models/{{name}}:predict, POST /predict, "
        "GET /v2/models/{name} or GET /v2/health/ready"
    )


def dispatch(request: Request) -> Response:
    try:
        endpoint, params = route(request.method, request.path)
        return endpoint(request, **params)
    except InferError as exc:
        return Response(exc.status, {"error": exc.message}, exc.headers)
    except Exception as exc:  # a defect in infer or the model, never the caller's fault: log it fully
        traceback.print_exc(file=sys.stderr)
        return Response(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})
