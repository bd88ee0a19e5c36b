"""The prediction client behind `infer predict`: builds the request body, posts it, returns the JSON answer."""

import http.client
import json
import os
import re
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
        path = Path(input_file or "")
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
            raise ClientError(f"{path.name}: a request file must be .json or .npy")
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


FUNCTION_URL_HOST = re.compile(r"^[a-z0-9]+\.lambda-url\.([a-z0-9-]+)\.on\.aws$")
AUTH_MODES = ("auto", "iam", "none")


def resolve(target: str, auth: str = "auto", region: str | None = None,
            profile: str | None = None) -> tuple[str, bool, str, str | None]:
    """(url, sign, region, profile) for a URL or the name of a function `infer deploy` saved (whose
    region and profile are the defaults then).

    `auto` signs for a saved function deployed with AWS_IAM and for a *.lambda-url.REGION.on.aws URL;
    `iam` always signs (e.g. `infer serve --auth iam`); `none` never does."""
    if auth not in AUTH_MODES:
        raise ClientError(f"--auth must be one of {', '.join(AUTH_MODES)}, not {auth!r}")
    saved_auth = None
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", target):  # a name, not a URL
        from infer.deploy import state

        record = state.lookup(target)
        if record is None:
            known = ", ".join(sorted(state.load_all())) or "none yet"
            raise ClientError(f"{target!r} is neither an http(s) URL nor a function deployed from here "
                              f"(saved: {known}; see infer deploy)")
        if record.get("function_url") is False:
            raise ClientError(f"{target} was deployed with --no-url and has no function URL; send work to its queue or "
                              f"bucket (infer deploy --json shows them), or invoke it: infer bench --function "
                              f"{record.get('function_name') or target}")
        if not record.get("url"):
            raise ClientError(f"{target} was deployed (stack {record.get('stack')}) but no function URL was recorded for it; "
                              "deploy it again, or give its URL")
        target, saved_auth, region = record["url"], record.get("auth"), region or record.get("region")
        profile = profile or record.get("profile")
    host = (urlsplit(target).hostname or "").lower()
    match = FUNCTION_URL_HOST.match(host)
    region = region or (match.group(1) if match else None) or os.environ.get("AWS_REGION") \
        or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    if auth == "auto":
        sign = saved_auth == "AWS_IAM" if saved_auth else bool(match)
    else:
        sign = auth == "iam"
    return target, sign, region, profile


def sigv4_signer(region: str, profile: str | None = None):
    """Sign requests for service `lambda` with botocore and the standard credential chain."""
    try:
        import botocore.session
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.exceptions import BotoCoreError
    except ImportError:
        raise ClientError("signing requests needs botocore: pip install 'infer[deploy]'") from None
    try:
        credentials = botocore.session.Session(profile=profile).get_credentials()
    except BotoCoreError as exc:
        raise ClientError(f"cannot read AWS credentials: {exc}") from None
    if credentials is None:
        raise ClientError("this function URL uses AWS_IAM auth and no AWS credentials were found: set "
                          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run `aws configure` "
                          "(or pass --auth none for a public URL)")
    frozen = credentials.get_frozen_credentials()

    def sign(method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(frozen, "lambda", region).add_auth(request)
        return dict(request.headers.items())

    return sign


def post_json(url: str, payload, timeout_s: float = 60.0, signer=None) -> dict:
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json"}
    if signer is not None:
        headers = signer("POST", url, headers, body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
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
