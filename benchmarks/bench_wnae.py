"""WNAE epoch time: a baseline with the reference implementation's choices vs this tool's training loop.

Baseline (mirrors the reference WNAE): replay buffer as a Python list of per-sample CPU tensors,
replay choice with numpy, Langevin chain kept differentiable (create_graph=True), loss =
``ot.emd2(w, w, ot.dist(x+, x-))`` (POT's exact EMD on the CPU), per-step ``.item()`` logging.
Tool: ``analysis.training.train_model`` with the default WNAE config (exact W by optimal assignment,
tensor ring buffer, no per-step host sync) and, for comparison, ``wasserstein.method: sinkhorn``
(log-domain, on the device: the choice for large batches on a GPU).
Same data, model, sampler settings, batch size and epochs. The tool's epoch time includes its
per-epoch validation (exact W on ``val_samples`` points), the baseline has none.

    PYTHONPATH=. python benchmarks/bench_wnae.py --n-train 16384 --epochs 2 [--device cuda]
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time

import numpy as np
import ot
import torch

from analysis.models.registry import build_model, resolve_config
from analysis.training import train_model


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


def baseline_epochs(cfg: dict, x: np.ndarray, epochs: int, device: str, seed: int) -> list[float]:
    """Per-epoch seconds of a reference-style WNAE training loop."""
    c = resolve_config(cfg)
    s = c["sampler"]
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    model = build_model(c, x.shape[1]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=c["lr"])
    buf = ListBuffer(s["buffer_size"])
    step = s["noise"] ** 2 / 2 if s["step_size"] is None else s["step_size"]
    lo, hi = s["bounds"]
    xt = torch.as_tensor(x)
    bs = c["batch_size"]
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(xt))
        for b in range(len(xt) // bs):
            xb = xt[perm[b * bs:(b + 1) * bs]].to(device)
            n_replay = int((np.random.rand(bs) < s["replay_ratio"]).sum()) if buf.buffer else 0
            parts = [buf.get(n_replay)] if n_replay else []
            parts.append(torch.rand(bs - n_replay, x.shape[1]) * (hi - lo) + lo)
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
    return times


def toy_features(n: int, d: int, seed: int) -> np.ndarray:
    """Standardised correlated Gaussian features (stand-in for jet substructure inputs)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) @ rng.standard_normal((d, d))
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-train", type=int, default=16384)
    p.add_argument("--n-features", type=int, default=8)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--val-samples", type=int, default=512)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    x = toy_features(a.n_train, a.n_features, a.seed)
    x_val = toy_features(a.val_samples, a.n_features, a.seed + 1)
    cfg = {"kind": "wnae", "epochs": a.epochs, "batch_size": a.batch_size, "val_samples": a.val_samples}
    print(f"device={a.device} n_train={a.n_train} d={a.n_features} batch={a.batch_size} epochs={a.epochs} "
          f"steps/epoch={a.n_train // a.batch_size} threads={torch.get_num_threads()}")
    base = baseline_epochs(cfg, x, a.epochs, a.device, a.seed)
    print(f"baseline (list buffer, POT emd2 on CPU): per-epoch s = {[round(t, 3) for t in base]}")
    for method in ("sinkhorn", "exact"):
        with tempfile.TemporaryDirectory() as d:
            h = train_model({**cfg, "wasserstein": {"method": method}}, x, x_val, d, a.seed, device=a.device)
        tool = h["time_s"]
        ratio = np.median(base) / np.median(tool)
        label = "sinkhorn" if method == "sinkhorn" else "default, exact"
        print(f"tool ({label}): per-epoch s = {[round(t, 3) for t in tool]}  "
              f"ratio baseline/tool = {ratio:.2f}")


if __name__ == "__main__":
    main()
