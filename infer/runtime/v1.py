"""KServe V1 / TF Serving REST JSON: `{"instances": [...]}` (row format) or `{"inputs": ...}` (columnar).

Row format answers `{"predictions": [...]}`, one entry per instance: the value itself for a single
output, a dict by output name for several. Columnar answers `{"outputs": ...}`: the value itself for a
single output, a dict by output name for several.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import BadRequest
from .events import json_type
from .tensors import to_array, to_json

if TYPE_CHECKING:
    from .model import Model

IGNORED_KEYS = {"signature_name"}


def decode(payload, model: Model) -> tuple[dict, str]:
    """Return the feeds for `model` and the request format ("row" or "columnar")."""
    if not isinstance(payload, dict):
        raise BadRequest('request body must be a JSON object with "instances" (row format) or "inputs" (columnar format)')
    formats = [k for k in ("instances", "inputs") if k in payload]
    unknown = sorted(set(payload) - {"instances", "inputs"} - IGNORED_KEYS)
    if unknown or len(formats) != 1:
        got = ", ".join(f'"{k}"' for k in payload) or "none"
        raise BadRequest(
            'request body must have exactly one of "instances" (row format) or "inputs" (columnar format); '
            f"got keys: {got}"
        )
    if "signature_name" in payload and not isinstance(payload["signature_name"], str):
        raise BadRequest("signature_name must be a string (TF Serving's signature name; infer ignores it); "
                         f"got {type(payload['signature_name']).__name__}")
    if formats[0] == "instances":
        return _decode_rows(payload["instances"], model), "row"
    return _decode_columns(payload["inputs"], model), "columnar"


def _decode_rows(instances, model: Model) -> dict:
    if not isinstance(instances, list):
        raise BadRequest(f'"instances" must be a list with one entry per instance; got {json_type(instances)}')
    specs = model.inputs
    if len(specs) == 1 and not (instances and isinstance(instances[0], dict)):
        return {specs[0].name: to_array(instances, specs[0], "instances")}  # [] is an empty batch
    names = [s.name for s in specs]
    columns: dict[str, list] = {name: [] for name in names}
    for i, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise BadRequest(
                f"instances[{i}] must be an object keyed by input name ({_names(names)})"
                + (", because this model has several inputs" if len(names) > 1 else ", like instances[0]")
            )
        missing = [n for n in names if n not in instance]
        extra = [k for k in instance if k not in columns]
        if missing or extra:
            raise BadRequest(
                f"instances[{i}] must have exactly the model's inputs ({_names(names)}); "
                + _difference(missing, extra)
            )
        for name in names:
            columns[name].append(instance[name])
    return {spec.name: to_array(columns[spec.name], spec, "instances") for spec in specs}


def _decode_columns(inputs, model: Model) -> dict:
    specs = model.inputs
    names = [s.name for s in specs]
    if not isinstance(inputs, dict):
        if len(specs) != 1:
            raise BadRequest(f'"inputs" must be an object keyed by input name ({_names(names)}), because this model has several inputs')
        return {specs[0].name: to_array(inputs, specs[0], "inputs")}
    missing = [n for n in names if n not in inputs]
    extra = [k for k in inputs if k not in names]
    if missing or extra:
        raise BadRequest(
            f'"inputs" must have exactly the model\'s inputs ({_names(names)}); '
            + _difference(missing, extra)
        )
    return {spec.name: to_array(inputs[spec.name], spec, f"inputs.{spec.name}") for spec in specs}


def encode(outputs: dict, fmt: str, batch_size: int) -> dict:
    values = {name: to_json(arr) for name, arr in outputs.items()}
    if fmt == "columnar":
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    if any(arr.ndim == 0 or arr.shape[0] != batch_size for arr in outputs.values()):
        # An output without a batch axis cannot be split per instance: answer it whole.
        return {"predictions": values}
    return {"predictions": [{name: v[i] for name, v in values.items()} for i in range(batch_size)]}


def _difference(missing, extra) -> str:
    parts = ([f"missing {_names(missing)}"] if missing else []) + ([f"unknown {_names(extra)}"] if extra else [])
    return "; ".join(parts)


def _names(names) -> str:
    return ", ".join(f"'{n}'" for n in names)
