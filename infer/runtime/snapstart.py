"""Lambda SnapStart: the init before a snapshot, and what is redone after each restore.

When AWS_LAMBDA_INITIALIZATION_TYPE is "snap-start" (the init of a published version that Lambda will
snapshot), `model.begin` calls `prepare`, which:
1. loads the model now, whatever INFER_LOAD_STRATEGY says;
2. builds an .ort model's prepacked session on this thread and swaps it in (the snapshot holds the fast one);
3. runs one inference on an input generated from the signature (dynamic dimensions 1, zeros, empty strings),
   so the snapshot holds a session that has run once; a failure there is logged in one line, init goes on;
4. registers hooks with the runtime's `snapshot_restore_py` (imported here only): before the snapshot, a
   garbage collection; after each restore, Python's `random` and numpy's global generator re-seeded from
   os.urandom (every restored copy would otherwise draw the same numbers), and the restore noted, so the
   first request after it is reported as a restore (`metrics.take_restore`), not as an init cold start.
"""

import gc
import os
import sys

import numpy as np

from . import metrics, two_phase
from .warmup import sample_feeds

INITIALIZATION_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
SNAP_START = "snap-start"


def active() -> bool:
    """This init runs before a SnapStart snapshot."""
    return os.environ.get(INITIALIZATION_TYPE) == SNAP_START


def prepare(holder) -> None:
    """Steps 1-4 above: the model loaded, prepacked and run once, and the hooks registered."""
    model = holder.get()  # a model that cannot load fails init, as the eager strategy does
    holder.take_wait_ms()
    two_phase.finish_now(model)
    warm_up(model)
    register_hooks()


def warm_up(model) -> bool:
    """One inference on a generated input; False (and one line on stderr) if it failed."""
    try:
        model.run(sample_feeds(model.inputs))
        return True
    except Exception as exc:  # a generated input a model rejects must not fail init
        text = str(exc).strip()
        first_line = text.splitlines()[0] if text else type(exc).__name__
        sys.stderr.write(f"infer: SnapStart warm-up inference of {model.name} failed (the snapshot holds a session "
                         f"that has not run): {first_line}\n")
        return False


def register_hooks() -> bool:
    """Register before_snapshot and after_restore with the runtime's library; False if it is not there."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        sys.stderr.write("infer: snapshot_restore_py is not installed: no SnapStart runtime hooks registered\n")
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    return True


def before_snapshot() -> None:
    gc.collect()  # garbage left by loading is not worth snapshotting


def after_restore() -> None:
    """Re-seed what every restored copy would otherwise share, and note the restore for the metrics."""
    random = sys.modules.get("random")  # imported after the restore, it seeds itself from os.urandom
    if random is not None:
        random.seed(os.urandom(32))
    np.random.seed(np.frombuffer(os.urandom(16), dtype=np.uint32))
    metrics.note_restore()
