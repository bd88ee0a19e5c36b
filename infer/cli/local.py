"""Commands that run on this machine: convert, serve, predict, bench, tune."""

import json
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from . import app, fail


@app.command()
def serve(
    model: Annotated[Path, typer.Argument(help="The .onnx model file to serve.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8080,
    concurrency: Annotated[int, typer.Option(help="Most execution environments at once; beyond it requests get 429.")] = 4,
    timeout: Annotated[float, typer.Option(help="Seconds a request may run before its environment is killed (502).")] = 30.0,
    memory: Annotated[int, typer.Option(help="Function memory in MB, as on Lambda: each execution environment gets memory / 1769 vCPU (a cgroup CPU quota) and a memory limit of that size where cgroups can be written (otherwise it says so), and the runtime sizes its threads from it.")] = 2048,
    name: Annotated[str | None, typer.Option(help="Model name in URLs (default: the manifest's name or the file's stem).")] = None,
    auth: Annotated[str, typer.Option(help="none, or iam: accept only requests signed with SigV4 by the AWS credentials this command finds (403 otherwise).")] = "none",
    lambda_api_port: Annotated[int | None, typer.Option(help="Also serve the emulated Lambda API (Invoke, Get/UpdateFunctionConfiguration) on this port, on 127.0.0.1 only, for boto3 and `infer bench --function`; 0 picks a free one. Off by default: it can change the function's environment.")] = None,
    queue: Annotated[str | None, typer.Option(metavar="NAME", help="Also run the function on SQS batches from this queue, created in the local AWS API with a dead-letter queue NAME-dlq, and polled as Lambda's event source mapping polls (ReportBatchItemFailures).")] = None,
    bucket: Annotated[str | None, typer.Option(help="Also run the function on each object created in this bucket (under --prefix), asynchronously with Lambda's retries; the bucket is created in the local AWS API.")] = None,
    prefix: Annotated[str | None, typer.Option(help="With --bucket: only objects under this key prefix trigger the function (default in/, as infer deploy; \"\" for the whole bucket).")] = None,
    output: Annotated[str | None, typer.Option(help="With --queue/--bucket: where results go (INFER_OUTPUT): s3://bucket/prefix/ (the bucket is created if missing), or a queue URL whose queue is created by name in the local API; default s3://BUCKET/out/ with --bucket (as infer deploy), else s3://infer-results/MODEL/. Never inside the input prefix nor the input queue.")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="With --queue/--bucket: an AWS-compatible API that already runs (default: infer starts moto's server on 127.0.0.1 and stops it on exit).")] = None,
    batch_size: Annotated[int, typer.Option(help="With --queue: most messages per batch (1-10000).")] = 10,
    batching_window: Annotated[int, typer.Option(help="With --queue: seconds to keep gathering a batch after its first message (0-300; 0: what one receive returns).")] = 0,
    max_receives: Annotated[int, typer.Option(help="With --queue: receives before the queue moves a message to its dead-letter queue (the redrive policy's maxReceiveCount; 5 as infer deploy sets it).")] = 5,
    visibility_timeout: Annotated[int | None, typer.Option(help="With --queue: seconds a received message stays hidden before it reappears (default: 6 x --timeout, as infer deploy sets it; shorten it to see retries sooner).")] = None,
    retry_delay: Annotated[float, typer.Option(help="With --bucket: seconds before a failed object's first retry; the second waits twice as long (Lambda waits about 1 and 2 minutes).")] = 1.0,
    max_concurrency: Annotated[int | None, typer.Option(help="With --queue/--bucket: most batches or objects invoked at once (default: 2, or --concurrency if lower).")] = None,
):
    """Run the function locally behind a function URL emulator, each environment a real awslambdaric process;
    with --queue or --bucket, also on SQS batches and new S3 objects from a local AWS API."""
    from infer.local import serve as serving
    from infer.local.sources import SourceOptions

    sources = SourceOptions(queue, bucket, prefix, output, endpoint_url, batch_size, batching_window, max_receives,
                            visibility_timeout, retry_delay, max_concurrency)
    options = serving.ServeOptions(host, port, concurrency, timeout, memory, name, auth, lambda_api_port, sources)
    try:
        served = serving.start(model, options)
    except serving.ServeError as exc:
        raise fail(str(exc), exc.code) from None
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background, where SIGINT starts ignored
    typer.echo(serving.banner(model, served, options))
    sys.stdout.flush()
    try:
        served.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        served.stop()
        typer.echo("stopped", err=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@app.command()
def predict(
    url: Annotated[str, typer.Argument(help="Function URL (its /predict is used), a full endpoint URL, or the name of a function `infer deploy` saved.")],
    data: Annotated[str | None, typer.Option("--data", "-d", help="Request JSON, or a JSON array of instances.")] = None,
    input: Annotated[Path | None, typer.Option("--input", "-i", help="A .json request or a .npy array of instances.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer.")] = 60.0,
    auth: Annotated[str, typer.Option(help="auto (sign for AWS_IAM function URLs and saved IAM deployments), iam (always sign with SigV4), none.")] = "auto",
    region: Annotated[str | None, typer.Option(help="Region to sign for (default: the function URL's, the saved one, or AWS_REGION).")] = None,
    profile: Annotated[str | None, typer.Option(help="AWS profile whose credentials sign the request.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Wrap the answer: {url, signed, region, answer}.")] = False,
):
    """Send one prediction request and print the JSON answer (signed with SigV4 when the URL uses AWS_IAM)."""
    from infer.client import ClientError, load_payload, post_json, predict_url, resolve, sigv4_signer

    try:
        target, sign, region, profile = resolve(url, auth, region, profile)
        payload = load_payload(data, input)
        signer = sigv4_signer(region, profile) if sign else None
        answer = post_json(predict_url(target), payload, timeout, signer)
    except ClientError as exc:
        raise fail(str(exc)) from None
    if as_json:
        answer = {"url": predict_url(target), "signed": sign, "region": region, "answer": answer}
    typer.echo(json.dumps(answer))


@app.command()
def bench(
    models: Annotated[list[Path] | None, typer.Argument(help="One or more .onnx models (several: cold start against model size).")] = None,
    cold: Annotated[int, typer.Option(help="Cold samples per variant, each a fresh execution environment.")] = 5,
    warm: Annotated[int, typer.Option(help="Warm requests per variant, after the last cold sample.")] = 100,
    strategies: Annotated[str, typer.Option(help="Load strategies to measure: lazy, prefetch, eager.")] = "lazy,prefetch,eager",
    formats: Annotated[str, typer.Option(help="Artifact formats to measure: onnx, ort (memory-mapped).")] = "onnx,ort",
    baselines: Annotated[bool, typer.Option("--baselines/--no-baselines", help="Also measure the floor, the typical FastAPI + Mangum function and the naive tutorial handler.")] = True,
    memory: Annotated[str | None, typer.Option(help="Function memory in MB (default 2048); with --function a list such as 1024,2048,4096 to sweep (not with --qualifier: a published version's memory is fixed).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every raw sample and the configuration here.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG: cold-start phases per variant (and against model size).")] = None,
    function: Annotated[str | None, typer.Option(help="Measure a deployed function through the Lambda API instead of local models.")] = None,
    data: Annotated[str | None, typer.Option("--data", "-d", help="With --function: the request JSON to invoke it with.")] = None,
    input: Annotated[Path | None, typer.Option("--input", "-i", help="With --function: a .json request or .npy instances.")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="With --function: Lambda API endpoint (e.g. `infer serve`'s).")] = None,
    region: Annotated[str | None, typer.Option(help="With --function: AWS region.")] = None,
    profile: Annotated[str | None, typer.Option(help="With --function: AWS profile.")] = None,
    qualifier: Annotated[str | None, typer.Option(help="With --function: a published version or alias (SnapStart runs only on those): cold samples on clones of it (Restore Duration under SnapStart), warm ones on it.")] = None,
):
    """Measure cold and warm starts: locally through the emulator (page cache evicted before each cold
    start), or, with --function, a deployed function through the Lambda API."""
    from infer.bench import BenchError, run

    try:
        memories = run.parse_memories(memory or "2048")
        if cold < 1 or warm < 0:
            raise BenchError("--cold must be at least 1 and --warm at least 0", 2)
        if qualifier is not None and not function:
            raise BenchError("--qualifier needs --function", 2)
        if function and qualifier and qualifier != "$LATEST":
            if memory is not None:
                raise BenchError(f"--memory does not apply with --qualifier {qualifier}: a published version's memory "
                                 "size is fixed (it is measured at its own)", 2)
            from infer.bench import aws

            aws.bench_qualified(function, qualifier, _payload(data, input, f"the request to invoke {function} with"),
                                cold, warm, endpoint_url, region, profile, json_out, echo=typer.echo)
        elif function:
            run.function(function, _payload(data, input, f"the request to invoke {function} with"), cold, warm,
                         memories, endpoint_url, region, profile, json_out, echo=typer.echo)
        elif len(memories) > 1:
            raise BenchError("a memory sweep (--memory a,b,c) needs --function; locally, give one size", 2)
        else:
            run.local(models or [], cold, warm, strategies, formats, baselines, memories[0], json_out, plot,
                      echo=typer.echo)
    except BenchError as exc:
        raise fail(str(exc), exc.code) from None


def _payload(data: str | None, input: Path | None, what: str):
    from infer.bench import BenchError
    from infer.client import ClientError, load_payload

    try:
        return load_payload(data, input)
    except ClientError as exc:
        raise BenchError(f"{exc} ({what})", 2) from None


@app.command()
def tune(
    model: Annotated[Path | None, typer.Argument(help="The .onnx model to tune (not with --function).")] = None,
    memory: Annotated[str, typer.Option(help="Memory sizes in MB to compare, comma-separated (128 to 10240).")] = "512,1024,1769,3008",
    payload: Annotated[Path | None, typer.Option(help="A JSON request body (KServe V1 or Open Inference Protocol; default: one generated from the model's signature). With --function: the event to invoke it with.")] = None,
    arch: Annotated[str | None, typer.Option(help="Price as arm64 or x86_64 (default: arm64 locally, the function's own with --function).")] = None,
    region: Annotated[str | None, typer.Option(help="Region whose prices apply (default: us-east-1 locally; the client's with --function).")] = None,
    cold: Annotated[int, typer.Option(help="Cold starts per size (page cache evicted before each; with --function, forced by publishing a version).")] = 3,
    warm: Annotated[int, typer.Option(help="Warm requests per size.")] = 50,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results and recommendations here.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG: warm latency and cost against memory.")] = None,
    function: Annotated[str | None, typer.Option(help="Tune a deployed function through the Lambda API (Power Tuning's method); its configuration is restored.")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="With --function: Lambda API endpoint (e.g. `infer serve --lambda-api-port`'s).")] = None,
    profile: Annotated[str | None, typer.Option(help="With --function: AWS profile.")] = None,
):
    """Choose the memory size from measured latency and cost: cold and warm requests at each size, locally
    (each environment gets the CPU share its memory buys) or on AWS, and the cheapest, fastest and balanced picks."""
    from infer.bench import BenchError, report
    from infer.bench import tune as tuning
    from infer.runtime.contract import DEFAULT_ARCH

    # Ctrl-C (and SIGTERM) must reach the restore of the function's configuration, also when started in the
    # background, where SIGINT starts ignored and Python would never raise KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if function:
            if model is not None:
                raise BenchError("give a model or --function NAME, not both", 2)
            from infer.bench import tune_aws

            tune_aws.tune(function, memory, payload, arch, region, cold, warm, json_out, plot, endpoint_url, profile,
                          echo=typer.echo, progress=report.progress_line)
        elif model is None:
            raise BenchError("give an .onnx model, or --function NAME", 2)
        else:
            tuning.local(model, memory, payload, arch or DEFAULT_ARCH, region or "us-east-1", cold, warm,
                         json_out, plot, echo=typer.echo, progress=report.progress_line)
    except BenchError as exc:
        raise fail(str(exc), exc.code) from None


@app.command()
def convert(
    model: Annotated[Path, typer.Argument(help="Trained model: a scikit-learn/XGBoost/LightGBM pickle or joblib file, a PyTorch "
                                               "file (torch.save module, TorchScript, or a state dict with --factory), an XGBoost "
                                               ".json/.ubj or a LightGBM text model. Loading a pickle runs code: only convert files you trust.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output .onnx file (default: MODEL with .onnx); the manifest goes beside it as .json.")] = None,
    framework: Annotated[str, typer.Option(help="auto, sklearn, torch, xgboost or lightgbm.")] = "auto",
    sample: Annotated[Path | None, typer.Option(help="A .npy array of example inputs (batch first; a structured array for one input per column); used for the signature and the parity check.")] = None,
    input_shape: Annotated[str | None, typer.Option(help="Input shape, batch first, e.g. 1x4 or 1x3x28x28, when there is no --sample.")] = None,
    input_dtype: Annotated[str, typer.Option(help="Input element type with --input-shape.")] = "float32",
    opset: Annotated[int | None, typer.Option(help="ONNX opset (default: 17, or 18 for PyTorch).")] = None,
    tolerance: Annotated[float, typer.Option(help="Largest allowed error of the ONNX model against the original (absolute up to 1, relative above).")] = 1e-4,
    optimize: Annotated[bool, typer.Option("--optimize", help="Write a pre-optimised, portable model (onnxruntime extended optimisations).")] = False,
    quantize: Annotated[str | None, typer.Option(help="int8: onnxruntime dynamic quantisation; reports size and parity before and after.")] = None,
    name: Annotated[str | None, typer.Option(help="Model name in the manifest and URLs (default: the output file's stem).")] = None,
    factory: Annotated[str | None, typer.Option(help="module:function that builds the PyTorch module, when MODEL is a state dict.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON instead of a summary.")] = False,
):
    """Convert a trained model to ONNX, check it against the original, and write a manifest beside it.

    Loading a pickle (scikit-learn, joblib, torch.save) runs code: only convert files you trust.
    Exit codes: 0 converted and parity passed; 1 parity failed (files still written); 2 bad input.
    """
    from infer.convert import ConvertError, Progress
    from infer.convert import convert as convert_model
    from infer.convert.report import summary

    try:
        result = convert_model(
            model, out, framework=framework, sample=sample, input_shape=input_shape, input_dtype=input_dtype,
            opset=opset, tolerance=tolerance, optimize=optimize, quantize=quantize, name=name, factory=factory,
            progress=Progress(),
        )
    except ConvertError as exc:
        raise fail(str(exc), 2) from None
    typer.echo(json.dumps(result.manifest, indent=2) if as_json else summary(result))
    if not result.passed:
        raise fail(f"parity check failed against the original model (tolerance {tolerance:g}); "
                   f"the files are written for inspection: {result.model_path}, {result.manifest_path}", 1)
