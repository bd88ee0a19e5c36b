"""Helpers shared by the tests: paths, an HTTP call, tiny ONNX models, and `infer serve` as a process."""

import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
EVENTS = ROOT / "tests" / "events"
FUNCTIONS = ROOT / "tests" / "fixtures" / "functions"
INFER = str(Path(sys.executable).with_name("infer"))


class Reply:
    def __init__(self, status: int, headers, body: bytes):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.header_list = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


def call(url: str, method: str = "GET", body=None, headers=None, timeout: float = 30.0) -> Reply:
    """One HTTP request; `body` may be bytes, str, or a JSON-serialisable object."""
    parts = urlsplit(url)
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        headers = {"content-type": "application/json", **(headers or {})}
    if isinstance(body, str):
        body = body.encode()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target or "/", body=body, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


def make_model(path: Path, inputs, outputs, nodes) -> Path:
    """Write a tiny ONNX model: inputs/outputs are (name, TensorProto type, shape) triples."""
    import onnx
    from onnx import helper

    graph = helper.make_graph(
        nodes, "test",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if all(shape is not None for _, _, shape in [*inputs, *outputs]):
        onnx.checker.check_model(model)  # the checker wants shapes; rank-free models are checked by loading
    onnx.save(model, str(path))
    return path


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, found through /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class ServeProcess:
    """`infer serve ... --port 0` as a user runs it; stderr is collected line by line."""

    def __init__(self, *args: str, executable: str = INFER, cwd: str | Path = ROOT):
        self.proc = subprocess.Popen(
            [executable, "serve", *args, "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
        )
        self.stderr: list[str] = []
        self._readers = [threading.Thread(target=self._read_stderr, daemon=True)]
        self._readers[0].start()
        self.banner = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"infer serve exited: {''.join(self.stderr)}")
            self.banner.append(line)
            match = re.search(r"http://127\.0\.0\.1:\d+", line)
            if match and not hasattr(self, "url"):
                self.url = match.group(0)
            if "infer predict" in line:  # the banner's last line
                break
        self._readers.append(threading.Thread(target=self.proc.stdout.read, daemon=True))
        self._readers[-1].start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def log_lines(self, prefix: str, count: int = 1, timeout_s: float = 10.0) -> list[str]:
        """Lines of stderr starting with `prefix`, waiting up to `timeout_s` for at least `count` of them
        (the server's log reaches us through a pipe, a little after its HTTP answers)."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = [line for line in list(self.stderr) if line.startswith(prefix)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.01)

    def interrupt(self, timeout: float = 15) -> int:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code

    def stop(self):
        if self.proc.poll() is None:
            self.interrupt()


# Raw HTTP over a socket, for requests no well-behaved client sends (tests/hostile).


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def parse_reply(raw: bytes) -> Reply | None:
    """The first HTTP response in `raw` once it is complete (head, and a body of its Content-Length), else None."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if ":" in line]
    length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
    if len(rest) < length:
        return None
    return Reply(int(lines[0].split()[1]), headers, rest[:length])


def raw_exchange(url: str, data: bytes, timeout_s: float = 10.0) -> Reply | None:
    """Send `data` as it is and read one response; None if the connection closed without one."""
    with socket.create_connection(address(url), timeout=timeout_s) as conn:
        conn.sendall(data)
        received = b""
        while (reply := parse_reply(received)) is None:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            received += chunk
    return reply


def stream_request(url: str, head: bytes, pieces, timeout_s: float = 30.0) -> tuple[Reply | None, int]:
    """Send `head`, then `pieces` until the server answers or stops reading; return its response (None if
    the connection ended without one) and how many bytes were sent. Bounded by `timeout_s` in all."""
    deadline = time.monotonic() + timeout_s
    pending, sent, received = head, 0, b""
    pieces = iter(pieces)
    with socket.create_connection(address(url), timeout=timeout_s) as conn:
        conn.setblocking(False)
        sending = True
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([conn], [conn] if sending else [], [], 1.0)
            if readable:
                try:
                    chunk = conn.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                received += chunk
                sending = False  # an answer arrived: stop sending, as a client does
                if parse_reply(received) is not None:
                    break
            elif writable:
                if not pending:
                    pending = next((piece for piece in pieces if piece), b"")
                    if not pending:
                        sending = False
                        continue
                try:
                    count = conn.send(pending)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    sending = False  # the server closed its side; what it answered may still be readable
                    continue
                pending, sent = pending[count:], sent + count
    return parse_reply(received), sent


def peak_memory_kb(pid: int) -> int:
    """A process's peak resident memory so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise ValueError(f"no VmHWM for process {pid}")
