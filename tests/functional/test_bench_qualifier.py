"""`infer bench --function NAME --qualifier Q`: REPORT lines as AWS writes them (SnapStart's Restore Duration),
and a published version measured through `infer serve`'s emulated Lambda API."""

import json
import os
import re
import subprocess

import boto3
import botocore.exceptions
import pytest

from helpers import INFER, MODELS, ROOT, ServeProcess
from infer.bench.aws import parse_report

# Real REPORT lines: a SnapStart restore (tab-separated, Restore before Billed Restore, the trailing tab
# included), an on-demand cold start with Init Duration, and a warm invoke.
RESTORE = ("REPORT RequestId: b771fecc-1b53-4faf-922d-1d74357b1676\tDuration: 306.34 ms\tBilled Duration: 610 ms\t"
           "Memory Size: 3009 MB\tMax Memory Used: 155 MB\tRestore Duration: 511.25 ms\tBilled Restore Duration: 303 ms\t")
INIT = ("REPORT RequestId: 8f5c2a6e-3d4b-4f1e-9a7c-2b1d0e9f8a7b\tDuration: 12.61 ms\tBilled Duration: 13 ms\t"
        "Memory Size: 2048 MB\tMax Memory Used: 118 MB\tInit Duration: 702.40 ms\t")
WARM = ("REPORT RequestId: 0e5c8424-1111-2222-3333-444455556666\tDuration: 1.93 ms\tBilled Duration: 2 ms\t"
        "Memory Size: 2048 MB\tMax Memory Used: 119 MB\t")
IRIS = {"instances": [[5.1, 3.5, 1.4, 0.2]]}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def run_infer(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([INFER, *args], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, **(env or {})})


def test_restore_report_fields():
    tail = "START RequestId: b771fecc Version: 56\nEND RequestId: b771fecc\n" + RESTORE + "\n"
    report = parse_report(tail)
    assert report["restore_ms"] == 511.25 and report["billed_restore_ms"] == 303.0
    assert report["duration_ms"] == 306.34 and report["billed_ms"] == 610.0 and report["init_ms"] is None
    assert report["memory_mb"] == 3009 and report["max_memory_mb"] == 155


def test_restore_fields_in_either_order_and_with_spaces():
    swapped = RESTORE.replace("Restore Duration: 511.25 ms\tBilled Restore Duration: 303 ms",
                              "Billed Restore Duration: 303 ms\tRestore Duration: 511.25 ms").replace("\t", " ")
    report = parse_report(swapped)
    assert report["restore_ms"] == 511.25 and report["billed_restore_ms"] == 303.0 and report["billed_ms"] == 610.0


def test_init_and_warm_reports_have_no_restore():
    init, warm = parse_report(INIT), parse_report(WARM)
    assert init["init_ms"] == 702.4 and init["restore_ms"] is None and "billed_restore_ms" not in init
    assert warm["init_ms"] is None and warm["restore_ms"] is None and warm["duration_ms"] == 1.93


@pytest.fixture(scope="module")
def api():
    server = ServeProcess(str(MODELS / "iris.onnx"), "--lambda-api-port", "0")
    url = re.search(r"Lambda API .*(http://127\.0\.0\.1:\d+)", "".join(server.banner)).group(1)
    yield server, url
    server.stop()


def test_bench_of_a_published_version(api, tmp_path):
    server, url = api
    client = boto3.client("lambda", region_name="us-east-1", endpoint_url=url, aws_access_key_id="test",
                          aws_secret_access_key="test")
    version = client.publish_version(FunctionName="iris")["Version"]
    before = client.get_function_configuration(FunctionName="iris")
    out = tmp_path / "qualified.json"
    result = run_infer("bench", "--function", "iris", "--qualifier", version, "--endpoint-url", url,
                       "--region", "us-east-1", "--cold", "2", "--warm", "3", "--data", json.dumps(IRIS),
                       "--json", str(out), env=CREDENTIALS)
    assert result.returncode == 0, result.stderr
    assert f"iris:{version}: medians in ms" in result.stdout and "billed rst" in result.stdout
    document = json.loads(out.read_text())
    assert document["config"]["qualifier"] == version and document["config"]["version"] == version
    (row,) = document["results"]
    assert row["not_cold"] == 0 and len(row["cold_ms"]) == 2 and len(row["init_ms"]) == 2, "both clones were cold"
    assert row["restore_ms"] == [], "no SnapStart in the emulator: Init Duration, no restore"
    assert len(row["warm_ms"]) == 3 and len(row["clones"]) == 2 and version not in row["clones"]
    for clone in row["clones"]:  # the clones are deleted, $LATEST is as it was, the version is still there
        with pytest.raises(botocore.exceptions.ClientError, match="ResourceNotFoundException"):
            client.get_function_configuration(FunctionName="iris", Qualifier=clone)
    after = client.get_function_configuration(FunctionName="iris")
    assert after["Environment"] == before["Environment"] and after["MemorySize"] == before["MemorySize"]
    assert client.get_function_configuration(FunctionName="iris", Qualifier=version)["Version"] == version
    assert row["warm_versions"] == [version], "the warm invokes ran on the qualified version itself"


def test_qualifier_refusals(api):
    _, url = api
    for args, message in [
        (["--qualifier", "1"], "--qualifier needs --function"),
        (["--function", "iris", "--qualifier", "1", "--memory", "1024"], "--memory does not apply with --qualifier 1"),
        (["--function", "iris", "--qualifier", "99", "--endpoint-url", url, "--region", "us-east-1"],
         "Function not found"),
    ]:
        result = run_infer("bench", *args, "--data", json.dumps(IRIS), env=CREDENTIALS)
        assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr, (
            args, result.stderr)


def test_aliases_and_bench_of_an_alias(api, tmp_path):
    """The `live` alias infer deploy puts the URL on: created, read, resolved by invokes and by the bench,
    and a version an alias points at cannot be deleted."""
    _, url = api
    client = boto3.client("lambda", region_name="us-east-1", endpoint_url=url, aws_access_key_id="test",
                          aws_secret_access_key="test")
    version = client.publish_version(FunctionName="iris")["Version"]
    assert client.create_alias(FunctionName="iris", Name="live", FunctionVersion=version)["FunctionVersion"] == version
    assert client.get_alias(FunctionName="iris", Name="live")["FunctionVersion"] == version
    answer = client.invoke(FunctionName="iris", Qualifier="live", Payload=json.dumps(IRIS))
    assert answer["ExecutedVersion"] == version and "predictions" in json.loads(answer["Payload"].read())
    with pytest.raises(botocore.exceptions.ClientError, match="ResourceConflictException"):
        client.delete_function(FunctionName="iris", Qualifier=version)
    with pytest.raises(botocore.exceptions.ClientError, match="ResourceConflictException"):
        client.create_alias(FunctionName="iris", Name="live", FunctionVersion=version)
    out = tmp_path / "alias.json"
    result = run_infer("bench", "--function", "iris", "--qualifier", "live", "--endpoint-url", url,
                       "--region", "us-east-1", "--cold", "2", "--warm", "3", "--data", json.dumps(IRIS),
                       "--json", str(out), env=CREDENTIALS)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(out.read_text())["results"]
    assert row["warm_versions"] == [version] and len(row["init_ms"]) == 2 and row["not_cold"] == 0
    client.delete_alias(FunctionName="iris", Name="live")
    with pytest.raises(botocore.exceptions.ClientError, match="ResourceNotFoundException"):
        client.get_alias(FunctionName="iris", Name="live")
