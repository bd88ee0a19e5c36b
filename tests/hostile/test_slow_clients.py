"""A client that stalls (slowloris: a request head sent a byte at a time and never finished, a body that never
comes, a kept-alive connection left idle) loses its connection after the front end's read timeout, so it holds
no handler thread; a client that keeps sending is not cut off."""

import socket
import time

import pytest

from infer.local.frontend import FunctionUrlServer

TIMEOUT_S = 0.5


@pytest.fixture
def front_end():
    server = FunctionUrlServer(pool=None, read_timeout_s=TIMEOUT_S).start_background()  # type: ignore[arg-type]
    yield server
    server.stop()


def closed_after(server, first: bytes) -> float:
    """Seconds until the server closes a connection on which the client sent `first` and then nothing."""
    start = time.monotonic()
    with socket.create_connection(server.server_address[:2], timeout=10) as client:
        client.sendall(first)
        while client.recv(65536):  # whatever the server answers, until it closes
            pass
    return time.monotonic() - start


@pytest.mark.parametrize("first", [b"", b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                                   b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"instances\""])
def test_a_stalled_request_loses_its_connection(front_end, first):
    assert TIMEOUT_S * 0.9 <= closed_after(front_end, first) < 5, "closed by the read timeout, not before or never"


def test_a_slow_but_steady_sender_is_not_cut_off(front_end):
    """The timeout bounds each silence, not the whole request: a head sent over 3x the timeout in small steps
    still gets its answer (a 413 here: a body over 6 MB is refused before any function is called)."""
    with socket.create_connection(front_end.server_address[:2], timeout=10) as client:
        for piece in (b"POST /predict HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"X-A: 1\r\n",
                      b"Content-Length: 7000000\r\n", b"\r\n"):
            client.sendall(piece)
            time.sleep(TIMEOUT_S * 0.6)
        assert client.recv(65536).startswith(b"HTTP/1.1 413")
