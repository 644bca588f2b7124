"""MLP autoencoder whose energy is the per-sample reconstruction error.

The energy E(x) = mean over input dimensions of (x - reco(x))^2 is the anomaly score of every model
in this package (AE, NAE, WNAE): the NAE and WNAE differ only in how they are trained.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from analysis.accelerated import plain
from analysis.models import mlp_kernels
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

    `chain_grad` tells the sampler what it keeps of the chain's graph (False: nothing, True: every step, k: the last k
    steps) so the loss can be differentiated through the negatives. Subclasses define ``energy`` (one value
    per sample) and, when their samples are not plain rows, ``chain_view`` and ``descriptor``.
    """

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

    def validation_loss(self, x_pos, x_neg, w_exact: float) -> float:
        """The loss on validation data and negatives, given their exact Wasserstein distance ``w_exact``."""
        return self.loss(x_pos, x_neg, None)[0].item()


class AutoEncoder(EnergyModel):
    """input -> hidden... -> latent -> reversed(hidden)... -> input, trained on reconstruction error."""

    def __init__(self, n_features: int, hidden: list[int], latent: int, activation: str = "relu"):
        super().__init__()
        self.activation = activation
        self.encoder = mlp([n_features, *hidden, latent], activation)
        self.decoder = mlp([latent, *reversed(hidden), n_features], activation)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Per-sample mean squared reconstruction error, shape (n,). Without a graph on the CPU (float32)
        by the compiled kernel (the per-batch energies of the loop), else (or with SVJ_PLAIN=1) by these ops."""
        if not torch.is_grad_enabled() and self._compiled(x):
            return torch.from_numpy(mlp_kernels.energy(x.detach().contiguous().numpy(), *self._kernel_args()))
        reco = self.decoder(self.encoder(x))
        return ((x - reco) ** 2).mean(dim=1)

    def _compiled(self, x: torch.Tensor) -> bool:
        """Whether the compiled CPU kernels apply: float32 inputs and parameters on the CPU, not under
        TorchScript / ONNX tracing, and SVJ_PLAIN unset (analysis/accelerated.py)."""
        w = self._layer_params()[0]
        return (not plain() and x.device.type == "cpu" and x.dtype == torch.float32 and w.dtype == torch.float32
                and w.device.type == "cpu" and not torch.jit.is_tracing())

    def chain_view(self, x: torch.Tensor) -> ChainView:
        """The rows themselves, with the compiled input gradient and detached steps."""
        return ChainView(x, self.energy, self.energy_grad, None, x.shape[0], lambda v: v, self.decoder,
                         self.langevin_steps)

    def energy_grad(self, x: torch.Tensor, create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(E(x), grad_x E(x)) without autograd's double backward, for the Langevin steps.

        grad_x E = (2/d) (r - J^T r) with r = x - reco(x) and J the decoder(encoder) Jacobian, J^T r by a
        hand-written backward pass through the MLP. On the CPU (float32) one compiled kernel per call
        (analysis/models/mlp_kernels.py, also for the step that keeps its graph); elsewhere, or with
        SVJ_PLAIN=1, these torch ops (timings: benchmarks/bench_wnae.py). `create_graph`: the result carries the
        graph to x and the parameters (for the differentiable chain steps), else it is detached. Equal
        to autograd's, value and gradient (tested).
        """
        params = self._layer_params()
        cpu = self._compiled(x)
        graph = create_graph and torch.is_grad_enabled() and (x.requires_grad or params[0].requires_grad)
        if cpu and graph:
            return _CompiledEnergyGrad.apply(self, x, *params)
        if cpu:
            weights, biases, n_enc, code = self._kernel_args()
            e, g = mlp_kernels.energy_grad(x.detach().numpy(), weights, biases, n_enc, code)
            return torch.from_numpy(e), torch.from_numpy(g)
        with torch.set_grad_enabled(graph):
            act = ACTIVATION_SLOPES[self.activation]
            n_layers = len(params) // 2
            n_enc = sum(isinstance(m, nn.Linear) for m in self.encoder)
            slopes: list[torch.Tensor | None] = []
            a = x
            for i in range(n_layers):
                h = torch.addmm(params[2 * i + 1], a, params[2 * i].T)
                if i in (n_enc - 1, n_layers - 1):  # last encoder / decoder layer: no activation
                    a = h
                    slopes.append(None)
                else:
                    a, slope = act(h)
                    slopes.append(slope)
            r = x - a
            back = r
            for i in reversed(range(n_layers)):
                if slopes[i] is not None:
                    back = back * slopes[i]
                back = back @ params[2 * i]
            return (r * r).mean(dim=1), (r - back) * (2.0 / x.shape[1])

    def langevin_steps(self, x: torch.Tensor, eps: torch.Tensor, noises: list[float], drift: float,
                       bounds: tuple[float, float] | None) -> torch.Tensor | None:
        """The detached steps x <- clamp(x - drift grad_x E(x) + noise_i eps_i) in one compiled call on the
        CPU (a step of the sampler's loop is ~10 torch ops around the kernel); None elsewhere."""
        if not self._compiled(x):
            return None
        lo, hi = bounds if bounds is not None else (0.0, 0.0)
        out = mlp_kernels.langevin_steps(x.detach().contiguous().numpy(), eps.contiguous().numpy(),
                                         np.asarray(noises, np.float32), drift, lo, hi, bounds is not None,
                                         *self._kernel_args())
        return torch.from_numpy(out)

    def _apply(self, fn, *args, **kwargs):
        self.__dict__.pop("_layer_param_list", None)  # .to() / .double() may replace the parameters
        self.__dict__.pop("_kernel_cache", None)
        return super()._apply(fn, *args, **kwargs)

    def _layer_params(self) -> list[torch.Tensor]:
        """Weight and bias of every Linear layer, in network order (collected once: the modules are fixed)."""
        params = self.__dict__.get("_layer_param_list")
        if params is None:
            params = [p for m in (*self.encoder, *self.decoder) if isinstance(m, nn.Linear) for p in (m.weight, m.bias)]
            self.__dict__["_layer_param_list"] = params
        return params

    def _kernel_args(self) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...], int, int]:
        """(weights, biases, n_enc, activation code) for the compiled kernels: numpy views of the CPU
        parameters (the optimiser updates them in place), rebuilt when a parameter's storage changes."""
        params = self._layer_params()
        key = [p.data_ptr() for p in params]
        cached = self.__dict__.get("_kernel_cache")
        if cached is None or cached[0] != key:
            views = [p.detach().numpy() for p in params]
            n_enc = sum(isinstance(m, nn.Linear) for m in self.encoder)
            cached = (key, (tuple(views[0::2]), tuple(views[1::2]), n_enc,
                            mlp_kernels.ACTIVATION_CODES[self.activation]))
            self.__dict__["_kernel_cache"] = cached
        return cached[1]


class _CompiledEnergyGrad(torch.autograd.Function):
    """(E, grad_x E) of an AutoEncoder on the CPU, differentiable in x and the parameters (backward by
    mlp_kernels.energy_grad_vjp: forward-mode tangent, then one reverse pass)."""

    @staticmethod
    def forward(ctx, model: AutoEncoder, x: torch.Tensor, *params: torch.Tensor):
        ctx.model = model
        ctx.save_for_backward(x)
        weights, biases, n_enc, code = model._kernel_args()
        e, g = mlp_kernels.energy_grad(x.detach().numpy(), weights, biases, n_enc, code)
        return torch.from_numpy(e), torch.from_numpy(g)

    @staticmethod
    def backward(ctx, e_bar: torch.Tensor, g_bar: torch.Tensor):
        (x,) = ctx.saved_tensors
        weights, biases, n_enc, code = ctx.model._kernel_args()
        w_grads = tuple(np.empty_like(w) for w in weights)
        b_grads = tuple(np.empty_like(b) for b in biases)
        x_bar = mlp_kernels.energy_grad_vjp(x.detach().numpy(), g_bar.contiguous().numpy(),
                                            e_bar.contiguous().numpy(), weights, biases, n_enc, code,
                                            w_grads, b_grads)
        grads = [torch.from_numpy(t) for pair in zip(w_grads, b_grads) for t in pair]
        return None, torch.from_numpy(x_bar) if ctx.needs_input_grad[1] else None, *grads
