"""The emulator's named states: an execution environment's lifecycle, why one is killed, how an invocation ends.

    STARTING --/next--> BUSY --response--> IDLE --assigned--> RESERVED --/next--> BUSY ...
    any live state --killed--> RETIRING --process gone--> EXITED;  any live state --process gone--> EXITED

An environment is created for an invocation, so it starts with one waiting for it. `TRANSITIONS` lists
every allowed move; the pool makes each move in one method, which refuses the others.
"""

import signal
from dataclasses import dataclass
from enum import Enum, StrEnum


class EnvState(Enum):
    STARTING = "starting"  # process started, init running; its first invocation waits for /next
    IDLE = "idle"  # free: the next invocation goes to it
    RESERVED = "reserved"  # an invocation is assigned to it and waits for the runtime's /next
    BUSY = "busy"  # running an invocation
    RETIRING = "retiring"  # being killed (its kill reason says why); takes no more invocations
    EXITED = "exited"  # its process is gone


TRANSITIONS: dict[EnvState, frozenset[EnvState]] = {
    EnvState.STARTING: frozenset({EnvState.BUSY, EnvState.RETIRING, EnvState.EXITED}),
    EnvState.IDLE: frozenset({EnvState.RESERVED, EnvState.RETIRING, EnvState.EXITED}),
    EnvState.RESERVED: frozenset({EnvState.BUSY, EnvState.RETIRING, EnvState.EXITED}),
    EnvState.BUSY: frozenset({EnvState.IDLE, EnvState.RETIRING, EnvState.EXITED}),
    EnvState.RETIRING: frozenset({EnvState.EXITED}),
    EnvState.EXITED: frozenset(),
}

LIVE = frozenset({EnvState.STARTING, EnvState.IDLE, EnvState.RESERVED, EnvState.BUSY})


class IllegalTransition(RuntimeError):
    def __init__(self, env_id: int, current: EnvState, wanted: EnvState):
        allowed = ", ".join(sorted(s.name for s in TRANSITIONS[current])) or "nothing"
        super().__init__(f"execution environment {env_id} cannot go from {current.name} to {wanted.name} "
                         f"(from {current.name} it may go to {allowed})")
        self.current, self.wanted = current, wanted


class AnotherWaiter(RuntimeError):
    """A runtime asked for its next event (/next) while another request of its environment already waits for it."""


def check_transition(env_id: int, current: EnvState, wanted: EnvState) -> None:
    """Raise IllegalTransition unless `TRANSITIONS` allows the move."""
    if wanted not in TRANSITIONS[current]:
        raise IllegalTransition(env_id, current, wanted)


class KillReason(StrEnum):
    CONFIGURATION = "configuration updated"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    SHUTDOWN = "shutdown"
    RESPONSE_TOO_LARGE = "response too large"


class Outcome(StrEnum):
    """How an invocation ended; the values appear in reports, REPORT lines and the Lambda API."""

    OK = "ok"
    ERROR = "error"  # the function raised
    TIMEOUT = "timeout"
    CRASH = "crash"  # the environment died under it (exit, out of memory, shutdown, failed start)
    INIT_ERROR = "init_error"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class ExitVerdict:
    """What an environment's exit means for the invocations it held."""

    outcome: Outcome
    error_type: str
    reason: str  # for the caller
    log_line: str  # logged after "RequestId: <id> " for each failed invocation
    payload: bytes = b""
    reroute_queued: bool = False  # an invocation queued on it but never started may run elsewhere
    peak_mb: int | None = None  # the Max Memory Used to report, when the exit decides it


def classify_exit(code: int, kill_reason: KillReason | None, init_error: tuple[bytes, str] | None,
                  ready: bool, closing: bool, memory_mb: int) -> ExitVerdict:
    """Why an environment's process ended (exit `code`, as Popen reports it) and what its invocations get."""
    payload, reroute, peak_mb = b"", False, None
    if closing or kill_reason is KillReason.SHUTDOWN:
        outcome, error_type, reason = Outcome.CRASH, "Runtime.Shutdown", "the emulator is shutting down"
    elif init_error is not None:
        payload, error_type = init_error
        outcome, reason = Outcome.INIT_ERROR, f"the function failed to initialise ({error_type}); see the log"
    elif kill_reason is KillReason.MEMORY:
        outcome, error_type, reroute = Outcome.CRASH, "Runtime.OutOfMemory", ready
        reason = f"the function used more than its {memory_mb} MB (--memory) and was stopped"
        peak_mb = memory_mb  # as Lambda reports it
    else:
        outcome, error_type, reroute = Outcome.CRASH, "Runtime.ExitError", ready
        reason = f"the execution environment exited ({exit_text(code)}); see the log"
    if init_error is not None:
        log_line = f"Init error ({error_type}); the environment exited: {exit_text(code)}"
    else:
        log_line = f"Error: Runtime exited with error: {exit_text(code)}\n{error_type}"
    return ExitVerdict(outcome, error_type, reason, log_line, payload, reroute, peak_mb)


def exit_text(code: int) -> str:
    """An exit code as Lambda words it: `exit status 3`, `signal: kill`."""
    if code < 0:
        try:
            return f"signal: {signal.Signals(-code).name.lower().removeprefix('sig')}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"
