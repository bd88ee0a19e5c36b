"""`infer tune`: locally through the emulator (each size with its CPU share), and with --function through
`infer serve`'s Lambda API by Power Tuning's method, which restores the configuration, also after Ctrl-C."""

import json
import os
import re
import signal
import subprocess
import time

import boto3
import numpy as np
import pytest

from helpers import INFER, MODELS, ROOT, ServeProcess
from infer.local import cgroups

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true"}


def run_infer(*args, config_dir=None) -> subprocess.CompletedProcess:
    env = {**os.environ, **FAKE_CREDENTIALS, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    if config_dir is not None:
        env["INFER_CONFIG_DIR"] = str(config_dir)  # where infer tune records its choice (not the user's own)
    return subprocess.run([INFER, *args], capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)


def test_local_tune_writes_table_json_and_plot(tmp_path):
    out, png = tmp_path / "tune.json", tmp_path / "tune.png"
    result = run_infer("tune", str(MODELS / "iris.onnx"), "--memory", "512,1769", "--cold", "1", "--warm", "5",
                       "--arch", "x86_64", "--region", "eu-west-1", "--json", str(out), "--plot", str(png),
                       config_dir=tmp_path / "config")
    assert result.returncode == 0, result.stderr
    assert "cheapest" in result.stdout and "1769 MB" in result.stdout
    doc = json.loads(out.read_text())
    hierarchy, _ = cgroups.detect()
    if hierarchy is not None:
        hierarchy.close()
    assert doc["cpu_share_enforced"] is (hierarchy is not None)
    assert (doc["arch"], doc["region"], doc["price_per_gb_second"]) == ("x86_64", "eu-west-1", 0.0000166667)
    assert [r["memory_mb"] for r in doc["results"]] == [512, 1769]
    for r in doc["results"]:
        assert r["cold_ms"] > 0 and r["warm_requests"] == 5 and r["billed_ms_mean"] >= 1
        assert r["billed_ms_mean"] == int(r["billed_ms_mean"]) or r["billed_ms_mean"] >= r["warm_mean_ms"]
        assert r["cost_per_million_usd"] == pytest.approx(
            1e6 * r["billed_ms_mean"] / 1000 * r["memory_mb"] / 1024 * doc["price_per_gb_second"] + 0.2)
    assert set(doc["recommendation"]) == {"cheapest", "fastest", "balanced"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # infer deploy --memory tuned takes the recorded choice, and says which
    for policy in ("tuned", "tuned:cheapest"):
        deployed = run_infer("deploy", str(MODELS / "iris.onnx"), "--memory", policy, "--synth-only",
                             "-o", str(tmp_path / policy.replace(":", "-")), config_dir=tmp_path / "config")
        assert deployed.returncode == 0, deployed.stderr[-2000:]
        chosen = doc["recommendation"]["cheapest" if policy.endswith("cheapest") else "balanced"]
        assert f"memory {chosen} MB: infer tune's" in deployed.stdout
        template = json.loads((tmp_path / policy.replace(":", "-") / "cdk.out" / "infer-iris.template.json").read_text())
        [function] = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
        assert function["MemorySize"] == chosen


def test_deploy_memory_tuned_without_a_tuning_says_what_to_run(tmp_path):
    result = run_infer("deploy", str(MODELS / "iris.onnx"), "--memory", "tuned", "--synth-only", "-o", str(tmp_path / "o"),
                       config_dir=tmp_path / "empty")
    assert result.returncode == 2 and "no tuning recorded for 'iris': run infer tune MODEL" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "o").exists()
    bad = run_infer("deploy", str(MODELS / "iris.onnx"), "--memory", "tuned:quickest", "--synth-only", "-o",
                    str(tmp_path / "o"), config_dir=tmp_path / "empty")
    assert bad.returncode == 2 and "one of balanced, cheapest, fastest" in bad.stderr


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    refused = tmp_path / "refused.json"
    refused.write_text(json.dumps({"instances": [[1.0, 2.0]]}))  # iris takes 4 features
    text = tmp_path / "request.txt"
    text.write_text("5.1,3.5,1.4,0.2")
    iris = str(MODELS / "iris.onnx")
    for args, message in [([iris, "--memory", "64"], "from 128 to 10240"),
                          ([iris, "--memory", "512,20000"], "from 128 to 10240"),
                          ([iris, "--region", "mars-1"], "no Lambda prices recorded for region 'mars-1'"),
                          ([iris, "--arch", "sparc"], "unknown architecture 'sparc'"),
                          (["missing.onnx", "--memory", "512"], "model file not found"),
                          ([iris, "--memory", "512", "--cold", "1", "--warm", "1", "--payload", str(refused)],
                           "the model refused the payload (400)"),
                          ([iris, "--memory", "512", "--payload", str(tmp_path / "absent.json")],
                           "--payload: input file not found"),
                          ([iris, "--memory", "512", "--payload", str(text)], "a request file must be .json or .npy")]:
        result = run_infer("tune", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)


@pytest.fixture
def api_server():
    server = ServeProcess(str(MODELS / "iris.onnx"), "--lambda-api-port", "0", "--memory", "2048")
    server.api = re.search(r"Lambda API .*(http://127\.0\.0\.1:\d+)", "".join(server.banner)).group(1)
    yield server
    server.stop()


def client_for(url: str):
    return boto3.client("lambda", region_name="us-east-1", endpoint_url=url, aws_access_key_id="AKIDTEST",
                        aws_secret_access_key="test")


def test_function_tune_by_power_tunings_method_restores_the_configuration(api_server, tmp_path):
    payload, out = tmp_path / "event.json", tmp_path / "tune.json"
    payload.write_text(json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}))
    result = run_infer("tune", "--function", "iris", "--endpoint-url", api_server.api, "--memory", "512,1024",
                       "--cold", "2", "--warm", "5", "--payload", str(payload), "--json", str(out))
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text())
    assert doc["function"] == "iris" and doc["arch"] == "x86_64", "the function's own architecture"
    assert [r["memory_mb"] for r in doc["results"]] == [512, 1024]
    for r in doc["results"]:
        assert len(r["cold_samples_ms"]) == 2 and r["not_cold"] == 0, "each published version's first invoke is cold"
        assert r["warm_requests"] == 5 and r["billed_ms_mean"] >= 1
    assert len(api_server.log_lines("REPORT", count=14)) >= 14
    assert any("Memory Size: 512 MB" in line and "Init Duration" in line for line in api_server.stderr)
    client = client_for(api_server.api)
    configuration = client.get_function_configuration(FunctionName="iris")
    assert configuration["MemorySize"] == 2048 and configuration["Environment"]["Variables"] == {}
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function_configuration(FunctionName="iris", Qualifier="1")  # the versions made were deleted


def test_function_tune_restores_the_configuration_after_ctrl_c(api_server, tmp_path):
    payload = tmp_path / "event.json"
    payload.write_text(json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}))
    before = len(api_server.log_lines("REPORT", count=0, timeout_s=0))  # the module's server has run other tunes
    # Started as a background job would be, with SIGINT ignored: the command must still stop and restore.
    proc = subprocess.Popen([INFER, "tune", "--function", "iris", "--endpoint-url", api_server.api, "--memory",
                             "256,512,1024", "--cold", "3", "--warm", "50", "--payload", str(payload)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, **FAKE_CREDENTIALS},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(api_server.log_lines("REPORT", count=before + 2, timeout_s=0.1)) < before + 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "Traceback" not in stderr, stderr
    client = client_for(api_server.api)
    configuration = client.get_function_configuration(FunctionName="iris")
    assert configuration["MemorySize"] == 2048 and configuration["Environment"]["Variables"] == {}
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function_configuration(FunctionName="iris", Qualifier="1")


def test_a_function_that_is_not_infers_is_refused_untouched(monkeypatch, tmp_path):
    from helpers import FUNCTIONS
    from infer.bench import BenchError, tune_aws
    from infer.local.function import FunctionConfig
    from infer.local.lambda_api import LambdaApiServer
    from infer.local.pool import Pool

    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    payload = tmp_path / "event.json"
    payload.write_text("{}")
    pool = Pool(FunctionConfig(name="other", handler="behaviours.handler", task_root=str(FUNCTIONS)), log=lambda line: None)
    server = LambdaApiServer(pool, "http://127.0.0.1:9").start_background()
    try:
        with pytest.raises(BenchError, match="function other is not infer's") as refused:
            tune_aws.tune("other", "512", payload, None, None, 1, 1, None, None, endpoint_url=server.url)
        assert refused.value.code == 2
        assert pool.function.memory_mb == 2048 and server.revision == 1, "nothing was changed"
    finally:
        server.stop()
        pool.close()


def test_payload_files_are_read_as_predict_reads_them(tmp_path):
    from infer.bench.tune import V1_PATH, load_payload, request_path

    rows = tmp_path / "rows.npy"
    np.save(rows, np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32))
    body = load_payload(rows)
    assert body == {"instances": [[pytest.approx(5.1), pytest.approx(3.5), pytest.approx(1.4), pytest.approx(0.2)]]}
    assert request_path(body) == V1_PATH
