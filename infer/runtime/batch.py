"""Many prediction requests run as few `session.run` calls as their shapes allow; .npy and .csv objects as rows.

Each request (an SQS message body, an S3 object) is decoded as POST /predict (KServe V1) or POST
/v2/models/{name}/infer (Open Inference Protocol, JSON) would decode it. Requests whose feeds can be
stacked run together: the model's every input has a dynamic first (batch) axis, and the requests
agree on input names, dtypes, the axes after the first, and the outputs asked for. Their feeds are
concatenated along the first axis, run once, and the outputs split back by each request's row count.
Rows are taken to be independent, as a V1 "instances" request of several rows already assumes. When
the outputs have no batch axis to split, or the stacked run is refused, each request runs alone, so
one bad request never fails its neighbours. Each result is the JSON body a function URL request with
the same body would get.
"""

from __future__ import annotations

import csv
import io
import time
from typing import TYPE_CHECKING

import numpy as np

from . import app, v1, v2
from .errors import BadRequest
from .events import Request, dump_json, json_type, parse_json

if TYPE_CHECKING:
    from .model import Model


class Job:
    """One decoded request: its feeds, the outputs it asks for, and how to turn results into its response."""

    __slots__ = ("id", "feeds", "output_names", "encode", "rows")

    def __init__(self, job_id: str, feeds: dict, output_names: list[str], encode):
        self.id = job_id
        self.feeds = feeds
        self.output_names = output_names
        self.encode = encode  # outputs -> the response body (a JSON-serialisable object)
        first = next(iter(feeds.values()))
        self.rows: int | None = first.shape[0] if first.ndim else None


def is_open_inference(payload) -> bool:
    """An Open Inference Protocol request: "inputs" is a list of tensor objects. (V1's columnar "inputs"
    is an object keyed by input name, or the tensor's values themselves.)"""
    if not isinstance(payload, dict):
        return False
    inputs = payload.get("inputs")
    return isinstance(inputs, list) and bool(inputs) and isinstance(inputs[0], dict) and "name" in inputs[0]


def decode_body(job_id: str, body: bytes, model: Model) -> Job:
    """A request body as POST /predict or POST /v2/models/{name}/infer takes it (the kind told by its shape)."""
    payload = parse_json(body)
    if is_open_inference(payload):
        decoded = v2.decode(Request("POST", f"/v2/models/{model.name}/infer", body=body), model)
        if any(binary for _, binary in decoded.outputs):
            raise BadRequest("binary_data outputs cannot be written as a JSON result; leave binary_data and "
                             "binary_data_output out of requests sent through a queue or a bucket")

        def encode_v2(outputs):
            return v2.encode(model, decoded, outputs)[0]

        return Job(job_id, decoded.feeds, [name for name, _ in decoded.outputs], encode_v2)
    if isinstance(payload, dict) and "instances" not in payload and "inputs" not in payload:
        got = ", ".join(f'"{k}"' for k in list(payload)[:5]) or "none"
        raise BadRequest('the body must be a KServe V1 request ({"instances": ...} or {"inputs": ...}) or an Open '
                         f'Inference Protocol request ({{"inputs": [{{"name", "shape", "datatype", "data"}}]}}); got keys: {got}')
    if not isinstance(payload, dict):
        raise BadRequest(f"the body must be a JSON object (a KServe V1 or Open Inference Protocol request); got {json_type(payload)}")
    feeds, fmt = v1.decode(payload, model)
    return _v1_job(job_id, feeds, fmt, model)


def decode_rows(job_id: str, array: np.ndarray, model: Model, what: str) -> Job:
    """An array of rows (a .npy or .csv object) as the model's single input: a V1 "instances" request."""
    if len(model.inputs) != 1:
        names = ", ".join(f"'{s.name}'" for s in model.inputs)
        raise BadRequest(f"a {what} object holds one array, but this model has {len(model.inputs)} inputs ({names}); "
                         "send a .json request naming each input instead")
    spec = model.inputs[0]
    from .tensors import cast, check_shape

    if array.dtype.kind not in "biufUS":
        raise BadRequest(f"the {what} array holds {array.dtype} values; the model's input '{spec.name}' expects {spec.datatype}")
    array = cast(array, spec, what)
    check_shape(array, spec)
    return _v1_job(job_id, {spec.name: array}, "row", model)


def _v1_job(job_id: str, feeds: dict, fmt: str, model: Model) -> Job:
    first = next(iter(feeds.values()))
    rows = first.shape[0] if first.ndim else 1

    def encode_v1(outputs):
        return v1.encode(outputs, fmt, rows)

    return Job(job_id, feeds, list(model.output_names), encode_v1)


def _group_key(job: Job, model: Model):
    """Jobs with equal keys can be stacked into one run; None: this job runs alone."""
    if job.rows is None or job.rows == 0 or any(not s.shape or s.shape[0] is not None for s in model.inputs):
        return None
    signature = []
    for name in sorted(job.feeds):
        array = job.feeds[name]
        if array.ndim == 0 or array.shape[0] != job.rows:
            return None
        signature.append((name, array.dtype.str, array.shape[1:]))
    return tuple(signature), tuple(job.output_names)


def run(jobs: list[Job], model: Model) -> tuple[dict[str, str], dict[str, str], float, int]:
    """Run every job: ({id: response JSON}, {id: reason it failed}, milliseconds in the model, session runs)."""
    groups: dict[object, list[Job]] = {}
    alone: list[Job] = []
    for job in jobs:
        key = _group_key(job, model)
        if key is None:
            alone.append(job)
        else:
            groups.setdefault(key, []).append(job)
    results: dict[str, str] = {}
    failures: dict[str, str] = {}
    totals: list[float] = [0.0, 0]  # milliseconds in the model, session runs

    def single(job: Job) -> None:
        try:
            totals[1] += 1
            outputs, ms = app.run(model, job.feeds, job.output_names)
            totals[0] += ms
            results[job.id] = dump_json(job.encode(outputs))
        except BadRequest as exc:
            failures[job.id] = exc.message
        except Exception as exc:  # a defect in infer or the model, not the request's fault: still one record's failure
            failures[job.id] = f"internal error ({type(exc).__name__}: {one_line(str(exc))})"

    for group in groups.values():
        if len(group) == 1 or not _run_stacked(group, model, results, totals):
            for job in group:
                single(job)
    for job in alone:
        single(job)
    return results, failures, totals[0], int(totals[1])


def _run_stacked(group: list[Job], model: Model, results: dict[str, str], totals: list[float]) -> bool:
    """One run for the whole group, outputs split back by rows; False when that cannot be done."""
    feeds = {name: np.concatenate([job.feeds[name] for job in group]) for name in group[0].feeds}
    rows = [job.rows or 0 for job in group]  # grouped jobs have rows (see _group_key)
    total_rows = sum(rows)
    start = time.perf_counter()
    try:
        outputs, ms = app.run(model, feeds, group[0].output_names)
    except Exception:  # some request's values break the model: find it by running each alone
        totals[0] += (time.perf_counter() - start) * 1000.0
        totals[1] += 1
        return False
    totals[0] += ms
    totals[1] += 1
    if any(np.ndim(value) == 0 or len(value) != total_rows for value in outputs.values()):
        return False  # an output without a batch axis (a sum over rows, say) cannot be split per request
    offset, encoded = 0, {}
    for job, count in zip(group, rows):
        end = offset + count
        part = {name: value[offset:end] for name, value in outputs.items()}
        try:
            encoded[job.id] = dump_json(job.encode(part))
        except Exception:
            return False
        offset = end
    results.update(encoded)
    return True


def one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def load_npy(data: bytes) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # numpy's format errors: ValueError, EOFError, OSError, ...
        raise BadRequest(f"the object is not a readable .npy array: {one_line(str(exc)) or type(exc).__name__}") from None
    if not isinstance(array, np.ndarray):
        raise BadRequest("the object is a .npz archive; infer reads one array per .npy object")
    return array


def load_csv(data: bytes) -> np.ndarray:
    """Numeric rows, comma-separated, one instance per row. The first row is a header, and skipped, when any of
    its fields is not a number; every other row must be all numbers, as many as the first. Blank lines are skipped."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the .csv object is not UTF-8 text") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if any(field.strip() for field in row)]
    if rows and not all(is_number(field) for field in rows[0]):
        rows = rows[1:]
    if not rows:
        raise BadRequest("the .csv object has no rows of numbers")
    width = len(rows[0])
    for index, row in enumerate(rows):
        if len(row) != width:
            raise BadRequest(f".csv row {index + 1} (after any header) has {len(row)} fields; the first has {width}")
        bad = next((field for field in row if not is_number(field)), None)
        if bad is not None:
            raise BadRequest(f".csv row {index + 1} (after any header) has {bad.strip()[:40]!r}, which is not a number")
    return np.array([[float(field) for field in row] for row in rows], dtype=np.float64)


def is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True
