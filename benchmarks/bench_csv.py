"""Events/s of the Dark Machines csv reader (compiled, vectorised) vs a per-line regular-expression parser.

The file is written by the tool's own exporter from Pythia 8 ttbar events (generated once here), its
lines repeated with fresh event IDs until it holds ``--events`` events, so both parsers read exactly
the challenge's format. The baseline is what one writes without vectorising: a loop over lines, a
regular expression for the header and one ``finditer`` over the objects, Python floats appended to
lists, numpy arrays at the end. Both results are cross-checked (same event IDs, jet pT and MET).
The reader's one-time cost (loading its compiled kernels from numba's cache, or compiling them on a
first run) is measured on a one-line file first and printed apart. Goal: >= 20x.

The compiled reader is also timed in chunks of ``--step`` events, as the skim reads.

Memory: a file of ``--memory-events`` events and one twice as long (the same lines), each read whole
and in chunks of ``--step`` events (the skim's default), and skimmed in chunks (``darkmachines_ch3``,
as SkimEvents does; a skim used to hold the whole read), in a fresh process: its peak resident memory
while reading (VmHWM, reset after the imports and the kernels' load) above its memory before, with
events/s over the read's CPU time. Chunks must not grow with the file.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_csv.py [--events 200000] [--seed 1] [--memory-events 1000000]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import awkward as ak
import numpy as np

from analysis.generation import generate_sample
from analysis.io.darkmachines import CODES, iter_darkmachines, read_darkmachines, write_darkmachines
from analysis.io.nanoaod import read_events

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


def make_lines(seed: int) -> list[str]:
    """The exporter's csv lines of 500 Pythia 8 ttbar events."""
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "ttbar.root")
        generate_sample({"process": "ttbar", "pt_hat_min": 250, "label": "background"}, 500, seed, root)
        write_darkmachines(os.path.join(tmp, "ttbar.csv"), read_events(root), "ttbar")
        return open(os.path.join(tmp, "ttbar.csv")).read().splitlines()


def make_file(path: str, n_events: int, lines: list[str]) -> int:
    """``lines`` repeated with fresh event IDs up to ``n_events``; -> the file's size in bytes."""
    with open(path, "w") as f:
        for i in range(n_events):
            f.write(f"{i};{lines[i % len(lines)].split(';', 1)[1]}\n")
    return os.path.getsize(path)


def read_child(path: str, step: int, what: str) -> None:
    """Run in a fresh process: read (``what`` "read") or skim (``darkmachines_ch3``) ``path`` whole (step 0)
    or in chunks, print events, chunks, CPU seconds, peak and base resident memory (MB) as JSON."""
    from analysis.config import load_config
    from analysis.skim import skim_file

    small, selection = path + ".one", load_config("darkmachines_ch3").selection
    with open(path) as f, open(small, "w") as g:
        g.write(f.readline())
    skim_file(small, "darkmachines", selection, small + ".root", "bench")  # code and kernels loaded before the base
    with open("/proc/self/clear_refs", "w") as f:  # the peak so far (the imports') forgotten: VmHWM = VmRSS
        f.write("5")
    base = _status_mb("VmRSS")
    start, n, chunks = time.process_time(), 0, 0
    if what == "skim":
        info = skim_file(path, "darkmachines", selection, path + ".skim.root", "bench", step_size=step or None)
        n = info["n_generated"]
        chunks = -(-n // step) if step else 1
    else:
        for events, _ in iter_darkmachines(path, step or None):
            n, chunks = n + len(events), chunks + 1
            del events
    cpu = time.process_time() - start
    print(json.dumps({"events": n, "chunks": chunks, "cpu_s": cpu, "base_mb": base, "peak_mb": _status_mb("VmHWM")}))


def _status_mb(key: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux), in MB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":")) / 1024


def run_child(path: str, step: int, what: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", path, str(step), what], capture_output=True, text=True,
                         env=os.environ | {"PYTHONPATH": ROOT}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory(lines: list[str], n_events: int, step: int, tmp: str) -> None:
    """Peak memory of whole and chunked reads of a file and of one twice as long (see the docstring)."""
    print(f"\nmemory: peak resident memory of the read or skim above the process before it (a fresh process each), "
          f"chunks of {step:,} events")
    peaks = {}
    for n in (n_events, 2 * n_events):
        path = os.path.join(tmp, f"memory{n}.csv")
        size = make_file(path, n, lines)
        for name, s, what in (("whole", 0, "read"), ("chunks", step, "read"), ("skim", step, "skim")):
            r = run_child(path, s, what)
            assert r["events"] == n, r
            peaks[name, n] = r["peak_mb"] - r["base_mb"]
            print(f"{n:>10,} events {size / 1e6:7.1f} MB file, {name:6s} ({r['chunks']:3d} chunks): peak "
                  f"{peaks[name, n]:7.1f} MB  {n / r['cpu_s']:12,.0f} events/s")
        os.remove(path)
    for n in (n_events, 2 * n_events):
        print(f"whole / chunks at {n:,} events: {peaks['whole', n] / peaks['chunks', n]:.1f}x")
    print(f"file twice as long: chunks {peaks['chunks', 2 * n_events] / peaks['chunks', n_events]:.2f}x, "
          f"skim {peaks['skim', 2 * n_events] / peaks['skim', n_events]:.2f}x, "
          f"whole read {peaks['whole', 2 * n_events] / peaks['whole', n_events]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each parser (best, median, worst shown)")
    parser.add_argument("--memory-events", type=int, default=1_000_000, help="events of the memory test's smaller file")
    parser.add_argument("--step", type=int, default=20_000, help="events per chunk in the memory test")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return read_child(args.child[0], int(args.child[1]), args.child[2])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.csv")
        lines = make_lines(args.seed)
        size = make_file(path, args.events, lines)
        small = os.path.join(tmp, "small.csv")
        with open(path) as f, open(small, "w") as g:
            g.write(f.readline())
        t0 = time.perf_counter()
        read_darkmachines(small)  # one-time: load (or compile) the numba kernels
        t_warm = time.perf_counter() - t0
        wall, cpu = {"base": [], "vec": [], "chunks": []}, {"base": [], "vec": [], "chunks": []}
        for _ in range(args.repeat):  # alternating, so all see the same load on a shared machine
            for key, run in (("base", lambda: regex_parse(path)), ("vec", lambda: read_darkmachines(path)),
                             ("chunks", lambda: sum(len(e) for e, _ in iter_darkmachines(path, args.step)))):
                t0, c0 = time.perf_counter(), time.process_time()
                out = run()
                wall[key].append(time.perf_counter() - t0)
                cpu[key].append(time.process_time() - c0)
                if key == "base":
                    base = out
                elif key == "vec":
                    events, _ = out
                else:
                    assert out == args.events
    assert np.array_equal(ak.to_numpy(events.event), base["event"])
    np.testing.assert_allclose(ak.to_numpy(events.MET.pt), base["met"], rtol=1e-6)
    jets = np.isin(base["code"], [0, 1])
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(events.Jet.pt)), base["pt"][jets], rtol=1e-6)
    print(f"file: {args.events} events, {size / 1e6:.1f} MB, {len(base['pt'])} objects")
    print(f"{args.repeat} runs each, wall time best / median / worst (CPU time best: the process's own, less "
          "sensitive to a loaded machine)")
    for key, name in (("base", "per-line regex parser"), ("vec", "compiled reader"), ("chunks", "  in chunks")):
        t = np.sort(wall[key])
        print(f"{name:22s}: {t[0]:7.3f} / {np.median(t):7.3f} / {t[-1]:7.3f} s  (CPU {min(cpu[key]):7.3f} s)  "
              f"{args.events / t[0]:12,.0f} events/s  {size / 1e6 / t[0]:6.0f} MB/s")
    ratio = {"best": min(wall["base"]) / min(wall["vec"]), "medians": np.median(wall["base"]) / np.median(wall["vec"]),
             "CPU": min(cpu["base"]) / min(cpu["vec"])}
    print(f"speed-up: {ratio['best']:.1f}x best (medians {ratio['medians']:.1f}x, CPU {ratio['CPU']:.1f}x; goal >= 20x); "
          f"one-time kernel load/compile before: {t_warm:.2f} s")
    print(f"in chunks of {args.step:,} events / whole, in this process: {min(wall['chunks']) / min(wall['vec']):.2f}x "
          f"the time best (CPU {min(cpu['chunks']) / min(cpu['vec']):.2f}x)")
    if args.memory_events:
        with tempfile.TemporaryDirectory() as tmp:
            memory(lines, args.memory_events, args.step, tmp)


if __name__ == "__main__":
    main()
