"""Adversarial mass decorrelation ("QCD or What?", Kasieczka et al.): an adversary regresses the jet mass.

The adversary is a small MLP that predicts the standardised jet mass from the anomaly detector's
per-jet output: its log energy (``input: energy``, a monotone function of the anomaly score, so
independence from it is independence from the score) or its reconstruction
(``input: reco``). Per batch the training loop first fits the adversary on the detached output
(mean squared error), then adds ``-lambda * adversary loss`` to the detector's loss, so the detector
is pushed towards outputs from which the mass cannot be predicted, i.e. a score that does not
sculpt the mass. lambda = 0 turns it off.
"""
from __future__ import annotations

import torch
from torch import nn

from analysis.models.ae import AutoEncoder, mlp, weighted_mean
from analysis.models.options import ADVERSARY_INPUTS



class Adversary(nn.Module):
    """MLP: detector output (energy (n,) or reconstruction (n, d)) -> predicted standardised mass (n,)."""

    def __init__(self, n_features: int, hidden: list[int], source: str = "energy"):
        super().__init__()
        if source not in ADVERSARY_INPUTS:
            raise ValueError(f"adversary.input must be one of {ADVERSARY_INPUTS}, got {source!r}")
        self.source = source
        self.net = mlp([1 if source == "energy" else n_features, *hidden, 1], "relu")

    def features(self, model: AutoEncoder, x: torch.Tensor) -> torch.Tensor:
        """What the adversary sees of the detector for the batch x (with the detector's graph)."""
        if self.source == "energy":  # log: an O(1) input whatever the energy scale, same (in)dependence
            return torch.log(model.energy(x) + 1e-8)[:, None]
        return model.decoder(model.encoder(x))

    def loss(self, inputs: torch.Tensor, mass: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        """(Weighted) mean squared error of the mass prediction."""
        return weighted_mean((self.net(inputs)[:, 0] - mass) ** 2, w)
