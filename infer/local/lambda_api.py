"""The part of the AWS Lambda API that `infer bench --function` uses, served by the emulator, so that
the same boto3 code runs here (`endpoint_url=http://127.0.0.1:PORT`) and against AWS:

  POST /2015-03-31/functions/{name}/invocations   Invoke (RequestResponse or Event; LogType=Tail)
  GET  /2015-03-31/functions/{name}               GetFunction (the function_updated_v2 waiter)
  GET  /2015-03-31/functions/{name}/configuration GetFunctionConfiguration
  PUT  /2015-03-31/functions/{name}/configuration UpdateFunctionConfiguration (Environment, MemorySize, Timeout)
  GET  /2021-10-31/functions/{name}/url           GetFunctionUrlConfig

Requests are not authenticated (any credentials sign them); everything else answers 404 the way
the Lambda API does.
"""

import base64
import json
import re
import threading
from urllib.parse import unquote

from .httputil import BadFraming, BodyTooLarge, QuietHandler, Server, read_body
from .pool import Pool

LOG_TAIL_BYTES = 4096
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
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

    def _fail(self, status: int, kind: str, message: str):
        self.send(status, _error(kind, message), [("x-amzn-ErrorType", kind)])

    def _route(self):
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
        payload = read_body(self, MAX_PAYLOAD_BYTES)
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
            update = json.loads(read_body(self, MAX_PAYLOAD_BYTES) or b"{}")
        except ValueError:
            return self._fail(400, "InvalidParameterValueException", "the request body is not JSON")
        changes = {}
        if "Environment" in update:
            variables = (update.get("Environment") or {}).get("Variables") or {}
            changes["environment"] = {str(k): str(v) for k, v in variables.items()}
        if "MemorySize" in update:
            memory = update["MemorySize"]
            if not isinstance(memory, int) or not 128 <= memory <= 10240:
                return self._fail(400, "InvalidParameterValueException", "MemorySize must be between 128 and 10240 MB")
            changes["memory_mb"] = memory
        if "Timeout" in update:
            changes["timeout_s"] = float(update["Timeout"])
        self.server.update(changes)
        document = self.server.configuration()
        document["LastUpdateStatus"] = "InProgress"  # as Lambda answers; GetFunction shows Successful once it is done
        self.send(200, json.dumps(document).encode())


class LambdaApiServer(Server):
    def __init__(self, pool: Pool, function_url: str, host: str = "127.0.0.1", port: int = 0):
        super().__init__((host, port), LambdaApiHandler)
        self.pool = pool
        self.function_url = function_url
        self.user_environment: dict[str, str] = {}
        self.revision = 1
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def update(self, changes: dict) -> None:
        if "environment" in changes:
            user = changes["environment"]
            fixed = {k: v for k, v in self.pool.function.environment.items() if k not in self.user_environment}
            self.user_environment = user
            changes = {**changes, "environment": {**fixed, **user}}
        self.pool.reconfigure(**changes)
        self.revision += 1

    def configuration(self) -> dict:
        fn = self.pool.function
        return {
            "FunctionName": fn.name, "FunctionArn": fn.arn, "Runtime": "python3.11", "Handler": fn.handler,
            "MemorySize": fn.memory_mb, "Timeout": int(fn.timeout_s), "PackageType": "Zip",
            "Environment": {"Variables": dict(fn.environment)}, "State": "Active", "LastUpdateStatus": "Successful",
            "RevisionId": f"rev-{self.revision}", "Architectures": ["x86_64"], "Version": "$LATEST",
        }

    def function_document(self) -> dict:
        return {"Configuration": self.configuration(), "Code": {"RepositoryType": "S3", "Location": ""}}

    def url_config(self) -> dict:
        return {"FunctionUrl": self.function_url + "/", "FunctionArn": self.pool.function.arn, "AuthType": "NONE"}

    def start_background(self) -> "LambdaApiServer":
        self._thread = threading.Thread(target=self.serve_forever, name="lambda-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
        self.server_close()
