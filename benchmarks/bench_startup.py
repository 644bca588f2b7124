"""Start-up cost of the law command line: ``law run PlotSignificance --version v1 --print-status 0`` against
``python -c "import law, luigi"`` (the floor any law command pays), wall time, best and median of N runs.

    python benchmarks/bench_startup.py [--repeats 5] [--config default]

Both run in fresh processes with the project's law.cfg and an empty temporary DATA_PATH; the goal is a
ratio of at most 3.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wall_times(cmd: list[str], env: dict, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--config", default="default")
    args = parser.parse_args()
    law = str(Path(sys.executable).with_name("law"))
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, DATA_PATH=os.path.join(tmp, "data"), LAW_HOME=os.path.join(tmp, ".law"),
                   LAW_CONFIG_FILE=str(ROOT / "law.cfg"), PYTHONPATH=str(ROOT))
        subprocess.run([law, "index", "--quiet"], env=env, cwd=ROOT, check=True)
        base = wall_times([sys.executable, "-c", "import law, luigi"], env, args.repeats)
        status = wall_times([law, "run", "PlotSignificance", "--version", "v1", "--config", args.config,
                             "--print-status", "0"], env, args.repeats)
    for name, t in (("import law, luigi", base), ("law run PlotSignificance --print-status 0", status)):
        print(f"{name:45s} best {min(t):6.2f} s   median {statistics.median(t):6.2f} s")
    print(f"ratio (best) {min(status) / min(base):.1f}   ratio (median) "
          f"{statistics.median(status) / statistics.median(base):.1f}   goal <= 3")


if __name__ == "__main__":
    main()
