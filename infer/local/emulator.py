"""The emulator as one object: a function URL on 127.0.0.1 in front of a pool of real Lambda environments.

    with Emulator(model_function("models/iris.onnx")) as emu:
        urllib.request.urlopen(emu.url + "/v2/health/ready")
"""

from .frontend import FunctionUrlServer
from .function import FunctionConfig
from .pool import Pool


class Emulator:
    def __init__(self, function: FunctionConfig, concurrency: int = 4, host: str = "127.0.0.1",
                 port: int = 0, log=None, authorizer=None, lambda_api_port: int | None = None):
        self.function = function
        self.pool = Pool(function, concurrency, log)
        self.server = FunctionUrlServer(self.pool, host, port, authorizer)  # binds now: a busy port fails here
        self.lambda_api = None
        if lambda_api_port is not None:  # the Lambda API (Invoke, configuration) for boto3, on its own port
            from .lambda_api import LambdaApiServer

            # loopback only, whatever --host says: it can change the function's configuration
            self.lambda_api = LambdaApiServer(self.pool, self.server.url, "127.0.0.1", lambda_api_port, authorizer)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def reports(self) -> list[dict]:
        return list(self.pool.reports)

    def start(self) -> "Emulator":
        if self.lambda_api is not None:
            self.lambda_api.start_background()
        self.server.start_background()
        return self

    def serve_forever(self) -> None:
        if self.lambda_api is not None:
            self.lambda_api.start_background()
        self.server.serve_forever()

    def stop(self) -> None:
        if self.lambda_api is not None:
            self.lambda_api.stop()
        self.server.stop()
        self.pool.close()
        self.function.remove_staging()

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
