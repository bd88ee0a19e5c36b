"""The Lambda entry point: `infer.runtime.handler.handler`.

Init (module import) runs in this order: `preload` asks the kernel to read the model files (prefetch
and eager strategies), then numpy and onnxruntime import, then the model starts loading as
INFER_LOAD_STRATEGY says: `lazy` on the first request that needs it, `prefetch` on a thread now (the
first request waits for it), `eager` right here, inside init.

One handler serves every source: function URL events and direct invokes here; SQS batches and S3
ObjectCreated events in `sources` (imported, with boto3, only when one arrives).
"""

# isort: off
from . import preload  # first: the model's read overlaps the imports below
from . import app, events, metrics
from .model import begin, holder
# isort: on

begin(preload.strategy())


def handler(event, context=None):
    source = events.source_for(event)
    cold_start = metrics.take_cold_start()
    if source is events.RecordsEvent:  # SQS, S3: imported (with boto3) only when such an event arrives
        from . import sources

        return sources.handle(event, context, cold_start)
    current = holder()
    try:
        request = source.parse(event)
    except app.InferError as exc:
        request, response = None, events.Response(exc.status, {"error": exc.message}, exc.headers)
    else:
        response = app.dispatch(request)
    timings = metrics.load_timings(current, cold_start, current.take_wait_ms())
    metrics.record(
        request_id=getattr(context, "aws_request_id", "") or "",
        path=request.path if request is not None else "",
        status=response.status,
        model=current.name,
        cold_start=cold_start,
        inference_ms=response.inference_ms,
        model_load_ms=timings["ModelLoadMs"],
        model_wait_ms=timings["ModelWaitMs"],
    )
    return source.render(response)
