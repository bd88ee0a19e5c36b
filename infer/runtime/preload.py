"""Where the model is and how to load it, read from the environment; and, for the `prefetch` and
`eager` strategies, a head start: the kernel is asked to read the model files into the page cache
while numpy and onnxruntime are still importing. Standard library only, so it runs first."""

import os

DEFAULT_MODEL_PATH = "model/model.onnx"  # relative to LAMBDA_TASK_ROOT
STRATEGIES = ("lazy", "prefetch", "eager")


def model_path() -> str:
    """INFER_MODEL_PATH, else model/model.onnx in the task root."""
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    return os.environ.get("INFER_MODEL_PATH") or os.path.join(task_root, DEFAULT_MODEL_PATH)


def strategy() -> str:
    """INFER_LOAD_STRATEGY: lazy (first request loads), prefetch (a thread loads during init), eager (init loads)."""
    value = os.environ.get("INFER_LOAD_STRATEGY", "lazy").strip().lower()
    if value not in STRATEGIES:
        raise ValueError(f"INFER_LOAD_STRATEGY must be one of {', '.join(STRATEGIES)}; got {value!r}")
    return value


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
    for _file in (_path, _path + ".data"):
        read_ahead(_file)
