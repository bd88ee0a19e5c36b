"""Execution environments and the pool that hands invocations to them, as Lambda does.

An invocation goes to an idle environment if there is one; otherwise a new environment is started (a
real cold start: a new `python -m awslambdaric` process) up to the concurrency limit, beyond which
the invocation is throttled. An environment runs one invocation at a time, and is reusable as soon as
it has posted its response. One that exceeds the timeout or its memory size is killed; one that
exits is dropped and its invocation failed, while invocations queued behind it go to another
environment; the next request that finds no idle environment starts a fresh one.

Every change of an environment's state (states.EnvState) happens in `Pool.move`, under the pool's
lock, which refuses any move that states.TRANSITIONS does not list. An invocation is settled and its
environment moved in the same locked step, so a response and a timeout cannot both win. One /next
waits per environment, and a /next whose connection has closed takes nothing. Time is read from an
injected clock (clock.Clock), so tests can move it by hand.

Each environment runs in its own control group with the CPU share and memory limit its memory size buys
on Lambda (cgroups.py); where no group can be made, the pool says so once and `cpu_share_enforced` is False.
"""

import dataclasses
import functools
import math
import sys
import threading
from collections import deque
from collections.abc import Callable

from infer.runtime.contract import INIT_LIMIT_S

from . import cgroups
from .clock import Clock, SystemClock, timestamp
from .environment import Environment, resident_mb, warn_once
from .function import FunctionConfig
from .invocation import Invocation
from .states import LIVE, AnotherWaiter, EnvState, KillReason, Outcome, check_transition, classify_exit, exit_text

MEMORY_POLL_S = 0.02  # how often resident memory is sampled (real time, whatever the clock)


class Pool:
    def __init__(self, function: FunctionConfig, concurrency: int = 4, log: Callable[[str], None] | None = None,
                 clock: Clock | None = None, resources: cgroups.Hierarchy | None | str = "auto"):
        self.function = function
        self.concurrency = concurrency
        self.clock: Clock = clock or SystemClock()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)  # notified on every move; the runtimes' /next wait on it
        self.environments: list[Environment] = []  # every environment not EXITED
        self.idle: list[Environment] = []  # the IDLE ones, the most recently freed last
        self.reports: deque[dict] = deque(maxlen=10_000)
        self._next_id = 0
        self.generation = 0  # bumped by reconfigure()
        self._log = log if log is not None else _stderr_log
        self._closed = False
        self._closing = threading.Event()
        self._memory_watch: threading.Thread | None = None
        problem = ""
        if resources == "auto":  # "auto": find a cgroup hierarchy; None: run without
            resources, problem = cgroups.detect()
        self.resources: cgroups.Hierarchy | None = resources if isinstance(resources, cgroups.Hierarchy) else None
        self.resources_problem = problem if self.resources is None else ""
        if problem:
            self._unenforced(problem)

    def log(self, line: str) -> None:
        self._log(line)

    # Resources

    @property
    def cpu_share_enforced(self) -> bool:
        """Whether every environment has run with the CPU share and memory limit its memory size buys."""
        return self.resources is not None and not self.resources_problem

    def _unenforced(self, problem: str) -> None:
        self.resources_problem = problem
        warn_once(self._log, f"warning: CPU share not enforced: {problem}; each execution environment may use "
                             f"every CPU here whatever its memory size (Lambda gives memory / {cgroups.MB_PER_VCPU} "
                             "vCPU), and only the memory watcher limits its memory")

    def resource_group(self, memory_mb: int) -> cgroups.Group | None:
        """A control group for a new environment of `memory_mb`, or None (said once) where none can be made."""
        if self.resources is None:
            return None
        try:
            return self.resources.group(memory_mb)
        except OSError as exc:
            self._unenforced(f"cannot create a control group: {exc.strerror or exc}")
            return None

    def join_group(self, group: cgroups.Group, pid: int) -> None:
        try:
            group.add(pid)
        except OSError as exc:
            self._unenforced(f"cannot move process {pid} into its control group: {exc.strerror or exc}")

    # The state machine

    def move(self, env: Environment, to: EnvState, reason: KillReason | None = None) -> None:
        """The one place an environment changes state (call with the lock held); IllegalTransition if not allowed."""
        check_transition(env.env_id, env.state, to)
        if (to is EnvState.RETIRING) != (reason is not None):
            raise ValueError(f"environment {env.env_id}: a kill reason goes with RETIRING and only with it")
        if env.state is EnvState.IDLE:
            self.idle.remove(env)
        if to is EnvState.IDLE:
            self.idle.append(env)
        elif to is EnvState.RETIRING:
            env.kill_reason = reason
        elif to is EnvState.EXITED:
            self.environments.remove(env)
        env.state = to
        self.changed.notify_all()

    def _retire(self, env: Environment, reason: KillReason) -> bool:
        """Move a live environment to RETIRING (lock held); False if it is already retiring or gone."""
        if env.state not in LIVE:
            return False
        self.move(env, EnvState.RETIRING, reason)
        return True

    def retire(self, env: Environment, reason: KillReason) -> None:
        """Take `env` out of service and kill it, without blocking the caller."""
        with self.lock:
            retired = self._retire(env, reason)
        if retired:
            self._kill_soon(env)

    def _kill_soon(self, env: Environment) -> None:
        threading.Thread(target=env.kill, name=f"kill-{env.env_id}", daemon=True).start()

    # Invocations

    def invoke(self, event: bytes, request_id: str | None = None) -> Invocation:
        """Run one invocation to its end: a result, a function error, a timeout, a crash or a throttle."""
        invocation = Invocation(event, self.function.timeout_s, request_id, self.clock)
        cold_limit_s = INIT_LIMIT_S + invocation.timeout_s
        cold_deadline = self.clock.monotonic() + cold_limit_s
        if not self._assign(invocation):
            invocation.claim(Outcome.THROTTLED, reason=self._throttle_reason())
            invocation.release()
            return invocation
        if not self.clock.wait_until(invocation.progress, cold_deadline):
            self._time_out(invocation, f"init did not finish within {cold_limit_s:g} seconds "
                                       f"({INIT_LIMIT_S:g} s init limit + {invocation.timeout_s:g} s timeout)")
            return invocation
        if invocation.delivered_at is not None:
            if not self.clock.wait_until(invocation.done, invocation.delivered_at + invocation.timeout_s):
                self._time_out(invocation, f"Task timed out after {invocation.timeout_s:.2f} seconds")
        return invocation

    def _assign(self, invocation: Invocation) -> bool:
        """Queue `invocation` on an idle environment or a new one; False when at the concurrency limit."""
        with self.lock:
            if self._closed:
                return False
            new = not self.idle
            if not new:
                env = self.idle[-1]  # most recently used first, as Lambda tends to
                self.move(env, EnvState.RESERVED)
            elif len(self.environments) < self.concurrency:
                self._next_id += 1
                env = Environment(self, self._next_id)
                self.environments.append(env)
            else:
                return False
            env.pending = invocation
            invocation.env = env
        if new:
            self._start(env, invocation)
        return True

    def _start(self, env: Environment, invocation: Invocation) -> None:
        try:
            env.start()
        except OSError as exc:
            with self.lock:
                env.pending = None
                self.move(env, EnvState.EXITED)
            env.stop_server()
            self._settle(env, invocation, Outcome.CRASH, b"", "Runtime.StartError", f"cannot start an execution environment: {exc}")
            return
        self._watch_memory()
        if env.state is EnvState.RETIRING:  # the pool was closed while the process started
            env.kill()

    def _throttle_reason(self) -> str:
        return f"all {self.concurrency} execution environments are busy"

    def take(self, env: Environment, connection_open: Callable[[], bool]) -> Invocation | None:
        """The runtime of `env` asks for an event (/next): wait until one is assigned and deliver it. None once
        the environment has exited, or once `connection_open()` is False: a runtime that has gone takes nothing.
        One /next waits per environment: AnotherWaiter while another one's connection is still open."""
        with self.changed:
            if env.waiter is not None and env.waiter():
                raise AnotherWaiter(f"execution environment {env.env_id} already has a /next waiting")
            env.waiter = connection_open  # a waiter whose connection has closed is replaced, and leaves
            self.changed.notify_all()
            try:
                while env.waiter is connection_open:
                    if env.state is EnvState.EXITED:
                        return None
                    invocation = env.pending
                    if invocation is not None and env.state in (EnvState.STARTING, EnvState.RESERVED):
                        if not connection_open():
                            return None  # it stays pending for the runtime's next /next
                        cold = env.state is EnvState.STARTING
                        env.pending = None
                        env.current = env.log_target = invocation
                        invocation.env = env
                        self.move(env, EnvState.BUSY)
                        invocation.deliver(cold)
                        return invocation
                    self.changed.wait()
                return None
            finally:
                if env.waiter is connection_open:
                    env.waiter = None

    def answered(self, env: Environment, request_id: str, outcome: Outcome, payload: bytes,
                 error_type: str | None = None, reason: str = "") -> bool:
        """The runtime of `env` posted a response or an error; False if `request_id` is not the one it runs."""
        with self.lock:
            invocation = env.current
            if invocation is None or invocation.request_id != request_id:
                return False
            env.current = None
            if not invocation.claim(outcome, payload, error_type, reason):
                return True  # a timeout won: the environment is already retiring
            # Free it now: the runtime calls /next right after posting, so a request arriving in between
            # waits for it rather than starting a needless cold environment.
            retired = False
            if env.state is EnvState.BUSY:
                if env.generation != self.generation:  # as Lambda does after a configuration update
                    retired = self._retire(env, KillReason.CONFIGURATION)
                else:
                    self.move(env, EnvState.IDLE)
        self._report(env, invocation)
        if retired:
            self._kill_soon(env)
        invocation.release()
        return True

    def response_too_large(self, env: Environment, size: int) -> None:
        """The runtime of `env` posted more than a function URL returns: fail the request, retire the environment."""
        with self.lock:
            invocation = env.current
            env.current = None
            retired = self._retire(env, KillReason.RESPONSE_TOO_LARGE)
            claimed = invocation is not None and invocation.claim(
                Outcome.ERROR, b"", "Function.ResponseSizeTooLarge",
                f"the function's response is {size} bytes; a function URL returns at most 6 MB")
        if retired:
            self._kill_soon(env)
        if invocation is not None and claimed:
            self._report(env, invocation)
            invocation.release()

    def _time_out(self, invocation: Invocation, message: str) -> None:
        with self.lock:
            env = invocation.env
            if env is None or not invocation.claim(Outcome.TIMEOUT, b"", "Sandbox.Timedout", f"{message} (--timeout)"):
                return  # answered just in time
            self._retire(env, KillReason.TIMEOUT)  # in the same step, so a late response cannot free it again
        self.log(f"{timestamp(self.clock.time())} {invocation.request_id} {message}")
        env.kill()
        self._report(env, invocation)
        invocation.release()

    def _settle(self, env: Environment, invocation: Invocation, outcome: Outcome, payload: bytes = b"",
                error_type: str | None = None, reason: str = "", before_report: Callable[[], None] | None = None) -> bool:
        """Settle an invocation once: claim it, log its REPORT, then wake its caller."""
        if not invocation.claim(outcome, payload, error_type, reason):
            return False
        if before_report is not None:
            before_report()
        self._report(env, invocation)
        invocation.release()
        return True

    # Exits

    def environment_exited(self, env: Environment, code: int) -> None:
        """The process of `env` ended with `code`: fail what it was running, send what was queued elsewhere."""
        with self.lock:
            kill_reason = env.kill_reason or (KillReason.MEMORY if env.oom_killed else None)
            self.move(env, EnvState.EXITED)
            delivered, queued = env.current, env.pending
            env.current = env.pending = None
        env.stop_server()
        verdict = classify_exit(code, kill_reason, env.init_error, env.ready, self._closed, self.function.memory_mb)
        if verdict.peak_mb is not None:
            env.peak_mb = verdict.peak_mb
        failed = [delivered] if delivered is not None else []
        if queued is not None and verdict.reroute_queued:
            if not queued.settled:
                self._reroute(env, queued)
        elif queued is not None:
            failed.append(queued)
        for invocation in failed:
            invocation.cold = invocation.cold or not env.ready
            line = f"RequestId: {invocation.request_id} {verdict.log_line}"
            self._settle(env, invocation, verdict.outcome, verdict.payload, verdict.error_type, verdict.reason,
                         before_report=functools.partial(self.log, line))
        if not failed and kill_reason is None and not self._closed:
            self.log(f"execution environment {env.env_id} exited while idle: {exit_text(code)}")

    def _reroute(self, env: Environment, invocation: Invocation) -> None:
        """An invocation queued on `env` that never started there: give it to another environment."""
        if not self._assign(invocation):
            self._settle(env, invocation, Outcome.THROTTLED, reason=self._throttle_reason())

    # Configuration, memory, shutdown

    def reconfigure(self, **changes) -> FunctionConfig:
        """Change the function's configuration (environment, memory_mb, timeout_s): idle environments are
        retired now, busy ones when they finish, so the next invocations are cold starts of the new one."""
        with self.lock:
            self.function = dataclasses.replace(self.function, **changes)
            self.generation += 1
            retired = [env for env in list(self.idle) if self._retire(env, KillReason.CONFIGURATION)]
        for env in retired:
            self._kill_soon(env)
        return self.function

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
                pids = [(env, env.proc.pid) for env in self.environments if env.proc is not None and env.state in LIVE]
            for env, pid in pids:
                rss = resident_mb(pid)
                if rss is not None and rss > limit_mb:
                    self.retire(env, KillReason.MEMORY)
            self._closing.wait(MEMORY_POLL_S)

    def _report(self, env: Environment, invocation: Invocation) -> None:
        """Keep the invocation's report and log its END and REPORT lines, as Lambda does."""
        duration_ms = 0.0
        if invocation.delivered_at is not None:
            duration_ms = (self.clock.monotonic() - invocation.delivered_at) * 1000.0
        env.measure_peak()
        outcome = invocation.outcome
        assert outcome is not None, "only a settled invocation is reported"
        init_ms = env.init_ms if invocation.cold else None
        report = {
            "request_id": invocation.request_id,
            "environment": env.env_id,
            "outcome": outcome.value,
            "cold": invocation.cold,
            "init_ms": init_ms,
            "duration_ms": duration_ms,
            "max_memory_mb": env.peak_mb,
        }
        invocation.report = report
        self.reports.append(report)
        line = (
            f"REPORT RequestId: {invocation.request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration_ms + (init_ms or 0))} ms\t"
            f"Memory Size: {self.function.memory_mb} MB\tMax Memory Used: {env.peak_mb or 0} MB"
        )
        if init_ms is not None:
            line += f"\tInit Duration: {init_ms:.2f} ms"
        if outcome not in (Outcome.OK, Outcome.ERROR):
            line += f"\tStatus: {outcome}"
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
                self._retire(env, KillReason.SHUTDOWN)
        self._closing.set()
        for env in envs:
            env.terminate()
        deadline = self.clock.monotonic() + grace_s
        for env in envs:
            if env.proc is not None and not self.clock.wait_until(env.exited, deadline):
                env.kill()
        for env in envs:
            env.stop_server()
            env.release_group()
        if self.resources is not None:
            self.resources.close()


_log_lock = threading.Lock()


def _stderr_log(line: str) -> None:
    with _log_lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
