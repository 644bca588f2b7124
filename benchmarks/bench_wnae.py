"""WNAE speed and estimator: the engineering gain at the same estimator, the estimator's gain, and a multi-seed
quality comparison of the two estimators.

Speed (``--runs R``, interleaved, process CPU time per epoch: median and range over the runs):
- baseline: a loop with the reference implementation's choices (replay buffer as a Python list of per-sample
  CPU tensors with ``random.choices``, Langevin chain differentiable through every step (create_graph=True),
  ``ot.emd2(w, w, ot.dist(x+, x-))`` on the CPU, AdamW's per-tensor loop, per-step ``.item()``);
- tool, full chain: ``train_model`` with the gradient through every chain step, the reference's estimator
  (compiled optimal assignment, tensor ring buffer, compiled input gradient and its backward, fused AdamW);
- tool, last step: the same with the gradient through the last chain step only (``grad_through_chain: false``).
baseline / tool-full-chain is the engineering gain (same estimator); tool-full / tool-last-step is what the
truncated estimator saves on top. The tool's epoch includes its validation and checkpoint writes, the
baseline's does not. Both run the same data, model, sampler (the CMS defaults), batch size and seed on one
thread (OMP_NUM_THREADS=1).

Quality (``--seeds S``): for seeds 0..S-1, the tool with either estimator for ``--epochs`` epochs; the test AUC
(cross-section weighted, every signal against the background, the kept epoch) and the kept epoch's validation
W, as mean and standard deviation over the seeds. Training uses the cross-section weights (the default).

The dataset: a FeatureDataset h5 (``law run FeatureDataset --version v1``), by ``--dataset`` or the newest
dataset.h5 under $DATA_PATH.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_wnae.py --epochs 3 --runs 3 [--seeds 5] [--dataset PATH]
"""
from __future__ import annotations

import argparse
import glob
import os
import random
import tempfile
import time

import numpy as np
import ot
import torch

from analysis.dataset import load_dataset, scaled
from analysis.metrics import auc
from analysis.models.registry import build_model, resolve_config
from analysis.models.sampler import langevin_step
from analysis.training import load_model, score, train_model


class ListBuffer:
    """The reference's replay buffer: a Python list of per-sample CPU tensors."""

    def __init__(self, max_samples: int):
        self.max_samples = max_samples
        self.buffer: list[torch.Tensor] = []

    def push(self, samples: torch.Tensor) -> None:
        self.buffer.extend(list(samples.detach().cpu()))
        self.buffer = self.buffer[-self.max_samples:]

    def get(self, n: int) -> torch.Tensor:
        return torch.stack(random.choices(self.buffer, k=n))


def baseline(cfg: dict, x: np.ndarray, epochs: int, device: str,
             seed: int) -> tuple[list[float], list[float], torch.nn.Module]:
    """Per-epoch wall and CPU seconds of a reference-style WNAE training loop, and the trained model."""
    c = resolve_config(cfg)
    s = c["sampler"]
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    model = build_model(c, x.shape[1]).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=c["lr"], weight_decay=c["weight_decay"])
    buf = ListBuffer(s["buffer_size"])
    step = langevin_step(s["step_size"], s["noise"])
    lo, hi = s["bounds"]
    xt = torch.as_tensor(x)
    bs = c["batch_size"]
    times, cpu = [], []
    for _ in range(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(len(xt))
        for b in range(len(xt) // bs):
            xb = xt[perm[b * bs:(b + 1) * bs]].to(device)
            n_replay = int((np.random.rand(bs) < s["replay_ratio"]).sum()) if buf.buffer else 0
            parts = [buf.get(n_replay)] if n_replay else []
            parts.append(torch.randn(bs - n_replay, x.shape[1]).clamp(lo, hi))
            xn = torch.cat(parts).to(device).requires_grad_(True)
            for _ in range(s["n_steps"]):
                (g,) = torch.autograd.grad(model.energy(xn).sum(), xn, create_graph=True)
                xn = (xn - step / s["temperature"] * g + s["noise"] * torch.randn_like(xn)).clamp(lo, hi)
            buf.push(xn)
            w = torch.ones(bs, device=device) / bs
            loss = ot.emd2(w, w, ot.dist(xb, xn), numItermax=int(1e6))
            opt.zero_grad()
            loss.backward()
            opt.step()
            _ = (loss.item(), model.energy(xb).mean().item(), model.energy(xn).mean().item())
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return times, cpu, model.eval()


def find_dataset(path: str | None) -> str:
    """The given dataset h5, or the newest FeatureDataset output under $DATA_PATH."""
    if path:
        return path
    found = glob.glob(os.path.join(os.environ.get("DATA_PATH", "data"), "**", "dataset.h5"), recursive=True)
    if not found:
        raise SystemExit("no dataset.h5 under $DATA_PATH: run `law run FeatureDataset --version v1` or pass --dataset")
    return max(found, key=os.path.getmtime)


ESTIMATORS = {"full chain": {"wasserstein": {"grad_through_chain": True}},
              "last step": {"wasserstein": {"grad_through_chain": False, "grad_steps": 1}}}


def tool_run(cfg: dict, x, x_val, w, w_val, seed: int, device: str) -> tuple[float, dict, torch.nn.Module]:
    """(CPU s per epoch of the whole train_model call, history, kept model)."""
    with tempfile.TemporaryDirectory() as d:
        c0 = time.process_time()
        h = train_model(cfg, x, x_val, d, seed, device=device, w_train=w, w_val=w_val)
        cpu = (time.process_time() - c0) / len(h["time_s"])
        return cpu, h, load_model(os.path.join(d, "best.pt"))


def spread(values: list[float]) -> str:
    v = np.asarray(values)
    return f"median {np.median(v):.3f} (range {v.min():.3f}-{v.max():.3f}, {len(v)} runs)"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default=None, help="FeatureDataset h5 (default: newest under $DATA_PATH)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", type=int, default=1, help="speed: repetitions of each loop (0: skip the speed part)")
    p.add_argument("--seeds", type=int, default=0, help="quality: seeds per estimator (0: skip)")
    p.add_argument("--preset", default=None, help="model preset for the tool runs (e.g. reference)")
    a = p.parse_args()
    path = find_dataset(a.dataset)
    data = load_dataset(path)
    bkg = data["label"] == 0
    train, val, test = bkg & (data["split"] == 0), bkg & (data["split"] == 1), data["split"] == 2
    x, x_val = scaled(data, train), scaled(data, val)
    w, w_val = data["weight"][train], data["weight"][val]
    x_test, y_test, w_test = scaled(data, test), data["label"][test], data["weight"][test]
    cfg = {"kind": "wnae", "preset": a.preset, "epochs": a.epochs, "batch_size": a.batch_size}
    print(f"dataset={path}\ndevice={a.device} n_train={len(x)} n_val={len(x_val)} d={x.shape[1]} "
          f"batch={a.batch_size} epochs={a.epochs} steps/epoch={len(x) // a.batch_size} "
          f"threads={torch.get_num_threads()} test jets={len(y_test)} (signal {int(y_test.sum())})")
    with tempfile.TemporaryDirectory() as d:  # untimed: loads the compiled kernels
        train_model({**cfg, "epochs": 1}, x, x_val, d, a.seed, device=a.device)
    if a.runs:
        times: dict[str, list[float]] = {"baseline": [], **{k: [] for k in ESTIMATORS}}
        for _ in range(a.runs):  # interleaved, so a load change on the machine hits every variant alike
            times["baseline"].append(np.mean(baseline(cfg, x, a.epochs, a.device, a.seed)[1]))
            for name, extra in ESTIMATORS.items():
                times[name].append(tool_run({**cfg, **extra}, x, x_val, None, None, a.seed, a.device)[0])
        for name, t in times.items():
            print(f"CPU s/epoch {name:>10}: {spread(t)}")
        base, full, last = (np.asarray(times[k]) for k in ("baseline", "full chain", "last step"))
        print(f"engineering gain (baseline / tool, both full chain): {np.median(base / full):.2f}x "
              f"(range {(base / full).min():.2f}-{(base / full).max():.2f})")
        print(f"estimator gain (tool full chain / tool last step): {np.median(full / last):.2f}x "
              f"(range {(full / last).min():.2f}-{(full / last).max():.2f})")
    for name, extra in ESTIMATORS.items() if a.seeds else ():
        aucs, ws, best = [], [], []
        for seed in range(a.seeds):
            _, h, model = tool_run({**cfg, **extra}, x, x_val, w, w_val, seed, a.device)
            s = score(model, x_test)
            aucs.append(auc(s[y_test == 0], s[y_test == 1], w_test[y_test == 0], w_test[y_test == 1]))
            ws.append(h["val_wasserstein"][h["best_epoch"]])
            best.append(h["best_epoch"])
        print(f"{name:>10}: test AUC {np.mean(aucs):.3f} +- {np.std(aucs, ddof=1):.3f}, kept-epoch validation W "
              f"{np.mean(ws):.3f} +- {np.std(ws, ddof=1):.3f} ({a.seeds} seeds; AUCs {np.round(aucs, 3).tolist()}, "
              f"W {np.round(ws, 3).tolist()}, kept epochs {best})")


if __name__ == "__main__":
    main()
