"""Start-up cost of the law command line: ``law run PlotSignificance --version v1 --print-status 0`` against
``python -c "import law, luigi"`` (the floor any law command pays), wall time, best and median of N runs,
and the CPU time (user + system) of the same runs, which depends less on what else the machine runs.

    python benchmarks/bench_startup.py [--repeats 5] [--config default]

Both run in fresh processes with the project's law.cfg and an empty temporary DATA_PATH; the goal is a
ratio of at most 3.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def times(cmd: list[str], env: dict, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each of ``repeats`` fresh runs of ``cmd``."""
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = _children_cpu(), time.perf_counter()
        subprocess.run(cmd, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        wall.append(time.perf_counter() - t0)
        cpu.append(_children_cpu() - c0)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--config", default="default")
    args = parser.parse_args()
    law = str(Path(sys.executable).with_name("law"))
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, DATA_PATH=os.path.join(tmp, "data"), LAW_HOME=os.path.join(tmp, ".law"),
                   LAW_CONFIG_FILE=str(ROOT / "law.cfg"), PYTHONPATH=str(ROOT))
        subprocess.run([law, "index", "--quiet"], env=env, cwd=ROOT, check=True)
        base = times([sys.executable, "-c", "import law, luigi"], env, args.repeats)
        status = times([law, "run", "PlotSignificance", "--version", "v1", "--config", args.config,
                        "--print-status", "0"], env, args.repeats)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load)}, after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for what, i in (("wall", 0), ("cpu", 1)):
        for name, t in (("import law, luigi", base[i]), ("law run PlotSignificance --print-status 0", status[i])):
            print(f"{what:4s} {name:45s} best {min(t):6.2f} s   median {statistics.median(t):6.2f} s")
        print(f"{what:4s} ratio (best) {min(status[i]) / min(base[i]):.1f}   ratio (median) "
              f"{statistics.median(status[i]) / statistics.median(base[i]):.1f}" + ("   goal <= 3" if i == 0 else ""))


if __name__ == "__main__":
    main()
