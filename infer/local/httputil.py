"""Small pieces shared by the emulator's two HTTP servers."""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DRAIN_LIMIT = 64 * 1024 * 1024


class BadFraming(ValueError):
    """The body's length cannot be read from the request."""


class BodyTooLarge(Exception):
    def __init__(self, size: int):
        super().__init__(size)
        self.size = size


def read_body(handler: BaseHTTPRequestHandler, limit: int) -> bytes:
    """Read a request body sent with Content-Length or chunked; raise BodyTooLarge past `limit` bytes."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        parts: list[bytes] = []
        total = 0
        while True:
            line = handler.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line or b"0", 16)
            except ValueError:
                raise BadFraming(f"malformed chunk size {line[:20]!r} in a chunked body") from None
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > limit:
                raise BodyTooLarge(total)
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
    raw = handler.headers.get("Content-Length") or "0"
    if not raw.strip().isdigit():
        raise BadFraming(f"Content-Length must be a non-negative integer; got {raw[:40]!r}")
    length = int(raw)
    if length > limit:
        if length <= DRAIN_LIMIT:  # read and drop it, so the client sees our answer rather than a reset
            remaining = length
            while remaining > 0:
                chunk = handler.rfile.read(min(1 << 20, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
        raise BodyTooLarge(length)
    return handler.rfile.read(length) if length > 0 else b""


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive without Nagle's delay (which costs ~40 ms per request), no access log."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def send_error(self, code, message=None, explain=None):
        """http.server's own refusals (malformed request line, headers too large...) as JSON, not HTML."""
        self.close_connection = True
        text = message or self.responses.get(code, ("error",))[0]
        self.send(code, json.dumps({"error": f"{text} (HTTP {code})"}).encode())

    def send(self, status: int, body: bytes, headers=(), content_type: str | None = "application/json"):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def serve_forever(self, poll_interval: float = 0.05):
        """A short poll interval so that shutdown() returns in milliseconds, not half a second."""
        super().serve_forever(poll_interval)

    def handle_error(self, request, client_address):
        """A peer that went away (a killed environment, a client that hung up) is not an error here."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError):
            super().handle_error(request, client_address)
