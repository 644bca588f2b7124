"""Langevin MCMC in input space and a persistent replay buffer, both kept on the model's device.

One chain step: x <- clamp(x - (step_size / T) * grad_x E(x) + noise * eps, bounds), eps ~ N(0, 1),
with step_size = noise^2 / 2 when not given (unadjusted Langevin for p(x) ~ exp(-E(x)) at T = 1).

Initialisation: ``pcd`` (persistent contrastive divergence, the default) starts each chain from the
replay buffer with probability ``replay_ratio`` and from a fresh draw otherwise; ``cd`` starts from
the data batch. Unlike the reference WNAE (a Python list of CPU tensors), the buffer is one
(buffer_size, d) device tensor used as a ring: replay picks rows with ``torch.randint`` and
``torch.where``, so a step needs no host sync and has static shapes.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

INITS = ("pcd", "cd")
FRESH = ("uniform", "gaussian")


class LangevinSampler:
    """Draws negative samples for the NAE/WNAE; `sample` optionally keeps the graph of the chain."""

    def __init__(
        self,
        n_features: int,
        device: str | torch.device,
        n_steps: int = 10,
        step_size: float | None = None,
        noise: float = 0.02,
        temperature: float = 1.0,
        bounds: tuple[float, float] | list[float] | None = (-4.0, 4.0),
        clip_grad: float | None = None,
        buffer_size: int = 10000,
        replay_ratio: float = 0.95,
        init: str = "pcd",
        fresh: str = "uniform",
    ):
        if init not in INITS:
            raise ValueError(f"sampler.init must be one of {INITS}, got {init!r}")
        if fresh not in FRESH:
            raise ValueError(f"sampler.fresh must be one of {FRESH}, got {fresh!r}")
        if fresh == "uniform" and bounds is None:
            raise ValueError("sampler.fresh 'uniform' needs sampler.bounds")
        self.n_steps = n_steps
        self.step_size = noise**2 / 2.0 if step_size is None else step_size
        self.noise = noise
        self.temperature = temperature
        self.bounds = None if bounds is None else (float(bounds[0]), float(bounds[1]))
        self.clip_grad = clip_grad
        self.replay_ratio = replay_ratio
        self.init = init
        self.fresh = fresh
        self.n_features = n_features
        self.device = torch.device(device)
        size = buffer_size if init == "pcd" else 0
        self.buffer = torch.zeros(size, n_features, device=self.device)
        self.n_filled = 0  # host-side counters: known without reading the device
        self.ptr = 0

    def _fresh(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.fresh == "uniform":
            lo, hi = self.bounds
            return lo + (hi - lo) * torch.rand(n, self.n_features, generator=generator, device=self.device)
        x = torch.randn(n, self.n_features, generator=generator, device=self.device)
        return x if self.bounds is None else x.clamp(*self.bounds)

    def initial(self, x_data: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Chain starting points for a batch: the data (cd) or buffer/fresh mixture (pcd)."""
        if self.init == "cd":
            return x_data.detach().clone()
        n = x_data.shape[0]
        fresh = self._fresh(n, generator)
        if self.n_filled == 0:
            return fresh
        replay = torch.rand(n, 1, generator=generator, device=self.device) < self.replay_ratio
        idx = torch.randint(0, self.n_filled, (n,), generator=generator, device=self.device)
        return torch.where(replay, self.buffer[idx], fresh)

    def run_chain(
        self,
        energy: Callable[[torch.Tensor], torch.Tensor],
        x0: torch.Tensor,
        generator: torch.Generator,
        differentiable: bool,
    ) -> torch.Tensor:
        """Langevin chain from x0. With `differentiable`, the result carries the graph back to the
        energy's parameters (create_graph=True); otherwise it is detached."""
        eps = torch.randn(self.n_steps, *x0.shape, generator=generator, device=x0.device) * self.noise
        x = x0.detach().requires_grad_(True)
        drift = self.step_size / self.temperature
        with torch.enable_grad():
            for i in range(self.n_steps):
                (grad,) = torch.autograd.grad(energy(x).sum(), x, create_graph=differentiable)
                if self.clip_grad is not None:
                    norm = grad.norm(dim=1, keepdim=True)
                    grad = grad * (self.clip_grad / (norm + 1e-12)).clamp(max=1.0)
                x = x - drift * grad + eps[i]
                if self.bounds is not None:
                    x = x.clamp(*self.bounds)
                if not differentiable:
                    x = x.detach().requires_grad_(i < self.n_steps - 1)
        return x if differentiable else x.detach()

    def push(self, x: torch.Tensor) -> None:
        """Write samples into the ring buffer (pcd only), overwriting the oldest."""
        size = self.buffer.shape[0]
        if size == 0:
            return
        x = x.detach()[-size:]
        n = x.shape[0]
        idx = (self.ptr + torch.arange(n, device=self.device)) % size
        self.buffer.index_copy_(0, idx, x.to(self.buffer.dtype))
        self.ptr = (self.ptr + n) % size
        self.n_filled = min(self.n_filled + n, size)

    def sample(
        self,
        energy: Callable[[torch.Tensor], torch.Tensor],
        x_data: torch.Tensor,
        generator: torch.Generator,
        differentiable: bool = False,
        push: bool = True,
    ) -> torch.Tensor:
        """As many negatives as `x_data` has rows; `push` stores them in the replay buffer."""
        x = self.run_chain(energy, self.initial(x_data, generator), generator, differentiable)
        if push:
            self.push(x)
        return x

    def state_dict(self) -> dict:
        return {"buffer": self.buffer.detach().cpu(), "n_filled": self.n_filled, "ptr": self.ptr}

    def load_state_dict(self, state: dict) -> None:
        if tuple(state["buffer"].shape) != tuple(self.buffer.shape):
            raise ValueError(f"replay buffer shape {tuple(state['buffer'].shape)} does not match {tuple(self.buffer.shape)}")
        self.buffer.copy_(state["buffer"].to(self.device))
        self.n_filled = int(state["n_filled"])
        self.ptr = int(state["ptr"])
