"""Normalized autoencoder (NAE): the AE energy trained as an energy-based model.

Loss per batch: mean_w E(x+) - mean E(x-) + gamma * mean E(x-)^2
                + l2_energy * (mean_w E(x+)^2 + mean E(x-)^2),
with x- from Langevin MCMC on E and DETACHED (the usual contrastive-divergence gradient: the chain
is not differentiated). `gamma` keeps negative energies from running away; `l2_energy` optionally
regularises both energies.
"""
from __future__ import annotations

import torch

from analysis.models.ae import AutoEncoder, weighted_mean


class NAE(AutoEncoder):
    """AE with the contrastive NAE loss on data (x+) and detached MCMC negatives (x-)."""

    uses_sampler = True
    grad_through_chain = False

    def __init__(self, n_features: int, hidden: list[int], latent: int, activation: str = "relu",
                 gamma: float = 1.0, l2_energy: float = 0.0):
        super().__init__(n_features, hidden, latent, activation)
        self.gamma = gamma
        self.l2_energy = l2_energy

    def loss(
        self, x_pos: torch.Tensor, x_neg: torch.Tensor, w: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        e_pos = self.energy(x_pos)
        e_neg = self.energy(x_neg.detach())
        mean_pos = weighted_mean(e_pos, w)
        mean_neg = e_neg.mean()
        neg_sq = (e_neg**2).mean()
        loss = mean_pos - mean_neg + self.gamma * neg_sq
        if self.l2_energy:
            loss = loss + self.l2_energy * (weighted_mean(e_pos**2, w) + neg_sq)
        return loss, mean_pos.detach(), mean_neg.detach()
