"""Which modules a cold `import numpy, onnxruntime` is slower in: `python -X importtime`, five cold runs
(packages evicted) and five warm ones, interleaved; the largest differences of the modules' own times.

    .venv/bin/python benchmarks/import_cold_profile.py
"""

import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infer.bench.cold import RUNTIME_PACKAGES, evict, package_dir

PACKAGES = [package_dir(p) for p in RUNTIME_PACKAGES]


def self_times_us() -> dict[str, int]:
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", "import numpy, onnxruntime"],
                         capture_output=True, text=True).stderr
    found = {}
    for line in err.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            own, _, name = line.removeprefix("import time:").split("|")
            found[name.strip()] = int(own)
    return found


def main() -> None:
    cold, warm = [], []
    for _ in range(5):
        evict(PACKAGES)
        cold.append(self_times_us())
        warm.append(self_times_us())

    def med(runs, name):
        return statistics.median(run.get(name, 0) for run in runs) / 1000

    print(f"sum of the modules' own times: cold {statistics.median(sum(r.values()) for r in cold) / 1000:.1f} ms, "
          f"warm {statistics.median(sum(r.values()) for r in warm) / 1000:.1f} ms")
    for name in sorted(cold[0], key=lambda n: med(warm, n) - med(cold, n))[:8]:
        print(f"  {name:<50} +{med(cold, name) - med(warm, name):6.1f} ms (cold {med(cold, name):6.1f}, warm {med(warm, name):6.1f})")


if __name__ == "__main__":
    main()
