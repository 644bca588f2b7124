"""Write tests/data/efp_reference.json: energyflow's EFPs (d <= 5) of real Pythia jets, for test_efp.py.

Two stages, because energyflow 1.4.0 needs numpy < 2 (through ``wasserstein``) and the project runs numpy 2:
  1. in the project venv: generate QCD and semivisible-jet events (Pythia 8, MPI off), keep each leading
     AK8 jet's hardest 50 constituents as (pT, rapidity, azimuth relative to the hardest one);
  2. in a separate venv with energyflow (``python -m venv /tmp/efvenv &&
     /tmp/efvenv/bin/pip install "numpy<2" energyflow==1.4.0``): ``EFPSet('d<=5', measure='hadr', beta=1,
     normed=True)`` on those jets; every graph's edge list is stored with its values, so the test matches
     graphs by isomorphism, not by energyflow's order.

    PYTHONPATH=. .venv/bin/python tests/data/make_efp_reference.py --energyflow-python /tmp/efvenv/bin/python
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "efp_reference.json"
N_HARDEST = 50


def real_jets(n_per_sample: int, seed: int) -> list[list[list[float]]]:
    """Leading AK8 jets of Pythia events as lists of (pT, y, phi - phi_hardest) rows, hardest first."""
    import tempfile

    import awkward as ak
    import numpy as np

    from analysis.features import substructure as sub
    from analysis.generation import generate_sample
    from analysis.io.nanoaod import jet_constituents, read_events

    samples = [{"process": "qcd", "pt_hat_min": 300, "mpi": False},
               {"process": "svj_schannel", "mpi": False, "xsec_pb": 0.1,
                "params": {"m_med": 2000, "r_inv": 0.3, "m_dark": 20, "n_c": 2, "n_f": 2}}]
    jets = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, spec in enumerate(samples):
            path = f"{tmp}/s{k}.root"
            generate_sample(spec, n_per_sample, seed + k, path)
            cons = jet_constituents(read_events(path, ["FatJet", "PFCands"]))
            cons = cons[ak.num(cons) > 0][:, 0]
            counts = ak.to_numpy(ak.num(cons))
            pt, eta, phi, mass = (ak.to_numpy(ak.flatten(cons[f])).astype(np.float64) for f in ("pt", "eta", "phi", "mass"))
            (pt_pad, y_pad, phi_pad), mask = sub.pad_hardest(pt, [pt, sub.rapidity(pt, eta, mass), phi], counts, N_HARDEST)
            phi_pad = sub.delta_phi(phi_pad, phi_pad[:, :1])
            for j in range(len(counts)):
                keep = mask[j]
                jets.append(np.stack([pt_pad[j, keep], y_pad[j, keep], phi_pad[j, keep]], axis=1).tolist())
    return jets


def energyflow_values(jets: list[list[list[float]]]) -> dict:
    """Run inside the energyflow venv: every d <= 5 graph (d = 0 dropped) with its value per jet."""
    import energyflow as ef
    import numpy as np

    efpset = ef.EFPSet("d<=5", measure="hadr", beta=1, normed=True)
    values = np.asarray(efpset.batch_compute([np.asarray(j) for j in jets], n_jobs=1))
    graphs = [[list(map(int, e)) for e in g] for g in efpset.graphs()]
    keep = [i for i, g in enumerate(graphs) if g]
    return {"energyflow": ef.__version__, "graphs": [graphs[i] for i in keep],
            "values": values[:, keep].T.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--energyflow-python", help="python of a venv with energyflow==1.4.0 (stage 2)")
    parser.add_argument("--stage2", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--n-per-sample", type=int, default=12)
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    if args.stage2:
        json.dump(energyflow_values(json.load(sys.stdin)), sys.stdout)
        return
    jets = real_jets(args.n_per_sample, args.seed)
    result = subprocess.run([args.energyflow_python, __file__, "--stage2"], input=json.dumps(jets),
                            capture_output=True, text=True, check=True)
    reference = json.loads(result.stdout)
    OUT.write_text(json.dumps({"jets": jets, **reference, "seed": args.seed}))
    print(f"{OUT}: {len(jets)} jets, {len(reference['graphs'])} graphs")


if __name__ == "__main__":
    main()
