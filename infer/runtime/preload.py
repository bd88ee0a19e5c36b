"""Where the model is and how to load it, read from the environment; and a head start for init: threads
read into the page cache (sendfile to /dev/null: no copy), in this order,
1. the files numpy's and onnxruntime's imports will read (listed by `infer package` in import_files.txt
   beside this module: three large shared libraries and ~90 small .pyc files), while the interpreter
   is still importing the runtime, so that the imports find them cached instead of reading one small
   file at a time (eight threads take the files in turn, for storage where each read waits);
2. for the `prefetch` and `eager` strategies, the whole model and its weights sidecar, in ranges read
   side by side; loading waits for it, so the model is resident before the first request. Reading
   the model only after the libraries keeps its large reads from queueing ahead of the imports' own.
Standard library only, so it runs first."""

import os
import sys
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


IMPORT_FILES = "import_files.txt"  # written by `infer package` (infer/package/imports.py) beside this module
READ_BLOCK_BYTES = 8 * 1024 * 1024  # large reads: the kernel reads ahead in its largest steps
# Threads reading ahead. Where each read waits on storage latency, parallel requests are what helps: with
# 1 ms per request (benchmarks/slowfs.py) a cold import took 0.92x as long as without read-ahead with one
# thread, 0.72x with two, 0.64x with four, 0.59x with eight; on the local disk 0.87x, 0.79x, 0.81x, 0.75x.
READERS = 8
# A large file (the model) is read as MODEL_PARTS ranges side by side: one evicted 400 MB file took 167-245 ms
# in one sendfile stream and 150-171 ms in four here; under 1 ms per read request 1.9 s and 0.50 s (eight
# ranges: 0.47-0.49 s, for about 1.5x the CPU). benchmarks/read_patterns.py.
MODEL_PARTS = 4
SPLIT_FROM_BYTES = 64 * 1024 * 1024

_reader: threading.Thread | None = None


def read_files(items) -> int:
    """Read files into the page cache; returns the bytes read. An item is a path (the whole file) or
    (path, start, end), a byte range of it. Missing files are skipped (a missing model is reported
    properly when it is loaded).

    The bytes go to /dev/null with sendfile: the kernel fills the page cache without copying anything to
    this process (about 13 ms of CPU for 400 MB here, against 100-270 ms for reads into a buffer, which
    competes with the imports for the CPU share). Where sendfile cannot, plain reads in large blocks."""
    total = 0
    with open(os.devnull, "wb", buffering=0) as null:
        for item in items:
            path, start, end = (item, 0, None) if isinstance(item, str) else item
            try:
                with open(path, "rb", buffering=0) as f:
                    total += _send(f.fileno(), null.fileno(), start, end)
            except OSError:  # unreadable: loading reports it; a read-ahead never ends in a traceback
                continue
    return total


def _send(fd: int, null: int, start: int = 0, end: int | None = None) -> int:
    size = os.fstat(fd).st_size if end is None else end
    offset = start
    try:
        while offset < size and (count := os.sendfile(null, fd, offset, min(READ_BLOCK_BYTES, size - offset))) > 0:
            offset += count
        return offset - start
    except OSError:
        block = memoryview(bytearray(READ_BLOCK_BYTES))
        while offset < size and (count := os.preadv(fd, [block[:min(READ_BLOCK_BYTES, size - offset)]], offset)):
            offset += count
        return offset - start


def ranges(path: str, parts: int) -> list:
    """A large file as `parts` byte ranges (whole read blocks) that threads can read side by side; a small or
    missing file as itself."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return [path]
    if size < SPLIT_FROM_BYTES:
        return [path]
    step = -(-size // parts // READ_BLOCK_BYTES) * READ_BLOCK_BYTES
    return [(path, start, min(size, start + step)) for start in range(0, size, step)]


def import_files(listing: str | None = None) -> list[str]:
    """The files the imports will read, in order, from the list beside this module (paths relative to the
    directory on sys.path that holds each package); [] without a list. Files not installed are left out."""
    try:
        with open(listing or os.path.join(os.path.dirname(os.path.abspath(__file__)), IMPORT_FILES)) as f:
            relative = [line.strip() for line in f if line.strip()]
    except OSError:
        return []
    package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    bases: dict[str, str | None] = {"infer": package}  # this runtime's own files: where it was imported from
    found = []
    for path in relative:
        top = path.split("/", 1)[0]
        if top not in bases:
            bases[top] = next((entry for entry in sys.path if entry and os.path.isdir(os.path.join(entry, top))), None)
        if (base := bases[top]) is not None:
            found.append(os.path.join(base, path))
    return found


def start_read_ahead(paths, imports: bool = False, readers: int = READERS) -> threading.Thread:
    """Read files on threads while the imports run (reads release the GIL): the imports' own files first, in
    import order, then `paths`, large ones in ranges; `readers` threads take them in turn from one queue."""
    global _reader

    def lead() -> None:
        files = (import_files() if imports else []) + [part for path in paths for part in ranges(path, MODEL_PARTS)]
        queue = iter(files)  # shared: each file (or range) goes to the next free thread
        helpers = [threading.Thread(target=read_files, args=(queue,), name="infer-read-ahead", daemon=True)
                   for _ in range(min(readers, len(files)) - 1)]
        for helper in helpers:
            helper.start()
        read_files(queue)
        for helper in helpers:
            helper.join()

    _reader = threading.Thread(target=lead, name="infer-read-ahead", daemon=True)
    _reader.start()
    return _reader


def wait_for_read_ahead() -> None:
    """Block until the read-ahead (if any) is done: the model's pages are then in the page cache."""
    if _reader is not None:
        _reader.join()


_path = model_path()
_model_files = [] if strategy() == "lazy" else [_path, contract.sidecar_path(_path)]
if _model_files or os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), IMPORT_FILES)):
    start_read_ahead(_model_files, imports=True)  # no thread when there is nothing to read
