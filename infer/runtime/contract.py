"""The contract between infer's parts: what the runtime expects of its environment, and Lambda's limits.

Standard library only. The runtime imports it (it is staged into every image and zip with the rest of
`infer/runtime/`), and so do packaging, deploy, the CDK app, the emulator and the benchmarks: each
fact below has this one definition.
"""

import os
import re

# The Lambda handler every route runs: the image's CMD, the zip function's Handler, the emulator's _HANDLER.
HANDLER = "infer.runtime.handler.handler"

# Variables the runtime reads.
MODEL_PATH = "INFER_MODEL_PATH"  # the model file (default: DEFAULT_MODEL_PATH in the task root)
MODEL_NAME = "INFER_MODEL_NAME"  # the name in URLs (default: model_name())
LOAD_STRATEGY = "INFER_LOAD_STRATEGY"  # one of STRATEGIES
VERIFY_SHA256 = "INFER_VERIFY_SHA256"  # on|off: check the manifest's digests before loading
THREADS = "INFER_THREADS"  # a positive integer: ONNX Runtime's intra-op threads
GRAPH_OPTIMIZATION = "INFER_GRAPH_OPTIMIZATION"  # one of GRAPH_OPTIMIZATION_LEVELS, for .onnx files
METRICS = "INFER_METRICS"  # on|off: the EMF line per request
PREPACK = "INFER_PREPACK"  # one of PREPACK_MODES: when an .ort model gets its prepacked (fast warm) session
OUTPUT = "INFER_OUTPUT"  # where SQS and S3 results go: s3://bucket/prefix/ or an SQS queue URL (see output_target)

DEFAULT_MODEL_PATH = "model/model.onnx"  # relative to LAMBDA_TASK_ROOT

# How the model loads: the first request that needs it, a thread during init, or init itself.
STRATEGIES = ("lazy", "prefetch", "eager")
DEFAULT_STRATEGY = "lazy"
# What is loaded: the ONNX file, or ONNX Runtime's own format opened memory-mapped.
ARTIFACTS = ("onnx", "ort")
GRAPH_OPTIMIZATION_LEVELS = ("disabled", "basic", "extended", "all")
# An .ort model opens memory-mapped without weight prepacking (fast cold start, slower warm MatMuls); its prepacked
# session is built on a low-priority thread after the first inference and swapped in (background), during the load
# itself (init: slower first load, full warm speed at once), or never (off). Ignored for .onnx files.
PREPACK_MODES = ("background", "init", "off")
DEFAULT_PREPACK = "background"
SWITCH_OFF = ("off", "0", "false")
SWITCH_ON = ("on", "1", "true")

# Weights kept beside the model (`model.onnx` -> `model.onnx.data`), referred to by file name.
SIDECAR_SUFFIX = ".data"

# Lambda's platforms: instruction set architectures (with their OCI platform) and Python runtimes.
ARCHITECTURES = ("arm64", "x86_64")
DEFAULT_ARCH = "arm64"  # Graviton: about 20% cheaper per GB-second
OCI_PLATFORMS = {"arm64": "linux/arm64", "x86_64": "linux/amd64"}
PYTHON_VERSIONS = ("3.11", "3.12", "3.13", "3.14")
DEFAULT_PYTHON = "3.12"
SNAPSTART_PYTHON_VERSIONS = ("3.12", "3.13", "3.14")
# The glibc of each managed Python runtime's OS (python3.11: Amazon Linux 2; 3.12 and newer: Amazon Linux 2023):
# the newest manylinux wheels a zip package may hold.
RUNTIME_GLIBC = {"3.11": (2, 26), "3.12": (2, 34), "3.13": (2, 34), "3.14": (2, 34)}

# Lambda's limits.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # function URL and synchronous invoke, request and response
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10240
MB_PER_VCPU = 1769  # one vCPU per 1769 MB of memory
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 1, 900
INIT_LIMIT_S = 10.0  # the init phase of an on-demand environment
MIN_EPHEMERAL_STORAGE_MB, MAX_EPHEMERAL_STORAGE_MB = 512, 10240
MAX_ENVIRONMENT_BYTES = 4 * 1024  # a function's variables, names and values, all together
# An S3 object the runtime predicts on is read whole into memory, and a JSON request takes several times its
# size while it is parsed (Python objects for every number): 64 MB stays within a 1 GB function. Checked from
# the event's size (or HeadObject) before the object is read.
MAX_OBJECT_BYTES = 64 * 1024 * 1024

# Variables Lambda sets itself and refuses in a function's configuration.
LAMBDA_RESERVED_VARIABLES = frozenset({"_HANDLER", "_X_AMZN_TRACE_ID", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ"})
LAMBDA_RESERVED_PREFIXES = ("AWS_",)
# What a caller of the emulator's Lambda API may set. Lambda isolates each environment in a microVM; the
# emulator's environments are plain processes on the host, where a variable can make Python, the C
# library, OpenSSL, libcurl or ONNX Runtime load or run something else (PYTHON*, LD_*, OPENSSL_CONF,
# http_proxy, ...) and no list of such names is complete. The function is infer's runtime, which reads
# only INFER_* variables: those are allowed (their values checked, INFER_* names it does not read pass
# as inert markers), except the model's path, which would change what is loaded. An allowlist.
HOST_SETTABLE_PREFIX = "INFER_"
HOST_FIXED_VARIABLES = frozenset({MODEL_PATH})


def memory_problem(memory_mb) -> str | None:
    """Why `memory_mb` is not a memory size Lambda accepts, or None."""
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) \
            or not MIN_MEMORY_MB <= memory_mb <= MAX_MEMORY_MB:
        return f"must be a whole number of MB from {MIN_MEMORY_MB} to {MAX_MEMORY_MB}, as on Lambda; got {memory_mb!r}"
    return None


def timeout_problem(timeout_s) -> str | None:
    """Why `timeout_s` is not a timeout Lambda accepts, or None."""
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) \
            or not MIN_TIMEOUT_S <= timeout_s <= MAX_TIMEOUT_S:
        return f"must be from {MIN_TIMEOUT_S} to {MAX_TIMEOUT_S} seconds, as on Lambda; got {timeout_s!r}"
    return None


def _is_variable_name(name: str) -> bool:
    return bool(name) and name.isascii() and name[0].isalpha() and name.replace("_", "a").isalnum()


def setting_problem(name: str, value: str) -> str | None:
    """Why `value` is not valid for the INFER_* variable `name` (None: valid, or not one of ours)."""
    allowed = {
        LOAD_STRATEGY: STRATEGIES,
        GRAPH_OPTIMIZATION: GRAPH_OPTIMIZATION_LEVELS,
        VERIFY_SHA256: SWITCH_ON + SWITCH_OFF,
        METRICS: SWITCH_ON + SWITCH_OFF,
        PREPACK: PREPACK_MODES,
    }.get(name)
    if allowed is not None and value.strip().lower() not in allowed:
        return f"{name} must be one of {', '.join(allowed)}; got {value!r}"
    if name == THREADS and not (value.isdigit() and int(value) > 0):
        return f"{name} must be a positive whole number; got {value!r}"
    if name == OUTPUT and value.strip():
        try:
            output_target(value)
        except ValueError as exc:
            return str(exc)
    return None


_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
_QUEUE_NAME = r"[A-Za-z0-9_-]{1,80}(\.fifo)?"
_SQS_HOST = r"sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?|([a-z0-9-]+)\.queue\.amazonaws\.com(\.cn)?"


def output_target(value: str) -> tuple[str, str, str]:
    """What INFER_OUTPUT names: ("s3", bucket, key prefix) or ("sqs", queue URL, region or "").

    `s3://bucket/prefix/`: results are written as `<prefix><id>.json`; a prefix that does not end in "/"
    gets one (it names a folder); `s3://bucket` alone writes at the bucket's top. An SQS queue URL:
    `https://sqs.<region>.amazonaws.com/<account>/<queue>` (the region is read from it), or a local
    endpoint's `http(s)://host:port/<account>/<queue>` (the region is AWS_REGION's). Raises ValueError
    with a one-line reason otherwise."""
    from urllib.parse import urlsplit

    text = value.strip()
    hint = f"{OUTPUT} must be s3://bucket/prefix/ or an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<queue>)"
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://"):].partition("/")
        if not re.fullmatch(_BUCKET, bucket) or ".." in bucket:
            raise ValueError(f"{hint}; {bucket!r} is not an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        if len(prefix.encode()) > 900:
            raise ValueError(f"{hint}; the prefix is longer than 900 bytes (S3 keys take at most 1024)")
        return "s3", bucket, prefix
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        raise ValueError(f"{hint}; got {value[:80]!r}") from None
    segments = parts.path.strip("/").split("/")
    if parts.scheme not in ("https", "http") or not parts.hostname or len(segments) != 2 or parts.query \
            or not segments[0] or not re.fullmatch(_QUEUE_NAME, segments[1]):
        raise ValueError(f"{hint}; got {value[:80]!r}")
    host = parts.hostname.lower()
    if host.endswith(".amazonaws.com") or host.endswith(".amazonaws.com.cn"):
        match = re.fullmatch(_SQS_HOST, host)
        if parts.scheme != "https" or not match:
            raise ValueError(f"{hint}; {host} is not an SQS endpoint")
        return "sqs", text, match.group(1) or match.group(3)
    return "sqs", text, ""


def variable_problem(name: str, value: str, host_process: bool = False) -> str | None:
    """Why the function's configuration may not set `name=value`, or None.

    Always: a name Lambda accepts (a letter, then letters, digits and _), not one Lambda reserves, a value
    on one line, and a valid value for infer's own variables. With `host_process` (the emulator's processes
    on this machine): only INFER_* names, and not the model's path.
    """
    if name in LAMBDA_RESERVED_VARIABLES or name.startswith(LAMBDA_RESERVED_PREFIXES):
        return f"environment variable {name} is reserved by Lambda (AWS_*, LAMBDA_TASK_ROOT, _HANDLER, TZ, ...)"
    if not _is_variable_name(name):
        return f"environment variable name {name!r} is not valid (a letter, then letters, digits and _)"
    if host_process and (not name.startswith(HOST_SETTABLE_PREFIX) or name in HOST_FIXED_VARIABLES):
        return (f"environment variable {name} may not be set here: the emulator's environments are processes on "
                f"this machine, so only infer's own {HOST_SETTABLE_PREFIX}* settings can change (other than "
                f"{', '.join(sorted(HOST_FIXED_VARIABLES))}); anything else could change what those processes load or run")
    if "\n" in value or "\r" in value or "\0" in value:
        return f"environment variable {name} has a line break or NUL in its value"
    return setting_problem(name, value)


def check_variables(variables: dict, host_process: bool = False) -> None:
    """Raise ValueError naming the first variable the function's configuration may not set."""
    for name, value in variables.items():
        problem = variable_problem(name, value, host_process)
        if problem:
            raise ValueError(problem)


def environment_size_problem(variables: dict) -> str | None:
    """Why a function's variables are too large for Lambda all together, or None."""
    size_bytes = sum(len(str(name).encode()) + len(str(value).encode()) for name, value in variables.items())
    if size_bytes > MAX_ENVIRONMENT_BYTES:
        return f"the environment variables take {size_bytes} bytes; Lambda allows {MAX_ENVIRONMENT_BYTES} in all"
    return None


def sidecar_path(model_path: str) -> str:
    """The weights sidecar of a model file (which may not exist)."""
    return str(model_path) + SIDECAR_SUFFIX


def model_name(model_path: str, manifest_name=None, name: str | None = None) -> str:
    """The name a model is served under: `name` if given, else its manifest's, else the file's stem."""
    if name:
        return name
    if isinstance(manifest_name, str) and manifest_name:
        return manifest_name
    return os.path.splitext(os.path.basename(str(model_path)))[0]

