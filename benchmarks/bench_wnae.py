"""WNAE epoch time and AUC: a baseline with the reference implementation's choices vs this tool's training loop.

Baseline (mirrors the reference WNAE): replay buffer as a Python list of per-sample CPU tensors with
``random.choices``, Langevin chain kept differentiable through every step (create_graph=True), loss =
``ot.emd2(w, w, ot.dist(x+, x-))`` (POT's exact EMD on the CPU), AdamW with its default per-tensor loop,
per-step ``.item()`` logging.
Tool: ``analysis.training.train_model`` with the default WNAE config (exact W by a compiled optimal
assignment, tensor ring buffer on the device, graph of the last chain step only, compiled input gradient
for the chain steps, fused AdamW), and for comparison the tool with the gradient through the whole
chain (the reference's estimator on the tool's engine) and with ``wasserstein.method: sinkhorn``.
Same data, model, sampler settings (the CMS defaults), batch size, seed and epochs. The baseline times
its batch loop only; the tool's epoch time also includes its per-epoch validation (sampler on
``val_samples`` points, exact W) and checkpoint writes, so the ratio is conservative.

Two clocks: wall time per epoch (median), and process CPU time per epoch, which the other jobs on a
shared machine do not inflate (both runs use one thread: set OMP_NUM_THREADS=1 / torch threads 1 for a
CPU comparison). The tool's CPU time is that of the whole ``train_model`` call over the epochs (set-up
and final writes included), after one untimed 1-epoch run that loads the compiled kernels.

The AUC is measured on real events: the test split of a FeatureDataset h5 (all signal jets against
the background jets), scored with the final model of each run. Build one with
``law run FeatureDataset --version v1`` (the default config) and pass it with ``--dataset``; without
it the newest dataset.h5 under $DATA_PATH is used.

    PYTHONPATH=. python benchmarks/bench_wnae.py --epochs 3 [--dataset PATH] [--device cuda]
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
from sklearn.metrics import roc_auc_score

from analysis.dataset import load_dataset, scaled
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default=None, help="FeatureDataset h5 (default: newest under $DATA_PATH)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    path = find_dataset(a.dataset)
    data = load_dataset(path)
    bkg = data["label"] == 0
    x = scaled(data, bkg & (data["split"] == 0))
    x_val = scaled(data, bkg & (data["split"] == 1))
    test = data["split"] == 2
    x_test, y_test = scaled(data, test), data["label"][test]
    cfg = {"kind": "wnae", "epochs": a.epochs, "batch_size": a.batch_size}
    print(f"dataset={path}\ndevice={a.device} n_train={len(x)} d={x.shape[1]} batch={a.batch_size} "
          f"epochs={a.epochs} steps/epoch={len(x) // a.batch_size} threads={torch.get_num_threads()} "
          f"test jets={len(y_test)} (signal {int(y_test.sum())})")
    base_t, base_cpu, base_model = baseline(cfg, x, a.epochs, a.device, a.seed)
    base_auc = roc_auc_score(y_test, score(base_model, x_test))
    print(f"baseline (list buffer, graph through the chain, POT emd2 on CPU): s/epoch = "
          f"{[round(t, 3) for t in base_t]}  CPU s/epoch = {np.mean(base_cpu):.3f}  AUC = {base_auc:.3f}")
    with tempfile.TemporaryDirectory() as d:  # untimed: loads the compiled kernels
        train_model({**cfg, "epochs": 1}, x, x_val, d, a.seed, device=a.device)
    variants = [("tool default (exact W, last-step gradient)", {}),
                ("tool, gradient through the whole chain", {"wasserstein": {"grad_through_chain": True}}),
                ("tool, sinkhorn (GPU option)", {"wasserstein": {"method": "sinkhorn"}})]
    for label, extra in variants:
        with tempfile.TemporaryDirectory() as d:
            c0 = time.process_time()
            h = train_model({**cfg, **extra}, x, x_val, d, a.seed, device=a.device)
            cpu = (time.process_time() - c0) / len(h["time_s"])
            auc = roc_auc_score(y_test, score(load_model(os.path.join(d, "model.pt")), x_test))
        wall_ratio = np.median(base_t) / np.median(h["time_s"])
        print(f"{label}: s/epoch (with validation) = {[round(t, 3) for t in h['time_s']]}  CPU s/epoch = "
              f"{cpu:.3f}  AUC = {auc:.3f}  ratio baseline/tool: wall {wall_ratio:.2f}, "
              f"CPU {np.mean(base_cpu) / cpu:.2f}")


if __name__ == "__main__":
    main()
