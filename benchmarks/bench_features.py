"""Jets/s per core of the jet features and representations, each next to its baseline, on one thread.

1. hlf_cms22 from a NanoAOD-like ROOT file (generated QCD, MPI off) to the h5 dataset: read, select,
   features, build; and the time of each expensive group alone (tau_N, C2/D2, M2/N2, the rest).
2. Representations on toy jets: image40 vs a per-jet loop (eigenvectors, rotation, histogram2d; the
   images are compared), constituents50, and the full C/A Lund tree vs fastjet's C/A + primary Lund plane.
3. ``compute_features`` vs a naive per-jet Python loop on toy AK8-like jets: a loop over jets, numpy on
   each jet's constituents, a single-event fastjet ClusterSequence of PseudoJets per jet for the kT axes,
   and the graph contractions on a batch of one jet; it also cross-checks the values.
EFPs up to d = 5 against energyflow: benchmarks/bench_efp.py. Rates use the process's CPU time
(time.process_time), so other jobs on a shared machine do not count as ours.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_features.py [--n-jets 5000] [--n-baseline 300] [--n-events 2000]
"""
from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # per-core numbers: no BLAS threads

import argparse  # noqa: E402
import time  # noqa: E402

import awkward as ak  # noqa: E402
import fastjet  # noqa: E402
import numpy as np  # noqa: E402

from analysis.features.registry import compute_features  # noqa: E402
from analysis.features import substructure as sub  # noqa: E402
from analysis.features.efp import GraphEvaluator  # noqa: E402
from analysis.features.efp_graphs import EFP_GRAPHS  # noqa: E402
from analysis.features.registry import MAX_CONSTITUENTS  # noqa: E402
from analysis.features.representations import PIXEL_ETA, PIXEL_PHI, compute_representations  # noqa: E402
from analysis.io.nanoaod import jet_constituents  # noqa: E402

R = 0.8


def toy_jets(n_jets: int, seed: int) -> tuple[ak.Array, ak.Array]:
    """AK8-like toys: ~60 constituents, 2-3 prongs with a soft diffuse component, random phi (wraps included)."""
    rng = np.random.default_rng(seed)
    counts = np.maximum(rng.poisson(60, n_jets), 1)
    jet_index = np.repeat(np.arange(n_jets), counts)
    total = counts.sum()
    jet_eta, jet_phi = rng.uniform(-2.0, 2.0, n_jets), rng.uniform(-np.pi, np.pi, n_jets)
    n_prongs = rng.integers(1, 4, n_jets)
    prong = rng.integers(0, 3, total) % n_prongs[jet_index]
    prong_eta, prong_phi = rng.normal(0, 0.25, (n_jets, 3)), rng.normal(0, 0.25, (n_jets, 3))
    spread = np.where(rng.random(total) < 0.7, 0.03, 0.3)
    eta = jet_eta[jet_index] + prong_eta[jet_index, prong] + spread * rng.normal(size=total)
    phi = sub.delta_phi(jet_phi[jet_index] + prong_phi[jet_index, prong] + spread * rng.normal(size=total), 0.0)
    pt = 500.0 * rng.pareto(1.5, total) / 30.0 + 0.5
    pdg = rng.choice([211, -211, 321, 22, 130, 11, -13], total, p=[0.3, 0.3, 0.05, 0.25, 0.08, 0.01, 0.01])
    charge = np.where(np.isin(pdg, [22, 130]), 0, np.where(np.abs(pdg) < 20, -np.sign(pdg), np.sign(pdg)))
    constituents = ak.unflatten(ak.zip({"pt": pt, "eta": eta, "phi": phi, "mass": np.full(total, 0.1396),
                                        "charge": charge, "pdgId": pdg}), counts)
    px, py = sub.per_jet_sum(pt * np.cos(phi), jet_index, n_jets), sub.per_jet_sum(pt * np.sin(phi), jet_index, n_jets)
    pz = sub.per_jet_sum(pt * np.sinh(eta), jet_index, n_jets)
    jets = ak.zip({"pt": np.hypot(px, py), "eta": np.arcsinh(pz / np.hypot(px, py)), "phi": np.arctan2(py, px),
                   "mass": rng.uniform(20, 300, n_jets), "msoftdrop": rng.uniform(0, 250, n_jets)})
    return jets, constituents


def naive_features(jet: dict, c: dict) -> dict[str, float]:
    """Every feature of one jet from its constituents' numpy arrays."""
    fields = ("pt", "eta", "phi", "mass", "charge", "pdgId")
    pt, eta, phi, mass, charge, pdg = (np.asarray(c[k], dtype=float) for k in fields)
    y = sub.rapidity(pt, eta, mass)
    out = {k: float(jet[k]) for k in ("pt", "eta", "phi", "mass", "msoftdrop")}
    out["log_msoftdrop"] = float(np.log(max(jet["msoftdrop"], 1.0)))
    out["n_constituents"] = float(len(pt))
    pz = pt * np.sinh(eta)
    energy = np.sqrt(pt**2 + pz**2 + mass**2)
    particles = [fastjet.PseudoJet(*p) for p in zip(pt * np.cos(phi), pt * np.sin(phi), pz, energy)]
    sequence = fastjet.ClusterSequence(particles, fastjet.JetDefinition(fastjet.kt_algorithm, 1000.0))
    for n in range(1, 5):
        if len(pt) <= n:
            out[f"tau{n}"] = 0.0
            continue
        axes = sequence.exclusive_jets(n)
        distance = np.min([np.hypot(y - a.rap(), sub.delta_phi(phi, a.phi())) for a in axes], axis=0)
        out[f"tau{n}"] = float(np.sum(pt * distance) / (pt.sum() * R))
    for n in (2, 3, 4):
        out[f"tau{n}{n - 1}"] = out[f"tau{n}"] / out[f"tau{n - 1}"] if out[f"tau{n - 1}"] > 0 else 0.0
    out["ptd"] = float(np.sqrt(np.sum(pt**2)) / pt.sum())
    deta, dphi = eta - jet["eta"], sub.delta_phi(phi, jet["phi"])
    out["girth"] = float(np.sum(pt * np.hypot(deta, dphi)) / jet["pt"])
    eigenvalues = np.linalg.eigvalsh(np.cov(np.stack([deta, dphi]), aweights=pt**2, bias=True))
    out["axis_major"], out["axis_minor"] = (float(np.sqrt(max(v, 0.0))) for v in eigenvalues[::-1])
    neutral_hadron = (charge == 0) & (pdg != 22) & ((np.abs(pdg) < 11) | (np.abs(pdg) > 16))
    lepton = np.isin(np.abs(pdg), [11, 13])
    for name, selected in (("charged_fraction", charge != 0), ("photon_fraction", pdg == 22),
                           ("neutral_hadron_fraction", neutral_hadron), ("lepton_fraction", lepton)):
        out[name] = float(pt[selected].sum() / pt.sum())
    hardest = np.argsort(-pt, kind="stable")[:MAX_CONSTITUENTS]
    z = pt[hardest] / pt[hardest].sum()
    theta = np.hypot(y[hardest, None] - y[None, hardest], sub.delta_phi(phi[hardest, None], phi[None, hardest]))
    for beta in (1.0, 2.0):
        evaluator = GraphEvaluator(z[None], theta[None], beta)
        e2 = 0.5 * evaluator.value(((0, 1),))[0]
        e3 = evaluator.value(((0, 1), (1, 2), (2, 0)))[0] / 6.0
        out[f"c2_b{beta:g}"], out[f"d2_b{beta:g}"] = (e3 / e2**2, e3 / e2**3) if e2 > 0 else (np.nan, np.nan)
        if beta == 1.0:
            out.update({name: evaluator.value(edges)[0] for name, edges in EFP_GRAPHS.items()})
    return out


# what naive_features computes (the full hlf_cms set and the d <= 3 EFPs)
NAIVE_NAMES = ["pt", "eta", "phi", "mass", "msoftdrop", "log_msoftdrop", "n_constituents",
               *(f"tau{n}" for n in range(1, 5)), "tau21", "tau32", "tau43", "ptd", "girth", "axis_major",
               "axis_minor", "charged_fraction", "photon_fraction", "neutral_hadron_fraction", "lepton_fraction",
               "c2_b1", "d2_b1", "c2_b2", "d2_b2", *EFP_GRAPHS]


def naive_image(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, n_pixels: int = 40) -> np.ndarray:
    """One jet's "QCD or What?" image the per-jet way: eigenvectors, rotation matrix, histogram2d."""
    dphi = sub.delta_phi(phi, phi[0])
    points = np.stack([eta - np.average(eta, weights=pt), dphi - np.average(dphi, weights=pt)])
    _, vectors = np.linalg.eigh(np.cov(points, aweights=pt, bias=True))
    major = vectors[:, 1]
    angle = 0.5 * np.pi - np.arctan2(major[1], major[0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    x, y = rotation @ points
    if pt[x > 0].sum() < pt[x < 0].sum():
        x = -x
    if pt[y > 0].sum() < pt[y < 0].sum():
        y = -y
    half = n_pixels / 2
    image, _, _ = np.histogram2d(y, x, bins=n_pixels, weights=pt,
                                 range=[[-half * PIXEL_PHI, half * PIXEL_PHI], [-half * PIXEL_ETA, half * PIXEL_ETA]])
    return image / image.sum()


def bench_representations(jets: ak.Array, constituents: ak.Array, n_baseline: int) -> None:
    """image40 vs a per-jet loop; constituents50; Lund graphs vs fastjet's vectorised primary Lund planes."""
    n_jets = len(jets)
    compute_representations(jets[:100], constituents[:100], ["image40", "lund_graph"])  # compile / warm up
    rates = {}
    for name in ("image40", "constituents50", "lund_graph"):
        start = time.process_time()
        compute_representations(jets, constituents, [name])
        rates[name] = n_jets / (time.process_time() - start)
    n = min(n_baseline, n_jets)
    cons = ak.to_list(constituents[:n])
    start = time.process_time()
    naive = [naive_image(*(np.array([p[k] for p in c]) for k in ("pt", "eta", "phi"))) for c in cons]
    naive_rate = n / (time.process_time() - start)
    images = compute_representations(jets[:n], constituents[:n], ["image40"])["image40"]["image"]
    agree = np.mean([np.allclose(a, b, atol=1e-6) for a, b in zip(naive, images)])
    c = constituents
    pz = c.pt * np.sinh(c.eta)
    events = ak.zip({"px": c.pt * np.cos(c.phi), "py": c.pt * np.sin(c.phi), "pz": pz,
                     "E": np.sqrt(c.pt**2 + pz**2 + c.mass**2)})
    start = time.process_time()
    sequence = fastjet.ClusterSequence(events, fastjet.JetDefinition(fastjet.cambridge_algorithm, 1000.0))
    sequence.exclusive_jets_lund_declusterings(njets=1)
    fastjet_rate = n_jets / (time.process_time() - start)
    print(f"image40       : {rates['image40']:9.0f} jets/s per core; per-jet loop {naive_rate:7.0f} "
          f"-> {rates['image40'] / naive_rate:5.1f}x  (same images for {agree:.1%} of {n} jets)")
    print(f"constituents50: {rates['constituents50']:9.0f} jets/s per core")
    print(f"lund_graph    : {rates['lund_graph']:9.0f} jets/s per core (the whole C/A tree); "
          f"fastjet C/A + primary Lund plane only: {fastjet_rate:7.0f}")


def bench_root_to_h5(n_events: int, seed: int) -> None:
    """hlf_cms22 from a generated NanoAOD-like ROOT file to the h5 dataset, and which features dominate."""
    import tempfile

    import yaml

    from analysis.config import CONFIG_DIR, load_config
    from analysis.dataset import build_dataset, jet_table
    from analysis.generation import generate_sample
    from analysis.io.nanoaod import read_events

    names = yaml.safe_load((CONFIG_DIR / "features.yaml").read_text())["hlf_cms22"]
    selection = load_config("tiny").selection
    collections = ["FatJet", "PFCands", "MET", "genWeight", "event"]
    qcd = {"process": "qcd", "pt_hat_min": 300, "mpi": False}
    with tempfile.TemporaryDirectory() as tmp:
        generate_sample(qcd, n_events, seed, f"{tmp}/qcd.root")
        generate_sample(qcd, 50, seed + 1, f"{tmp}/warm.root")
        jet_table(read_events(f"{tmp}/warm.root", collections), selection, names, 2)  # compile numba kernels
        start = time.process_time()
        events = read_events(f"{tmp}/qcd.root", collections)
        table = jet_table(events, selection, names, 2)
        other = {**table, "event": table["event"] + np.uint64(10**9)}  # a second sample for the labels
        build_dataset([{"name": "qcd", "label": 0, "table": table, "xsec_pb": 1.0, "sum_genweight": n_events},
                       {"name": "other", "label": 1, "table": other, "xsec_pb": 1.0, "sum_genweight": n_events}],
                      names, [0.7, 0.15, 0.15], 1, "standard", f"{tmp}/d.h5")
        total = time.process_time() - start
    n_jets = len(table["event"])
    cons = ak.flatten(jet_constituents(events)[:, :2], axis=1)
    jets = ak.with_field(events.FatJet[:, :2], events.MET.phi, "met_phi")
    jets = ak.flatten(jets)
    groups = {"tau1..tau5": ["tau1", "tau2", "tau3", "tau4", "tau5"],
              "C2 D2 M2 N2": ["c2_b1", "d2_b1", "m2_b1", "n2_b1", "c2_b2", "d2_b2", "m2_b2", "n2_b2"],
              "the rest": [n for n in names if not n.startswith(("tau", "c2", "d2", "m2", "n2"))]}
    print(f"hlf_cms22 ROOT -> h5: {n_jets} real QCD jets, mean {ak.mean(ak.num(cons)):.0f} constituents: "
          f"{n_jets / total:6.0f} jets/s per core (goal >= 2000)")
    for label, group in groups.items():
        start = time.process_time()
        compute_features(jets, cons, group)
        elapsed = time.process_time() - start
        print(f"  {label:<14s} {1e3 * elapsed / len(jets):6.3f} ms/jet alone ({elapsed / total * n_jets / len(jets):5.1%} "
              "of the ROOT -> h5 time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jets", type=int, default=5000)
    parser.add_argument("--n-baseline", type=int, default=300)
    parser.add_argument("--n-events", type=int, default=2000, help="generated QCD events for the ROOT -> h5 timing")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    bench_root_to_h5(args.n_events, args.seed)
    jets, constituents = toy_jets(args.n_jets, args.seed)
    bench_representations(jets, constituents, args.n_baseline)
    names = NAIVE_NAMES
    print(f"{args.n_jets} toy jets, mean {ak.mean(ak.num(constituents)):.1f} constituents, {len(names)} features")

    compute_features(jets[:200], constituents[:200], names)  # warm-up
    start = time.process_time()
    vectorised = compute_features(jets, constituents, names)
    rate = args.n_jets / (time.process_time() - start)
    for group in (["tau1", "tau2", "tau3", "tau4"], ["c2_b1", "d2_b1", "c2_b2", "d2_b2"], list(EFP_GRAPHS),
                  ["ptd", "girth", "axis_major", "axis_minor", "charged_fraction"]):
        start = time.process_time()
        compute_features(jets, constituents, group)
        label = f"{group[0]}..{group[-1]}"
        print(f"  {label:<24s} {args.n_jets / (time.process_time() - start):9.0f} jets/s alone")

    n = min(args.n_baseline, args.n_jets)
    jet_records, constituent_lists = ak.to_list(jets[:n]), ak.to_list(constituents[:n])
    start = time.process_time()
    naive = [naive_features(j, {k: [p[k] for p in c] for k in c[0]}) for j, c in zip(jet_records, constituent_lists)]
    naive_rate = n / (time.process_time() - start)
    worst = max(np.nanmax(np.abs(np.array([row[k] for row in naive]) - vectorised[k][:n])
                          / np.maximum(np.abs(vectorised[k][:n]), 1e-12)) for k in names)
    print(f"vectorised: {rate:9.0f} jets/s per core")
    print(f"naive loop: {naive_rate:9.0f} jets/s per core  (on {n} jets; largest relative difference {worst:.1e})")
    print(f"ratio     : {rate / naive_rate:9.1f}x")


if __name__ == "__main__":
    main()
