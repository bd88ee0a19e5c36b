"""The part of the AWS Lambda API that `infer bench --function` uses, served by the emulator, so that
the same boto3 code runs here (`endpoint_url=http://127.0.0.1:PORT`) and against AWS:

  POST /2015-03-31/functions/{name}/invocations   Invoke (RequestResponse or Event; LogType=Tail)
  GET  /2015-03-31/functions/{name}               GetFunction (the function_updated_v2 waiter)
  GET  /2015-03-31/functions/{name}/configuration GetFunctionConfiguration
  PUT  /2015-03-31/functions/{name}/configuration UpdateFunctionConfiguration (Environment, MemorySize, Timeout)
  GET  /2021-10-31/functions/{name}/url           GetFunctionUrlConfig
  POST /2015-03-31/functions/{name}/versions      PublishVersion (`infer tune --function`, as Power Tuning does)
  DELETE /2015-03-31/functions/{name}?Qualifier=N DeleteFunction of a published version (not of the function)
  POST /2015-03-31/functions/{name}/aliases       CreateAlias; GET/PUT/DELETE .../aliases/{alias}: Get/Update/DeleteAlias

Served on 127.0.0.1 only and only when asked for (`infer serve --lambda-api-port`), to the processes of
the user who runs it, with this server's own Host, signed with SigV4 (access.py says why; with `--auth
iam` the signature must be the user's own). The name may be a name, an ARN or either with a qualifier:
`$LATEST` or a version published here. The emulator runs one configuration at a time: a version is a
snapshot of the configuration, invoked on the pool while $LATEST is still that configuration (409
otherwise), and publishing one starts fresh execution environments, as a new version's first invoke is
cold on Lambda. Only INFER_* variables can be set (contract.variable_problem).
Everything else answers 404 the way the Lambda API does.
"""

import base64
import json
import os
import re
import threading
from urllib.parse import parse_qs, unquote

from infer.runtime import contract
from infer.runtime.contract import MAX_PAYLOAD_BYTES

from .access import caller_problem, host_problem, request_problem
from .framing import BadFraming, BodyTooLarge
from .httputil import QuietHandler, Server, target_problem
from .pool import Pool

LOG_TAIL_BYTES = 4096
LAMBDA_TASK_ROOT = "/var/task"  # where the function's code is on Lambda, shown instead of the staging directory
ROUTE = re.compile(r"/(?P<api>2015-03-31|2021-10-31)/functions/(?P<name>[^/?]+)(?P<rest>/[a-z]+)?(?:/(?P<alias>[^/?]+))?")


def _error(message: str) -> bytes:
    return json.dumps({"Type": "User", "Message": message, "message": message}).encode()


class LambdaApiHandler(QuietHandler):
    server: "LambdaApiServer"
    caller_refusal: str | None = None  # why the process at the other end may not call, found once per connection
    _version = "$LATEST"  # the version the request names

    def setup(self):
        super().setup()
        self.caller_refusal = caller_problem(self.connection, self.server.owner_uid)

    def do_GET(self):
        self._route()

    def do_POST(self):
        self._route()

    def do_PUT(self):
        self._route()

    def do_DELETE(self):
        self._route()

    def _fail(self, status: int, kind: str, message: str):
        self.send(status, _error(message), [("x-amzn-ErrorType", kind)])

    def _refuse(self, status: int, kind: str, message: str):
        self.refuse(status, _error(message), [("x-amzn-ErrorType", kind)])

    def _route(self):
        if problem := target_problem(self.path):
            return self._refuse(400, "InvalidRequestContentException", problem)
        denial = self.caller_refusal or host_problem(self.headers.get("Host"), self.server.port) \
            or request_problem(self.headers, signature_checked=self.server.authorizer is not None)
        if denial:
            return self._refuse(403, "AccessDeniedException", f"Forbidden: {denial}")
        try:
            self._body = self.read_body(MAX_PAYLOAD_BYTES)
        except BodyTooLarge as exc:
            return self._refuse(413, "RequestTooLargeException", f"the request body is {exc.size_text}; the limit is "
                                                                  f"{MAX_PAYLOAD_BYTES} bytes")
        except BadFraming as exc:
            return self._refuse(400, "InvalidRequestContentException", str(exc))
        if self.server.authorizer is not None:
            refusal = self.server.authorizer(self.command, self.path, list(self.headers.items()), self._body)
            if refusal:
                return self._fail(403, "AccessDeniedException", f"Forbidden: {refusal}")
        path, _, query = self.path.partition("?")
        match = ROUTE.fullmatch(path)
        if not match:
            return self._fail(404, "UnknownOperationException", f"unknown operation {self.command} {path}")
        name, qualifier = unquote(match["name"]), parse_qs(query).get("Qualifier", [None])[-1]
        if problem := self.server.unknown_function(name, qualifier):
            return self._fail(404, "ResourceNotFoundException", problem)
        self._version = self.server.version_of(name, qualifier)
        share = [("x-infer-cpu-share", "enforced" if self.server.pool.cpu_share_enforced else "not-enforced")]
        handlers = {
            ("POST", "2015-03-31", "/invocations"): self._invoke,
            ("GET", "2015-03-31", ""): lambda: self.send(200, json.dumps(self.server.function_document(self._version)).encode()),
            ("GET", "2015-03-31", "/configuration"): lambda: self.send(
                200, json.dumps(self.server.configuration(self._version)).encode(), share),
            ("PUT", "2015-03-31", "/configuration"): self._update,
            ("GET", "2021-10-31", "/url"): lambda: self.send(200, json.dumps(self.server.url_config()).encode()),
            ("POST", "2015-03-31", "/versions"): lambda: self.send(201, json.dumps(self.server.publish()).encode()),
            ("DELETE", "2015-03-31", ""): self._delete,
            ("POST", "2015-03-31", "/aliases"): lambda: self._alias("create", None),
            ("GET", "2015-03-31", "/aliases"): lambda: self._alias("get", match["alias"]),
            ("PUT", "2015-03-31", "/aliases"): lambda: self._alias("update", match["alias"]),
            ("DELETE", "2015-03-31", "/aliases"): lambda: self._alias("delete", match["alias"]),
        }
        handler = handlers.get((self.command, match["api"], match["rest"] or ""))
        if (match["alias"] and match["rest"] != "/aliases") or (
                match["rest"] == "/aliases" and (self.command == "POST") == bool(match["alias"])):
            handler = None  # only .../aliases/{alias} carries a name, and only POST .../aliases has none
        if handler is None:
            return self._fail(404, "UnknownOperationException", f"unknown operation {self.command} {path}")
        handler()

    def _invoke(self):
        payload = self._body or b"{}"
        try:
            json.loads(payload)
        except (ValueError, RecursionError) as exc:  # as Lambda: the event must be JSON
            return self._fail(400, "InvalidRequestContentException", f"Could not parse request body into json: {exc}")
        if problem := self.server.stale_version(self._version):
            return self._fail(409, "ResourceConflictException", problem)
        invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            return self.send(204, b"", content_type=None)
        if invocation_type == "Event":
            threading.Thread(target=self.server.pool.invoke, args=(payload,), daemon=True).start()
            return self.send(202, b"", content_type=None)
        invocation = self.server.pool.invoke(payload)
        if invocation.outcome == "throttled":
            return self._fail(429, "TooManyRequestsException", "Rate Exceeded.")
        headers = [("X-Amz-Executed-Version", self._version)]
        if self.headers.get("X-Amz-Log-Type") == "Tail":
            tail = self.server.as_on_lambda("\n".join(invocation.log).encode())[-LOG_TAIL_BYTES:]
            headers.append(("X-Amz-Log-Result", base64.b64encode(tail).decode()))
        body = invocation.payload
        if invocation.outcome != "ok":
            headers.append(("X-Amz-Function-Error", "Unhandled"))
            if invocation.outcome != "error" or not body:
                body = json.dumps({"errorMessage": f"RequestId: {invocation.request_id} Error: {invocation.reason}",
                                   "errorType": invocation.error_type or "Runtime.Unknown"}).encode()
        self.send(200, self.server.as_on_lambda(body), headers)

    def _alias(self, action: str, alias: str | None):
        """CreateAlias, GetAlias, UpdateAlias, DeleteAlias: a name for a published version."""
        try:
            body = json.loads(self._body or b"{}")
        except ValueError:
            return self._fail(400, "InvalidParameterValueException", "the request body is not JSON")
        if not isinstance(body, dict):
            return self._fail(400, "InvalidParameterValueException", "the request body must be a JSON object")
        name = unquote(alias) if alias else body.get("Name")
        if not isinstance(name, str) or not re.fullmatch(r"(?!^[0-9]+$)[a-zA-Z0-9-_]{1,128}", name):
            return self._fail(400, "InvalidParameterValueException", f"alias name {name!r} is not valid")
        if action != "create" and name not in self.server.aliases:
            return self._fail(404, "ResourceNotFoundException", f"Alias not found: {name}")
        if action == "delete":
            self.server.aliases.pop(name, None)
            return self.send(204, b"", content_type=None)
        if action in ("create", "update"):
            version = body.get("FunctionVersion", self.server.aliases.get(name))
            if action == "create" and name in self.server.aliases:
                return self._fail(409, "ResourceConflictException", f"Alias already exists: {name}")
            if not isinstance(version, str) or version not in self.server.versions:
                return self._fail(400, "InvalidParameterValueException",
                                  f"FunctionVersion must be a version published here; got {version!r}")
            self.server.aliases[name] = version
        document = {"AliasArn": f"{self.server.pool.function.arn}:{name}", "Name": name,
                    "FunctionVersion": self.server.aliases[name], "Description": "", "RevisionId": "1"}
        self.send(201 if action == "create" else 200, json.dumps(document).encode())

    def _delete(self):
        if self._version == "$LATEST":
            return self._fail(400, "InvalidParameterValueException", "this emulator deletes published versions only: "
                                                                      "give Qualifier=N; stop infer serve to remove the function")
        if pointing := [a for a, v in self.server.aliases.items() if v == self._version]:
            return self._fail(409, "ResourceConflictException", f"version {self._version} is the target of alias(es) "
                                                                 f"{', '.join(pointing)}: delete or update them first")
        self.server.versions.pop(self._version, None)
        self.send(204, b"", content_type=None)

    def _update(self):
        try:
            update = json.loads(self._body or b"{}")
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
        if problem := contract.environment_size_problem(variables):
            raise ValueError(problem)
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
    def __init__(self, pool: Pool, function_url: str, host: str = "127.0.0.1", port: int = 0, authorizer=None,
                 owner_uid: int | None = None):
        super().__init__((host, port), LambdaApiHandler)
        self.pool = pool
        self.function_url = function_url
        self.authorizer = authorizer  # `infer serve --auth iam`: the same SigV4 check as the function URL's
        self.owner_uid = os.geteuid() if owner_uid is None else owner_uid  # whose processes may call
        self.base_environment = dict(pool.function.environment)  # what the "image" sets; updates go on top
        self.variables: dict[str, str] = {}  # the function configuration's own variables, as Lambda reports them
        self.revision = 1
        self.versions: dict[str, dict] = {}  # published versions: their configuration when published
        self.aliases: dict[str, str] = {}  # alias name -> the published version it points at
        self._published = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def unknown_function(self, name: str, qualifier: str | None) -> str | None:
        """Why `name` (a name or ARN, maybe with `:qualifier`) and `qualifier` are not this function, or None."""
        fn = self.pool.function
        if name.startswith("arn:"):  # this function's ARN becomes its name; any other ARN names nothing here
            name = fn.name + name[len(fn.arn):] if name.startswith(fn.arn) else ""
        base, _, suffix = name.partition(":")
        asked = {q for q in (suffix, qualifier) if q}
        if base != fn.name or len(asked) > 1 or not asked <= {"$LATEST", *self.versions, *self.aliases}:
            known = ", ".join(["$LATEST", *self.versions, *self.aliases])
            return f"Function not found: {name or 'that ARN'} (this emulator serves {fn.arn}, versions {known})"
        return None

    def version_of(self, name: str, qualifier: str | None) -> str:
        """The version a request names, an alias resolved (after unknown_function has accepted it)."""
        asked = qualifier or name.removeprefix("arn:").rpartition("function:")[2].partition(":")[2] or "$LATEST"
        return self.aliases.get(asked, asked)

    def publish(self) -> dict:
        """PublishVersion: a snapshot of the configuration, served by fresh execution environments."""
        with self._lock:
            self._published += 1
            version = str(self._published)
            self.pool.reconfigure()  # a new version's first invoke is cold, as on Lambda
            self.versions[version] = {**self.configuration(), "Version": version,
                                      "FunctionArn": f"{self.pool.function.arn}:{version}"}
        return self.versions[version]

    def stale_version(self, version: str) -> str | None:
        """Why version `version` cannot run now (the pool runs $LATEST's configuration), or None."""
        if version == "$LATEST":
            return None
        published, now = self.versions[version], self.configuration()
        keys = ("MemorySize", "Timeout", "Environment")
        if any(published[key] != now[key] for key in keys):
            return (f"version {version} was published with another configuration than $LATEST has now; this emulator "
                    f"runs one configuration at a time: invoke $LATEST or publish a new version")
        return None
    def as_on_lambda(self, text: bytes) -> bytes:
        """`text` with the staging directory's paths shown as the task root's on Lambda (no local paths)."""
        return text.replace(self.pool.function.task_root.encode(), LAMBDA_TASK_ROOT.encode())

    def update(self, changes: dict) -> None:
        if "environment" in changes:
            self.variables = changes["environment"]
            changes = {**changes, "environment": {**self.base_environment, **self.variables}}
        self.pool.reconfigure(**changes)
        self.revision += 1

    def configuration(self, version: str = "$LATEST") -> dict:
        if version != "$LATEST":
            return dict(self.versions[version])
        fn = self.pool.function
        return {
            "FunctionName": fn.name, "FunctionArn": fn.arn, "Runtime": "python3.11", "Handler": fn.handler,
            "MemorySize": fn.memory_mb, "Timeout": int(fn.timeout_s), "PackageType": "Zip",
            "Environment": {"Variables": dict(self.variables)}, "State": "Active", "LastUpdateStatus": "Successful",
            "RevisionId": f"rev-{self.revision}", "Architectures": ["x86_64"], "Version": "$LATEST",
        }

    def function_document(self, version: str = "$LATEST") -> dict:
        return {"Configuration": self.configuration(version), "Code": {"RepositoryType": "S3", "Location": ""}}

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
