"""The Lambda entry point: `infer.runtime.handler.handler`."""

from . import app, events


def handler(event, context=None):
    source = events.source_for(event)
    try:
        request = source.parse(event)
    except app.InferError as exc:
        return source.render(events.Response(exc.status, {"error": exc.message}, exc.headers))
    return source.render(app.dispatch(request))
