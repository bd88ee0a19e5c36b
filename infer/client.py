"""The prediction client behind `infer predict`: builds the request body, posts it, returns the JSON answer."""

import http.client
import json
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit


class ClientError(Exception):
    """A failure to report to the user in one line."""


def load_payload(data: str | None = None, input_file: str | Path | None = None):
    """The request body from `--data` JSON or an `--input` .json/.npy file; a bare array becomes instances."""
    if (data is None) == (input_file is None):
        raise ClientError("give exactly one of --data '<json>' or --input FILE (.json or .npy)")
    if data is not None:
        try:
            payload = json.loads(data)
        except ValueError as exc:
            raise ClientError(f"--data is not valid JSON: {exc}") from None
    else:
        path = Path(input_file)
        if not path.is_file():
            raise ClientError(f"input file not found: {path}")
        if path.suffix == ".npy":
            import numpy as np

            try:
                array = np.load(path, allow_pickle=False)
            except (ValueError, EOFError, OSError) as exc:
                raise ClientError(f"cannot read {path} as a .npy array: {exc or 'the file is empty'}") from None
            if array.dtype.kind not in "biufUS":
                raise ClientError(f"{path} holds {array.dtype} values, which JSON cannot carry; "
                                  "save booleans, integers, floats or strings")
            payload = array.tolist()
        elif path.suffix == ".json":
            try:
                payload = json.loads(path.read_text())
            except ValueError as exc:
                raise ClientError(f"{path} is not valid JSON: {exc}") from None
        else:
            raise ClientError(f"--input must be a .json or .npy file, not {path.name}")
    if isinstance(payload, list):
        payload = {"instances": payload}
    return payload


def predict_url(url: str) -> str:
    """A bare function URL means its `/predict` endpoint; a URL with a path is used as given."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ClientError(f"not an http(s) URL: {url!r} (e.g. http://127.0.0.1:8080)")
    if parts.path in ("", "/"):
        return url.rstrip("/") + "/predict"
    return url


def post_json(url: str, payload, timeout_s: float = 60.0) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise ClientError(f"HTTP {exc.code}: {_error_text(exc.read())}") from None
    except urllib.error.URLError as exc:
        raise ClientError(f"cannot reach {url}: {exc.reason} (is `infer serve` running?)") from None
    except TimeoutError:
        raise ClientError(f"no answer from {url} within {timeout_s:g} seconds") from None
    except (OSError, http.client.HTTPException) as exc:
        raise ClientError(f"the connection to {url} failed: {exc or type(exc).__name__}") from None
    try:
        return json.loads(body)
    except ValueError:
        raise ClientError(f"the server answered with something that is not JSON: {body[:200]!r}") from None


def _error_text(body: bytes) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")[:500] or "(empty body)"
    if isinstance(parsed, dict):
        return str(parsed.get("error") or parsed.get("Message") or parsed.get("message") or parsed)
    return str(parsed)
