"""Small pieces shared by the emulator's HTTP servers: a quiet keep-alive handler and a threading server."""

import json
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import framing

LISTEN_BACKLOG = 1024  # socketserver's default of 5 turns a burst of connections into resets and SYN retries
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024  # most of a refused body read and dropped, so the client sees the answer
DRAIN_WAIT_S = 5.0  # real time: the longest a refused client may keep sending before the connection is closed


def target_problem(target: str) -> str | None:
    """Why a request target is not a path this server routes (origin form, no fragment), or None."""
    if not target.startswith("/"):
        return f"the request target must be a path such as /predict; got {target[:60]!r}"
    if "#" in target:
        return "the request target may not carry a #fragment"
    return None


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive without Nagle's delay (which costs ~40 ms per request), no access log, and a
    lingering close after a refusal: what the client still sends is read and dropped (up to a bound), so
    that it sees the answer instead of a reset."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "infer"  # no Python version in the Server header
    linger = False  # set when the connection closes with part of a request unread

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format, *args):
        pass

    def send_error(self, code, message=None, explain=None):
        """http.server's own refusals (malformed request line, headers too large...) as JSON, not HTML."""
        text = message or self.responses.get(code, ("error",))[0]
        self.refuse(code, json.dumps({"error": f"{text} (HTTP {code})"}).encode())

    def read_body(self, limit: int) -> bytes:
        """This request's body (framing.read_body): BadFraming or BodyTooLarge past `limit` bytes."""
        return framing.read_body(self.rfile, self.headers, limit)

    def refuse(self, status: int, body: bytes, headers=()) -> None:
        """Answer and close the connection, reading and dropping what the client still sends."""
        self.close_connection = True
        self.linger = True
        self.send(status, body, [("Connection", "close"), *headers])

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

    def finish(self):
        super().finish()
        if self.linger:
            drain(self.connection)


def drain(connection: socket.socket) -> None:
    """Half-close, then read and drop what the peer sends until it closes (at most DRAIN_LIMIT_BYTES, for
    at most DRAIN_WAIT_S), so that closing does not reset a response the peer has not read yet."""
    deadline = time.monotonic() + DRAIN_WAIT_S
    remaining = DRAIN_LIMIT_BYTES
    try:
        connection.shutdown(socket.SHUT_WR)
        while remaining > 0 and (left_s := deadline - time.monotonic()) > 0:
            connection.settimeout(left_s)
            chunk = connection.recv(min(remaining, 1 << 16))
            if not chunk:
                return
            remaining -= len(chunk)
    except OSError:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def serve_forever(self, poll_interval: float = 0.05):
        """A short poll interval so that shutdown() returns in milliseconds, not half a second."""
        super().serve_forever(poll_interval)

    def handle_error(self, request, client_address):
        """A peer that went away (a killed environment, a client that hung up) is not an error here."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError):
            super().handle_error(request, client_address)
