"""Skim speed and memory: events/s per core and peak memory against the chunk size, and the default
keep-list against ``keep: all`` on a file with ~1,800 branches.

1. A large PFNano-like file is built from the tool's own events: QCD dijets generated once with Pythia 8
   (pT-hat > 300 GeV), written in PFNano's layout (every PF candidate in ``PFCands_*`` with a
   ``puppiWeight``, the ``FatJetPFCands`` table linking them to the AK8 jets), the generated events
   repeated with fresh event numbers until the file holds ``--events`` events (and twice that, to see
   whether memory grows with the file). Each (file, chunk size) is skimmed (``ak8_dijet``) in a fresh
   process, so its peak resident memory (ru_maxrss) is its own; events/s per core is events over that
   process's CPU time.
2. Skimming (reading, selecting nothing away, writing) and writing alone ``coffea_pfnano.root`` (CMS PFNano, 1,802 branches; its 10 events, or repeated to
   ``--wide-events``): the default keep-list against ``keep: all``, in this process, best of ``--repeat``.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_skim.py [--events 100000] [--chunks 1000 10000 100000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import awkward as ak
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SELECTION = {"objects": {"FatJet": {"min_pt": 200.0, "max_abs_eta": 2.4}},
             "cuts": [{"name": "two_fatjets", "var": "n_fatjet", "min": 2},
                      {"name": "delta_eta", "var": "abs_deta_jj", "max": 1.5}]}


def pfnano_layout(events: ak.Array) -> ak.Array:
    """The tool's event record in PFNano's layout: PFCands without fatJetIdx, plus the FatJetPFCands table."""
    cands = events.PFCands
    idx = cands.fatJetIdx
    linked = idx >= 0
    table = ak.zip({"jetIdx": ak.values_astype(idx[linked], np.int32),
                    "pFCandsIdx": ak.values_astype(ak.local_index(idx)[linked], np.int32)})
    pf = ak.zip({f: cands[f] for f in cands.fields if f != "fatJetIdx"}
                | {"puppiWeight": ak.ones_like(cands.pt, dtype=np.float32)})
    return ak.Array({f: events[f] for f in events.fields if f != "PFCands"} | {"PFCands": pf, "FatJetPFCands": table})


def build_large(path: str, events: ak.Array, n_events: int, basket: int = 1000) -> None:
    """``n_events`` of the given events repeated, written in baskets of ``basket`` events as CMS files are
    (a single basket would have to be read whole for any chunk)."""
    from analysis.io.nanoaod import TreeWriter, flat_branches

    with TreeWriter(path, "bench") as writer:
        for start in range(0, n_events, basket):
            idx = np.arange(start, min(start + basket, n_events))
            part = events[idx % len(events)]
            writer.extend(flat_branches(ak.with_field(part, idx.astype(np.uint64), "event")))


def skim_child(path: str, step: int) -> None:
    """Run in a fresh process: skim, then print events, CPU seconds and peak RSS (MB) as JSON."""
    import resource

    from analysis.skim import skim_file

    with open("/proc/self/status") as f:  # resident memory after the imports: the skim's own is the rest
        base = next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
    start = time.process_time()
    info = skim_file(path, "pfnano", SELECTION, path + f".skim{step}.root", "bench", step_size=step)
    cpu = time.process_time() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"events": info["n_generated"], "selected": info["cutflow"][-1]["events"], "cpu_s": cpu,
                      "peak_mb": rss, "base_mb": base}))


def run_child(path: str, step: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", path, str(step)], capture_output=True, text=True,
                         env=os.environ | {"PYTHONPATH": ROOT}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def wide(path_in: str, n_events: int, repeat: int, tmp: str) -> dict:
    from analysis.io.nanoaod import flat_branches, read_events, write_tree
    from analysis.skim import skim_file

    events = read_events(path_in)  # every branch as stored
    reps = -(-n_events // len(events))
    big = ak.concatenate([events] * reps)[:n_events]
    src = os.path.join(tmp, "wide.root")
    write_tree(src, flat_branches(ak.with_field(big, np.arange(n_events, dtype=np.uint64), "event")))
    everything = {"objects": {}, "cuts": []}
    times: dict[str, float] = {}
    for keep in ("default", "all"):
        best = np.inf
        for _ in range(repeat):
            start = time.process_time()
            skim_file(src, "pfnano", everything, os.path.join(tmp, f"wide_{keep}.root"), "bench",
                      keep="all" if keep == "all" else ())
            best = min(best, time.process_time() - start)
        times[keep] = best
    import uproot

    from analysis.io.inputs import iterate_input
    from analysis.io.nanoaod import write_events
    from analysis.skim import skim_collections, trim

    wanted = skim_collections(everything)  # the writing alone, on events read once
    records = {"default": trim(next(iterate_input(src, "pfnano", wanted, optional=wanted))[0]),
               "all": next(iterate_input(src, "pfnano"))[0]}
    writes: dict[str, float] = {}
    for keep, record in records.items():
        best = np.inf
        for _ in range(repeat):
            start = time.process_time()
            write_events(os.path.join(tmp, f"write_{keep}.root"), record)
            best = min(best, time.process_time() - start)
        writes[keep] = best
    n_branches = {k: len(uproot.open(os.path.join(tmp, f"wide_{k}.root"))["Events"].keys()) for k in times}
    return {"events": n_events, "input_branches": len(uproot.open(src)["Events"].keys()), "branches": n_branches,
            "cpu_s": times, "ratio": times["all"] / times["default"], "write_s": writes,
            "write_ratio": writes["all"] / writes["default"]}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        skim_child(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--chunks", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--generate", type=int, default=300, help="Pythia events the large file repeats")
    parser.add_argument("--wide-events", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from analysis.generation import generate_sample
    from analysis.io.nanoaod import read_events

    with tempfile.TemporaryDirectory() as tmp:
        gen = os.path.join(tmp, "qcd.root")
        generate_sample({"process": "qcd", "pt_hat_min": 300, "label": "background"}, args.generate, args.seed, gen)
        events = pfnano_layout(read_events(gen))
        for n in (args.events, 2 * args.events):
            path = os.path.join(tmp, f"pfnano_{n}.root")
            build_large(path, events, n)
            size = os.path.getsize(path) / 1e6
            for step in args.chunks:
                r = run_child(path, step)
                print(f"file {n} events ({size:.0f} MB), chunk {step}: {r['events'] / r['cpu_s']:.0f} events/s "
                      f"per core, peak {r['peak_mb']:.0f} MB ({r['peak_mb'] - r['base_mb']:.0f} MB above the "
                      "process after its imports), "
                      f"{r['selected']} selected", flush=True)
            os.remove(path)
        w = wide(os.path.join(ROOT, "tests", "data", "real", "coffea_pfnano.root"), args.wide_events, args.repeat, tmp)
        print(f"wide input ({w['input_branches']} branches, {w['events']} events): default keep-list "
              f"{w['cpu_s']['default']:.2f} s CPU ({w['branches']['default']} branches), keep: all "
              f"{w['cpu_s']['all']:.2f} s ({w['branches']['all']} branches): {w['ratio']:.1f}x; the writing alone "
              f"{w['write_s']['default']:.3f} s against {w['write_s']['all']:.2f} s: {w['write_ratio']:.0f}x")


if __name__ == "__main__":
    main()
