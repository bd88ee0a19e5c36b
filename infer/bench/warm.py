"""Time HTTP requests against a running function URL, on one keep-alive connection or a new one each time."""

import http.client
import json
import time
from urllib.parse import urlsplit

from .report import median, percentile


def time_requests(url: str, path: str, body=None, count: int = 100, keep_alive: bool = True,
                  method: str = "POST") -> list[float]:
    """Client-observed milliseconds for `count` requests; any non-2xx answer raises."""
    parts = urlsplit(url)
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"} if payload is not None else {}
    samples = []
    conn = None
    try:
        for _ in range(count):
            start = time.perf_counter()
            if conn is None:
                conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
            samples.append((time.perf_counter() - start) * 1000.0)
            if response.status >= 300:
                raise RuntimeError(f"{method} {path} answered {response.status}: {data[:200]!r}")
            if not keep_alive:
                conn.close()
                conn = None
    finally:
        if conn is not None:
            conn.close()
    return samples


def summary(samples_ms: list[float]) -> dict:
    """Median and tail percentiles, in milliseconds."""
    return {"n": len(samples_ms), "p50_ms": median(samples_ms), "p90_ms": percentile(samples_ms, 90),
            "p99_ms": percentile(samples_ms, 99), "min_ms": min(samples_ms), "max_ms": max(samples_ms)}
