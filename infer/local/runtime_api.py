"""The Lambda Runtime API that one execution environment's `awslambdaric` talks to.

Each environment gets its own server on 127.0.0.1, as each Lambda sandbox has its own endpoint:
  GET  /2018-06-01/runtime/invocation/next          -> blocks until an event is assigned
  POST /2018-06-01/runtime/invocation/{id}/response -> the function's result
  POST /2018-06-01/runtime/invocation/{id}/error    -> an unhandled function error
  POST /2018-06-01/runtime/init/error               -> the handler could not be loaded
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

from infer.runtime.contract import MAX_PAYLOAD_BYTES

from .framing import BadFraming, BodyTooLarge
from .httputil import QuietHandler, Server
from .states import Outcome

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


class RuntimeApiHandler(QuietHandler):
    server: RuntimeApiServer

    def do_GET(self):
        if self.path != f"{PREFIX}/invocation/next":
            return self.send(404, b'{"errorMessage": "unknown Runtime API path", "errorType": "InvalidRequest"}')
        invocation = self.server.environment.next_invocation()
        if invocation is None:  # the environment is being shut down
            self.close_connection = True
            return self.send(410, b'{"errorMessage": "environment shutting down", "errorType": "ShutDown"}')
        self.send(200, invocation.event, headers=invocation.runtime_headers(self.server.environment.pool.function.arn))

    def do_POST(self):
        env = self.server.environment
        try:
            body = self.read_body(MAX_RESPONSE_BYTES)
        except BodyTooLarge as exc:
            env.response_too_large(exc.size_bytes)
            return self.refuse(413, b'{"errorMessage": "Response payload size exceeded maximum allowed payload size", '
                                    b'"errorType": "Function.ResponseSizeTooLarge"}')
        except BadFraming as exc:
            return self.refuse(400, json.dumps({"errorMessage": str(exc), "errorType": "InvalidRequest"}).encode())
        parts = self.path[len(PREFIX):].strip("/").split("/")
        if parts == ["init", "error"]:
            env.init_failed(body, self.headers.get("Lambda-Runtime-Function-Error-Type") or error_type_of(body))
            return self.send(202, b'{"status": "OK"}')
        if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            outcome = Outcome.OK if parts[2] == "response" else Outcome.ERROR
            error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
            if env.complete(parts[1], outcome, body, error_type):
                return self.send(202, b'{"status": "OK"}')
            return self.send(400, b'{"errorMessage": "unknown or finished request id", "errorType": "InvalidRequestID"}')
        self.send(404, b'{"errorMessage": "unknown Runtime API path", "errorType": "InvalidRequest"}')


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
