"""Normalized autoencoder (NAE, Yoon et al.): the AE energy trained as an energy-based model.

Loss per batch, with x- from Langevin MCMC on E and DETACHED (the usual contrastive-divergence
gradient: the chain is not differentiated):
    c = mean_w E(x+) - mean E(x-)          (or log cosh of it with ``logcosh``: linear for large |c|, so its
                                           gradient is bounded by 1; the loss itself is not bounded)
    loss = c + gamma * mean E(x-)^2 + l1_energy * (mean_w |E(x+)| + mean |E(x-)|)
             + l2_energy * (mean_w E(x+)^2 + mean E(x-)^2)
`gamma` keeps negative energies from running away; the l1/l2 terms optionally regularise both energies.
"""
from __future__ import annotations

import torch

from analysis.models.ae import AutoEncoder, weighted_mean


class NAEObjective:
    """The contrastive NAE loss on data (x+) and detached MCMC negatives (x-), for any EnergyModel it is
    mixed into (before the model class: ``class NAE(NAEObjective, AutoEncoder)``)."""

    def __init__(self, *args, gamma: float = 1.0, l1_energy: float = 0.0, l2_energy: float = 0.0,
                 logcosh: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.gamma = gamma
        self.l1_energy = l1_energy
        self.l2_energy = l2_energy
        self.logcosh = logcosh

    def loss(self, x_pos, x_neg, w: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        e_pos = self.energy(x_pos)
        e_neg = self.energy(x_neg)  # the sampler returns x- detached
        mean_pos = weighted_mean(e_pos, w)
        mean_neg = e_neg.mean()
        contrast = mean_pos - mean_neg
        if self.logcosh:
            contrast = torch.log(torch.cosh(contrast))
        neg_sq = (e_neg**2).mean()
        loss = contrast + self.gamma * neg_sq
        if self.l1_energy:  # energies are >= 0, so |E| = E
            loss = loss + self.l1_energy * (mean_pos + mean_neg)
        if self.l2_energy:
            loss = loss + self.l2_energy * (weighted_mean(e_pos**2, w) + neg_sq)
        return loss, mean_pos.detach(), mean_neg.detach()


class NAE(NAEObjective, AutoEncoder):
    """MLP autoencoder trained with the NAE loss."""
