"""Where the model is and how to load it, read from the environment; and, for the `prefetch` and
`eager` strategies, a head start: a thread reads the whole model (and its weights sidecar) into the
page cache (sendfile to /dev/null: no copy) while numpy and onnxruntime are still importing, and
loading waits for it, so the model is resident before the first request. Standard library only, so
it runs first."""

import os
import threading

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


READ_BLOCK_BYTES = 8 * 1024 * 1024  # large reads: the kernel reads ahead in its largest steps

_reader: threading.Thread | None = None


def read_files(paths) -> int:
    """Read whole files into the page cache; returns the bytes read. Missing files are skipped (a missing
    model is reported properly when it is loaded).

    The bytes go to /dev/null with sendfile: the kernel fills the page cache without copying anything to
    this process (about 13 ms of CPU for 400 MB here, against 100-270 ms for reads into a buffer, which
    competes with the imports for the CPU share). Where sendfile cannot, plain reads in large blocks."""
    total = 0
    with open(os.devnull, "wb", buffering=0) as null:
        for path in paths:
            try:
                with open(path, "rb", buffering=0) as f:
                    total += _send(f.fileno(), null.fileno())
            except OSError:  # unreadable: loading reports it; a read-ahead never ends in a traceback
                continue
    return total


def _send(fd: int, null: int) -> int:
    size, offset = os.fstat(fd).st_size, 0
    try:
        while offset < size and (count := os.sendfile(null, fd, offset, READ_BLOCK_BYTES)) > 0:
            offset += count
        return offset
    except OSError:
        block = memoryview(bytearray(READ_BLOCK_BYTES))
        while count := os.preadv(fd, [block], offset):
            offset += count
        return offset


def start_read_ahead(paths) -> threading.Thread:
    """Read the model's files on a thread while the imports run (reads release the GIL)."""
    global _reader
    _reader = threading.Thread(target=read_files, args=(list(paths),), name="infer-read-ahead", daemon=True)
    _reader.start()
    return _reader


def wait_for_read_ahead() -> None:
    """Block until the read-ahead (if any) is done: the model's pages are then in the page cache."""
    if _reader is not None:
        _reader.join()


if strategy() != "lazy":
    _path = model_path()
    start_read_ahead([_path, contract.sidecar_path(_path)])
