"""One request's trip through the emulator, settled exactly once."""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING

from .clock import Clock, SystemClock
from .states import Outcome

if TYPE_CHECKING:
    from .environment import Environment


class Invocation:
    """One request's trip through an environment; settled exactly once."""

    def __init__(self, event: bytes, timeout_s: float, request_id: str | None = None, clock: Clock | None = None):
        self.request_id = request_id or str(uuid.uuid4())
        self.event = event
        self.timeout_s = timeout_s
        self.clock: Clock = clock or SystemClock()
        self.progress = threading.Event()  # set when delivered or settled
        self.done = threading.Event()
        self.env: Environment | None = None  # where it is queued or running
        self.delivered_at: float | None = None  # clock.monotonic() when the runtime took it
        self.deadline_ms = 0
        self.outcome: Outcome | None = None
        self.reason = ""  # for the caller, when the outcome is not ok
        self.payload = b""
        self.error_type: str | None = None
        self.cold = False
        self.report: dict | None = None
        self.log: list[str] = []  # this invocation's log lines, as Lambda's LogType=Tail returns them
        self._lock = threading.Lock()

    @property
    def settled(self) -> bool:
        return self.outcome is not None

    def runtime_headers(self, function_arn: str) -> list[tuple[str, str]]:
        return [
            ("Lambda-Runtime-Aws-Request-Id", self.request_id),
            ("Lambda-Runtime-Deadline-Ms", str(self.deadline_ms)),
            ("Lambda-Runtime-Invoked-Function-Arn", function_arn),
            ("Lambda-Runtime-Trace-Id",
             f"Root=1-{int(self.clock.time()):08x}-{self.request_id.replace('-', '')[:24]};Sampled=0"),
        ]

    def deliver(self, cold: bool) -> None:
        """The runtime has taken it: its timeout starts now."""
        self.delivered_at = self.clock.monotonic()
        self.deadline_ms = int((self.clock.time() + self.timeout_s) * 1000)
        self.cold = cold
        self.progress.set()

    def claim(self, outcome: Outcome, payload: bytes = b"", error_type: str | None = None, reason: str = "") -> bool:
        """Settle the outcome; only the first claim counts, so no request is answered twice."""
        with self._lock:
            if self.outcome is not None:
                return False
            self.outcome, self.payload, self.error_type, self.reason = outcome, payload, error_type, reason
        return True

    def release(self) -> None:
        """Wake the caller waiting for this invocation."""
        self.progress.set()
        self.done.set()
