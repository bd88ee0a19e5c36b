"""Execution environments and the pool that hands invocations to them, as Lambda does.

An invocation goes to an idle environment if there is one; otherwise a new environment is started (a
real cold start: a new `python -m awslambdaric` process) up to the concurrency limit, beyond which
the invocation is throttled. An environment runs one invocation at a time, and is reusable as soon as
it has posted its response. One that exceeds the timeout or its memory size is killed; one that
exits is dropped and its invocation failed, while invocations queued behind it go to another
environment; the next request that finds no idle environment starts a fresh one.
"""

import dataclasses
import math
import os
import queue
import signal
import sys
import threading
import time
from collections import deque

from infer.runtime.contract import INIT_LIMIT_S

from .environment import Environment, max_memory_mb, resident_mb
from .function import FunctionConfig
from .invocation import Invocation

MEMORY_POLL_S = 0.02


class Pool:
    def __init__(self, function, concurrency: int = 4, log=None):
        self.function = function
        self.concurrency = concurrency
        self.lock = threading.Lock()
        self.environments: list[Environment] = []
        self.idle: list[Environment] = []
        self.reports: deque = deque(maxlen=10_000)
        self._next_id = 0
        self.generation = 0  # bumped by reconfigure()
        self._log = log if log is not None else _stderr_log
        self._closed = False
        self._memory_watch: threading.Thread | None = None

    def log(self, line: str) -> None:
        self._log(line)

    def invoke(self, event: bytes, request_id: str | None = None) -> Invocation:
        """Run one invocation to its end: a result, a function error, a timeout, a crash or a throttle."""
        invocation = Invocation(event, self.function.timeout_s, request_id)
        if not self._assign(invocation):
            invocation.claim("throttled", reason=f"all {self.concurrency} execution environments are busy")
            invocation.release()
            return invocation
        cold_limit_s = INIT_LIMIT_S + invocation.timeout_s
        if not invocation.progress.wait(cold_limit_s):
            self._time_out(invocation, f"init did not finish within {cold_limit_s:g} seconds "
                                       f"({INIT_LIMIT_S:g} s init limit + {invocation.timeout_s:g} s timeout)")
            return invocation
        if invocation.delivered_at is not None:
            remaining = invocation.delivered_at + invocation.timeout_s - time.perf_counter()
            if not invocation.done.wait(max(0.0, remaining)):
                self._time_out(invocation, f"Task timed out after {invocation.timeout_s:.2f} seconds")
        return invocation

    def mark_idle(self, env: Environment) -> None:
        """Make `env` available for the next invocation (call with the lock held); an environment
        of an older configuration is retired instead, as Lambda does after a configuration update."""
        if env.killed_for is not None or env.reserved or env not in self.environments or env in self.idle:
            return
        if env.generation != self.generation:
            env.killed_for = "configuration updated"
            threading.Thread(target=env.kill, args=(env.killed_for,), daemon=True).start()
            return
        self.idle.append(env)

    def reconfigure(self, **changes) -> FunctionConfig:
        """Change the function's configuration (environment, memory_mb, timeout_s): idle environments are
        retired now, busy ones when they finish, so the next invocations are cold starts of the new one."""
        with self.lock:
            self.function = dataclasses.replace(self.function, **changes)
            self.generation += 1
            for env in list(self.idle):
                self.idle.remove(env)
                env.killed_for = "configuration updated"
                threading.Thread(target=env.kill, args=(env.killed_for,), daemon=True).start()
            return self.function

    def retire(self, env: Environment, reason: str) -> None:
        """Take `env` out of service and kill it, without blocking the caller."""
        with self.lock:
            env.killed_for = env.killed_for or reason
            if env in self.idle:
                self.idle.remove(env)
        threading.Thread(target=env.kill, args=(reason,), daemon=True).start()

    def _assign(self, invocation: Invocation) -> bool:
        """Queue `invocation` on an idle environment or a new one; False when at the concurrency limit."""
        with self.lock:
            if self._closed:
                return False
            if self.idle:
                env = self.idle.pop()  # most recently used first, as Lambda tends to
            elif len(self.environments) < self.concurrency:
                self._next_id += 1
                env = Environment(self, self._next_id)
                self.environments.append(env)
            else:
                return False
            env.reserved = True
            invocation.env = env
            env.inbox.put(invocation)
        if env.proc is None:
            try:
                env.start()
            except OSError as exc:
                self._drop(env)
                self.finish(env, invocation, "crash", b"", "Runtime.StartError",
                            f"cannot start an execution environment: {exc}")
            self._watch_memory()
        return True

    def finish(self, env: Environment, invocation: Invocation, outcome: str, payload: bytes = b"",
               error_type: str | None = None, reason: str = "", before_record=None, reuse: bool = False) -> bool:
        """Settle an invocation once: claim it, log its REPORT, free its environment, then wake its caller."""
        if not invocation.claim(outcome, payload, error_type, reason):
            return False
        if before_record is not None:
            before_record()
        self.record(env, invocation)
        if reuse:
            with self.lock:
                self.mark_idle(env)
        invocation.release()
        return True

    def _time_out(self, invocation: Invocation, message: str) -> None:
        env = invocation.env
        with self.lock:
            if invocation.outcome is not None:
                return  # answered just in time
            env.killed_for = "timeout"  # before the claim, so a late response cannot free it again
            if env in self.idle:
                self.idle.remove(env)

        def kill():
            self.log(f"{_timestamp()} {invocation.request_id} {message}")
            env.kill("timeout")

        if not self.finish(env, invocation, "timeout", b"", "Sandbox.Timedout", f"{message} (--timeout)", before_record=kill):
            with self.lock:  # the response won the race after all: the environment is healthy
                env.killed_for = None
                self.mark_idle(env)

    def environment_exited(self, env: Environment, code: int) -> None:
        self._drop(env)
        delivered = env.current
        queued = []
        while True:
            try:
                item = env.inbox.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                queued.append(item)
        env.inbox.put(None)  # release a Runtime API thread still waiting in /next
        env.current = None
        env.server.stop()
        if self._closed or env.killed_for == "shutdown":
            outcome, payload, error_type, reason = "crash", b"", "Runtime.Shutdown", "the emulator is shutting down"
        elif env.init_error is not None:
            outcome, (payload, error_type) = "init_error", env.init_error
            reason = f"the function failed to initialise ({error_type}); see the log"
        elif env.killed_for == "memory":
            env.peak_mb = self.function.memory_mb  # as Lambda reports it
            outcome, payload, error_type = "crash", b"", "Runtime.OutOfMemory"
            reason = f"the function used more than its {self.function.memory_mb} MB (--memory) and was stopped"
        else:
            outcome, payload, error_type = "crash", b"", "Runtime.ExitError"
            reason = f"the execution environment exited ({_exit_text(code)}); see the log"
        failed = [delivered] if delivered is not None else []
        if env.ready and outcome == "crash" and error_type != "Runtime.Shutdown":
            for invocation in queued:  # never started here: give it to another environment
                if not self._assign(invocation):
                    self.finish(env, invocation, "throttled", reason=f"all {self.concurrency} execution environments are busy")
        else:
            failed.extend(queued)
        log_line = f"Error: Runtime exited with error: {_exit_text(code)}\n{error_type}"
        if env.init_error is not None:
            log_line = f"Init error ({error_type}); the environment exited: {_exit_text(code)}"
        for invocation in failed:
            invocation.cold = invocation.cold or not env.ready
            self.finish(env, invocation, outcome, payload, error_type, reason,
                        before_record=lambda i=invocation: self.log(f"RequestId: {i.request_id} {log_line}"))
        if not failed and env.killed_for is None and not self._closed:
            self.log(f"execution environment {env.env_id} exited while idle: {_exit_text(code)}")

    def _drop(self, env: Environment) -> None:
        with self.lock:
            if env in self.environments:
                self.environments.remove(env)
            if env in self.idle:
                self.idle.remove(env)

    def _watch_memory(self) -> None:
        """One thread polls every environment's resident memory and kills any over --memory, as Lambda does."""
        with self.lock:
            if self._memory_watch is not None:
                return
            self._memory_watch = threading.Thread(target=self._memory_loop, name="memory-watch", daemon=True)
        self._memory_watch.start()

    def _memory_loop(self) -> None:
        while not self._closed:
            limit_mb = self.function.memory_mb
            with self.lock:
                envs = [e for e in self.environments if e.proc is not None and e.killed_for is None]
            for env in envs:
                rss = resident_mb(env.proc.pid)
                if rss is not None and rss > limit_mb:
                    self.retire(env, "memory")
            time.sleep(MEMORY_POLL_S)

    def record(self, env: Environment, invocation: Invocation) -> None:
        duration_ms = 0.0
        if invocation.delivered_at is not None:
            duration_ms = (time.perf_counter() - invocation.delivered_at) * 1000.0
        if env.proc is not None and not env.exited.is_set():
            env.peak_mb = max_memory_mb(env.proc.pid) or env.peak_mb
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
        invocation.log += [f"END RequestId: {invocation.request_id}", line]
        self.log(f"END RequestId: {invocation.request_id}")
        self.log(line)

    def close(self, grace_s: float = 0.5) -> None:
        """Stop every environment: SIGTERM, then SIGKILL after `grace_s`; leaves no process behind."""
        with self.lock:
            self._closed = True
            envs = list(self.environments)
            for env in envs:
                env.killed_for = "shutdown"
            self.idle.clear()
        for env in envs:
            if env.proc is not None and not env.exited.is_set():
                try:
                    os.killpg(env.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace_s
        for env in envs:
            if env.proc is None:
                continue
            if not env.exited.wait(max(0.0, deadline - time.monotonic())):
                env.kill("shutdown")
        for env in envs:
            env.inbox.put(None)
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
