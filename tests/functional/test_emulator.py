"""The emulator against real awslambdaric processes: pass-through, concurrency, throttling, timeouts, crashes."""

import json
import re
import threading
import time

import pytest
from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel

from helpers import FUNCTIONS, MODELS, alive, call
from infer.local.clock import ManualClock
from infer.local.emulator import Emulator
from infer.local.function import FunctionConfig, model_function
from infer.local.invocation import Invocation
from infer.local.pool import Pool
from infer.local.states import EnvState


class Log:
    def __init__(self):
        self.lines: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, line: str):
        with self.lock:
            self.lines.extend(line.splitlines())

    def matching(self, pattern: str) -> list[str]:
        with self.lock:
            return [line for line in self.lines if re.search(pattern, line)]

    def eventually(self, pattern: str, count: int = 1, timeout_s: float = 10.0) -> list[str]:
        """Lines the function printed arrive through a pipe, a little after its answer: wait for them."""
        deadline = time.monotonic() + timeout_s
        while len(found := self.matching(pattern)) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return found


@pytest.fixture
def start():
    """Start an emulator around a test function (tests/fixtures/functions) or the real runtime."""
    running = []

    def _start(handler="behaviours.handler", concurrency=4, timeout_s=10.0, function=None):
        log = Log()
        function = function or FunctionConfig(name="behaviours", handler=handler, task_root=str(FUNCTIONS),
                                              timeout_s=timeout_s, environment={"CUSTOM_SETTING": "on"})
        emulator = Emulator(function, concurrency=concurrency, log=log).start()
        emulator.log = log
        running.append(emulator)
        return emulator

    yield _start
    for emulator in running:
        emulator.stop()


def wait_for(predicate, timeout_s: float = 10.0) -> bool:
    """Wait for the emulator to reach a state (bounded, so a bug fails instead of hanging)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def parallel(n: int, fn):
    results = [None] * n
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_function_receives_a_valid_function_url_event(start, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "must-not-leak")
    emu = start()
    reply = call(emu.url + "/echo?q=1&q=2", "POST", body=b'{"x": 1}',
                 headers={"Content-Type": "application/json", "X-Trace": "abc", "Cookie": "k=v"})
    assert reply.status == 200
    seen = reply.json()
    event = seen["event"]
    LambdaFunctionUrlModel.model_validate(event)
    assert event["rawPath"] == "/echo" and event["rawQueryString"] == "q=1&q=2"
    assert event["queryStringParameters"] == {"q": "1,2"}
    assert event["headers"]["x-trace"] == "abc" and event["cookies"] == ["k=v"]
    assert event["body"] == '{"x": 1}' and event["isBase64Encoded"] is False
    assert event["requestContext"]["requestId"] == seen["request_id"] == reply.headers["x-amzn-requestid"]
    assert abs(event["requestContext"]["timeEpoch"] / 1000 - time.time()) < 60
    assert 0 < seen["remaining_ms"] <= 10_000, "the deadline header reaches the context"
    env = seen["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "behaviours"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "2048"
    assert env["_HANDLER"] == "behaviours.handler"
    assert "AWS_SECRET_ACCESS_KEY" not in env, "the caller's environment does not leak into the function"


def test_body_without_content_type_arrives_base64(start):
    emu = start()
    event = call(emu.url + "/echo", "POST", body=b"\x00\x01binary").json()["event"]
    assert event["isBase64Encoded"] is True
    assert event["body"] == "AAFiaW5hcnk="


def test_status_headers_cookies_and_binary_pass_through(start):
    emu = start()
    teapot = call(emu.url + "/teapot")
    assert teapot.status == 418
    assert teapot.headers["x-custom"] == "yes" and teapot.headers["content-type"] == "text/plain"
    assert [v for k, v in teapot.header_list if k.lower() == "set-cookie"] == ["a=1", "b=2"]
    assert teapot.body == b"short and stout"
    binary = call(emu.url + "/binary")
    assert (binary.status, binary.body) == (200, bytes(range(256)))
    plain = call(emu.url + "/plain")
    assert (plain.status, plain.json(), plain.headers["content-type"]) == (200, {"hello": "world"}, "application/json")


def test_parallel_requests_get_parallel_environments_then_reuse(start):
    emu = start(concurrency=4)
    replies = parallel(3, lambda i: call(emu.url + "/sleep/0.5"))
    assert [r.status for r in replies] == [200, 200, 200]
    assert len({r.json()["pid"] for r in replies}) == 3, "each concurrent request ran in its own environment"
    assert sum(r["cold"] for r in emu.reports) == 3
    assert len(emu.log.matching(r"^REPORT .*Init Duration: \d+\.\d\d ms")) == 3
    again = call(emu.url + "/pid")
    assert again.json()["pid"] in {r.json()["pid"] for r in replies}, "an idle environment is reused"
    assert emu.reports[-1]["cold"] is False
    assert re.match(r"^REPORT RequestId: \S+\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
                    r"Memory Size: 2048 MB\tMax Memory Used: \d+ MB$", emu.log.lines[-1])


def test_requests_beyond_concurrency_are_throttled(start, tmp_path):
    gate = tmp_path / "gate"
    emu = start(function=GatedRuntime(name="gated", handler="-", task_root=str(FUNCTIONS)), concurrency=1)
    slow = threading.Thread(target=call, args=(emu.url + f"/?gate={gate}",))
    slow.start()
    assert emu.log.eventually(r"^START RequestId")  # the only environment is busy until the gate opens
    throttled = call(emu.url + "/")
    gate.touch()
    slow.join()
    assert throttled.status == 429
    assert "--concurrency" in throttled.json()["error"]
    assert throttled.headers["x-amzn-errortype"] == "TooManyRequestsException"
    assert call(emu.url + "/").status == 200, "once the environment is free it serves again"


def test_timeout_kills_the_environment_and_answers_502(start):
    emu = start(timeout_s=1.0)
    first_pid = call(emu.url + "/pid").json()["pid"]
    started = time.monotonic()
    reply = call(emu.url + "/sleep/30")
    assert reply.status == 502
    assert "Task timed out after 1.00 seconds (--timeout)" in reply.json()["error"]
    assert time.monotonic() - started < 10
    assert not alive(first_pid), "the timed-out environment was killed"
    assert emu.log.matching(r"Task timed out after 1\.00 seconds")
    assert emu.log.matching(r"^REPORT .*Status: timeout")
    after = call(emu.url + "/pid")
    assert after.status == 200 and after.json()["pid"] != first_pid
    assert emu.reports[-1]["cold"] is True, "a fresh environment replaced the killed one"


def test_crash_answers_502_and_the_environment_is_replaced(start):
    emu = start()
    first_pid = call(emu.url + "/pid").json()["pid"]
    reply = call(emu.url + "/crash")
    assert reply.status == 502
    assert "exited" in reply.json()["error"]
    assert emu.log.matching(r"Runtime exited with error: exit status 3")
    assert emu.log.matching(r"^REPORT .*Status: crash\tError Type: Runtime.ExitError")
    after = call(emu.url + "/pid")
    assert after.status == 200 and after.json()["pid"] != first_pid
    assert len(emu.pool.environments) == 1


def test_unhandled_function_error_is_502_and_the_environment_survives(start):
    emu = start()
    pid = call(emu.url + "/pid").json()["pid"]
    reply = call(emu.url + "/raise")
    assert reply.status == 502
    assert "ValueError" in reply.json()["error"]
    assert emu.log.eventually(r"boom")
    assert call(emu.url + "/pid").json()["pid"] == pid


def test_init_error_is_502_and_the_next_request_tries_again(start):
    emu = start(handler="broken_init.handler")
    for _ in range(2):
        reply = call(emu.url + "/anything")
        assert reply.status == 502
        assert "the function failed to initialise" in reply.json()["error"]
    assert len(emu.log.eventually(r"this function cannot start", count=2)) >= 2, "each request started a fresh init"
    assert len(emu.log.matching(r"^REPORT .*Init Duration.*Status: init_error")) == 2


def test_body_over_6_mb_is_413_before_invoking(start):
    emu = start()
    reply = call(emu.url + "/echo", "POST", body=b"x" * (6 * 1024 * 1024 + 1))
    assert reply.status == 413
    assert "6 MB" in reply.json()["error"]
    assert not emu.reports, "the function was never invoked"


def test_stop_leaves_no_process_behind(start):
    emu = start()
    pids = [r.json()["pid"] for r in parallel(2, lambda i: call(emu.url + "/sleep/0.3"))]
    assert all(alive(pid) for pid in pids)
    emu.stop()
    assert not any(alive(pid) for pid in pids)


def test_real_runtime_cold_then_warm(start):
    emu = start(function=model_function(MODELS / "iris.onnx"))
    body = {"instances": [[5.1, 3.5, 1.4, 0.2]]}
    cold = call(emu.url + "/v1/models/iris:predict", "POST", body=body)
    warm = call(emu.url + "/v1/models/iris:predict", "POST", body=body)
    assert cold.json() == warm.json()
    assert cold.json()["predictions"][0]["label"] == 0
    assert [r["cold"] for r in emu.reports] == [True, False]
    assert emu.reports[0]["init_ms"] > 0 and emu.reports[0]["max_memory_mb"] > 10


def test_sequential_requests_reuse_one_environment(start):
    """A request that arrives between a response and the runtime's next /next must not start a new environment."""
    emu = start()
    pids = {call(emu.url + "/pid").json()["pid"] for _ in range(300)}
    assert len(pids) == 1
    assert sum(r["cold"] for r in emu.reports) == 1
    assert len(emu.pool.environments) == 1


def test_sequential_requests_are_never_throttled_at_concurrency_one(start):
    emu = start(concurrency=1)
    statuses = {call(emu.url + "/pid").status for _ in range(200)}
    assert statuses == {200}


def test_oversized_response_fails_that_request_only(start):
    emu = start()
    first_pid = call(emu.url + "/pid").json()["pid"]
    reply = call(emu.url + f"/big/{7 * 1024 * 1024}")
    assert reply.status == 502
    assert "a function URL returns at most 6 MB" in reply.json()["error"]
    after = call(emu.url + "/pid")
    assert after.status == 200, "the next request is not hurt by the retired environment"
    assert after.json()["pid"] != first_pid


ONE_SHOT_RUNTIME = """
import http.client, json, os, time
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
api.request("GET", "/2018-06-01/runtime/invocation/next")
reply = api.getresponse()
request_id = reply.getheader("Lambda-Runtime-Aws-Request-Id")
reply.read()
api.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", json.dumps({"pid": os.getpid()}))
api.getresponse().read()
while not os.path.exists(os.environ["EXIT_GATE"]):  # exits, when told, before asking for the next event
    time.sleep(0.005)
"""


class OneShotRuntime(FunctionConfig):
    """A custom runtime that answers one event and exits without asking for another."""

    def command(self, environment):
        return [self.python, "-c", ONE_SHOT_RUNTIME]


GATED_RUNTIME = """
import http.client, json, os, time
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
while True:
    api.request("GET", "/2018-06-01/runtime/invocation/next")
    reply = api.getresponse()
    request_id = reply.getheader("Lambda-Runtime-Aws-Request-Id")
    event = json.loads(reply.read())
    gate = event.get("gate") or (event.get("queryStringParameters") or {}).get("gate")
    while gate and not os.path.exists(gate):
        time.sleep(0.005)
    api.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", json.dumps({"pid": os.getpid()}))
    api.getresponse().read()
    print(f"answered {request_id}", flush=True)
"""


class GatedRuntime(FunctionConfig):
    """A custom runtime that answers an event carrying a `gate` path only once that file exists."""

    def command(self, environment):
        return [self.python, "-c", GATED_RUNTIME]


def test_request_queued_behind_a_dying_environment_runs_elsewhere(start, tmp_path):
    exit_gate = tmp_path / "exit"
    function = OneShotRuntime(name="oneshot", handler="-", task_root=str(FUNCTIONS), environment={"EXIT_GATE": str(exit_gate)})
    emu = start(function=function, concurrency=2)
    first = call(emu.url + "/")
    assert first.status == 200
    replies = []
    second = threading.Thread(target=lambda: replies.append(call(emu.url + "/")))
    second.start()
    dying = emu.pool.environments[0]
    assert wait_for(lambda: dying.state is EnvState.RESERVED), "the second request is queued on the first environment"
    exit_gate.touch()  # now it exits without taking it
    second.join()
    assert replies[0].status == 200, replies[0].body
    assert replies[0].json()["pid"] != first.json()["pid"]
    assert emu.pool.reports[-1]["cold"] is True
    assert emu.log.eventually(r"^execution environment 1 exited while idle: exit status 0")


def test_late_response_after_timeout_does_not_hurt_the_next_request(tmp_path):
    """The environment timed out on one request; its response, arriving after the timeout settled the request
    and before the kill, must not put it back in service. A hand-moved clock and a gate put it exactly there."""
    gate = tmp_path / "gate"
    log = Log()
    window: dict[str, object] = {}

    def log_then_answer(line):
        log(line)
        if "Task timed out" in line:  # settled as a timeout, not yet killed: let the response in now
            gate.touch()
            window["answered"] = log.eventually(r"^answered slow$")
            window["idle"] = list(pool.idle)

    clock = ManualClock()
    function = GatedRuntime(name="gated", handler="-", task_root=str(FUNCTIONS), timeout_s=1.0)
    pool = Pool(function, concurrency=4, log=log_then_answer, clock=clock)
    try:
        warm = pool.invoke(b"{}")
        first_pid = json.loads(warm.payload)["pid"]
        slow: dict[str, Invocation] = {}
        event = json.dumps({"gate": str(gate)}).encode()
        racer = threading.Thread(target=lambda: slow.setdefault("invocation", pool.invoke(event, "slow")))
        racer.start()
        assert log.eventually(r"^START RequestId: slow ")
        clock.advance(1.0)  # the timeout, whatever the machine's speed
        racer.join(30)
        timed_out = slow["invocation"]
        assert (timed_out.outcome, timed_out.error_type) == ("timeout", "Sandbox.Timedout")
        assert window["answered"], "the response arrived between the timeout and the kill"
        assert window["idle"] == [], "and did not put the environment back in service"
        assert not alive(first_pid), "the timed-out environment was killed"
        after = pool.invoke(b"{}")
        assert after.outcome == "ok", after.reason
        assert json.loads(after.payload)["pid"] != first_pid
        assert after.report is not None and after.report["cold"] is True and after.report["environment"] == 2
        assert [r["outcome"] for r in pool.reports] == ["ok", "timeout", "ok"]
    finally:
        pool.close()


def test_memory_over_the_function_size_kills_the_environment(start):
    function = FunctionConfig(name="behaviours", handler="behaviours.handler", task_root=str(FUNCTIONS), memory_mb=256)
    emu = start(function=function)
    reply = call(emu.url + "/allocate/400")
    assert reply.status == 502
    assert "more than its 256 MB" in reply.json()["error"]
    assert emu.log.matching(r"^REPORT .*Max Memory Used: 256 MB.*Status: crash\tError Type: Runtime.OutOfMemory")
    assert call(emu.url + "/allocate/10").status == 200, "a fresh environment serves the next request"


RUNTIME_HELPERS = """
import http.client, json, os, select, socket, time
ADDRESS = os.environ["AWS_LAMBDA_RUNTIME_API"]
NEXT = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"

def next_event(api):
    api.request("GET", "/2018-06-01/runtime/invocation/next")
    reply = api.getresponse()
    reply.read()
    return reply.getheader("Lambda-Runtime-Aws-Request-Id")

def answer(api, request_id, body):
    api.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", json.dumps(body))
    api.getresponse().read()

def raw_next():
    conn = socket.create_connection(ADDRESS.split(":"))
    conn.sendall(NEXT)
    return conn

api = http.client.HTTPConnection(ADDRESS)
answer(api, next_event(api), {"who": "first"})
"""

HUNG_UP_RUNTIME = RUNTIME_HELPERS + """
while not os.path.exists(os.environ["GATE"]):
    time.sleep(0.005)
hung_up = [raw_next() for _ in range(3)]  # three requests for the next event whose senders hang up at once
for conn in hung_up:
    conn.shutdown(socket.SHUT_WR)
live = http.client.HTTPConnection(ADDRESS)
while True:
    answer(live, next_event(live), {"who": "live"})
"""

TWO_WAITERS_RUNTIME = RUNTIME_HELPERS + """
first, second = raw_next(), raw_next()
ready = select.select([first, second], [], [])[0][0]
status = int(ready.recv(65536).split()[1])
print(f"first answer {status}", flush=True)
waiting = second if ready is first else first
head = b""
while b"\\r\\n\\r\\n" not in head:
    head += waiting.recv(65536)
request_id = next(line.split(b":", 1)[1].strip().decode() for line in head.split(b"\\r\\n")
                  if line.lower().startswith(b"lambda-runtime-aws-request-id:"))
answer(api, request_id, {"first_answer": status})
time.sleep(60)
"""


class ScriptRuntime(FunctionConfig):
    """A custom runtime given as a Python script, in `environment["SCRIPT"]`."""

    def command(self, environment):
        return [self.python, "-c", environment["SCRIPT"]]


def test_a_runtime_that_hung_up_takes_no_invocation(start, tmp_path):
    """Requests for the next event whose connections are gone must not take the invocation (it would time out)."""
    gate = tmp_path / "gate"
    function = ScriptRuntime(name="hungup", handler="-", task_root=str(FUNCTIONS), timeout_s=5.0,
                             environment={"SCRIPT": HUNG_UP_RUNTIME, "GATE": str(gate)})
    emu = start(function=function, concurrency=1)
    assert call(emu.url + "/").json() == {"who": "first"}
    replies = []
    second = threading.Thread(target=lambda: replies.append(call(emu.url + "/")))
    second.start()
    env = emu.pool.environments[0]
    assert wait_for(lambda: env.state is EnvState.RESERVED), "the second request waits for the runtime's /next"
    gate.touch()
    second.join()
    assert replies[0].status == 200, replies[0].body
    assert replies[0].json() == {"who": "live"}


def test_one_request_for_the_next_event_at_a_time(start):
    function = ScriptRuntime(name="two", handler="-", task_root=str(FUNCTIONS), timeout_s=5.0,
                             environment={"SCRIPT": TWO_WAITERS_RUNTIME})
    emu = start(function=function, concurrency=1)
    assert call(emu.url + "/").json() == {"who": "first"}
    assert emu.log.eventually(r"^first answer \d+$"), "one of two concurrent /next is answered at once"
    assert emu.log.matching(r"^first answer \d+$") == ["first answer 409"]
    reply = call(emu.url + "/")
    assert reply.status == 200 and reply.json() == {"first_answer": 409}, "the other one gets the next event"


def test_without_socket_diagnostics_the_runtime_still_runs_and_says_so(start, monkeypatch):
    """Where the kernel cannot say who holds a socket (no netlink sock_diag), the check is skipped with one
    warning instead of locking every environment out of its Runtime API."""
    import infer.local.environment as environment

    monkeypatch.setattr(environment, "peer_available", lambda: False)
    monkeypatch.setattr(environment, "_warned", set())
    emulator = start()
    assert call(emulator.url + "/echo").status == 200
    assert call(emulator.url + "/echo").status == 200
    assert len(emulator.log.matching("no netlink sock_diag")) == 1
