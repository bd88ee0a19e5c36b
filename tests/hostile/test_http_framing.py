"""Findings 3, 4 and 7: request bodies framed to get past the 6 MB limit or to make the front end read
without end. Each gets a 4xx JSON answer from the front end itself, which reads a bounded amount and
whose peak memory stays far below the bodies sent."""

import json

import pytest

from helpers import address, peak_memory_kb, raw_exchange, stream_request

MB = 1024 * 1024
STREAM_LIMIT_BYTES = 256 * MB  # the most any case sends
ROW = b'{"instances": [[5.1, 3.5, 1.4, 0.2]]}'


def blocks(first: bytes, block: bytes, limit_bytes: int = STREAM_LIMIT_BYTES):
    """`first`, then `block` again and again up to about `limit_bytes` in all."""
    yield first
    for _ in range(limit_bytes // len(block)):
        yield block


def chunks(size_bytes: int = MB):
    return blocks(b"", b"%x\r\n%s\r\n" % (size_bytes, b"x" * size_bytes))


HEAD = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"

# name -> (request head, the body's pieces, the statuses that may answer it)
FRAMINGS = {
    "content-length 10 MB": (HEAD + b"Content-Length: %d\r\n\r\n" % (10 * MB), lambda: blocks(b"", b"x" * MB, 10 * MB), {413}),
    "content-length 300 MB": (HEAD + b"Content-Length: %d\r\n\r\n" % (300 * MB), lambda: blocks(b"", b"x" * MB), {413}),
    "chunked, 1 MB chunks": (CHUNKED, chunks, {413}),
    "negative chunk size": (CHUNKED, lambda: blocks(b"-1\r\n", b"x" * MB), {400}),
    "huge chunk size": (CHUNKED, lambda: blocks(b"fffffffffffffffffff\r\n", b"x" * MB), {400, 413}),
    "chunk size line without an end": (CHUNKED, lambda: blocks(b"", b"1" * MB), {400}),
    "no CRLF after a chunk": (CHUNKED, lambda: blocks(b"4\r\nabcd", b"a" * MB), {400}),
    "endless trailer lines": (CHUNKED, lambda: blocks(b"4\r\nabcd\r\n0\r\n", b"X-Trailer: abc\r\n" * 65536), {400, 431}),
    "endless trailer line": (CHUNKED, lambda: blocks(b"0\r\nX-Trailer: ", b"a" * MB), {400, 431}),
}


@pytest.fixture(scope="module")
def server(serve):
    server = serve("--concurrency", "2")
    assert raw_exchange(server.url, HEAD + b"Content-Length: %d\r\n\r\n%s" % (len(ROW), ROW)).status == 200
    server.baseline_kb = peak_memory_kb(server.proc.pid)
    return server


@pytest.mark.parametrize("framing", FRAMINGS)
def test_oversized_or_endless_bodies_get_a_4xx_in_bounded_memory(server, framing):
    head, pieces, statuses = FRAMINGS[framing]
    reply, sent_bytes = stream_request(server.url, head, pieces(), timeout_s=30)
    assert reply is not None, f"{framing}: the connection ended without an answer after {sent_bytes} bytes"
    assert reply.status in statuses, (framing, reply.status, reply.body[:200])
    message = reply.json()["error"]
    if reply.status == 413:
        assert "a function URL accepts at most" in message, "the front end answered, not the function"
    assert sent_bytes < STREAM_LIMIT_BYTES / 2, f"{framing}: the server kept reading ({sent_bytes} bytes)"
    growth_mb = (peak_memory_kb(server.proc.pid) - server.baseline_kb) / 1024
    assert growth_mb < 48, f"{framing}: the front end's peak memory grew by {growth_mb:.0f} MB"


@pytest.mark.parametrize("length, status", [
    (b"\xb2", 400),  # a superscript two: str.isdigit() says yes, int() says no
    (b"\xd9\xa3", 400),  # an Arabic-Indic digit, as UTF-8 bytes
    (b"9" * 5000, 413),  # more digits than int() converts by default
    (b"-5", 400),
    (b"1_000", 400),
    (b"0x10", 400),
])
def test_content_length_must_be_ascii_digits(server, length, status):
    reply = raw_exchange(server.url, HEAD + b"Content-Length: " + length + b"\r\nConnection: close\r\n\r\n")
    assert reply is not None, "the connection closed without an answer"
    assert reply.status == status, reply.body
    assert "Content-Length" in reply.json()["error"] or "accepts at most" in reply.json()["error"]
    assert not [line for line in server.stderr if "Traceback" in line]


def test_conflicting_lengths_are_refused(server):
    twice = HEAD + b"Content-Length: 4\r\nContent-Length: 40\r\nConnection: close\r\n\r\nabcd"
    both = HEAD + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"
    coded = HEAD + b"Transfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"
    for request, message in ((twice, "several different Content-Length"), (both, "both Transfer-Encoding and Content-Length"),
                             (coded, "is not supported")):
        reply = raw_exchange(server.url, request)
        assert reply is not None and reply.status == 400, request
        assert message in json.loads(reply.body)["error"], "the front end refused it, not the function"


def test_a_well_formed_chunked_body_with_extensions_and_trailers_still_works(server):
    body = b"%x;name=value\r\n%s\r\n0\r\nX-Checksum: none\r\n\r\n" % (len(ROW), ROW)
    reply = raw_exchange(server.url, CHUNKED.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") + body)
    assert reply is not None and reply.status == 200, reply and reply.body
    assert reply.json()["predictions"][0]["label"] == 0


def test_server_header_names_no_python_version(server):
    reply = raw_exchange(server.url, b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert reply is not None and reply.status == 200
    assert "python" not in reply.headers.get("server", "").lower(), reply.headers


def test_expect_100_continue_is_refused_before_the_body_when_too_large(server):
    """The client is told 413 instead of 100 Continue, so it never sends the 7 MB; a body within the limit
    still gets its 100 Continue, then its answer."""
    import socket

    with socket.create_connection(address(server.url), timeout=10) as client:
        client.sendall(HEAD + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % (7 * MB))
        first = b""
        while b"a function URL accepts at most" not in first and (piece := client.recv(65536)):
            first += piece  # the head and the body may come in separate segments; the server closes after
    assert first.startswith(b"HTTP/1.1 413") and b"a function URL accepts at most" in first, first[:300]
    with socket.create_connection(address(server.url), timeout=10) as client:
        client.sendall(HEAD + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(ROW))
        assert client.recv(65536).startswith(b"HTTP/1.1 100 Continue")
        client.sendall(ROW)
        reply = b""
        while b"predictions" not in reply:
            reply += client.recv(65536)
        assert reply.startswith(b"HTTP/1.1 200")
