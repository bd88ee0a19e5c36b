"""The AWS API the emulated event sources use: moto's server started on loopback, or one given by URL.

    api = AwsApi.start()                 # `python -m moto.server` on 127.0.0.1, a free port
    api = AwsApi.at("http://host:4566")  # --endpoint-url: an AWS-compatible API that already runs
    api.client("sqs").create_queue(QueueName="q"); api.stop()

Clients use fixed, fake credentials against the moto server infer starts; against a given endpoint,
the credentials boto3 finds (fake ones if it finds none). The function's environments get the same
endpoint and credentials through AWS_ENDPOINT_URL and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any

INSTALL_HINT = "pip install 'infer[sources]'"
START_WAIT_S = 20.0  # moto's server imports Flask and every service: about a second, slower on a busy machine
STOP_WAIT_S = 5.0
FAKE_CREDENTIALS = ("infer-local", "infer-local-secret")


class AwsApiError(Exception):
    """The local AWS API cannot be used, in one line; `code` is the exit code (2: the user's input or setup)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def missing_packages(start_moto: bool) -> str | None:
    """Which packages the event sources need and this Python lacks (with the install hint), or None."""
    needed = ["boto3"] + (["moto", "flask", "flask_cors"] if start_moto else [])
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    what = "boto3" if missing == ["boto3"] else "boto3 and moto's server (moto[server])"
    return f"--queue and --bucket need {what}, which are not installed: {INSTALL_HINT}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class AwsApi:
    def __init__(self, endpoint_url: str, region: str, credentials: tuple[str, str, str | None],
                 process: subprocess.Popen | None = None, log_path: str | None = None):
        self.endpoint_url = endpoint_url
        self.region = region
        self.credentials = credentials  # access key, secret key, session token
        self.process = process  # the moto server infer started, or None for a given endpoint
        self._log_path = log_path

    @property
    def started_here(self) -> bool:
        return self.process is not None

    @classmethod
    def start(cls, region: str, host: str = "127.0.0.1", attempts: int = 3) -> AwsApi:
        """Start moto's server on `host` and a free port, and wait until it answers; AwsApiError if it cannot."""
        if problem := missing_packages(start_moto=True):
            raise AwsApiError(problem, 2)
        reason = ""
        for _ in range(attempts):  # a free port can be taken between the probe and moto's bind: try another
            port = free_port(host)
            log = tempfile.NamedTemporaryFile(prefix="infer-moto-", suffix=".log", delete=False)
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches infer, which stops the pollers before the API
            )
            log.close()
            api = cls(f"http://{host}:{port}", region, (*FAKE_CREDENTIALS, None), process, log.name)
            reason = api._wait_ready()
            if not reason:
                return api
            api.stop()
        raise AwsApiError(f"moto's server did not start: {reason}")

    @classmethod
    def at(cls, endpoint_url: str, region: str) -> AwsApi:
        """An AWS-compatible API that already runs at `endpoint_url`; AwsApiError if it does not answer."""
        if problem := missing_packages(start_moto=False):
            raise AwsApiError(problem, 2)
        if not endpoint_url.startswith(("http://", "https://")):
            raise AwsApiError(f"--endpoint-url must be an http:// or https:// URL; got {endpoint_url!r}", 2)
        import boto3

        found = boto3.Session().get_credentials()
        credentials = (found.access_key, found.secret_key, found.token) if found else (*FAKE_CREDENTIALS, None)
        api = cls(endpoint_url.rstrip("/"), region, credentials)
        try:
            api.client("sqs").list_queues(MaxResults=1)
        except Exception as exc:  # any failure here means the endpoint is not usable: say which and why
            raise AwsApiError(f"the AWS API at {endpoint_url} does not answer SQS calls: {one_line(exc)}") from None
        return api

    def _wait_ready(self) -> str:
        """'' once the server answers; otherwise why not (it exited, or did not answer in time)."""
        assert self.process is not None
        deadline = time.monotonic() + START_WAIT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return f"it exited with code {self.process.returncode}: {self._log_tail()}"
            try:
                with urllib.request.urlopen(self.endpoint_url + "/moto-api/", timeout=1):
                    return ""
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        return f"it did not answer within {START_WAIT_S:g} s: {self._log_tail()}"

    def _log_tail(self) -> str:
        try:
            with open(self._log_path or os.devnull, errors="replace") as f:
                lines = [line.strip() for line in f if line.strip()]
        except OSError:
            return "no output"
        return lines[-1] if lines else "no output"

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        key, secret, token = self.credentials
        return boto3.session.Session().client(
            service, endpoint_url=self.endpoint_url, region_name=self.region, aws_access_key_id=key,
            aws_secret_access_key=secret, aws_session_token=token,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=30, connect_timeout=5),
        )

    def function_environment(self) -> dict[str, str]:
        """What the function's environments need to reach this API, as Lambda gives a function its role's keys."""
        key, secret, token = self.credentials
        env = {"AWS_ENDPOINT_URL": self.endpoint_url, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
        if token:
            env["AWS_SESSION_TOKEN"] = token
        return env

    def stop(self) -> None:
        """Stop the moto server infer started (a given endpoint is left alone); its state goes with it."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(STOP_WAIT_S)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._log_path:
            try:
                os.unlink(self._log_path)
            except OSError:
                pass
            self._log_path = None


def one_line(exc: BaseException) -> str:
    """An exception as one line: its text with the whitespace folded, else its type."""
    return " ".join(str(exc).split()) or type(exc).__name__
