"""Events/s of the Dark Machines csv reader (one compiled pass) vs a per-line regular-expression parser.

The file is written by the tool's own exporter from Pythia 8 ttbar events (generated once here), its
lines repeated with fresh event IDs until it holds ``--events`` events, so both parsers read exactly
the challenge's format. The baseline is what one writes without vectorising: a loop over lines, a
regular expression for the header and one ``finditer`` over the objects, Python floats appended to
lists, numpy arrays at the end. Both results are cross-checked (same event IDs, jet pT and MET).
The reader's one-time cost (loading its compiled kernels from numba's cache, or compiling them on a
first run) is measured on a one-line file first and printed apart. Goal: >= 20x.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_csv.py [--events 200000] [--seed 1]
"""
from __future__ import annotations

import argparse
import os
import re
import tempfile
import time

import awkward as ak
import numpy as np

from analysis.generation import generate_sample
from analysis.io.darkmachines import CODES, read_darkmachines, write_darkmachines
from analysis.io.nanoaod import read_events

HEADER = re.compile(r"^\s*(-?\d+);([^;]*);([^;]+);([^;]+);([^;]+)")
OBJECT = re.compile(r";\s*(j|b|e-|e\+|m-|m\+|g),([^,;]+),([^,;]+),([^,;]+),([^,;\n]+)")


def regex_parse(path: str) -> dict[str, np.ndarray]:
    """The per-line baseline: event IDs, MET (GeV) and per-object columns with their event index."""
    cols: dict[str, list] = {k: [] for k in ("event", "weight", "met", "met_phi", "obj_event", "code",
                                             "E", "pt", "eta", "phi")}
    code_index = {c: i for i, c in enumerate(CODES)}
    with open(path) as f:
        for i, line in enumerate(f):
            head = HEADER.match(line)
            if head is None:
                raise ValueError(f"{path}: line {i + 1}: malformed")
            cols["event"].append(int(head.group(1)))
            cols["weight"].append(float(head.group(3)))
            cols["met"].append(float(head.group(4)) / 1000.0)
            cols["met_phi"].append(float(head.group(5)))
            for m in OBJECT.finditer(line, head.end()):
                cols["obj_event"].append(i)
                cols["code"].append(code_index[m.group(1)])
                cols["E"].append(float(m.group(2)) / 1000.0)
                cols["pt"].append(float(m.group(3)) / 1000.0)
                cols["eta"].append(float(m.group(4)))
                cols["phi"].append(float(m.group(5)))
    return {k: np.asarray(v) for k, v in cols.items()}


def make_file(path: str, n_events: int, seed: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "ttbar.root")
        generate_sample({"process": "ttbar", "pt_hat_min": 250, "label": "background"}, 500, seed, root)
        write_darkmachines(os.path.join(tmp, "ttbar.csv"), read_events(root), "ttbar")
        lines = open(os.path.join(tmp, "ttbar.csv")).read().splitlines()
    with open(path, "w") as f:
        for i in range(n_events):
            f.write(f"{i};{lines[i % len(lines)].split(';', 1)[1]}\n")
    return os.path.getsize(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2, help="best of this many runs of each parser")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.csv")
        size = make_file(path, args.events, args.seed)
        small = os.path.join(tmp, "small.csv")
        with open(path) as f, open(small, "w") as g:
            g.write(f.readline())
        t0 = time.perf_counter()
        read_darkmachines(small)  # one-time: load (or compile) the numba kernels
        t_warm = time.perf_counter() - t0
        t_base, t_vec = np.inf, np.inf
        for _ in range(args.repeat):  # alternating, so both see the same load on a shared machine
            t0 = time.perf_counter()
            base = regex_parse(path)
            t_base = min(t_base, time.perf_counter() - t0)
            t0 = time.perf_counter()
            events, _ = read_darkmachines(path)
            t_vec = min(t_vec, time.perf_counter() - t0)
    assert np.array_equal(ak.to_numpy(events.event), base["event"])
    np.testing.assert_allclose(ak.to_numpy(events.MET.pt), base["met"], rtol=1e-6)
    jets = np.isin(base["code"], [0, 1])
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(events.Jet.pt)), base["pt"][jets], rtol=1e-6)
    print(f"file: {args.events} events, {size / 1e6:.1f} MB, {len(base['pt'])} objects")
    print(f"best of {args.repeat} runs each")
    print(f"per-line regex parser : {t_base:7.3f} s  {args.events / t_base:12,.0f} events/s")
    print(f"compiled reader       : {t_vec:7.3f} s  {args.events / t_vec:12,.0f} events/s  "
          f"({size / 1e6 / t_vec:.0f} MB/s, full event record)")
    print(f"speed-up: {t_base / t_vec:.1f}x (goal >= 20x); one-time kernel load/compile before: {t_warm:.2f} s")


if __name__ == "__main__":
    main()
