"""Wasserstein normalized autoencoder (WNAE, after the CMS study of semivisible jets).

Loss per batch: W_2^2(x+, x-) between the data batch and the negatives from a Langevin chain on E.
The model enters the loss only through x-, so (part of) the chain is kept differentiable and the
gradient flows through the sampled negatives into the energy's parameters. ``grad_steps`` = None keeps
the graph of every step (the reference WNAE); an integer k keeps only the last k steps (truncated
back-propagation, much cheaper: see benchmarks/bench_wnae.py). A fully detached chain would leave the
loss without any gradient, so k >= 1 (the detached contrastive loss is ``kind: nae``).
"""
from __future__ import annotations

import torch

from analysis.models.ae import AutoEncoder, weighted_mean
from analysis.models.distances import wasserstein


class WNAEObjective:
    """The WNAE loss, for any EnergyModel it is mixed into (before the model class); the distance is measured
    between the model's ``descriptor`` rows of data and negatives (the samples themselves for a dense model)."""

    def __init__(self, *args, method: str = "exact", epsilon: float = 0.05, n_iter: int = 100,
                 grad_steps: int | None = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.method = method
        self.epsilon = epsilon
        self.n_iter = n_iter
        self.grad_steps = grad_steps

    @property
    def chain_grad(self) -> bool | int:
        """What the sampler keeps of the chain's graph: True (every step) or the last k steps."""
        return True if self.grad_steps is None else self.grad_steps

    def loss(self, x_pos, x_neg, w: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        loss = wasserstein(self.descriptor(x_pos), self.descriptor(x_neg), self.method, self.epsilon, self.n_iter, a=w)
        with torch.no_grad():
            mean_pos = weighted_mean(self.energy(x_pos), w)
            mean_neg = self.energy(x_neg).mean()
        return loss, mean_pos, mean_neg

    def validation_loss(self, x_pos, x_neg, w_exact: float) -> float:
        """The exact method's loss is that same W: solved once."""
        return w_exact if self.method == "exact" else super().validation_loss(x_pos, x_neg, w_exact)


class WNAE(WNAEObjective, AutoEncoder):
    """MLP autoencoder trained with the WNAE loss."""
