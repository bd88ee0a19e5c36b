"""An input generated from a model's signature, for a warm-up inference (SnapStart, the prepacked session).

Dynamic dimensions become 1; numbers are zeros of the input's dtype, booleans False, strings empty.
"""

import numpy as np

from .types import TensorSpec


def sample_feeds(inputs: list[TensorSpec]) -> dict:
    """One feed per input; ValueError names an input whose element type has no numpy dtype (BF16, maps, ...)."""
    feeds = {}
    for spec in inputs:
        if spec.dtype is None:
            raise ValueError(f"input '{spec.name}' is {spec.ort_type}: no warm-up input can be generated for it")
        shape = [1 if d is None else d for d in spec.shape]
        if spec.dtype.kind == "O":
            feeds[spec.name] = np.full(shape, "", dtype=object)
        else:
            feeds[spec.name] = np.zeros(shape, dtype=spec.dtype)
    return feeds
