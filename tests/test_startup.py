"""Start-up: building the task graph (every task module law.cfg lists) loads no heavy library.

torch, scikit-learn, matplotlib, fastjet and Pythia load inside the tasks' ``run()`` and the library
functions that need them, so ``law run ... --print-status`` and job submission stay fast
(``benchmarks/bench_startup.py`` measures the time).
"""
import configparser
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "sklearn", "matplotlib", "fastjet", "pythia8mc")


def test_task_modules_import_no_heavy_library():
    cfg = configparser.ConfigParser(allow_no_value=True, interpolation=None)
    cfg.read(ROOT / "law.cfg")
    modules = [m.strip() for m in cfg["modules"] if m.strip()]
    assert "tasks.plotting" in modules and "tasks.training" in modules
    code = ("import json, sys\n" + "".join(f"import {m}\n" for m in modules) +
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == []
