"""The function URL front end: HTTP request -> payload 2.0 event -> pool -> HTTP response."""

import json
import threading
import uuid

from infer.runtime.contract import MAX_PAYLOAD_BYTES as MAX_REQUEST_BYTES

from .events import build_event, response_from_result
from .framing import BadFraming, BodyTooLarge, body_length
from .httputil import QuietHandler, Server, target_problem
from .pool import Pool

# Seconds a client may leave a connection silent: while sending its request line, headers or body, and between
# requests on a kept-alive connection. Past it the connection is closed, so a client that stalls (slowloris)
# holds no handler thread for long. 60 s, as load balancers' default idle timeout.
CLIENT_READ_TIMEOUT_S = 60.0


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


class FunctionUrlHandler(QuietHandler):
    server: "FunctionUrlServer"

    def setup(self):
        super().setup()
        self.connection.settimeout(self.server.read_timeout_s)  # each read and write on the socket

    def handle_expect_100(self):
        """`Expect: 100-continue`: the body's framing and length are checked before the client is told to send
        it, so a body over the limit gets its 413 (and a bad framing its 400) instead of 100 Continue."""
        try:
            body_length(self.headers, MAX_REQUEST_BYTES)
        except BodyTooLarge as exc:
            self.refuse(413, _error(f"request body is {exc.size_text}; a function URL accepts at most "
                                    f"{MAX_REQUEST_BYTES} bytes (6 MB)"))
            return False
        except BadFraming as exc:
            self.refuse(400, _error(str(exc)))
            return False
        return super().handle_expect_100()

    def _serve(self):
        pool = self.server.pool
        request_id = str(uuid.uuid4())
        id_header = [("x-amzn-RequestId", request_id)]
        if problem := target_problem(self.path):  # what is signed, routed and handed to the function is this path
            return self.refuse(400, _error(problem), id_header)
        try:
            body = self.read_body(MAX_REQUEST_BYTES)
        except BodyTooLarge as exc:
            return self.refuse(413, _error(f"request body is {exc.size_text}; a function URL accepts at most "
                                           f"{MAX_REQUEST_BYTES} bytes (6 MB)"), id_header)
        except BadFraming as exc:
            return self.refuse(400, _error(str(exc)), id_header)
        if self.server.authorizer is not None:  # `infer serve --auth iam`: checked before the function sees it
            denial = self.server.authorizer(self.command, self.path, list(self.headers.items()), body)
            if denial:
                return self.send(403, _error(f"Forbidden: {denial}"),
                                 id_header + [("x-amzn-ErrorType", "AccessDeniedException")])
        event = build_event(
            self.command, self.path, list(self.headers.items()), body, request_id,
            source_ip=self.client_address[0], protocol=self.request_version,
            region=pool.function.region,
        )
        invocation = pool.invoke(json.dumps(event).encode(), request_id)
        if invocation.outcome == "ok":
            response = response_from_result(invocation.payload)
            return self.send(response.status, response.body, id_header + response.headers, content_type=None)
        if invocation.outcome == "throttled":
            return self.send(429, _error(f"Rate Exceeded: {invocation.reason} (raise --concurrency to allow more)"),
                             id_header + [("x-amzn-ErrorType", "TooManyRequestsException")])
        self.send(502, _error(f"Internal Server Error: {invocation.reason}"), id_header)

    def __getattr__(self, name: str):
        """Every method, even TRACE or a made-up one, goes to the function, which decides (405)."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)


class FunctionUrlServer(Server):
    def __init__(self, pool: Pool, host: str = "127.0.0.1", port: int = 0, authorizer=None,
                 read_timeout_s: float = CLIENT_READ_TIMEOUT_S):
        super().__init__((host, port), FunctionUrlHandler)
        self.pool = pool
        self.read_timeout_s = read_timeout_s
        self.authorizer = authorizer  # (method, target, headers, body) -> None to allow, or why not
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start_background(self):
        self._thread = threading.Thread(target=self.serve_forever, name="function-url", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._thread is not None:
            self.shutdown()
        self.server_close()
