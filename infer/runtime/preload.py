"""Where the model is and how to load it, read from the environment; and, for the `prefetch` and
`eager` strategies, a head start: the kernel is asked to read the model files into the page cache
while numpy and onnxruntime are still importing. Standard library only, so it runs first."""

import os

from . import contract


def model_path() -> str:
    """INFER_MODEL_PATH, else model/model.onnx in the task root."""
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    return os.environ.get(contract.MODEL_PATH) or os.path.join(task_root, contract.DEFAULT_MODEL_PATH)


def strategy() -> str:
    """INFER_LOAD_STRATEGY: lazy (first request loads), prefetch (a thread loads during init), eager (init loads)."""
    value = os.environ.get(contract.LOAD_STRATEGY, contract.DEFAULT_STRATEGY)
    problem = contract.setting_problem(contract.LOAD_STRATEGY, value)
    if problem:
        raise ValueError(problem)
    return value.strip().lower()


def read_ahead(path: str) -> None:
    """Ask the kernel to start reading a file into the page cache, without waiting for it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # a missing model is reported properly when it is loaded
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    finally:
        os.close(fd)


if strategy() != "lazy":
    _path = model_path()
    for _file in (_path, contract.sidecar_path(_path)):
        read_ahead(_file)
