"""MLP autoencoder whose energy is the per-sample reconstruction error.

The energy E(x) = mean over input dimensions of (x - reco(x))^2 is the anomaly score of every model
in this package (AE, NAE, WNAE): the NAE and WNAE differ only in how they are trained.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from analysis.models.sampler import ChainView

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
}


def _relu(h):
    return h.clamp_min(0.0), (h > 0).to(h.dtype)


def _leaky_relu(h):
    slope = (h > 0).to(h.dtype) * 0.99 + 0.01  # nn.LeakyReLU's default negative slope
    return h * slope, slope


def _elu(h):
    neg = torch.expm1(h.clamp_max(0.0))
    return torch.where(h > 0, h, neg), torch.where(h > 0, 1.0, neg + 1.0)


def _silu(h):
    s = torch.sigmoid(h)
    return h * s, s * (1.0 + h * (1.0 - s))


def _gelu(h):
    cdf = 0.5 * (1.0 + torch.erf(h / math.sqrt(2.0)))
    return h * cdf, cdf + h * torch.exp(-0.5 * h * h) / math.sqrt(2.0 * math.pi)


def _tanh(h):
    a = torch.tanh(h)
    return a, 1.0 - a * a


def _softplus(h):
    return nn.functional.softplus(h), torch.sigmoid(h)


# activation -> (value, derivative) of the pre-activation, for the hand-written input gradient
ACTIVATION_SLOPES = {"relu": _relu, "leaky_relu": _leaky_relu, "elu": _elu, "silu": _silu, "gelu": _gelu,
                     "tanh": _tanh, "softplus": _softplus}


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers of the given widths, the activation between them and none after the last."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-sample values, weighted by per-sample weights when given (no host sync)."""
    if weights is None:
        return values.mean()
    return (values * weights).sum() / weights.sum()


class EnergyModel(nn.Module):
    """What the training loop, the sampler and the losses need of any model whose energy is a reconstruction error.

    `uses_sampler` tells the training loop whether the model needs negative samples from Langevin MCMC,
    `chain_grad` what the sampler keeps of the chain's graph (False: nothing, True: every step, k: the last k
    steps) so the loss can be differentiated through the negatives. Subclasses define ``energy`` (one value
    per sample) and, when their samples are not plain rows, ``chain_view`` and ``descriptor``.
    """

    uses_sampler = False
    chain_grad: bool | int = False

    def energy(self, x) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x) -> torch.Tensor:
        return self.energy(x)

    def chain_view(self, x) -> ChainView:
        """What the Langevin sampler moves for the samples x, and the energy as a function of it."""
        raise NotImplementedError

    def descriptor(self, x: torch.Tensor) -> torch.Tensor:
        """One row per sample, in which the Wasserstein distance between data and negatives is measured."""
        return x

    def fit_inputs(self, x: np.ndarray) -> None:
        """Fit what the model keeps of its training inputs (nothing: dense features come standardised)."""

    def prepare(self, x: np.ndarray, device: torch.device) -> torch.Tensor:
        """Host inputs as the device object whose ``[idx]`` gives a batch (here a tensor of rows)."""
        return torch.as_tensor(x, device=device)

    def weight_penalty(self, l1: float, l2: float) -> torch.Tensor | float:
        """l1 * sum|W| + l2 * sum W^2 over the weight matrices (not the biases); 0 when both are 0."""
        if not (l1 or l2):
            return 0.0
        weights = [p for name, p in self.named_parameters() if name.endswith("weight") and p.ndim == 2]
        return sum(l1 * w.abs().sum() + l2 * (w * w).sum() for w in weights)

    def reconstruction_loss(
        self, x_pos, w: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(loss, mean positive energy, None): the plain AE objective, also the NAE/WNAE pre-training."""
        e_pos = weighted_mean(self.energy(x_pos), w)
        return e_pos, e_pos.detach(), None

    def loss(
        self, x_pos, x_neg, w: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(loss, mean positive energy, mean negative energy or None) for one batch."""
        return self.reconstruction_loss(x_pos, w)


class AutoEncoder(EnergyModel):
    """input -> hidden... -> latent -> reversed(hidden)... -> input, trained on reconstruction error."""

    def __init__(self, n_features: int, hidden: list[int], latent: int, activation: str = "relu"):
        super().__init__()
        self.activation = activation
        self.encoder = mlp([n_features, *hidden, latent], activation)
        self.decoder = mlp([latent, *reversed(hidden), n_features], activation)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Per-sample mean squared reconstruction error, shape (n,)."""
        reco = self.decoder(self.encoder(x))
        return ((x - reco) ** 2).mean(dim=1)

    def chain_view(self, x: torch.Tensor) -> ChainView:
        """The rows themselves, with the hand-written gradient for the detached steps."""
        return ChainView(x, self.energy, self.energy_grad, None, x.shape[0], lambda v: v, self.decoder)

    @torch.no_grad()
    def energy_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(E(x), grad_x E(x)) without autograd, for the detached Langevin steps.

        grad_x E = (2/d) (r - J^T r) with r = x - reco(x) and J the decoder(encoder) Jacobian, J^T r by
        a hand-written backward pass through the MLP: about half the time of autograd on the CPU,
        where these small matrices are overhead-bound. Equal to autograd's (tested).
        """
        act = ACTIVATION_SLOPES[self.activation]
        layers = [m for m in (*self.encoder, *self.decoder) if isinstance(m, nn.Linear)]
        n_enc = sum(isinstance(m, nn.Linear) for m in self.encoder)
        slopes: list[torch.Tensor | None] = []
        a = x
        for i, layer in enumerate(layers):
            h = torch.addmm(layer.bias, a, layer.weight.T)
            if i in (n_enc - 1, len(layers) - 1):  # last encoder / decoder layer: no activation
                a = h
                slopes.append(None)
            else:
                a, slope = act(h)
                slopes.append(slope)
        r = x - a
        back = r
        for layer, slope in zip(reversed(layers), reversed(slopes)):
            if slope is not None:
                back = back * slope
            back = back @ layer.weight
        return (r * r).mean(dim=1), (r - back) * (2.0 / x.shape[1])
