"""Finding 2: an environment's Runtime API answers only that environment's processes. Another local
process can neither take invocations (with their headers and bodies) nor post answers for them."""

import socket
import threading
from pathlib import Path

import pytest

from helpers import call, descendants, parse_reply, raw_exchange

ROW = {"instances": [[5.1, 3.5, 1.4, 0.2]]}
NEXT = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def runtime_api_url(pid: int) -> str:
    variables = dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item)
    return "http://" + variables["AWS_LAMBDA_RUNTIME_API"]


@pytest.fixture(scope="module")
def server(serve):
    server = serve("--concurrency", "1", "--timeout", "3")
    assert call(server.url + "/predict", "POST", body=ROW).status == 200
    (environment,) = [pid for pid in descendants(server.proc.pid) if "awslambdaric" in Path(f"/proc/{pid}/cmdline").read_text()]
    server.runtime_api = runtime_api_url(environment)
    return server


def test_another_process_cannot_take_invocations(server):
    host, port = server.runtime_api.removeprefix("http://").split(":")
    rogues = [socket.create_connection((host, int(port)), timeout=15) for _ in range(3)]
    for rogue in rogues:
        rogue.sendall(NEXT)
    statuses = []
    callers = [threading.Thread(target=lambda: statuses.append(call(server.url + "/predict", "POST", body=ROW,
                                                                     headers={"Authorization": "Bearer secret"}).status))
               for _ in range(6)]
    for caller in callers:
        caller.start()
        caller.join()
    answers = []
    for rogue in rogues:
        received = b""
        try:
            while (reply := parse_reply(received)) is None and (chunk := rogue.recv(65536)):
                received += chunk
        except TimeoutError:
            reply = None
        rogue.close()
        answers.append(reply)
    assert statuses == [200] * 6, "every request reached the real runtime"
    for reply in answers:
        assert reply is not None and reply.status == 403, "the rogue /next was refused at once"
        assert b"secret" not in reply.body and "errorMessage" in reply.json()


@pytest.mark.parametrize("path", ["/2018-06-01/runtime/invocation/some-id/response",
                                  "/2018-06-01/runtime/invocation/some-id/error",
                                  "/2018-06-01/runtime/init/error"])
def test_another_process_cannot_post_answers(server, path):
    body = b'{"statusCode": 200, "body": "forged"}'
    request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
               "Connection: close\r\n\r\n").encode() + body
    reply = raw_exchange(server.runtime_api, request)
    assert reply is not None and reply.status == 403, reply and reply.body
    after = call(server.url + "/predict", "POST", body=ROW)
    assert after.status == 200 and b"forged" not in after.body
