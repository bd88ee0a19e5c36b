"""Reading a request's body as HTTP/1.1 frames it (Content-Length or chunked), never past a limit.

Nothing here reads an amount the client chose without a bound: lengths are ASCII digits or hex digits
of a sane length, a chunk is read only once it is known to fit under the limit, and the chunk-size
lines, the CRLF after each chunk and the trailer lines are each read with a cap. Every refusal is
BadFraming (answer 400) or BodyTooLarge (answer 413), raised before the data it refuses is read.
"""

import re
from email.message import Message
from io import BufferedIOBase

MAX_CHUNK_LINE_BYTES = 4096  # a chunk size and its extensions
MAX_TRAILER_BYTES = 64 * 1024  # all trailer lines together, as http.server caps one header line
MAX_LENGTH_DIGITS = 18  # more digits than any body this server takes; int() of a long string is not free
_DIGITS = re.compile(rb"[0-9]+")
_HEX_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")


class BadFraming(ValueError):
    """The body's framing cannot be read (400)."""


class BodyTooLarge(Exception):
    """The body is larger than the limit (413): `size_bytes` long, or at least that when `at_least`."""

    def __init__(self, size_bytes: int, at_least: bool = False):
        super().__init__(size_bytes)
        self.size_bytes = size_bytes
        self.at_least = at_least

    @property
    def size_text(self) -> str:
        return f"{'at least ' if self.at_least else ''}{self.size_bytes} bytes"


def body_length(headers: Message, limit: int) -> int | None:
    """The Content-Length of a request, or None when it is chunked; BadFraming or BodyTooLarge otherwise."""
    encodings = headers.get_all("Transfer-Encoding") or []
    lengths = {value.strip() for value in headers.get_all("Content-Length") or []}
    if encodings:
        if lengths:
            raise BadFraming("a request may not have both Transfer-Encoding and Content-Length; send one")
        if ",".join(encodings).strip().lower() != "chunked":
            raise BadFraming(f"Transfer-Encoding {', '.join(encodings)[:40]!r} is not supported; send chunked or "
                             "Content-Length")
        return None
    if len(lengths) > 1:
        raise BadFraming("the request has several different Content-Length headers")
    raw = lengths.pop() if lengths else "0"
    digits = raw.encode("latin-1", "replace")
    if not _DIGITS.fullmatch(digits):
        raise BadFraming(f"Content-Length must be a non-negative integer in ASCII digits; got {raw[:40]!r}")
    if len(digits) > MAX_LENGTH_DIGITS:
        raise BodyTooLarge(limit + 1, at_least=True)
    length = int(digits)
    if length > limit:
        raise BodyTooLarge(length)
    return length


def read_body(rfile: BufferedIOBase, headers: Message, limit: int) -> bytes:
    """The request body, at most `limit` bytes, whichever way it is framed."""
    length = body_length(headers, limit)
    if length is None:
        return read_chunked(rfile, limit)
    body = rfile.read(length) if length else b""
    if len(body) < length:
        raise BadFraming(f"the body ended after {len(body)} of its {length} bytes (Content-Length)")
    return body


def read_chunked(rfile: BufferedIOBase, limit: int) -> bytes:
    """A chunked body: each chunk is read only once the total is known to fit under `limit`."""
    parts: list[bytes] = []
    total = 0
    while True:
        line = _line(rfile, MAX_CHUNK_LINE_BYTES, f"a chunk-size line is longer than {MAX_CHUNK_LINE_BYTES} bytes")
        size_text = line.split(b";", 1)[0].strip()
        if not _HEX_SIZE.fullmatch(size_text):
            raise BadFraming(f"malformed chunk size {size_text[:20]!r} in a chunked body (hex digits expected)")
        size = int(size_text, 16)
        if size == 0:
            _skip_trailers(rfile)
            return b"".join(parts)
        if total + size > limit:
            raise BodyTooLarge(total + size, at_least=True)
        data = rfile.read(size)
        if len(data) < size:
            raise BadFraming("the chunked body ended inside a chunk")
        parts.append(data)
        total += size
        if rfile.read(2) != b"\r\n":
            raise BadFraming("a chunk is not followed by CRLF (is its size right?)")


def _skip_trailers(rfile: BufferedIOBase) -> None:
    """Read past the trailer lines (none is used): at most MAX_TRAILER_BYTES of them."""
    budget = MAX_TRAILER_BYTES
    while (line := _line(rfile, budget, f"the trailers of the chunked body are over {MAX_TRAILER_BYTES} bytes")) \
            not in (b"\r\n", b"\n"):
        budget -= len(line)


def _line(rfile: BufferedIOBase, limit: int, too_long: str) -> bytes:
    """One line of at most `limit` bytes, its end included; BadFraming(`too_long`) past that."""
    line = rfile.readline(limit + 1) if limit > 0 else rfile.read(1)
    if line.endswith(b"\n"):
        return line
    if len(line) > limit:
        raise BadFraming(too_long)
    raise BadFraming("the chunked body ended before its end")
