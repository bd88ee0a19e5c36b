"""Checking AWS Signature Version 4 on incoming requests, as a function URL with AWS_IAM auth does.

Written from the SigV4 specification, apart from botocore (which signs in `infer predict`), so the two
check each other. The canonical request is made from the request target exactly as it arrived, query
string included, which is also what the servers route: a signature is good for that target only.
`infer serve --auth iam` accepts requests signed with the credentials it was started with (the caller
and the function's owner are the same account here), for service `lambda` in the emulator's region,
dated within five minutes.
"""

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_S = 300
_AUTH = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})\s*$")


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret_key).encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def canonical_query(query: str) -> str:
    """Each name and value percent-decoded, then encoded as SigV4 wants (all but A-Z a-z 0-9 - _ . ~), sorted."""
    pairs = []
    for pair in query.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def canonical_request(method: str, target: str, headers: dict[str, str], signed: list[str], payload_hash: str) -> str:
    """The canonical request of a request whose target (path and query, exactly as sent) is `target`."""
    path, _, query = target.partition("?")
    header_lines = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed)
    return "\n".join([method, quote(path, safe="/~"), canonical_query(query), header_lines, ";".join(signed),
                       payload_hash])


class SigV4Verifier:
    """An authorizer for the function URL front end: None to let a request through, else why not."""

    def __init__(self, credentials: Credentials, region: str, service: str = "lambda", clock=time.time):
        self.credentials = credentials
        self.region = region
        self.service = service
        self.clock = clock

    def __call__(self, method: str, target: str, header_items: list[tuple[str, str]], body: bytes) -> str | None:
        """Check a request whose target is `target` as it was sent (path and query): the one that is routed."""
        if not target.startswith("/") or "#" in target:
            return "the request target must be a path (and query), as it was signed"
        headers: dict[str, str] = {}
        for name, value in header_items:
            name = name.lower()
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        authorization = headers.get("authorization")
        if not authorization:
            return "the request is not signed; a function URL with AWS_IAM auth needs SigV4 (infer predict signs)"
        match = _AUTH.match(authorization)
        if not match:
            return f"the Authorization header is not {ALGORITHM} Credential=..., SignedHeaders=..., Signature=..."
        credential, signed_text, signature = match.groups()
        scope = credential.split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            return "the credential scope is not ACCESS_KEY/DATE/REGION/SERVICE/aws4_request"
        access_key, date, region, service, _ = scope
        if access_key != self.credentials.access_key:
            return f"access key {access_key} is not allowed to invoke this function"
        if service != self.service or region != self.region:
            return f"the request is signed for {service} in {region}; this function URL wants {self.service} in {self.region}"
        signed = signed_text.split(";")
        if "host" not in signed or "x-amz-date" not in signed:
            return "the signature must cover the host and x-amz-date headers"
        if signed != sorted(signed) or any(name not in headers for name in signed):
            return "SignedHeaders must list, in order, headers that the request carries"
        amz_date = headers.get("x-amz-date", "")
        try:
            stamp = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            return f"x-amz-date {amz_date!r} is not YYYYMMDDTHHMMSSZ"
        if not amz_date.startswith(date):
            return "the credential scope's date is not the date of x-amz-date"
        if abs(self.clock() - stamp) > MAX_SKEW_S:
            return "the signature has expired or is dated in the future (more than 5 minutes from now)"
        token = headers.get("x-amz-security-token")
        if token != self.credentials.token or (token is not None and "x-amz-security-token" not in signed):
            return "the security token is missing, wrong or not signed"
        payload_hash = hashlib.sha256(body).hexdigest()
        claimed = headers.get("x-amz-content-sha256")
        if claimed not in (None, "UNSIGNED-PAYLOAD", payload_hash):
            return "x-amz-content-sha256 does not match the body"
        request = canonical_request(method, target, headers, signed, claimed or payload_hash)
        to_sign = "\n".join([ALGORITHM, amz_date, f"{date}/{region}/{service}/aws4_request",
                             hashlib.sha256(request.encode()).hexdigest()])
        key = signing_key(self.credentials.secret_key, date, region, service)
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return "the signature does not match the request (wrong secret key, or the request changed after signing)"
        return None


def standard_credentials(profile: str | None = None) -> Credentials | None:
    """The credentials botocore's standard chain finds (environment, profile, ...), or None."""
    import botocore.session

    found = botocore.session.Session(profile=profile).get_credentials()
    if found is None:
        return None
    frozen = found.get_frozen_credentials()
    return Credentials(frozen.access_key, frozen.secret_key, frozen.token)
