"""The emulator's clock, passed in so that tests can move time by hand instead of sleeping."""

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a monotonic clock, for durations and timeouts."""
        ...

    def time(self) -> float:
        """Seconds since the epoch, for deadlines handed to the function and for timestamps."""
        ...

    def wait_until(self, event: threading.Event, deadline: float) -> bool:
        """Wait until `event` is set (True) or `monotonic()` reaches `deadline` (False)."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.perf_counter()

    def time(self) -> float:
        return time.time()

    def wait_until(self, event: threading.Event, deadline: float) -> bool:
        return event.wait(max(0.0, deadline - time.perf_counter()))


class ManualClock:
    """A clock that moves only when `advance()` is called; waits end when their event is set or time passes their deadline."""

    def __init__(self, start_s: float = 1_700_000_000.0):
        self._epoch_s = start_s
        self._now_s = 0.0
        self._changed = threading.Condition()

    def monotonic(self) -> float:
        with self._changed:
            return self._now_s

    def time(self) -> float:
        with self._changed:
            return self._epoch_s + self._now_s

    def advance(self, seconds: float) -> None:
        with self._changed:
            self._now_s += seconds
            self._changed.notify_all()

    def wait_until(self, event: threading.Event, deadline: float) -> bool:
        with self._changed:
            while not event.is_set():
                if self._now_s >= deadline:
                    return False
                self._changed.wait(0.005)  # an Event cannot notify this condition: look at it again soon
        return True


def timestamp(epoch_s: float) -> str:
    """An ISO 8601 UTC time with milliseconds, as Lambda's log lines carry."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s)) + f".{int(epoch_s % 1 * 1000):03d}Z"
