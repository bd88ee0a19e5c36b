"""Schemathesis against a running `infer serve`: no 5xx and no response outside the schema, for the OpenAPI
document infer publishes and for an Open Inference Protocol description this project did not write.

MLServer's dataplane spec (OIP REST, Apache 2.0, Seldon Technologies) is read from the mlserver 1.7.1
wheel on PyPI, downloaded once into ~/.cache/infer-tests (never installed, never committed), with one
patch: `TensorData` is `oneOf: [array, {"type": "bytes"}]`, and `bytes` is no JSON Schema type, so it
becomes `string`. Only the operations infer serves are run.

The upstream OIP REST spec (kserve/open-inference-protocol, specification/protocol/open_inference_rest.yaml)
ships in no package on PyPI or npm that we found, and third-party text is not committed here, so it is not
part of this suite. To run it by hand against a server, with its `${MODEL_NAME}`-style path parameters
written `{MODEL_NAME}`: `schemathesis --config-file tests/fixtures/schemathesis.toml run open_inference_rest.yaml
--url http://127.0.0.1:PORT --checks all --exclude-checks positive_data_acceptance`.

`positive_data_acceptance` is left out of every run: a generic schema cannot say which tensors fit the
served model, so schema-valid requests are rightly refused with 400.
"""

import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from helpers import ROOT

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
CONFIG = ROOT / "tests/fixtures/schemathesis.toml"
CACHE = Path.home() / ".cache" / "infer-tests"
MLSERVER = ("mlserver", "1.7.1")
MLSERVER_SPEC = "mlserver/rest/openapi/dataplane.json"
# Every operation of MLServer's spec that infer serves. Left out: infer_stream, generate and
# generate_stream (with and without a version), MLServer's extensions for streaming and LLMs.
MLSERVER_OPERATIONS = (
    "server-live", "server-ready", "server-metadata", "model-ready", "model-version-ready",
    "model-metadata", "model-version-metadata", "model-inference", "model-version-inference",
)


def run_schemathesis(location: str, *args: str) -> subprocess.CompletedProcess:
    """A bounded run: 50 examples per operation, a fixed seed, one worker, 10 s per request, 150 s in all."""
    return subprocess.run(
        [SCHEMATHESIS, "--config-file", str(CONFIG), "run", location, "--checks", "all",
         "--exclude-checks", "positive_data_acceptance", "--max-examples", "50", "--workers", "1", "--seed", "1",
         "--request-timeout", "10", "--no-color", *args],
        capture_output=True, text=True, timeout=150, cwd=ROOT,
    )


def assert_clean(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    summary = result.stdout.split("SUMMARY")[-1]
    assert "passed" in result.stdout and "failed" not in summary and "Failures:" not in summary, summary


def test_own_document_finds_no_server_error_or_schema_violation(iris_server):
    """benchmarks/README.md records a longer run."""
    assert_clean(run_schemathesis(f"{iris_server.url}/openapi.json"))


def mlserver_wheel() -> Path:
    """The mlserver wheel from PyPI, downloaded into the cache the first time (without its dependencies)."""
    name, version = MLSERVER
    cached = sorted(CACHE.glob(f"{name}-{version}-*.whl"))
    if cached:
        return cached[0]
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as download:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", f"{name}=={version}", "--no-deps", "--only-binary", ":all:",
             "--dest", download, "--quiet"],
            capture_output=True, text=True, timeout=300,
        )
        wheels = sorted(Path(download).glob(f"{name}-{version}-*.whl"))
        assert result.returncode == 0 and wheels, f"pip download {name}=={version} failed: {result.stderr[-2000:]}"
        return wheels[0].replace(CACHE / wheels[0].name)  # in place only once complete


def mlserver_dataplane(directory: Path) -> Path:
    """MLServer's dataplane spec from its wheel, with `bytes` (no JSON Schema type) patched to `string`."""
    with zipfile.ZipFile(mlserver_wheel()) as wheel:
        spec = json.loads(wheel.read(MLSERVER_SPEC))
    variants = spec["components"]["schemas"]["TensorData"]["oneOf"]
    assert {"type": "bytes"} in variants, "MLServer's spec changed: is the `bytes` patch still needed?"
    variants[variants.index({"type": "bytes"})] = {"type": "string"}
    operations = {op.get("operationId") for item in spec["paths"].values() for op in item.values() if isinstance(op, dict)}
    assert set(MLSERVER_OPERATIONS) <= operations, f"MLServer's spec has no {set(MLSERVER_OPERATIONS) - operations}"
    path = directory / "mlserver-dataplane.json"
    path.write_text(json.dumps(spec))
    return path


def test_mlserver_dataplane_spec_finds_no_server_error_or_schema_violation(iris_server, tmp_path):
    """The spec that found finding 10 (a JSON object as an input's name was a 500)."""
    selected = [arg for operation in MLSERVER_OPERATIONS for arg in ("--include-operation-id", operation)]
    result = run_schemathesis(str(mlserver_dataplane(tmp_path)), "--url", iris_server.url, *selected)
    assert_clean(result)
    assert f"{len(MLSERVER_OPERATIONS)} selected" in result.stdout, result.stdout[:2000]
