"""One execution environment: a Runtime API endpoint and the process (awslambdaric) that uses it."""

import math
import os
import queue
import signal
import subprocess
import threading
import time
import uuid

from .invocation import Invocation
from .runtime_api import RuntimeApiServer, error_type_of


def max_memory_mb(pid: int) -> int | None:
    """Peak resident memory of a live process (VmHWM), as Lambda's Max Memory Used."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return math.ceil(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return None


def resident_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        return None


class Environment:
    """One execution environment: a Runtime API endpoint and the `awslambdaric` process using it."""

    def __init__(self, pool: "Pool", env_id: int):
        self.pool = pool
        self.env_id = env_id
        self.inbox: queue.Queue = queue.Queue()
        self.current: Invocation | None = None
        self.log_target: Invocation | None = None  # the last invocation delivered: where its output goes
        self.reserved = False  # an invocation has been assigned but not yet picked up
        self.init_ms: float | None = None
        self.killed_for: str | None = None
        self.init_error: tuple[bytes, str] | None = None
        self.peak_mb: int | None = None
        self.exited = threading.Event()
        self.generation = pool.generation  # the configuration it was started with
        self.server = RuntimeApiServer(self)
        self.started_at = time.perf_counter()
        self.proc: subprocess.Popen | None = None

    @property
    def ready(self) -> bool:
        """Init finished: the runtime has asked for its first event."""
        return self.init_ms is not None and self.init_error is None

    def start(self) -> None:
        fn = self.pool.function
        env = dict(fn.process_environment())
        env["AWS_LAMBDA_RUNTIME_API"] = self.server.address
        env["AWS_LAMBDA_LOG_STREAM_NAME"] = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self.server.start()
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            fn.command(env),
            cwd=fn.task_root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C reaches us, and we stop it
        )
        threading.Thread(target=self._forward_logs, name=f"logs-{self.env_id}", daemon=True).start()
        threading.Thread(target=self._watch, name=f"watch-{self.env_id}", daemon=True).start()

    # Runtime API callbacks (run on the Runtime API server's threads)

    def next_invocation(self) -> Invocation | None:
        with self.pool.lock:
            cold = self.init_ms is None
            if cold:
                self.init_ms = (time.perf_counter() - self.started_at) * 1000.0
            self.pool.mark_idle(self)
        invocation = self.inbox.get()
        if invocation is None:
            return None
        with self.pool.lock:
            self.reserved = False
            self.current = invocation
            self.log_target = invocation
            invocation.env = self
        invocation.deliver(cold)
        start = f"START RequestId: {invocation.request_id} Version: $LATEST"
        invocation.log.append(start)
        self.pool.log(start)
        return invocation

    def complete(self, request_id: str, outcome: str, payload: bytes, error_type: str | None = None) -> bool:
        invocation = self.current
        if invocation is None or invocation.request_id != request_id:
            return False
        self.current = None
        reason = ""
        if outcome == "error":
            error_type = error_type or error_type_of(payload)
            reason = f"the function raised an unhandled error ({error_type}); see the log"
        # reuse: the runtime calls /next right after posting, so a request arriving in between waits in
        # the inbox for it rather than starting a needless cold environment.
        self.pool.finish(self, invocation, outcome, payload, error_type, reason, reuse=True)
        return True

    def response_too_large(self, size: int) -> None:
        """The runtime posted more than a function URL can return: fail the request, retire the environment."""
        invocation = self.current
        self.current = None
        self.pool.retire(self, "response too large")
        if invocation is not None:
            self.pool.finish(self, invocation, "error", b"", "Function.ResponseSizeTooLarge",
                             f"the function's response is {size} bytes; a function URL returns at most 6 MB")

    def init_failed(self, payload: bytes, error_type: str) -> None:
        self.init_error = (payload, error_type)
        self.init_ms = (time.perf_counter() - self.started_at) * 1000.0

    # Lifecycle

    def kill(self, reason: str) -> None:
        """SIGKILL the environment's process group and wait until it is gone."""
        self.killed_for = self.killed_for or reason
        if self.proc is not None and not self.exited.is_set():
            self.peak_mb = max_memory_mb(self.proc.pid) or self.peak_mb
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.exited.wait(10)

    def _forward_logs(self) -> None:
        with self.proc.stdout:
            for line in self.proc.stdout:
                text = line.decode("utf-8", "replace").rstrip("\n")
                invocation = self.log_target  # output that trails the response still belongs to its request
                if invocation is not None:
                    invocation.log.append(text)
                self.pool.log(text)

    def _watch(self) -> None:
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.peak_mb = max(self.peak_mb or 0, math.ceil(usage.ru_maxrss / 1024))  # ru_maxrss is in KiB
        self.exited.set()
        self.pool.environment_exited(self, self.proc.returncode)
