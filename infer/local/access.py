"""Who may call the emulated Lambda API, which can change the function's configuration.

It listens on 127.0.0.1 only. Of what can reach that address, it answers:
- processes of the user who runs `infer serve`: the client's socket is looked up in the kernel (peer.py)
  and must belong to the same uid; other users' processes get 403. A secret would protect no better:
  whatever infer serve printed or wrote for its user, every process of that user could read.
- requests whose Host is this server (127.0.0.1 or localhost, with its port), so that a web page whose
  own name resolves to 127.0.0.1 (DNS rebinding) is refused;
- requests without an Origin header and with a SigV4 Authorization header, as every AWS SDK sends: a web
  page cannot send a cross-origin request with an Authorization header without a CORS preflight, which
  this server never grants. The signature itself is checked only with `--auth iam`; otherwise any
  credentials do, as with other local AWS emulators.
"""

import socket

from .peer import peer_socket

LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def host_problem(host: str | None, port: int) -> str | None:
    """Why a Host header does not name this server (a loopback name, and its port if one is given), or None."""
    if not host:
        return "the request has no Host header"
    name, _, given_port = host.strip().lower().partition(":")
    if name not in LOOPBACK_NAMES or (given_port and given_port != str(port)):
        return (f"Host {host[:60]!r} is not this server; call it as 127.0.0.1:{port} or localhost:{port} "
                "(requests for other names are refused, as a web page could send them)")
    return None


def caller_problem(connection: socket.socket, owner_uid: int) -> str | None:
    """Why the process at the other end of `connection` may not call, or None: it must be `owner_uid`'s."""
    found = peer_socket(connection)
    if found is None:
        return "the calling process could not be identified (the Lambda API answers local processes only)"
    if found.uid != owner_uid:
        return f"the calling process belongs to uid {found.uid}; only the user who runs infer serve (uid {owner_uid}) may call"
    return None


def request_problem(headers, signature_checked: bool) -> str | None:
    """Why a request looks like one from a web page rather than an AWS SDK, or None."""
    if headers.get("Origin"):
        return f"requests from web pages (Origin {headers['Origin'][:60]!r}) are refused"
    if not signature_checked and not (headers.get("Authorization") or "").startswith("AWS4-HMAC-SHA256 "):
        return ("the request is not signed; sign it with SigV4 as AWS SDKs do (boto3 with endpoint_url and "
                "any credentials)")
    return None
