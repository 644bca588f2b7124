"""Langevin MCMC (optionally Metropolis-adjusted) and a persistent replay buffer, kept on the model's device.

One chain step, for the density p(x) ~ exp(-E(x) / T):
    y = x - (step_size / T) * g(x) + noise_i * eps,   eps ~ N(0, 1),   g = grad_x E (optionally norm-clipped)
with step_size = noise^2 / 2 when not given. Bounds: ``clamp`` clips y into [low, high]; ``reject`` keeps
x for the rows whose y left the box. With ``mh`` (MALA), y is accepted with probability
    min(1, exp(-(E(y) - E(x)) / T + log q(x | y) - log q(y | x))),  q(y | x) = N(y; x - (step/T) g(x), noise_i^2),
per chain (vectorised: one ``torch.where`` per step, no host sync), which makes exp(-E/T) the exact
stationary density. Energy and gradient of the current state are carried from step to step, so MH costs
no extra network evaluation. ``noise_final`` anneals the noise geometrically from ``noise`` (first step)
to ``noise_final`` (last step); the drift stays fixed.

Initialisation: ``pcd`` (persistent contrastive divergence) starts each chain from the replay buffer with
probability ``replay_ratio`` and from a fresh draw (``gaussian``, or ``uniform`` in the bounds) otherwise;
``cd`` starts from the data batch; ``omi`` (on-manifold) runs a chain in the latent space first, on
E(decoder(z)), with its own settings (``latent``), decodes it, and runs the input-space chain from there
(its replay buffer holds latent points). Unlike the reference WNAE (a Python list of CPU tensors), the
buffer is one (buffer_size, d) device tensor used as a ring: replay picks rows with ``torch.randint`` and
``torch.where``, so a step needs no host sync and has static shapes.

Gradient through the chain: ``grad_steps`` = None keeps the graph of every step (create_graph=True, the
reference WNAE); an integer k runs the first n_steps - k steps detached and keeps the graph of the last k
(truncated back-propagation: the parameters still reach the negatives through those k drifts, at a
fraction of the cost).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from analysis.models.options import BOUND_MODES, FRESH, INITS, LATENT_DEFAULTS


Energy = Callable[[torch.Tensor], torch.Tensor]
EnergyGrad = Callable[[torch.Tensor, bool], tuple[torch.Tensor, torch.Tensor]]
# (x0, eps (steps, n, d), noise per step, drift, bounds) -> the state after those detached clamped steps, or None
Steps = Callable[[torch.Tensor, torch.Tensor, list, float, "tuple[float, float] | None"], "torch.Tensor | None"]


@dataclass(frozen=True)
class ChainView:
    """What the sampler moves for a batch of samples, given by the model (``model.chain_view(batch)``).

    ``state`` holds the chain's rows: the samples themselves for a dense model, the nodes of every graph for a
    graph model (``groups`` = the sample of each row, None for one row per sample). ``energy`` maps a state to
    one energy per sample, ``energy_grad`` optionally to (E, grad E) (``energy_grad(x, create_graph)``, no double
    backward); ``rebuild`` turns a state back into model input, ``decode`` a latent point per sample into a
    state (the omi start); ``steps`` optionally runs the detached steps of a plain chain (clamp or no bounds,
    no MH, no clipping) in one call (the AutoEncoder's compiled CPU kernel; None where it does not apply);
    ``scale`` optionally preconditions the state's columns (``langevin``).
    """

    state: torch.Tensor
    energy: Energy
    energy_grad: EnergyGrad | None
    groups: torch.Tensor | None
    n_samples: int
    rebuild: Callable[[torch.Tensor], Any]
    decode: Callable[[torch.Tensor], torch.Tensor]
    steps: Steps | None = None
    scale: torch.Tensor | None = None


def per_sample_sum(values: torch.Tensor, groups: torch.Tensor | None, n_samples: int) -> torch.Tensor:
    """Per-row values (n_rows, ...) summed over the rows of each sample (unchanged when every row is a sample)."""
    if groups is None:
        return values
    out = torch.zeros((n_samples, *values.shape[1:]), device=values.device, dtype=values.dtype)
    return out.index_add(0, groups, values)


def per_row(values: torch.Tensor, groups: torch.Tensor | None) -> torch.Tensor:
    """Per-sample values repeated for each row of the sample (unchanged when every row is a sample)."""
    return values if groups is None else values[groups]


def langevin_step(step_size: float | None, noise: float) -> float:
    """The Langevin step size: as configured, or noise^2 / 2 when unset (the overdamped-Langevin relation)."""
    return noise**2 / 2.0 if step_size is None else step_size


@dataclass(frozen=True)
class Chain:
    """Settings of one Langevin chain (input space, or the latent chain of ``omi``)."""

    n_steps: int
    step_size: float
    noise: float
    temperature: float
    bounds: tuple[float, float] | None = None
    bound_mode: str = "clamp"
    clip_grad: float | None = None
    mh: bool = False
    noise_final: float | None = None

    def noises(self) -> list[float]:
        """Noise of each step (geometric annealing to ``noise_final`` when set)."""
        if self.noise_final is None or self.n_steps == 1:
            return [self.noise] * self.n_steps
        ratio = (self.noise_final / self.noise) ** (1.0 / (self.n_steps - 1))
        return [self.noise * ratio**i for i in range(self.n_steps)]


def _energy_grad(energy: Energy, x: torch.Tensor, create_graph: bool, clip: float | None,
                 energy_grad: EnergyGrad | None = None, groups: torch.Tensor | None = None):
    """(E(x) per sample, grad_x E(x) norm-clipped per sample); with create_graph both carry the graph, else
    detached; by `energy_grad(x, create_graph)` when given (no double backward), else by autograd."""
    if energy_grad is not None:
        e, g = energy_grad(x if create_graph else x.detach(), create_graph)
    else:
        if not create_graph:
            x = x.detach().requires_grad_(True)
        elif not x.requires_grad:
            x.requires_grad_(True)
        with torch.enable_grad():
            e = energy(x)
            (g,) = torch.autograd.grad(e.sum(), x, create_graph=create_graph)
    if clip is not None:
        norm = per_sample_sum((g * g).sum(1), groups, e.shape[0]).sqrt()
        scale = (clip / (norm + 1e-12)).clamp(max=1.0)
        g = g * per_row(scale, groups)[:, None]
    return (e, g) if create_graph else (e.detach(), g.detach())


def langevin(energy: Energy, x0: torch.Tensor, chain: Chain, generator: torch.Generator,
             grad_steps: int | None = 0, energy_grad: EnergyGrad | None = None,
             groups: torch.Tensor | None = None, n_samples: int | None = None,
             steps: Steps | None = None, scale: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Run `chain` from x0; returns (samples, mean acceptance as a 0-d tensor: MH and/or boundary
    rejection, 1 without either). ``grad_steps``: 0 detaches the whole chain, None keeps the graph of
    every step, k of the last k steps. `energy_grad` ((x, create_graph) -> (E, grad E)) replaces autograd,
    `steps` (``ChainView.steps``) runs the detached steps of a plain chain in one call. `groups` (sample of
    each row, with `n_samples`) makes a sample out of several rows (the nodes of a graph): the MH test, the
    boundary rejection and the gradient clipping act per sample. `scale` (one value per column, m) preconditions
    the chain: column j drifts m_j times further and its noise is sqrt(m_j) times larger, which keeps exp(-E/T)
    stationary (and the MH test exact) while e.g. a graph's edge weights move on their own scale."""
    n = chain.n_steps
    first_graph = 0 if grad_steps is None else n - min(grad_steps, n)
    drift = chain.step_size / chain.temperature
    noises = chain.noises()
    n_samples = x0.shape[0] if groups is None else n_samples
    eps = torch.randn(n, *x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    u = torch.rand(n, n_samples, generator=generator, device=x0.device, dtype=x0.dtype) if chain.mh else None
    rejecting = chain.bounds is not None and chain.bound_mode == "reject"

    def step_grad(v: torch.Tensor, graph: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return _energy_grad(energy, v, graph, chain.clip_grad, energy_grad, groups)

    x = x0.detach().clone()
    start = 0  # the detached steps of a plain chain in one call when the model offers it
    plain = not chain.mh and not rejecting and chain.clip_grad is None and groups is None and scale is None
    if steps is not None and first_graph and plain:
        fused = steps(x, eps[:first_graph], noises[:first_graph], drift, chain.bounds)
        if fused is not None:
            x, start = fused, first_graph
            if start == n:
                return x, torch.ones((), device=x0.device)
    e, g = step_grad(x, first_graph == start)
    n_accepted = torch.zeros((), device=x0.device)
    m, root = (1.0, 1.0) if scale is None else (scale, scale.sqrt())
    for i in range(start, n):
        y = x - drift * m * g + noises[i] * root * eps[i]
        keep = None  # per sample: stay at x
        if chain.bounds is not None:
            if rejecting:
                outside = ((y < chain.bounds[0]) | (y > chain.bounds[1])).any(dim=1)
                keep = per_sample_sum(outside.to(x0.dtype), groups, n_samples) > 0
            else:
                y = y.clamp(*chain.bounds)
        if i == n - 1 and keep is None and not chain.mh:
            x = y  # the gradient at the last state is not needed
            break
        graph_next = first_graph <= i + 1 < n
        if i + 1 == first_graph:  # the differentiable segment starts at this state
            x, y = x.detach(), y.detach()
        e_y, g_y = step_grad(y, graph_next)
        if chain.mh:
            var2 = 2.0 * noises[i] ** 2
            log_q_fwd = -per_sample_sum(((y - x + drift * m * g) ** 2 / m).sum(1), groups, n_samples) / var2
            log_q_bwd = -per_sample_sum(((x - y + drift * m * g_y) ** 2 / m).sum(1), groups, n_samples) / var2
            log_alpha = (-(e_y - e) / chain.temperature + log_q_bwd - log_q_fwd).detach()
            rejected = torch.log(u[i]) >= log_alpha
            keep = rejected if keep is None else keep | rejected
        if keep is None:
            x, e, g = y, e_y, g_y
        else:
            n_accepted = n_accepted + (~keep).float().mean()
            stay = per_row(keep, groups)[:, None]
            x, e, g = torch.where(stay, x, y), torch.where(keep, e, e_y), torch.where(stay, g, g_y)
    acceptance = n_accepted / n if (chain.mh or rejecting) else torch.ones((), device=x0.device)
    return (x.detach() if grad_steps == 0 else x), acceptance


class LangevinSampler:
    """Draws negative samples for the NAE/WNAE; `sample` optionally keeps (part of) the graph of the chain."""

    def __init__(
        self,
        n_features: int,
        device: str | torch.device,
        n_steps: int = 10,
        step_size: float | None = None,
        noise: float = 0.22,
        temperature: float = 0.063,
        bounds: tuple[float, float] | list[float] | None = (-3.0, 3.0),
        bound_mode: str = "clamp",
        clip_grad: float | None = None,
        mh: bool = False,
        noise_final: float | None = None,
        buffer_size: int = 10000,
        replay_ratio: float = 0.95,
        init: str = "pcd",
        fresh: str = "gaussian",
        latent: dict | None = None,
        latent_dim: int | None = None,
    ):
        if init not in INITS:
            raise ValueError(f"sampler.init must be one of {INITS}, got {init!r}")
        if fresh not in FRESH:
            raise ValueError(f"sampler.fresh must be one of {FRESH}, got {fresh!r}")
        if fresh == "uniform" and bounds is None:
            raise ValueError("sampler.fresh 'uniform' needs sampler.bounds")
        if bound_mode not in BOUND_MODES:
            raise ValueError(f"sampler.bound_mode must be one of {BOUND_MODES}, got {bound_mode!r}")
        if init == "omi" and not latent_dim:
            raise ValueError("sampler.init 'omi' needs the model's latent dimension")
        self.chain = Chain(n_steps, langevin_step(step_size, noise), noise, temperature,
                           None if bounds is None else (float(bounds[0]), float(bounds[1])), bound_mode,
                           clip_grad, mh, noise_final)
        lat = {**LATENT_DEFAULTS, **(latent or {})}
        self.latent_chain = Chain(lat["n_steps"], langevin_step(lat["step_size"], lat["noise"]), lat["noise"],
                                  lat["temperature"], None if lat["bounds"] is None else tuple(map(float, lat["bounds"])),
                                  lat["bound_mode"], lat["clip_grad"], lat["mh"])
        self.replay_ratio = replay_ratio
        self.init = init
        self.fresh = fresh
        self.n_features = n_features
        self.device = torch.device(device)
        self.buffer_dim = latent_dim if init == "omi" else n_features
        size = buffer_size if init in ("pcd", "omi") else 0
        self.buffer = torch.zeros(size, self.buffer_dim, device=self.device)
        self.n_filled = 0  # host-side counters: known without reading the device
        self.ptr = 0
        self.acceptance = torch.ones((), device=self.device)  # of the last input-space chain

    # the input chain's settings, read by tests
    step_size = property(lambda self: self.chain.step_size)
    noise = property(lambda self: self.chain.noise)

    def _fresh(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.init == "omi":  # latent prior
            return torch.randn(n, self.buffer_dim, generator=generator, device=self.device)
        if self.fresh == "uniform":
            lo, hi = self.chain.bounds
            return lo + (hi - lo) * torch.rand(n, self.n_features, generator=generator, device=self.device)
        x = torch.randn(n, self.n_features, generator=generator, device=self.device)
        return x if self.chain.bounds is None else x.clamp(*self.chain.bounds)

    def initial(self, x_data, generator: torch.Generator, model: nn.Module | None = None) -> torch.Tensor:
        """Chain starting state for a batch: the data (cd), a buffer/fresh mixture (pcd), or the decoded
        end of a latent chain started from a latent buffer/fresh mixture (omi, needs `model`). `x_data` is
        a tensor of rows, or with `model` any batch its ``chain_view`` takes (e.g. graphs)."""
        if model is None:
            if self.init == "omi":
                raise ValueError("sampler.init 'omi' needs the model (its decoder) to start the chains")
            return self._start(x_data, None, generator)
        return self._start(None, model.chain_view(x_data), generator)

    def _start(self, rows: torch.Tensor | None, view: ChainView | None, generator: torch.Generator) -> torch.Tensor:
        state = rows if view is None else view.state
        if self.init == "cd":
            return state.detach().clone()
        n = view.n_samples if self.init == "omi" else state.shape[0]  # omi: one latent point per sample
        start = self._fresh(n, generator)
        if self.n_filled:
            replay = torch.rand(n, 1, generator=generator, device=self.device) < self.replay_ratio
            idx = torch.randint(0, self.n_filled, (n,), generator=generator, device=self.device)
            start = torch.where(replay, self.buffer[idx], start)
        if self.init == "pcd":
            return start
        z, _ = langevin(lambda v: view.energy(view.decode(v)), start, self.latent_chain, generator)
        self._last_latent = z
        with torch.no_grad():
            x = view.decode(z)
        return x if self.chain.bounds is None else x.clamp(*self.chain.bounds)

    def run_chain(self, energy: Energy, x0: torch.Tensor, generator: torch.Generator,
                  differentiable: bool | int = False, energy_grad: EnergyGrad | None = None,
                  groups: torch.Tensor | None = None, n_samples: int | None = None,
                  steps: Steps | None = None, scale: torch.Tensor | None = None) -> torch.Tensor:
        """Input-space chain from x0. `differentiable`: False detaches the result, True keeps the graph of
        every step (create_graph=True), an integer k of the last k steps only. `energy_grad`: (E, grad E)
        without autograd (the model's ``energy_grad``), `steps` the fused detached steps (``ChainView.steps``);
        `groups`, `n_samples`: the sample of each row when a sample has several, `scale` the per-column
        preconditioner (``langevin``)."""
        grad_steps = None if differentiable is True else int(differentiable)
        x, self.acceptance = langevin(energy, x0, self.chain, generator, grad_steps, energy_grad, groups, n_samples,
                                      steps, scale)
        return x

    def push(self, x: torch.Tensor) -> None:
        """Write samples into the ring buffer (pcd, omi: latent points), overwriting the oldest."""
        size = self.buffer.shape[0]
        if size == 0:
            return
        x = x.detach()[-size:]
        n = x.shape[0]
        idx = (self.ptr + torch.arange(n, device=self.device)) % size
        self.buffer.index_copy_(0, idx, x.to(self.buffer.dtype))
        self.ptr = (self.ptr + n) % size
        self.n_filled = min(self.n_filled + n, size)

    def sample(self, model: nn.Module, x_data, generator: torch.Generator,
               differentiable: bool | int = False, push: bool = True):
        """As many negatives as `x_data` has samples from the chain on the model's energy, as model input
        (``chain_view(x_data).rebuild``); `push` stores their rows (for omi: their latent starting points)
        in the replay buffer."""
        view = model.chain_view(x_data)
        x = self.run_chain(view.energy, self._start(None, view, generator), generator, differentiable,
                           view.energy_grad, view.groups, view.n_samples, view.steps, view.scale)
        if push:
            self.push(self._last_latent if self.init == "omi" else x)
        return view.rebuild(x)

    def state_dict(self) -> dict:
        return {"buffer": self.buffer.detach().cpu(), "n_filled": self.n_filled, "ptr": self.ptr}

    def load_state_dict(self, state: dict) -> None:
        if tuple(state["buffer"].shape) != tuple(self.buffer.shape):
            raise ValueError(f"replay buffer shape {tuple(state['buffer'].shape)} does not match {tuple(self.buffer.shape)}")
        self.buffer.copy_(state["buffer"].to(self.device))
        self.n_filled = int(state["n_filled"])
        self.ptr = int(state["ptr"])

