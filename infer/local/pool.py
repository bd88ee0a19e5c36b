"""Execution environments and the pool that hands invocations to them, as Lambda does.

An invocation goes to an idle environment if there is one; otherwise a new environment is started (a
real cold start: a new `python -m awslambdaric` process) up to the concurrency limit, beyond which
the invocation is throttled. An environment runs one invocation at a time. One that exceeds the
timeout is killed; one that exits is dropped, its invocation failed; the next request that finds no
idle environment starts a fresh one.
"""

import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque

from .runtime_api import RuntimeApiServer, error_type_of

INIT_LIMIT_S = 10.0  # Lambda's limit on the init phase of an on-demand environment


class Invocation:
    """One request's trip through an environment; finished exactly once."""

    def __init__(self, event: bytes, timeout_s: float, request_id: str | None = None):
        self.request_id = request_id or str(uuid.uuid4())
        self.event = event
        self.timeout_s = timeout_s
        self.progress = threading.Event()  # set when delivered or finished
        self.done = threading.Event()
        self.delivered_at: float | None = None
        self.deadline_ms = 0
        self.outcome: str | None = None  # ok | error | timeout | crash | init_error | throttled
        self.payload = b""
        self.error_type: str | None = None
        self.cold = False
        self.report: dict | None = None
        self._lock = threading.Lock()

    def runtime_headers(self, env) -> list[tuple[str, str]]:
        return [
            ("Lambda-Runtime-Aws-Request-Id", self.request_id),
            ("Lambda-Runtime-Deadline-Ms", str(self.deadline_ms)),
            ("Lambda-Runtime-Invoked-Function-Arn", env.pool.function.arn),
            ("Lambda-Runtime-Trace-Id", f"Root=1-{int(time.time()):08x}-{self.request_id.replace('-', '')[:24]};Sampled=0"),
        ]

    def deliver(self, cold: bool) -> None:
        self.delivered_at = time.perf_counter()
        self.deadline_ms = int((time.time() + self.timeout_s) * 1000)
        self.cold = cold
        self.progress.set()

    def claim(self, outcome: str, payload: bytes = b"", error_type: str | None = None) -> bool:
        """Settle the outcome; only the first claim counts, so no request is answered twice."""
        with self._lock:
            if self.outcome is not None:
                return False
            self.outcome, self.payload, self.error_type = outcome, payload, error_type
        return True

    def release(self) -> None:
        """Wake the caller waiting for this invocation."""
        self.progress.set()
        self.done.set()


def max_memory_mb(pid: int) -> int | None:
    """Peak resident memory of a process (VmHWM), as Lambda's Max Memory Used."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return math.ceil(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return None


class Environment:
    """One execution environment: a Runtime API endpoint and the `awslambdaric` process using it."""

    def __init__(self, pool: "Pool", env_id: int):
        self.pool = pool
        self.env_id = env_id
        self.inbox: queue.Queue = queue.Queue()
        self.current: Invocation | None = None
        self.reserved = False  # an invocation has been assigned but not yet picked up
        self.init_ms: float | None = None
        self.killed_for: str | None = None
        self.init_error: tuple[bytes, str] | None = None
        self.peak_mb: int | None = None
        self.server = RuntimeApiServer(self)
        self.started_at = time.perf_counter()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        fn = self.pool.function
        env = dict(fn.process_environment())
        env["AWS_LAMBDA_RUNTIME_API"] = self.server.address
        env["AWS_LAMBDA_LOG_STREAM_NAME"] = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self.server.start()
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            fn.command(),
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
        invocation.deliver(cold)
        self.pool.log(f"START RequestId: {invocation.request_id} Version: $LATEST")
        return invocation

    def complete(self, request_id: str, outcome: str, payload: bytes, error_type: str | None = None) -> bool:
        invocation = self.current
        if invocation is None or invocation.request_id != request_id:
            return False
        self.current = None
        if outcome == "error" and not error_type:
            error_type = error_type_of(payload)
        self.pool.finish(self, invocation, outcome, payload, error_type)
        # The runtime calls /next right after posting; a request arriving in between waits in the inbox
        # for it, rather than starting a needless cold environment.
        with self.pool.lock:
            self.pool.mark_idle(self)
        return True

    def fail_current(self, outcome: str, payload: bytes, error_type: str) -> None:
        invocation = self.current
        if invocation is not None:
            self.complete(invocation.request_id, outcome, payload, error_type)

    def init_failed(self, payload: bytes, error_type: str) -> None:
        self.init_error = (payload, error_type)
        self.init_ms = (time.perf_counter() - self.started_at) * 1000.0

    # Lifecycle

    def kill(self, reason: str) -> None:
        """SIGKILL the environment's process group and wait until it is gone."""
        self.killed_for = reason
        if self.proc is not None and self.proc.poll() is None:
            self.peak_mb = max_memory_mb(self.proc.pid) or self.peak_mb
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def _forward_logs(self) -> None:
        with self.proc.stdout:
            for line in self.proc.stdout:
                self.pool.log(line.decode("utf-8", "replace").rstrip("\n"))

    def _watch(self) -> None:
        code = self.proc.wait()
        self.pool.environment_exited(self, code)


class Pool:
    def __init__(self, function, concurrency: int = 4, log=None):
        self.function = function
        self.concurrency = concurrency
        self.lock = threading.Lock()
        self.environments: list[Environment] = []
        self.idle: list[Environment] = []
        self.reports: deque = deque(maxlen=10_000)
        self._next_id = 0
        self._log = log or _stderr_log
        self._closed = False

    def log(self, line: str) -> None:
        self._log(line)

    def invoke(self, event: bytes, request_id: str | None = None) -> Invocation:
        """Run one invocation to its end: a result, a function error, a timeout, a crash or a throttle."""
        invocation = Invocation(event, self.function.timeout_s, request_id)
        env = self._assign(invocation)
        if env is None:
            invocation.claim("throttled")
            invocation.release()
            return invocation
        if not invocation.progress.wait(INIT_LIMIT_S + invocation.timeout_s):
            self._time_out(env, invocation, f"init did not finish within {INIT_LIMIT_S + invocation.timeout_s:.0f} seconds")
            return invocation
        if invocation.delivered_at is not None:
            remaining = invocation.delivered_at + invocation.timeout_s - time.perf_counter()
            if not invocation.done.wait(max(0.0, remaining)):
                self._time_out(env, invocation, f"Task timed out after {invocation.timeout_s:.2f} seconds")
        return invocation

    def mark_idle(self, env: Environment) -> None:
        """Make `env` available for the next invocation (call with the lock held)."""
        if env.killed_for is None and not env.reserved and env in self.environments and env not in self.idle:
            self.idle.append(env)

    def _assign(self, invocation: Invocation) -> Environment | None:
        with self.lock:
            if self._closed:
                return None
            if self.idle:
                env = self.idle.pop()  # most recently used first, as Lambda tends to
            elif len(self.environments) < self.concurrency:
                self._next_id += 1
                env = Environment(self, self._next_id)
                self.environments.append(env)
            else:
                return None
            env.reserved = True
            env.inbox.put(invocation)
        if env.proc is None:
            try:
                env.start()
            except OSError as exc:
                self.log(f"cannot start an execution environment: {exc}")
                self._drop(env)
                invocation.claim("crash", error_type="Runtime.StartError")
                invocation.release()
        return env

    def finish(self, env: Environment, invocation: Invocation, outcome: str, payload: bytes = b"",
               error_type: str | None = None, before_record=None) -> bool:
        """Settle an invocation once: claim it, log its REPORT, then wake its caller."""
        if not invocation.claim(outcome, payload, error_type):
            return False
        if before_record is not None:
            before_record()
        self.record(env, invocation)
        invocation.release()
        return True

    def _time_out(self, env: Environment, invocation: Invocation, message: str) -> None:
        def kill():
            self.log(f"{_timestamp()} {invocation.request_id} {message}")
            env.kill("timeout")

        self.finish(env, invocation, "timeout", error_type="Sandbox.Timedout", before_record=kill)

    def environment_exited(self, env: Environment, code: int) -> None:
        self._drop(env)
        pending = [env.current] if env.current is not None else []
        while not env.inbox.empty():
            item = env.inbox.get_nowait()
            if item is not None:
                pending.append(item)
        env.inbox.put(None)  # release a Runtime API thread still waiting in /next
        env.current = None
        env.server.stop()
        if env.killed_for is not None:
            return
        if env.init_error is not None:
            outcome, (payload, error_type) = "init_error", env.init_error
            reason = f"Init error: {error_type}"
        else:
            outcome, payload, error_type = "crash", b"", "Runtime.ExitError"
            reason = f"Runtime exited with error: {_exit_text(code)}"
        for invocation in pending:
            invocation.cold = invocation.cold or invocation.delivered_at is None  # it waited for an init that failed
            self.finish(env, invocation, outcome, payload, error_type, before_record=lambda: self.log(
                f"RequestId: {invocation.request_id} Error: {reason}\n{error_type}"))
        if not pending and not self._closed:
            self.log(f"execution environment {env.env_id} exited while idle: {_exit_text(code)}")

    def _drop(self, env: Environment) -> None:
        with self.lock:
            if env in self.environments:
                self.environments.remove(env)
            if env in self.idle:
                self.idle.remove(env)

    def record(self, env: Environment, invocation: Invocation) -> None:
        duration_ms = 0.0
        if invocation.delivered_at is not None:
            duration_ms = (time.perf_counter() - invocation.delivered_at) * 1000.0
        peak = max_memory_mb(env.proc.pid) if env.proc is not None and env.proc.poll() is None else None
        env.peak_mb = peak or env.peak_mb
        report = {
            "request_id": invocation.request_id,
            "environment": env.env_id,
            "outcome": invocation.outcome,
            "cold": invocation.cold,
            "init_ms": env.init_ms if invocation.cold else None,
            "duration_ms": duration_ms,
            "max_memory_mb": env.peak_mb,
        }
        invocation.report = report
        self.reports.append(report)
        line = (
            f"REPORT RequestId: {invocation.request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration_ms + (report['init_ms'] or 0))} ms\t"
            f"Memory Size: {self.function.memory_mb} MB\tMax Memory Used: {env.peak_mb or 0} MB"
        )
        if report["init_ms"] is not None:
            line += f"\tInit Duration: {report['init_ms']:.2f} ms"
        if invocation.outcome not in ("ok", "error"):
            line += f"\tStatus: {invocation.outcome}"
            if invocation.error_type:
                line += f"\tError Type: {invocation.error_type}"
        self.log(f"END RequestId: {invocation.request_id}")
        self.log(line)

    def close(self, grace_s: float = 0.5) -> None:
        """Stop every environment: SIGTERM, then SIGKILL after `grace_s`; leaves no process behind."""
        with self.lock:
            self._closed = True
            envs = list(self.environments)
        for env in envs:
            env.killed_for = "shutdown"
            if env.proc is not None and env.proc.poll() is None:
                try:
                    os.killpg(env.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace_s
        for env in envs:
            if env.proc is None:
                continue
            try:
                env.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                env.kill("shutdown")
                env.proc.wait()
            env.inbox.put(None)
        for env in envs:
            try:
                env.server.stop()
            except OSError:
                pass


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"signal: {signal.Signals(-code).name.lower().removeprefix('sig')}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


def _timestamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


_log_lock = threading.Lock()


def _stderr_log(line: str) -> None:
    with _log_lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
