"""The Lambda entry point: `infer.runtime.handler.handler`."""

from . import app, events, metrics
from .model import holder


def handler(event, context=None):
    source = events.source_for(event)
    cold_start = metrics.take_cold_start()
    current = holder()
    was_loaded = current.loaded
    try:
        request = source.parse(event)
    except app.InferError as exc:
        request, response = None, events.Response(exc.status, {"error": exc.message}, exc.headers)
    else:
        response = app.dispatch(request)
    metrics.record(
        request_id=getattr(context, "aws_request_id", "") or "",
        path=request.path if request is not None else "",
        status=response.status,
        model=current.name,
        cold_start=cold_start,
        inference_ms=response.inference_ms,
        model_load_ms=current.get().load_ms if current.loaded and not was_loaded else None,
    )
    return source.render(response)
