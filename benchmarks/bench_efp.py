"""Jets/s per core of the vectorised EFPs (d <= 5, 101 graphs) vs energyflow's EFPSet on the same jets.

energyflow 1.4.0 needs numpy < 2, so it usually lives in its own venv:
    python -m venv /tmp/efvenv && /tmp/efvenv/bin/pip install "numpy<2" energyflow==1.4.0
    PYTHONPATH=. .venv/bin/python benchmarks/bench_efp.py --energyflow-python /tmp/efvenv/bin/python
Without --energyflow-python it uses energyflow in this process if importable, else prints our rate only.
Both run on one thread and are timed in CPU time (time.process_time); the jets are bench_features'
AK8-like toys, hardest 50 constituents (as ours use).
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # per-core numbers: no BLAS threads

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import awkward as ak  # noqa: E402
import numpy as np  # noqa: E402

from analysis.features.registry import compute_features  # noqa: E402
from analysis.features import substructure as sub  # noqa: E402
from analysis.features.efp_graphs import canonical_form, efp_graphs  # noqa: E402
from analysis.features.registry import MAX_CONSTITUENTS  # noqa: E402
from benchmarks.bench_features import toy_jets  # noqa: E402

# run by the energyflow python: time EFPSet on the jets of an npz, write rate, graphs and values back
_ENERGYFLOW_SCRIPT = """
import json, sys, time
import numpy as np
import energyflow as ef
data = np.load(sys.argv[1])
jets = [np.stack([data["pt"][i], data["y"][i], data["phi"][i]], axis=1)[data["mask"][i]] for i in range(len(data["pt"]))]
efpset = ef.EFPSet("d<=5", measure="hadr", beta=1, normed=True)
efpset.batch_compute(jets[:20], n_jobs=1)
start = time.process_time()
values = np.asarray(efpset.batch_compute(jets, n_jobs=1))
rate = len(jets) / (time.process_time() - start)
graphs = [[list(map(int, e)) for e in g] for g in efpset.graphs()]
json.dump({"rate": rate, "graphs": graphs, "values": values.T.tolist()}, sys.stdout)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jets", type=int, default=4096)
    parser.add_argument("--n-baseline", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--energyflow-python", help="python of a venv with energyflow==1.4.0")
    args = parser.parse_args()
    names = list(efp_graphs())
    jets, constituents = toy_jets(args.n_jets, args.seed)
    print(f"{args.n_jets} toy jets, mean {ak.mean(ak.num(constituents)):.1f} constituents, {len(names)} EFPs")
    compute_features(jets[:256], constituents[:256], names)  # warm-up
    start = time.process_time()
    ours = compute_features(jets, constituents, names)
    rate = args.n_jets / (time.process_time() - start)
    print(f"vectorised : {rate:9.0f} jets/s per core")

    n = min(args.n_baseline, args.n_jets)
    counts = ak.to_numpy(ak.num(constituents[:n]))
    flat = {f: ak.to_numpy(ak.flatten(constituents[:n][f])).astype(np.float64) for f in ("pt", "eta", "phi", "mass")}
    y = sub.rapidity(flat["pt"], flat["eta"], flat["mass"])
    (pt, y_pad, phi), mask = sub.pad_hardest(flat["pt"], [flat["pt"], y, flat["phi"]], counts, MAX_CONSTITUENTS)
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/jets.npz"
        np.savez(path, pt=pt, y=y_pad, phi=sub.delta_phi(phi, phi[:, :1]), mask=mask)
        python = args.energyflow_python or sys.executable
        result = subprocess.run([python, "-c", _ENERGYFLOW_SCRIPT, path], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"energyflow: not run ({result.stderr.strip().splitlines()[-1] if result.stderr else 'failed'}); "
              "see this script's docstring for how to get it")
        return
    import json

    baseline = json.loads(result.stdout)
    by_form = {canonical_form(g): name for name, g in efp_graphs().items()}
    worst = 0.0
    for graph, values in zip(baseline["graphs"], baseline["values"]):
        if graph:  # d = 0 is the constant 1
            mine = ours[by_form[canonical_form(tuple(tuple(e) for e in graph))]][:n]
            worst = max(worst, float(np.max(np.abs(mine - values) / np.abs(np.asarray(values)))))
    print(f"energyflow : {baseline['rate']:9.0f} jets/s per core  (on {n} jets; largest relative difference {worst:.1e})")
    print(f"ratio      : {rate / baseline['rate']:9.1f}x  (goal >= 10x)")


if __name__ == "__main__":
    main()
