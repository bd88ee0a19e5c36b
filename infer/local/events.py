"""What a function URL does at its two edges: HTTP request -> payload 2.0 event, function result -> HTTP response."""

import base64
import json
import time
from urllib.parse import parse_qsl

# Bodies of these types reach the function as text; anything else (or no Content-Type) as base64.
TEXT_TYPES = ("application/json", "application/javascript", "application/xml", "application/x-www-form-urlencoded")


def is_text(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in TEXT_TYPES or media.endswith(("+json", "+xml"))


def build_event(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    request_id: str,
    source_ip: str = "127.0.0.1",
    protocol: str = "HTTP/1.1",
    url_id: str = "local",
    region: str = "us-east-1",
    now_s: float | None = None,
) -> dict:
    """Build the event Lambda builds for a function URL request (payload format 2.0)."""
    now_s = time.time() if now_s is None else now_s
    raw_path, _, raw_query = target.partition("?")
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    domain = f"{url_id}.lambda-url.{region}.on.aws"
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path or "/",
        "rawQueryString": raw_query,
        "headers": merged,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": url_id,
            "domainName": domain,
            "domainPrefix": url_id,
            "http": {
                "method": method.upper(),
                "path": raw_path or "/",
                "protocol": protocol,
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_s)),
            "timeEpoch": int(now_s * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if raw_query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    if body:
        if is_text(merged.get("content-type")):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode("ascii")
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


class FunctionResponse:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body


HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive"}


def response_from_result(payload: bytes) -> FunctionResponse:
    """Interpret a function's result as a function URL does.

    An object with `statusCode` is a full response (headers, cookies, body, isBase64Encoded); any
    other JSON value is sent as a 200 application/json body.
    """
    try:
        result = json.loads(payload) if payload else None
    except ValueError:
        return FunctionResponse(502, [("content-type", "application/json")],
                                b'{"error": "the function returned a response that is not JSON"}')
    if not (isinstance(result, dict) and "statusCode" in result):
        return FunctionResponse(200, [("content-type", "application/json")], payload)
    try:
        status = int(result["statusCode"])
        headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()
                   if str(k).lower() not in HOP_BY_HOP]
        headers.extend(("set-cookie", str(c)) for c in result.get("cookies") or [])
        body = result.get("body")
        if body is None:
            raw = b""
        elif result.get("isBase64Encoded"):
            raw = base64.b64decode(body, validate=True)
        else:
            raw = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
    except (TypeError, ValueError, AttributeError):
        return FunctionResponse(502, [("content-type", "application/json")],
                                b'{"error": "the function returned a malformed function URL response"}')
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("content-type", "application/json"))
    return FunctionResponse(status, headers, raw)
