"""`infer logs NAME`: the deployed function's CloudWatch log group, read through boto3.

Events come from FilterLogEvents over the log group the deployment record names, from `--since` ago; a
followed log polls for newer events until interrupted. infer's runtime writes one EMF line per request
(runtime/metrics.py); unless raw, such a line is shown as one readable summary, every other line as
Lambda wrote it.
"""

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from . import DeployError, state

SINCE = re.compile(r"(\d+)\s*([smhdw])")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
POLL_S = 2.0  # between FilterLogEvents calls when following
METRIC_NAMES = ("InferenceMs", "ModelLoadMs", "ModelWaitMs")


@dataclass(frozen=True)
class Event:
    timestamp_ms: int
    stream: str
    message: str
    event_id: str = ""

    @property
    def request(self) -> dict | None:
        """The runtime's per-request EMF line, parsed; None for any other line."""
        return request_line(self.message)

    def as_json(self) -> dict:
        return {"timestamp": iso(self.timestamp_ms), "stream": self.stream, "message": self.message.rstrip("\n"),
                "request": self.request}


def iso(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat(timespec="milliseconds")


def since_ms(since: str, now_ms: int) -> int:
    """`--since`: 30s, 10m, 2h, 1d, 1w (ago), or an ISO 8601 time (UTC unless it says otherwise)."""
    match = SINCE.fullmatch(since.strip())
    if match:
        return now_ms - int(match.group(1)) * SECONDS[match.group(2)] * 1000
    try:
        when = datetime.fromisoformat(since.strip())
    except ValueError:
        raise DeployError(f"--since takes a duration like 30s, 10m, 2h, 1d or 1w, or an ISO time like "
                          f"2026-11-27T13:00:00; got {since!r}", 2) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def request_line(message: str) -> dict | None:
    text = message.strip()
    if not (text.startswith("{") and '"_aws"' in text):
        return None
    try:
        line = json.loads(text)
    except ValueError:
        return None
    return line if isinstance(line, dict) and line.get("message") == "request" and "_aws" in line else None


def summary(event: Event) -> str:
    """One line: time, then the request summary (id, path, status, timings, cold start) or the line as written."""
    line = event.request
    if line is None:
        return f"{iso(event.timestamp_ms)} {event.message.rstrip()}"
    parts = [str(line.get("request_id", "-")), str(line.get("path", "-")), str(line.get("status", "-"))]
    parts += [f"{name}={line[name]:g}" for name in METRIC_NAMES if isinstance(line.get(name), (int, float))]
    if line.get("cold_start"):
        parts.append("cold start")
    return f"{iso(event.timestamp_ms)} {' '.join(parts)}"


def logs_client(record: dict):
    try:
        import boto3
    except ImportError:
        raise DeployError("infer logs needs boto3: pip install 'infer[deploy]'", 2) from None
    return boto3.Session(profile_name=record.get("profile"), region_name=record.get("region")).client("logs")


def log_group_of(name: str) -> tuple[str, dict]:
    record = state.lookup(name)
    if record is None:
        known = ", ".join(sorted(state.load_all())) or "none"
        raise DeployError(f"no function named {name!r} was deployed from here (saved: {known}; see infer list)", 2)
    if not record.get("log_group"):
        raise DeployError(f"{name} was deployed (stack {record.get('stack')}) but no log group was recorded; "
                          "deploy it again", 2)
    return record["log_group"], record


def fetch(client, group: str, start_ms: int, pattern: str | None) -> list[Event]:
    """Every event from `start_ms` on (all pages), oldest first."""
    from botocore.exceptions import BotoCoreError, ClientError

    args: dict = {"logGroupName": group, "startTime": start_ms}
    if pattern:
        args["filterPattern"] = pattern
    events = []
    try:
        while True:
            page = client.filter_log_events(**args)
            events += [Event(e["timestamp"], e.get("logStreamName", ""), e.get("message", ""), e.get("eventId", ""))
                       for e in page.get("events", [])]
            if not page.get("nextToken") or page["nextToken"] == args.get("nextToken"):
                break
            args["nextToken"] = page["nextToken"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise DeployError(f"log group {group} does not exist (yet: Lambda creates streams on the first "
                              "request; or the stack was deleted)") from None
        raise DeployError(f"cannot read log group {group}: {exc}") from None
    except BotoCoreError as exc:
        raise DeployError(f"cannot read log group {group}: {exc}") from None
    return sorted(events, key=lambda e: (e.timestamp_ms, e.event_id))


def follow(client, group: str, start_ms: int, pattern: str | None, sleep: Callable[[float], None] = time.sleep,
           poll_s: float = POLL_S) -> Iterator[Event]:
    """Events as they arrive, each once, until the caller stops iterating (or Ctrl-C)."""
    seen: set[str] = set()
    while True:
        fresh = [e for e in fetch(client, group, start_ms, pattern) if e.event_id not in seen]
        yield from fresh
        if fresh:
            start_ms = max(e.timestamp_ms for e in fresh)  # events at that instant may still be arriving
            seen = {e.event_id for e in fresh if e.timestamp_ms == start_ms} | {
                i for i in seen if i}  # only events at start_ms or later come back; ids are unique
        sleep(poll_s)
