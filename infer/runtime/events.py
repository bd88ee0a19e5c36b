"""Turn what Lambda hands the handler into a `Request`, and a `Response` back into what Lambda expects.

Each event source is a small class with `matches(event)`; the first that matches parses the event
(the Mangum pattern). Function URL events (payload format 2.0, also API Gateway HTTP APIs) carry an
HTTP request; a direct invoke carries the prediction body itself; an event with "Records" (SQS, S3)
is a batch, which `infer.runtime.sources` serves.
"""

import base64
import binascii
import json
import sys

from .contract import MAX_PAYLOAD_BYTES as MAX_BODY_BYTES
from .errors import BadRequest, PayloadTooLarge


class Request:
    """An HTTP request as the function sees it. The body is decoded from JSON once, on demand."""

    __slots__ = ("method", "path", "headers", "query", "body", "_json", "_has_json")

    def __init__(self, method: str, path: str, headers: dict[str, str] | None = None,
                 query: str = "", body: bytes = b"", json_body=None, has_json: bool = False):
        self.method = method.upper()
        self.path = path
        self.headers = headers or {}
        self.query = query
        self.body = body
        self._json = json_body
        self._has_json = has_json

    def json(self):
        if not self._has_json:
            self._json = parse_json(self.body)
            self._has_json = True
        return self._json


class Response:
    __slots__ = ("status", "body", "headers", "inference_ms")

    def __init__(self, status: int, body, headers: dict[str, str] | None = None, inference_ms: float | None = None):
        self.status = status
        self.body = body  # a JSON-serialisable object, or bytes sent as they are
        self.headers = headers or {}
        self.inference_ms = inference_ms  # time inside the model, for the request's metrics


def parse_json(body: bytes):
    if not body or not body.strip():
        raise BadRequest('request body is empty; send JSON such as {"instances": [[5.1, 3.5, 1.4, 0.2]]}')
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise BadRequest("request body is not valid UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise BadRequest("request body is nested too deeply") from None
    except ValueError:  # Python's limit on integer literals (CVE-2020-10735), not a JSON syntax error
        raise BadRequest(
            f"request body contains an integer of more than {sys.get_int_max_str_digits()} digits; no tensor "
            "datatype holds one (INT64 and UINT64 take at most 20)") from None


def _reject_constant(name: str):
    raise BadRequest(f"request body contains {name}, which is not JSON; send finite numbers (or null where the model allows)")


def dump_json(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


class FunctionUrlEvent:
    """Payload format 2.0: function URLs and API Gateway HTTP APIs."""

    @staticmethod
    def matches(event) -> bool:
        return isinstance(event, dict) and event.get("version") == "2.0" and "requestContext" in event

    @staticmethod
    def parse(event: dict) -> Request:
        context = _field(event, "requestContext", dict, "requestContext") or {}
        http = _field(context, "http", dict, "requestContext.http") or {}
        body = _field(event, "body", str, "body") or ""
        headers = _field(event, "headers", dict, "headers") or {}
        bad = next((k for k, v in headers.items() if not isinstance(v, str)), None)
        if bad is not None:
            raise BadRequest(f"the event's header {bad[:40]!r} must be a string; got {json_type(headers[bad])}")
        if _field(event, "isBase64Encoded", bool, "isBase64Encoded"):
            try:
                raw = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest("request body is marked base64-encoded but is not valid base64") from None
        else:
            raw = body.encode("utf-8", "surrogatepass")  # a lone surrogate has no strict UTF-8; json.loads reads it back
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES} bytes (6 MB)")
        return Request(
            method=_field(http, "method", str, "requestContext.http.method") or "GET",
            path=_field(event, "rawPath", str, "rawPath") or _field(http, "path", str, "requestContext.http.path") or "/",
            headers=headers,
            query=_field(event, "rawQueryString", str, "rawQueryString") or "",
            body=raw,
        )

    @staticmethod
    def render(response: Response) -> dict:
        headers = {"content-type": "application/json"}
        headers.update(response.headers)
        if isinstance(response.body, bytes):  # binary tensors: a function URL carries them base64-encoded
            return {"statusCode": response.status, "headers": headers,
                    "body": base64.b64encode(response.body).decode("ascii"), "isBase64Encoded": True}
        return {
            "statusCode": response.status,
            "headers": headers,
            "body": dump_json(response.body),
            "isBase64Encoded": False,
        }


def _field(obj: dict, key: str, kind: type, where: str):
    """`obj[key]` when it is of JSON type `kind` (None when absent); an event built by hand may hold anything."""
    value = obj.get(key)
    if value is not None and not isinstance(value, kind):
        raise BadRequest(f"the event's {where} must be {_JSON_TYPES[kind]}; got {json_type(value)}")
    return value


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
               float: "a number", type(None): "null"}


def json_type(value) -> str:
    """How JSON calls the type of a parsed value, for errors: "an object", "a string"..."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


class RecordsEvent:
    """An event source's batch of records: SQS messages, S3 notifications (or a source infer does not serve).

    Served by `infer.runtime.sources`, imported only when such an event arrives. No prediction request
    has a "Records" key, so none is taken for one."""

    @staticmethod
    def matches(event) -> bool:
        return isinstance(event, dict) and isinstance(event.get("Records"), list)


class DirectInvoke:
    """`aws lambda invoke --payload '{"instances": ...}'`: the event is the prediction request."""

    @staticmethod
    def matches(event) -> bool:
        return not FunctionUrlEvent.matches(event) and not RecordsEvent.matches(event)

    @staticmethod
    def parse(event) -> Request:
        return Request("POST", "/predict", json_body=event, has_json=True)

    @staticmethod
    def render(response: Response):
        if isinstance(response.body, bytes):
            return {"body": base64.b64encode(response.body).decode("ascii"), "isBase64Encoded": True,
                    "headers": response.headers}
        if response.status >= 400:
            return {"error": response.body.get("error", ""), "status": response.status}
        return response.body


EVENT_SOURCES = (FunctionUrlEvent, RecordsEvent, DirectInvoke)


def source_for(event):
    for source in EVENT_SOURCES:
        if source.matches(event):
            return source
    raise BadRequest("unrecognised event")  # unreachable: DirectInvoke takes the rest
