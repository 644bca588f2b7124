"""Model-side diagnostics: reconstructions, negative samples from a fresh Langevin chain, the layer list.

Inputs are scaled features (what the models are trained on, see ``analysis.dataset``). Nothing here
changes the model's weights or a training's replay buffer: negatives come from a new sampler built
from the model's resolved config, so a diagnostic can run on any ``best.pt`` / ``model.pt``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from analysis.models.registry import build_sampler
from analysis.training import _as_features

RELAX_CHAINS = 5  # a fresh chain runs this many times n_steps so the negatives relax from their start


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _n_inputs(model: nn.Module) -> int:
    return architecture(model)[0][1]


def reconstructions(model: nn.Module, x: np.ndarray, batch_size: int = 65536) -> np.ndarray:
    """decoder(encoder(x)) for every row of the scaled inputs `x`: float64, shape of `x`.

    The model's energy (the anomaly score of ``analysis.training.score``) is the per-row mean of
    (x - reconstructions(model, x))**2.
    """
    xt = _as_features(x, "x", _n_inputs(model))
    model.eval()
    device = _device(model)
    out = []
    with torch.no_grad():
        for i in range(0, xt.shape[0], batch_size):
            xb = torch.as_tensor(xt[i:i + batch_size], device=device)
            out.append(model.decoder(model.encoder(xb)).double().cpu())
    return torch.cat(out).numpy()


def negative_samples(model: nn.Module, cfg: dict, x_data: np.ndarray, n: int, seed: int,
                     relax: int = RELAX_CHAINS) -> np.ndarray:
    """`n` negatives (float64, shape (n, d)) from a fresh Langevin chain of the sampler in `cfg`.

    `cfg` is the model config (the resolved one stored in best.pt / model.pt under "cfg"). The
    sampler is built new, so its replay buffer is empty and the chains start from its fresh
    initialisation (uniform or Gaussian draws; rows of `x_data`, drawn with the seed, for
    ``init: cd``); the chain is then run `relax` times ``n_steps``. The same seed gives the same
    negatives (on the same device). Raises ValueError for a plain AE (no sampler).
    """
    if not (isinstance(n, int) and not isinstance(n, bool) and n >= 1):
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not (isinstance(relax, int) and not isinstance(relax, bool) and relax >= 1):
        raise ValueError(f"relax must be a positive integer, got {relax!r}")
    d = _n_inputs(model)
    x_data = _as_features(x_data, "x_data", d)
    device = _device(model)
    sampler = build_sampler(cfg, d, device)
    if sampler is None:
        raise ValueError(f"model kind {cfg.get('kind', 'ae')!r} has no sampler: negatives need an NAE or WNAE config")
    gen = torch.Generator(device=device).manual_seed(int(seed))
    rows = torch.randint(0, x_data.shape[0], (n,), generator=gen, device=device)
    x0 = sampler.initial(torch.as_tensor(x_data, device=device)[rows], gen, model)  # omi starts need the model
    model.eval()
    x = x0
    for _ in range(relax):
        x = sampler.run_chain(model.energy, x, gen, differentiable=False, energy_grad=getattr(model, "energy_grad", None))
    return x.detach().double().cpu().numpy()


def architecture(model: nn.Module) -> list[tuple[str, int, int]]:
    """(module name, in_features, out_features) of every nn.Linear of the model, in forward order."""
    layers = [(name, m.in_features, m.out_features) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layers")
    return layers
