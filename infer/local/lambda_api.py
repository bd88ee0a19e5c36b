"""The part of the AWS Lambda API that `infer bench --function` uses, served by the emulator, so that
the same boto3 code runs here (`endpoint_url=http://127.0.0.1:PORT`) and against AWS:

  POST /2015-03-31/functions/{name}/invocations   Invoke (RequestResponse or Event; LogType=Tail)
  GET  /2015-03-31/functions/{name}               GetFunction (the function_updated_v2 waiter)
  GET  /2015-03-31/functions/{name}/configuration GetFunctionConfiguration
  PUT  /2015-03-31/functions/{name}/configuration UpdateFunctionConfiguration (Environment, MemorySize, Timeout)
  GET  /2021-10-31/functions/{name}/url           GetFunctionUrlConfig

Served on 127.0.0.1 only and only when asked for (`infer serve --lambda-api-port`). Requests are not
authenticated unless `--auth iam` is on, when they must be signed as the function URL's; environment
variables that Lambda reserves, or that would run code in the host's processes, are refused.
Everything else answers 404 the way the Lambda API does.
"""

import base64
import json
import re
import threading
from urllib.parse import unquote

from infer.runtime import contract
from infer.runtime.contract import MAX_PAYLOAD_BYTES

from .framing import BadFraming, BodyTooLarge
from .httputil import QuietHandler, Server
from .pool import Pool

LOG_TAIL_BYTES = 4096
ROUTE = re.compile(r"/(?P<api>2015-03-31|2021-10-31)/functions/(?P<name>[^/]+)(?P<rest>/[a-z]+)?")


def _error(kind: str, message: str) -> bytes:
    return json.dumps({"Type": "User", "Message": message, "message": message}).encode()


class LambdaApiHandler(QuietHandler):
    server: "LambdaApiServer"

    def do_GET(self):
        self._route()

    def do_POST(self):
        self._route()

    def do_PUT(self):
        self._route()

    _body: bytes | None = None

    def _read(self) -> bytes:
        """The request body (already read when an authorizer checked it)."""
        if self._body is None:
            self._body = self.read_body(MAX_PAYLOAD_BYTES)
        return self._body

    def _fail(self, status: int, kind: str, message: str):
        self.send(status, _error(kind, message), [("x-amzn-ErrorType", kind)])

    def _route(self):
        self._body = None  # a keep-alive connection reuses this handler for the next request
        authorizer = self.server.authorizer
        if authorizer is not None:
            try:
                body = self.read_body(MAX_PAYLOAD_BYTES)
            except (BodyTooLarge, BadFraming) as exc:
                self.close_connection = True
                return self._fail(413 if isinstance(exc, BodyTooLarge) else 400, "RequestTooLargeException", str(exc))
            refusal = authorizer(self.command, self.path.split("?", 1)[0], list(self.headers.items()), body)
            if refusal:
                return self._fail(403, "AccessDeniedException", f"Forbidden: {refusal}")
            self._body = body
        match = ROUTE.fullmatch(unquote(self.path.split("?", 1)[0]))
        if not match:
            return self._fail(404, "UnknownOperationException", f"unknown operation {self.command} {self.path}")
        pool = self.server.pool
        name = match["name"].rsplit(":", 1)[-1] if match["name"].startswith("arn:") else match["name"]
        if name != pool.function.name:
            return self._fail(404, "ResourceNotFoundException", f"Function not found: {pool.function.arn[:-len(pool.function.name)]}{name}")
        operation = (self.command, match["api"], match["rest"] or "")
        handlers = {
            ("POST", "2015-03-31", "/invocations"): self._invoke,
            ("GET", "2015-03-31", ""): lambda: self.send(200, json.dumps(self.server.function_document()).encode()),
            ("GET", "2015-03-31", "/configuration"): lambda: self.send(200, json.dumps(self.server.configuration()).encode()),
            ("PUT", "2015-03-31", "/configuration"): self._update,
            ("GET", "2021-10-31", "/url"): lambda: self.send(200, json.dumps(self.server.url_config()).encode()),
        }
        handler = handlers.get(operation)
        if handler is None:
            return self._fail(404, "UnknownOperationException", f"unknown operation {self.command} {self.path}")
        try:
            handler()
        except (BodyTooLarge, BadFraming) as exc:
            self.close_connection = True
            self._fail(413 if isinstance(exc, BodyTooLarge) else 400, "RequestTooLargeException", str(exc))

    def _invoke(self):
        payload = self._read()
        invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            return self.send(204, b"", content_type=None)
        if invocation_type == "Event":
            threading.Thread(target=self.server.pool.invoke, args=(payload or b"{}",), daemon=True).start()
            return self.send(202, b"", content_type=None)
        invocation = self.server.pool.invoke(payload or b"{}")
        if invocation.outcome == "throttled":
            return self._fail(429, "TooManyRequestsException", "Rate Exceeded.")
        headers = [("X-Amz-Executed-Version", "$LATEST")]
        if self.headers.get("X-Amz-Log-Type") == "Tail":
            tail = "\n".join(invocation.log).encode()[-LOG_TAIL_BYTES:]
            headers.append(("X-Amz-Log-Result", base64.b64encode(tail).decode()))
        body = invocation.payload
        if invocation.outcome != "ok":
            headers.append(("X-Amz-Function-Error", "Unhandled"))
            if invocation.outcome != "error" or not body:
                body = json.dumps({"errorMessage": f"RequestId: {invocation.request_id} Error: {invocation.reason}",
                                   "errorType": invocation.error_type or "Runtime.Unknown"}).encode()
        self.send(200, body, headers)

    def _update(self):
        try:
            update = json.loads(self._read() or b"{}")
        except ValueError:
            return self._fail(400, "InvalidParameterValueException", "the request body is not JSON")
        try:
            changes = configuration_changes(update)
        except ValueError as exc:
            return self._fail(400, "InvalidParameterValueException", str(exc))
        self.server.update(changes)
        document = self.server.configuration()
        document["LastUpdateStatus"] = "InProgress"  # as Lambda answers; GetFunction shows Successful once it is done
        self.send(200, json.dumps(document).encode())


def configuration_changes(update) -> dict:
    """The FunctionConfig changes an UpdateFunctionConfiguration body asks for; ValueError says what is wrong."""
    if not isinstance(update, dict):
        raise ValueError("the request body must be a JSON object")
    changes: dict[str, object] = {}
    if "Environment" in update:
        environment = update["Environment"]
        variables = environment.get("Variables", {}) if isinstance(environment, dict) else None
        if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
            raise ValueError("Environment must be {\"Variables\": {NAME: \"value\", ...}}")
        contract.check_variables(variables, host_process=True)  # the environments are processes on this host
        changes["environment"] = dict(variables)
    if "MemorySize" in update:
        memory = update["MemorySize"]
        if problem := contract.memory_problem(memory):
            raise ValueError(f"MemorySize {problem}")
        changes["memory_mb"] = memory
    if "Timeout" in update:
        timeout = update["Timeout"]
        if isinstance(timeout, float) or (problem := contract.timeout_problem(timeout)):
            raise ValueError(f"Timeout {problem or 'must be a whole number of seconds'}")
        changes["timeout_s"] = float(timeout)
    return changes


class LambdaApiServer(Server):
    def __init__(self, pool: Pool, function_url: str, host: str = "127.0.0.1", port: int = 0, authorizer=None):
        super().__init__((host, port), LambdaApiHandler)
        self.pool = pool
        self.function_url = function_url
        self.authorizer = authorizer  # `infer serve --auth iam`: the same SigV4 check as the function URL's
        self.base_environment = dict(pool.function.environment)  # what the "image" sets; updates go on top
        self.variables: dict[str, str] = {}  # the function configuration's own variables, as Lambda reports them
        self.revision = 1
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def update(self, changes: dict) -> None:
        if "environment" in changes:
            self.variables = changes["environment"]
            changes = {**changes, "environment": {**self.base_environment, **self.variables}}
        self.pool.reconfigure(**changes)
        self.revision += 1

    def configuration(self) -> dict:
        fn = self.pool.function
        return {
            "FunctionName": fn.name, "FunctionArn": fn.arn, "Runtime": "python3.11", "Handler": fn.handler,
            "MemorySize": fn.memory_mb, "Timeout": int(fn.timeout_s), "PackageType": "Zip",
            "Environment": {"Variables": dict(self.variables)}, "State": "Active", "LastUpdateStatus": "Successful",
            "RevisionId": f"rev-{self.revision}", "Architectures": ["x86_64"], "Version": "$LATEST",
        }

    def function_document(self) -> dict:
        return {"Configuration": self.configuration(), "Code": {"RepositoryType": "S3", "Location": ""}}

    def url_config(self) -> dict:
        return {"FunctionUrl": self.function_url + "/", "FunctionArn": self.pool.function.arn,
                "AuthType": "AWS_IAM" if self.authorizer is not None else "NONE"}

    def start_background(self) -> "LambdaApiServer":
        self._thread = threading.Thread(target=self.serve_forever, name="lambda-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
        self.server_close()
