"""Run one container as a Lambda execution environment, and make sure it goes when its environment goes.

The emulator stops an environment by killing its process group, which does not reach a container
(podman hands it to conmon, outside that group). So the environment's process is this supervisor:

    python -m infer.local.supervise NAME -- podman ... run ... --name NAME IMAGE

It starts a watchdog in a session of its own, holding the read end of a pipe whose write end only the
supervisor has, then runs `podman run` as its child in its own group. When the supervisor dies, however
it dies (SIGKILL included), the pipe closes and the watchdog removes the container by name; when
`podman run` ends by itself, the supervisor tells the watchdog there is nothing to do.
"""

import os
import subprocess
import sys

DONE = b"done"


def cleanup_argv(run_argv: list[str], name: str) -> list[str]:
    """`podman <global options> rm --force NAME` from `podman <global options> run ...`."""
    return run_argv[:run_argv.index("run")] + ["rm", "--force", "--ignore", "--time", "0", name]


def supervise(name: str, run_argv: list[str]) -> int:
    read_end, write_end = os.pipe()  # both non-inheritable: only the watchdog gets the read end, as stdin
    subprocess.Popen(
        [sys.executable, "-m", "infer.local.supervise", "--watch", "--", *cleanup_argv(run_argv, name)],
        stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    os.close(read_end)
    code = subprocess.call(run_argv)
    os.write(write_end, DONE)
    os.close(write_end)
    return code


def watch(cleanup: list[str]) -> int:
    if sys.stdin.buffer.read() == DONE:
        return 0
    return subprocess.call(cleanup, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    split = argv.index("--")
    if argv[:split] == ["--watch"]:
        return watch(argv[split + 1:])
    (name,) = argv[:split]
    return supervise(name, argv[split + 1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
