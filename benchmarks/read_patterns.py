"""How fast an evicted file reaches the page cache, read five ways, three rounds each.

    .venv/bin/python benchmarks/read_patterns.py benchmarks/out/mlp_400mb.onnx.data

Each round evicts the file (posix_fadvise DONTNEED), reads it, and prints wall and CPU time and what
`fincore` then finds resident: reads into an 8 MB buffer, sendfile to /dev/null (no copy into the
process), WILLNEED hints per 8 MB chunk, and sendfile in 4 and 8 byte ranges on as many threads side by
side (what infer.runtime.preload does with a model). Point it at a file on benchmarks/slowfs.py to see
what storage with a latency per request does to each.
"""

import os
import sys
import threading
import time
from pathlib import Path

from infer.bench.cold import evict, resident_bytes

BLOCK = 8 << 20


def buffered(path: str) -> None:
    block = memoryview(bytearray(BLOCK))
    with open(path, "rb", buffering=0) as f:
        while f.readinto(block):
            pass


def sendfile(path: str) -> None:
    fd, null = os.open(path, os.O_RDONLY), os.open(os.devnull, os.O_WRONLY)
    size, offset = os.fstat(fd).st_size, 0
    while offset < size and (count := os.sendfile(null, fd, offset, BLOCK)) > 0:
        offset += count
    os.close(fd)
    os.close(null)


def send_range(path: str, start: int, end: int) -> None:
    fd, null = os.open(path, os.O_RDONLY), os.open(os.devnull, os.O_WRONLY)
    offset = start
    while offset < end and (count := os.sendfile(null, fd, offset, min(BLOCK, end - offset))) > 0:
        offset += count
    os.close(fd)
    os.close(null)


def in_ranges(path: str, parts: int) -> None:
    size = os.path.getsize(path)
    step = -(-size // parts)
    threads = [threading.Thread(target=send_range, args=(path, start, min(size, start + step)))
               for start in range(0, size, step)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def ranges4(path: str) -> None:
    in_ranges(path, 4)


def ranges8(path: str) -> None:
    in_ranges(path, 8)


def willneed(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    for offset in range(0, os.fstat(fd).st_size, BLOCK):
        os.posix_fadvise(fd, offset, BLOCK, os.POSIX_FADV_WILLNEED)
    os.close(fd)


def main(path: str) -> None:
    for read in [buffered, sendfile, willneed, ranges4, ranges8] * 3:
        evict([Path(path)])
        wall, cpu = time.perf_counter(), time.process_time()
        read(path)
        wall_ms, cpu_ms = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
        if read is willneed:
            time.sleep(0.3)  # the hints may still be reading
        resident_mb = (resident_bytes([Path(path)]) or 0) / 1e6
        print(f"{read.__name__:9s} wall {wall_ms:7.1f} ms  cpu {cpu_ms:7.1f} ms  resident {resident_mb:.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1])
