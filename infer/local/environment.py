"""One execution environment: a Runtime API endpoint and the process (awslambdaric) that uses it.

The environment runs its process and answers its Runtime API; every change of its state (EnvState)
is made by its pool, which also decides where invocations go.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from .cgroups import Group
from .invocation import Invocation
from .peer import available as peer_available
from .peer import holds_socket, peer_socket
from .runtime_api import RuntimeApiServer, error_type_of
from .states import EnvState, KillReason, Outcome

if TYPE_CHECKING:
    from .pool import Pool

KILL_WAIT_S = 10.0  # real time: how long a SIGKILLed process may take to be reaped
SPAWN_WAIT_S = 10.0  # real time: how long a connection to the Runtime API may wait for its process to be known


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


_warned: set[str] = set()


def warn_once(log: Callable[[str], None], message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log(message)


class Environment:
    """One execution environment: a Runtime API endpoint and the `awslambdaric` process using it."""

    def __init__(self, pool: Pool, env_id: int):
        self.pool = pool
        self.env_id = env_id
        self.state = EnvState.STARTING  # changed only by Pool.move()
        self.kill_reason: KillReason | None = None  # set with RETIRING
        self.pending: Invocation | None = None  # assigned, waiting for the runtime's /next
        self.current: Invocation | None = None  # taken by the runtime, not yet answered
        self.log_target: Invocation | None = None  # the last invocation delivered: where its output goes
        self.waiter: Callable[[], bool] | None = None  # the /next waiting now: is its connection still open?
        self.init_ms: float | None = None
        self.init_error: tuple[bytes, str] | None = None
        self.peak_mb: int | None = None
        self.exited = threading.Event()
        self.generation = pool.generation  # the configuration it was started with
        self.server: RuntimeApiServer | None = None
        self.started_at = pool.clock.monotonic()
        self.proc: subprocess.Popen | None = None
        self.spawned = threading.Event()  # set once start() has started the process, or failed to
        self.group: Group | None = None  # its control group: the CPU share and memory limit its memory buys
        self.oom_killed = False  # the kernel killed it for going over its group's memory limit

    @property
    def ready(self) -> bool:
        """Init finished: the runtime has asked for its first event."""
        return self.init_ms is not None and self.init_error is None

    def start(self) -> None:
        """Start the Runtime API endpoint and the process; OSError if the process cannot start."""
        fn = self.pool.function
        self.server = RuntimeApiServer(self).start()
        env = dict(fn.process_environment())
        env["AWS_LAMBDA_RUNTIME_API"] = self.server.address
        day = time.strftime("%Y/%m/%d", time.localtime(self.pool.clock.time()))
        env["AWS_LAMBDA_LOG_STREAM_NAME"] = f"{day}/[$LATEST]{uuid.uuid4().hex}"
        self.group = self.pool.resource_group(fn.memory_mb)
        self.started_at = self.pool.clock.monotonic()
        try:
            self.proc = subprocess.Popen(
                fn.command(env),
                cwd=fn.task_root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: Ctrl-C reaches us, and we stop it
            )
        except OSError:
            self.release_group()
            raise
        finally:
            self.spawned.set()
        if self.group is not None:  # before Python has got far: its threads and children start inside
            self.pool.join_group(self.group, self.proc.pid)
        threading.Thread(target=self._forward_logs, args=(self.proc,), name=f"logs-{self.env_id}", daemon=True).start()
        threading.Thread(target=self._watch, args=(self.proc,), name=f"watch-{self.env_id}", daemon=True).start()

    # Runtime API callbacks (run on the Runtime API server's threads)

    def owns(self, connection: socket.socket) -> bool:
        """Whether a connection to this environment's Runtime API comes from the environment's own processes."""
        if not peer_available():  # no way to ask the kernel here: say so once, and do not lock the runtime out
            warn_once(self.pool.log, "warning: this system has no netlink sock_diag, so the Runtime APIs cannot "
                                      "check which process calls them: any local process could reach them")
            return True
        found = peer_socket(connection)
        self.spawned.wait(SPAWN_WAIT_S)  # a runtime can connect before Popen has returned
        if self.proc is None or self.server is None or found is None:
            return False
        return holds_socket(self.pool.function.runtime_processes(self.proc.pid, self.server.address), found.inode)

    def next_invocation(self, connection_open: Callable[[], bool] | None = None) -> Invocation | None:
        """/next: block until an invocation is delivered to this environment; None once it has exited, or
        once `connection_open()` says the runtime that asked has gone (AnotherWaiter if another /next is waiting)."""
        if self.init_ms is None:
            self.init_ms = (self.pool.clock.monotonic() - self.started_at) * 1000.0
        invocation = self.pool.take(self, connection_open or (lambda: True))
        if invocation is not None:
            start = f"START RequestId: {invocation.request_id} Version: $LATEST"
            invocation.log.append(start)
            self.pool.log(start)
        return invocation

    def complete(self, request_id: str, outcome: Outcome, payload: bytes, error_type: str | None = None) -> bool:
        """The runtime posted a result or an error; False if `request_id` is not the invocation it is running."""
        reason = ""
        if outcome is Outcome.ERROR:
            error_type = error_type or error_type_of(payload)
            reason = f"the function raised an unhandled error ({error_type}); see the log"
        return self.pool.answered(self, request_id, outcome, payload, error_type, reason)

    def response_too_large(self, size: int) -> None:
        """The runtime posted more than a function URL can return: fail the request, retire the environment."""
        self.pool.response_too_large(self, size)

    def init_failed(self, payload: bytes, error_type: str) -> None:
        self.init_error = (payload, error_type)
        self.init_ms = (self.pool.clock.monotonic() - self.started_at) * 1000.0

    # The process

    def kill(self) -> None:
        """SIGKILL the environment's process group and wait until it is gone."""
        if self.proc is not None and not self.exited.is_set():
            self.peak_mb = max_memory_mb(self.proc.pid) or self.peak_mb
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.exited.wait(KILL_WAIT_S)

    def terminate(self) -> None:
        """SIGTERM the environment's process group, without waiting."""
        if self.proc is not None and not self.exited.is_set():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def measure_peak(self) -> None:
        """Refresh `peak_mb` from the live process."""
        if self.proc is not None and not self.exited.is_set():
            self.peak_mb = max_memory_mb(self.proc.pid) or self.peak_mb

    def release_group(self) -> None:
        if self.group is not None:
            self.group.remove()

    def stop_server(self) -> None:
        if self.server is not None:
            try:
                self.server.stop()
            except OSError:
                pass

    def _forward_logs(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                text = line.decode("utf-8", "replace").rstrip("\n")
                invocation = self.log_target  # output that trails the response still belongs to its request
                if invocation is not None:
                    invocation.log.append(text)
                self.pool.log(text)

    def _watch(self, proc: subprocess.Popen) -> None:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        self.peak_mb = max(self.peak_mb or 0, math.ceil(usage.ru_maxrss / 1024))  # ru_maxrss is in KiB
        self.oom_killed = self.group is not None and self.group.oom_killed()
        self.exited.set()
        self.pool.environment_exited(self, proc.returncode)
        self.release_group()
