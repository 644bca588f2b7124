"""Events/s of the Dark Machines csv reader (compiled, vectorised) vs a per-line regular-expression parser.

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
    parser.add_argument("--repeat", type=int, default=5, help="runs of each parser (best, median, worst shown)")
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
        wall, cpu = {"base": [], "vec": []}, {"base": [], "vec": []}
        for _ in range(args.repeat):  # alternating, so both see the same load on a shared machine
            for key, run in (("base", lambda: regex_parse(path)), ("vec", lambda: read_darkmachines(path))):
                t0, c0 = time.perf_counter(), time.process_time()
                out = run()
                wall[key].append(time.perf_counter() - t0)
                cpu[key].append(time.process_time() - c0)
                if key == "base":
                    base = out
                else:
                    events, _ = out
    assert np.array_equal(ak.to_numpy(events.event), base["event"])
    np.testing.assert_allclose(ak.to_numpy(events.MET.pt), base["met"], rtol=1e-6)
    jets = np.isin(base["code"], [0, 1])
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(events.Jet.pt)), base["pt"][jets], rtol=1e-6)
    print(f"file: {args.events} events, {size / 1e6:.1f} MB, {len(base['pt'])} objects")
    print(f"{args.repeat} runs each, wall time best / median / worst (CPU time best: the process's own, less "
          "sensitive to a loaded machine)")
    for key, name in (("base", "per-line regex parser"), ("vec", "compiled reader")):
        t = np.sort(wall[key])
        print(f"{name:22s}: {t[0]:7.3f} / {np.median(t):7.3f} / {t[-1]:7.3f} s  (CPU {min(cpu[key]):7.3f} s)  "
              f"{args.events / t[0]:12,.0f} events/s  {size / 1e6 / t[0]:6.0f} MB/s")
    ratio = {"best": min(wall["base"]) / min(wall["vec"]), "medians": np.median(wall["base"]) / np.median(wall["vec"]),
             "CPU": min(cpu["base"]) / min(cpu["vec"])}
    print(f"speed-up: {ratio['best']:.1f}x best (medians {ratio['medians']:.1f}x, CPU {ratio['CPU']:.1f}x; goal >= 20x); "
          f"one-time kernel load/compile before: {t_warm:.2f} s")


if __name__ == "__main__":
    main()
