"""Share of generation time spent outside Pythia (detector, clustering, soft drop, matching, writing).

Runs ``generate_sample`` as the tasks do, with timers wrapped around its stages (the same functions,
patched in place for the run), so the numbers are those of the real path. The baseline is Pythia's own
event generation (``nextBatch``) in the same run; the goal is <= 10% of the time outside it. Prints
events/s per core for Pythia alone and for the whole chain, the breakdown by stage, and the soft-drop
speed-up over fastjet-contrib's SoftDrop (the previous path) on the same jets. Times are process CPU
time, so other jobs on a shared machine do not distort the per-core rates.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_generation.py [--events 1000] [--samples qcd svj] [--no-mpi]
"""
from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # per-core numbers

import argparse  # noqa: E402
import collections  # noqa: E402
import contextlib  # noqa: E402
import functools  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import awkward as ak  # noqa: E402
import fastjet  # noqa: E402
import numpy as np  # noqa: E402

import analysis.generation as generation  # noqa: E402
from analysis.generation import nanoaod  # noqa: E402
from analysis.generation.detector import reconstruct  # noqa: E402
from analysis.generation.detector_settings import resolve_detector  # noqa: E402
from analysis.kinematics import clustering  # noqa: E402

SAMPLES = {
    "qcd": {"process": "qcd", "pt_hat_min": 300},
    "ttbar": {"process": "ttbar", "pt_hat_min": 250},
    "svj": {"process": "svj_schannel", "params": {"m_med": 2000, "r_inv": 0.3, "m_dark": 20, "n_c": 2, "n_f": 2},
            "xsec_pb": 0.1},
}
# (module, function name, stage): the stages of generate_sample / build_events / cluster_fatjets
STAGES = [
    (generation, "final_state", "particle record"),
    (generation, "dark_meson_decays", "particle record"),
    (nanoaod, "reconstruct", "detector"),
    (nanoaod, "identify", "lepton/photon id + isolation"),
    (nanoaod, "nearest_index", "cross-references"),
    (nanoaod, "first_two_members", "cross-references"),
    (nanoaod, "jet_rinv", "jet r_inv"),
    (clustering, "_softdrop", "soft drop"),
    (nanoaod, "cluster_fatjets", "AK8 clustering (soft drop apart)"),
    (nanoaod, "cluster_jets", "AK4 clustering"),
    (generation, "write_nanoaod", "writing"),
    (generation, "make_pythia", "pythia init"),
]


@contextlib.contextmanager
def timed_stages(totals: collections.Counter):
    """Wrap each stage function so its CPU time adds up in ``totals``; restore them afterwards."""
    saved = [(mod, name, getattr(mod, name)) for mod, name, _ in STAGES]

    def wrap(fn, stage):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            t0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[stage] += time.process_time() - t0
        return inner

    def timed_records(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            it = fn(*args, **kwargs)
            while True:
                t0 = time.process_time()
                try:
                    batch = next(it)
                except StopIteration:
                    return
                finally:
                    totals["pythia"] += time.process_time() - t0
                yield batch
        return inner

    try:
        for mod, name, stage in STAGES:
            setattr(mod, name, wrap(getattr(mod, name), stage))
        generation.generate_records = timed_records(saved_records := generation.generate_records)
        yield
    finally:
        for mod, name, fn in saved:
            setattr(mod, name, fn)
        generation.generate_records = saved_records


def bench(name: str, sample: dict, n_events: int, seed: int) -> dict:
    totals: collections.Counter = collections.Counter()
    with tempfile.TemporaryDirectory() as tmp, timed_stages(totals):
        t0 = time.process_time()
        generation.generate_sample(sample, n_events, seed, os.path.join(tmp, "bench.root"))
        wall = time.process_time() - t0
    run = wall - totals["pythia init"]
    outside = run - totals["pythia"]
    # soft drop runs inside cluster_fatjets: report it on its own and the clustering without it
    totals["AK8 clustering (soft drop apart)"] -= totals["soft drop"]
    print(f"\n{name}: {n_events} events, MPI {'on' if sample.get('mpi', True) else 'off'}")
    print(f"  Pythia alone      {n_events / totals['pythia']:8.1f} events/s per core  (init {totals['pythia init']:.2f} s)")
    print(f"  whole generation  {n_events / run:8.1f} events/s per core")
    print(f"  outside Pythia    {outside:8.2f} s = {100 * outside / run:5.1f}% of the run (goal <= 10%)")
    named = sum(v for k, v in totals.items() if k not in ("pythia", "pythia init"))
    for stage, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        if stage not in ("pythia", "pythia init"):
            print(f"    {stage:34s} {seconds:6.2f} s  {100 * seconds / run:5.1f}%")
    print(f"    {'other (merging, awkward glue)':34s} {outside - named:6.2f} s  {100 * (outside - named) / run:5.1f}%")
    return {"share_outside": outside / run, "events_per_s": n_events / run}


def bench_softdrop(sample: dict, n_events: int, seed: int) -> None:
    """Soft drop of one batch's AK8 jets: the compiled C/A declustering against fastjet-contrib's
    SoftDrop through fastjet's exclusive_jets_softdrop_grooming, same jets."""
    pythia = generation.make_pythia(sample, seed)
    record = next(generation.generate_records(pythia, n_events, n_events))
    particles = reconstruct(generation.final_state(record, pythia.particleData), resolve_detector(None),
                            generation.detector_rng(seed))
    _, constituents = clustering.cluster_fatjets(particles)
    t0 = time.process_time()
    ours = clustering.softdrop_mass(constituents)
    t_ours = time.process_time() - t0
    per_jet = ak.flatten(constituents, axis=1)
    t0 = time.process_time()
    seq = fastjet.ClusterSequence(ak.zip({k: per_jet[k] for k in ("px", "py", "pz", "E")}, with_name="Momentum4D"),
                                  fastjet.JetDefinition(fastjet.cambridge_algorithm, fastjet.JetDefinition.max_allowable_R))
    ref = seq.exclusive_jets_softdrop_grooming(njets=1, beta=0.0, symmetry_cut=0.1, R0=0.8).msoftdrop
    t_ref = time.process_time() - t0
    same = np.allclose(ak.to_numpy(ak.flatten(ours)), ak.to_numpy(ref), rtol=1e-7, atol=1e-6)
    n_jets = len(per_jet)
    print(f"  soft drop, {n_jets} jets: compiled {1e3 * t_ours / n_jets:.3f} ms/jet, fastjet-contrib "
          f"{1e3 * t_ref / n_jets:.3f} ms/jet: x{t_ref / t_ours:.1f} faster, same masses: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--samples", nargs="+", default=["qcd", "svj"], choices=sorted(SAMPLES))
    parser.add_argument("--no-mpi", action="store_true", help="MPI off (Pythia ~4x faster, the share grows)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for name in args.samples:
        sample = SAMPLES[name] | ({"mpi": False} if args.no_mpi else {})
        with tempfile.TemporaryDirectory() as tmp:  # warm-up: imports, fastjet banner, first-call costs
            generation.generate_sample(sample, 10, args.seed, os.path.join(tmp, "warm.root"))
        bench(name, sample, args.events, args.seed)
        bench_softdrop(sample, min(args.events, 500), args.seed)


if __name__ == "__main__":
    main()
