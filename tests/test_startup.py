"""Start-up: building the task graph (every task module law.cfg lists, the default study's config and hashes)
loads no heavy library.

torch, scikit-learn, matplotlib, fastjet and Pythia load inside the tasks' ``run()``, awkward, numba, uproot,
h5py and even numpy inside the library functions that need them (the config reads feature names from
``analysis.features.names``), so ``law run ... --print-status`` and job submission stay fast
(``benchmarks/bench_startup.py`` measures the time).
"""
import configparser
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "sklearn", "matplotlib", "fastjet", "pythia8mc", "awkward", "numba", "uproot", "h5py", "pandas", "numpy")


def test_building_the_task_graph_loads_no_heavy_library(tmp_path):
    cfg = configparser.ConfigParser(allow_no_value=True, interpolation=None)
    cfg.read(ROOT / "law.cfg")
    modules = [m.strip() for m in cfg["modules"] if m.strip()]
    assert "tasks.plotting" in modules and "tasks.training" in modules
    code = ("import json, sys\n" + "".join(f"import {m}\n" for m in modules) +
            "report = tasks.plotting.PlotSignificance(version='v1')\n"
            "print(report.output().path)\n"  # the hash of the whole graph: every task and the config
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    env = dict(os.environ, DATA_PATH=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    path, loaded = out.stdout.splitlines()[-2:]
    assert path.startswith(f"{tmp_path}/PlotSignificance/v1/") and path.endswith("/report")
    assert json.loads(loaded) == []
