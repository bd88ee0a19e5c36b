"""The Lambda Runtime API that one execution environment's `awslambdaric` talks to.

Each environment gets its own server on 127.0.0.1, as each Lambda sandbox has its own endpoint:
  GET  /2018-06-01/runtime/invocation/next          -> blocks until an event is assigned
  POST /2018-06-01/runtime/invocation/{id}/response -> the function's result
  POST /2018-06-01/runtime/invocation/{id}/error    -> an unhandled function error
  POST /2018-06-01/runtime/init/error               -> the handler could not be loaded

Only the environment's own processes are answered: each connection's client socket is looked up in
the kernel (peer.py) and must be held by one of them; any other local process gets 403 and nothing of
the invocations (their events carry callers' headers and bodies). One /next waits at a time, and one
whose connection has closed takes no invocation.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from typing import TYPE_CHECKING

from infer.runtime.contract import MAX_PAYLOAD_BYTES

from .framing import BadFraming, BodyTooLarge
from .httputil import QuietHandler, Server
from .states import AnotherWaiter, Outcome

if TYPE_CHECKING:
    from .environment import Environment

PREFIX = "/2018-06-01/runtime"
MAX_RESPONSE_BYTES = MAX_PAYLOAD_BYTES + 1024  # the response limit, plus framing


def error_type_of(payload: bytes) -> str:
    """The errorType of a Runtime API error document, e.g. ValueError."""
    try:
        return str(json.loads(payload).get("errorType") or "Unhandled")
    except (ValueError, AttributeError):
        return "Unhandled"


def _error(message: str, error_type: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def connection_open(connection: socket.socket) -> bool:
    """Whether the peer of `connection` is still there (it has neither closed nor reset it)."""
    try:
        if not select.select([connection], [], [], 0)[0]:
            return True
        return connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True
    except (OSError, ValueError):
        return False


class RuntimeApiHandler(QuietHandler):
    server: RuntimeApiServer
    own = False  # the connection comes from the environment's own processes

    def setup(self):
        super().setup()
        self.own = self.server.environment.owns(self.connection)

    def _refuse_stranger(self) -> bool:
        if not self.own:
            self.refuse(403, _error(f"this Runtime API belongs to execution environment {self.server.environment.env_id}; "
                                    "only its own processes may call it", "AccessDeniedException"))
        return not self.own

    def do_GET(self):
        if self._refuse_stranger():
            return
        if self.path != f"{PREFIX}/invocation/next":
            return self.send(404, _error("unknown Runtime API path", "InvalidRequest"))
        env = self.server.environment
        try:
            invocation = env.next_invocation(lambda: connection_open(self.connection))
        except AnotherWaiter as exc:
            return self.send(409, _error(f"{exc}; a runtime asks for one event at a time", "InvalidRequest"))
        if invocation is None:  # the environment is being shut down, or the runtime that asked has gone
            self.close_connection = True
            return self.send(410, _error("environment shutting down", "ShutDown"))
        self.send(200, invocation.event, headers=invocation.runtime_headers(env.pool.function.arn))

    def do_POST(self):
        if self._refuse_stranger():
            return
        env = self.server.environment
        try:
            body = self.read_body(MAX_RESPONSE_BYTES)
        except BodyTooLarge as exc:
            env.response_too_large(exc.size_bytes)
            return self.refuse(413, _error("Response payload size exceeded maximum allowed payload size",
                                           "Function.ResponseSizeTooLarge"))
        except BadFraming as exc:
            return self.refuse(400, _error(str(exc), "InvalidRequest"))
        parts = self.path[len(PREFIX):].strip("/").split("/") if self.path.startswith(PREFIX + "/") else []
        if parts == ["init", "error"]:
            env.init_failed(body, self.headers.get("Lambda-Runtime-Function-Error-Type") or error_type_of(body))
            return self.send(202, b'{"status": "OK"}')
        if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            outcome = Outcome.OK if parts[2] == "response" else Outcome.ERROR
            error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
            if env.complete(parts[1], outcome, body, error_type):
                return self.send(202, b'{"status": "OK"}')
            return self.send(400, _error("unknown or finished request id", "InvalidRequestID"))
        self.send(404, _error("unknown Runtime API path", "InvalidRequest"))


class RuntimeApiServer(Server):
    def __init__(self, environment: Environment, host: str = "127.0.0.1"):
        super().__init__((host, 0), RuntimeApiHandler)
        self.environment = environment
        self._thread = threading.Thread(target=self.serve_forever, name=f"runtime-api-{environment.env_id}", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.socket.getsockname()[:2]
        return f"{host}:{port}"

    def start(self) -> RuntimeApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.shutdown()
        self.server_close()
