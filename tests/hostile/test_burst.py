"""Finding 5: a burst of connections far beyond --concurrency is answered 200 or 429, never reset."""

import selectors
import socket
import time

from helpers import address, call, parse_reply

CONNECTIONS = 200
REQUEST = b"GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def burst(url: str, count: int, timeout_s: float = 60.0) -> list[object]:
    """Open `count` connections at once, send one request on each, and return each one's status or error."""
    selector = selectors.DefaultSelector()
    outcomes: list[object] = [None] * count
    received = [b""] * count
    for index in range(count):
        conn = socket.socket()
        conn.setblocking(False)
        conn.connect_ex(address(url))
        selector.register(conn, selectors.EVENT_WRITE, index)
    deadline = time.monotonic() + timeout_s
    while selector.get_map() and time.monotonic() < deadline:
        for key, events in selector.select(timeout=1.0):
            conn, index = key.fileobj, key.data
            assert isinstance(conn, socket.socket)
            try:
                if events & selectors.EVENT_WRITE:
                    conn.sendall(REQUEST)
                    selector.modify(conn, selectors.EVENT_READ, index)
                    continue
                chunk = conn.recv(65536)
            except OSError as exc:
                chunk, outcomes[index] = b"", type(exc).__name__
            received[index] += chunk
            reply = parse_reply(received[index])
            if reply is not None or not chunk:
                outcomes[index] = reply.status if reply is not None else outcomes[index] or "closed without an answer"
                selector.unregister(conn)
                conn.close()
    for key in list(selector.get_map().values()):
        outcomes[key.data] = "no answer in time"
        key.fileobj.close()  # type: ignore[union-attr]
    return outcomes


def test_a_burst_of_200_connections_gets_only_200_or_429(serve):
    server = serve("--concurrency", "4")
    assert call(server.url + "/v2/health/ready").status == 200
    outcomes = burst(server.url, CONNECTIONS)
    unexpected = [outcome for outcome in outcomes if outcome not in (200, 429)]
    assert not unexpected, f"{len(unexpected)} of {CONNECTIONS}: {sorted(set(map(str, unexpected)))}"
    assert 200 in outcomes
