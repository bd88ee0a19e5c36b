"""The emulator's state machine driven step by step: no processes, a hand-moved clock, no sleeps.

Environments are never started here; the test plays their runtime (`next_invocation`, `complete`,
`init_failed`) and their watcher (`environment_exited`), in the order each race needs.
"""

import itertools
import json
import threading
import time

import pytest

from infer.local.clock import ManualClock, timestamp
from infer.local.environment import Environment
from infer.local.function import FunctionConfig
from infer.local.invocation import Invocation
from infer.local.pool import Pool
from infer.local.states import (
    LIVE,
    TRANSITIONS,
    EnvState,
    IllegalTransition,
    KillReason,
    Outcome,
    check_transition,
    classify_exit,
)
from infer.runtime.contract import INIT_LIMIT_S

TIMEOUT_S = 3.0
MEMORY_MB = 512


def eventually(predicate, timeout_s: float = 10.0):
    """Wait for another thread to reach a state (bounded, so a bug fails instead of hanging)."""
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        assert time.monotonic() < deadline, "the pool never got there"
        time.sleep(0.001)
    return value


class Call:
    """`pool.invoke` on a thread of its own, as the function URL's handler runs it."""

    def __init__(self, pool: Pool, request_id: str | None = None):
        self.invocation: Invocation | None = None
        self._thread = threading.Thread(target=self._run, args=(pool, request_id), daemon=True)
        self._thread.start()

    def _run(self, pool: Pool, request_id: str | None) -> None:
        self.invocation = pool.invoke(b"{}", request_id)

    def result(self) -> Invocation:
        self._thread.join(10)
        assert self.invocation is not None, "invoke did not return"
        return self.invocation


@pytest.fixture
def make_pool(monkeypatch):
    monkeypatch.setattr(Environment, "start", lambda self: None)  # no process: the test is the runtime
    pools = []

    def make(concurrency: int = 2, log=None) -> Pool:
        lines: list[str] = []
        function = FunctionConfig(name="fn", handler="fn.handler", task_root="/nonexistent", timeout_s=TIMEOUT_S,
                                  memory_mb=MEMORY_MB)
        pool = Pool(function, concurrency, log or lines.append, clock=ManualClock())
        pool.lines = lines
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()
        for env in list(pool.environments):  # what the watchers would do once the processes are gone
            pool.environment_exited(env, -15)


def environment(pool: Pool, env_id: int, state: EnvState = EnvState.STARTING) -> Environment:
    return eventually(lambda: next((e for e in pool.environments if e.env_id == env_id and e.state is state), None))


def run_one(pool: Pool, payload: bytes = b'{"ok": true}') -> tuple[Environment, Invocation]:
    """One invocation through a fresh or idle environment, answered at once."""
    call = Call(pool)
    env = eventually(lambda: next((e for e in pool.environments if e.pending is not None), None))
    invocation = env.next_invocation()
    assert invocation is not None and env.complete(invocation.request_id, Outcome.OK, payload)
    return env, call.result()


# The tables


def test_transition_table_allows_exactly_the_listed_moves():
    for current, wanted in itertools.product(EnvState, EnvState):
        if wanted in TRANSITIONS[current]:
            check_transition(1, current, wanted)
        else:
            with pytest.raises(IllegalTransition, match=f"from {current.name} to {wanted.name}"):
                check_transition(1, current, wanted)
    assert TRANSITIONS[EnvState.EXITED] == frozenset()
    assert TRANSITIONS[EnvState.RETIRING] == {EnvState.EXITED}, "a retiring environment never serves again"
    assert all({EnvState.RETIRING, EnvState.EXITED} <= TRANSITIONS[s] for s in LIVE)


def test_outcomes_and_kill_reasons_keep_their_strings():
    assert [o.value for o in Outcome] == ["ok", "error", "timeout", "crash", "init_error", "throttled"]
    assert Outcome.OK == "ok" and f"{Outcome.INIT_ERROR}" == "init_error" and json.dumps(Outcome.CRASH) == '"crash"'
    assert [r.value for r in KillReason] == ["configuration updated", "timeout", "memory", "shutdown", "response too large"]


@pytest.mark.parametrize(("code", "reason", "init_error", "ready", "closing", "expected"), [
    (3, None, None, True, False, (Outcome.CRASH, "Runtime.ExitError", True, "exited (exit status 3)")),
    (3, None, None, False, False, (Outcome.CRASH, "Runtime.ExitError", False, "exited (exit status 3)")),
    (-9, KillReason.MEMORY, None, True, False, (Outcome.CRASH, "Runtime.OutOfMemory", True, "more than its 512 MB")),
    (-9, KillReason.TIMEOUT, None, True, False, (Outcome.CRASH, "Runtime.ExitError", True, "(signal: kill)")),
    (-9, KillReason.CONFIGURATION, None, True, False, (Outcome.CRASH, "Runtime.ExitError", True, "(signal: kill)")),
    (-9, KillReason.RESPONSE_TOO_LARGE, None, True, False, (Outcome.CRASH, "Runtime.ExitError", True, "(signal: kill)")),
    (-15, KillReason.SHUTDOWN, None, True, False, (Outcome.CRASH, "Runtime.Shutdown", False, "shutting down")),
    (0, None, None, True, True, (Outcome.CRASH, "Runtime.Shutdown", False, "shutting down")),
    (-9, KillReason.MEMORY, (b"{}", "Runtime.ImportModuleError"), False, False,
     (Outcome.INIT_ERROR, "Runtime.ImportModuleError", False, "failed to initialise (Runtime.ImportModuleError)")),
])
def test_exit_is_classified_by_kill_reason(code, reason, init_error, ready, closing, expected):
    verdict = classify_exit(code, reason, init_error, ready, closing, MEMORY_MB)
    outcome, error_type, reroute, words = expected
    assert (verdict.outcome, verdict.error_type, verdict.reroute_queued) == (outcome, error_type, reroute)
    assert words in verdict.reason
    assert verdict.peak_mb == (MEMORY_MB if error_type == "Runtime.OutOfMemory" else None), "Lambda reports the limit"
    if init_error is not None:
        assert verdict.payload == init_error[0]
        assert verdict.log_line == "Init error (Runtime.ImportModuleError); the environment exited: signal: kill"
    else:
        assert verdict.log_line.startswith("Error: Runtime exited with error: ") and verdict.log_line.endswith(error_type)


def test_the_pool_refuses_an_illegal_move_and_changes_nothing(make_pool):
    pool = make_pool()
    Call(pool)
    env = environment(pool, 1)
    with pool.lock, pytest.raises(IllegalTransition, match="cannot go from STARTING to IDLE"):
        pool.move(env, EnvState.IDLE)
    with pool.lock, pytest.raises(ValueError, match="kill reason"):
        pool.move(env, EnvState.RETIRING)
    assert env.state is EnvState.STARTING and pool.idle == [] and env.kill_reason is None


# Invocations through the machine


def test_cold_then_warm_with_times_from_the_clock(make_pool):
    pool = make_pool()
    clock = pool.clock
    call = Call(pool)
    env = environment(pool, 1)
    clock.advance(1.5)  # init takes 1.5 s
    invocation = env.next_invocation()
    assert invocation is not None and env.state is EnvState.BUSY and invocation.cold
    headers = dict(invocation.runtime_headers(pool.function.arn))
    assert headers["Lambda-Runtime-Deadline-Ms"] == str(int((clock.time() + TIMEOUT_S) * 1000))
    assert headers["Lambda-Runtime-Trace-Id"].startswith(f"Root=1-{int(clock.time()):08x}-")
    clock.advance(0.25)
    assert env.complete(invocation.request_id, Outcome.OK, b'{"ok": true}')
    assert env.state is EnvState.IDLE and pool.idle == [env], "free as soon as it has answered"
    first = call.result()
    assert (first.outcome, first.payload) == (Outcome.OK, b'{"ok": true}')
    assert first.report == {"request_id": first.request_id, "environment": 1, "outcome": "ok", "cold": True,
                            "init_ms": 1500.0, "duration_ms": 250.0, "max_memory_mb": None}
    assert pool.lines[-1] == (f"REPORT RequestId: {first.request_id}\tDuration: 250.00 ms\tBilled Duration: 1750 ms\t"
                              f"Memory Size: {MEMORY_MB} MB\tMax Memory Used: 0 MB\tInit Duration: 1500.00 ms")
    reused, second = run_one(pool)
    assert reused is env and second.report is not None
    assert (second.cold, second.report["init_ms"], second.report["environment"]) == (False, None, 1)


def test_a_timeout_wins_over_a_response_arriving_while_it_kills(make_pool):
    """The old race: the response lands after the timeout settled the request, before the kill."""
    late: dict[str, bool] = {}
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if "Task timed out" in line:  # the timeout has settled the request and not yet killed the environment
            late["accepted"] = env.complete(invocation.request_id, Outcome.OK, b'{"late": true}')
            late["idle"] = env in pool.idle

    pool = make_pool(log=log)
    call = Call(pool, "slow")
    env = environment(pool, 1)
    invocation = env.next_invocation()
    assert invocation is not None
    pool.clock.advance(TIMEOUT_S)
    timed_out = call.result()
    assert (timed_out.outcome, timed_out.error_type) == (Outcome.TIMEOUT, "Sandbox.Timedout")
    assert timed_out.reason == f"Task timed out after {TIMEOUT_S:.2f} seconds (--timeout)"
    assert timed_out.payload == b"", "the late response is not the answer"
    assert late == {"accepted": True, "idle": False}
    assert (env.state, env.kill_reason) == (EnvState.RETIRING, KillReason.TIMEOUT)
    stamp = timestamp(pool.clock.time())
    assert f"{stamp} slow Task timed out after 3.00 seconds" in lines
    assert [line for line in lines if line.startswith("REPORT")][-1].endswith("Status: timeout\tError Type: Sandbox.Timedout")
    Call(pool)
    assert environment(pool, 2) is not env, "the next request starts a fresh environment"
    pool.environment_exited(env, -9)
    assert [r["outcome"] for r in pool.reports] == ["timeout"], "settled once, reported once"
    assert not [line for line in lines if "exited while idle" in line]


def test_a_response_just_before_the_timeout_keeps_the_environment(make_pool):
    pool = make_pool()
    call = Call(pool)
    env = environment(pool, 1)
    invocation = env.next_invocation()
    assert invocation is not None
    assert env.complete(invocation.request_id, Outcome.OK, b"{}")
    pool._time_out(invocation, "Task timed out after 3.00 seconds")  # the timer fired a moment too late
    pool.clock.advance(TIMEOUT_S)
    assert call.result().outcome is Outcome.OK
    assert env.state is EnvState.IDLE and env.kill_reason is None
    assert not [line for line in pool.lines if "timed out" in line]


def test_a_cold_start_past_the_init_limit_times_out(make_pool):
    pool = make_pool()
    call = Call(pool)
    env = environment(pool, 1)
    pool.clock.advance(INIT_LIMIT_S + TIMEOUT_S)
    invocation = call.result()
    assert invocation.outcome is Outcome.TIMEOUT
    assert invocation.reason == "init did not finish within 13 seconds (10 s init limit + 3 s timeout) (--timeout)"
    assert (env.state, env.kill_reason) == (EnvState.RETIRING, KillReason.TIMEOUT)
    pool.environment_exited(env, -9)
    assert len(pool.reports) == 1


def test_a_configuration_update_retires_idle_environments_now_and_busy_ones_when_they_finish(make_pool):
    pool = make_pool()
    busy, _ = run_one(pool)
    running = Call(pool)
    assert environment(pool, 1, EnvState.RESERVED) is busy
    busy_invocation = busy.next_invocation()
    idle, _ = run_one(pool)
    assert busy_invocation is not None and busy.state is EnvState.BUSY and idle.state is EnvState.IDLE

    pool.reconfigure(timeout_s=5.0)
    assert (idle.state, idle.kill_reason) == (EnvState.RETIRING, KillReason.CONFIGURATION)
    assert busy.state is EnvState.BUSY, "a busy environment finishes its request first"
    assert busy.complete(busy_invocation.request_id, Outcome.OK, b'{"done": true}')
    assert running.result().outcome is Outcome.OK
    assert (busy.state, busy.kill_reason) == (EnvState.RETIRING, KillReason.CONFIGURATION)
    assert pool.idle == []
    for env in (busy, idle):
        pool.environment_exited(env, -9)
    fresh, invocation = run_one(pool)
    assert fresh.env_id == 3 and fresh.generation == pool.generation == 1
    assert invocation.timeout_s == 5.0 and invocation.cold


def test_memory_kill_fails_the_running_invocation_as_out_of_memory(make_pool):
    pool = make_pool()
    call = Call(pool)
    env = environment(pool, 1)
    assert env.next_invocation() is not None
    pool.retire(env, KillReason.MEMORY)
    assert (env.state, env.kill_reason) == (EnvState.RETIRING, KillReason.MEMORY)
    pool.environment_exited(env, -9)
    invocation = call.result()
    assert (invocation.outcome, invocation.error_type) == (Outcome.CRASH, "Runtime.OutOfMemory")
    assert invocation.report is not None and invocation.report["max_memory_mb"] == MEMORY_MB
    assert f"RequestId: {invocation.request_id} Error: Runtime exited with error: signal: kill\nRuntime.OutOfMemory" in pool.lines
    assert pool.lines[-1].endswith(f"Max Memory Used: {MEMORY_MB} MB\tInit Duration: 0.00 ms\t"
                                   "Status: crash\tError Type: Runtime.OutOfMemory")
    assert env.state is EnvState.EXITED and pool.environments == []


def test_memory_kill_during_init_fails_the_invocation_it_was_started_for(make_pool):
    pool = make_pool()
    call = Call(pool)
    env = environment(pool, 1)
    pool.retire(env, KillReason.MEMORY)
    pool.environment_exited(env, -9)
    invocation = call.result()
    assert (invocation.outcome, invocation.error_type, invocation.cold) == (Outcome.CRASH, "Runtime.OutOfMemory", True)


def test_a_retiring_environment_is_not_handed_its_queued_invocation(make_pool):
    pool = make_pool()
    call = Call(pool)
    env = environment(pool, 1)
    pool.retire(env, KillReason.MEMORY)  # noticed just as init finished
    asked: dict[str, Invocation | None] = {}
    runtime = threading.Thread(target=lambda: asked.setdefault("next", env.next_invocation()))
    runtime.start()
    eventually(lambda: env.init_ms is not None)
    assert env.pending is not None and env.current is None, "retiring: /next waits instead of taking it"
    pool.environment_exited(env, -9)
    runtime.join(10)
    assert asked == {"next": None}, "/next ends when the environment has exited"
    second = environment(pool, 2)  # it never started there, so it runs on another environment
    invocation = second.next_invocation()
    assert invocation is not None
    second.complete(invocation.request_id, Outcome.OK, b"{}")
    assert call.result().outcome is Outcome.OK


def test_a_request_queued_on_an_environment_that_exits_runs_elsewhere(make_pool):
    pool = make_pool()
    first, _ = run_one(pool)
    call = Call(pool)
    assert environment(pool, 1, EnvState.RESERVED) is first
    pool.environment_exited(first, 0)  # exits before its runtime asks for the queued request
    assert "execution environment 1 exited while idle: exit status 0" in pool.lines
    second = environment(pool, 2)
    invocation = second.next_invocation()
    assert invocation is not None and invocation.env is second
    second.complete(invocation.request_id, Outcome.OK, b"{}")
    result = call.result()
    assert result.outcome is Outcome.OK and result.cold


def test_an_init_error_fails_the_invocation_it_was_started_for(make_pool):
    pool = make_pool()
    call = Call(pool)
    env = environment(pool, 1)
    pool.clock.advance(0.5)
    env.init_failed(b'{"errorType": "ImportError"}', "Runtime.ImportModuleError")
    pool.environment_exited(env, 1)
    invocation = call.result()
    assert (invocation.outcome, invocation.payload) == (Outcome.INIT_ERROR, b'{"errorType": "ImportError"}')
    assert invocation.reason == "the function failed to initialise (Runtime.ImportModuleError); see the log"
    assert f"RequestId: {invocation.request_id} Init error (Runtime.ImportModuleError); the environment exited: exit status 1" in pool.lines
    assert pool.lines[-1].endswith("Init Duration: 500.00 ms\tStatus: init_error\tError Type: Runtime.ImportModuleError")


def test_beyond_concurrency_and_after_close_requests_are_throttled(make_pool):
    pool = make_pool(concurrency=1)
    Call(pool)
    env = environment(pool, 1)
    throttled = pool.invoke(b"{}")
    assert (throttled.outcome, throttled.reason) == (Outcome.THROTTLED, "all 1 execution environments are busy")
    pool.close()
    assert (env.state, env.kill_reason) == (EnvState.RETIRING, KillReason.SHUTDOWN)
    assert pool.invoke(b"{}").outcome is Outcome.THROTTLED
    pool.environment_exited(env, -15)
    assert pool.reports[-1]["outcome"] == "crash"
    assert pool.lines[-1].endswith("Status: crash\tError Type: Runtime.Shutdown")
