"""Wasserstein distance between two point clouds, with a gradient for training.

Convention: the ground cost is the SQUARED Euclidean distance and both functions return the optimal
transport cost under it, i.e. W_2^2 (the same quantity as the reference WNAE, which calls
``ot.emd2(a, b, ot.dist(x, y))``; ``ot.dist`` defaults to squared Euclidean).

Both methods differentiate through the costs with the transport plan held fixed: dW/dC = P. For the
exact W that is its true gradient (envelope theorem / Danskin) and what POT's ``emd2`` returns. For
Sinkhorn it is the gradient of the entropic cost OT_eps(C) = min_P <P, C> - eps H(P), not of the value
returned (<P_eps, C>, whose plan also moves with C): value and gradient belong to two functions that agree as
epsilon -> 0. It avoids back-propagating through the iterations (no n x n tensor stored per iteration).

- ``exact``: uniform weights on equal-size batches make optimal transport a linear assignment
  problem, solved on the CPU (analysis/models/assignment.py: compiled Jonker-Volgenant, or scipy's
  ``linear_sum_assignment`` with SVJ_PLAIN=1) and the value is the mean matched cost. Use it for validation
  and small batches (timings against scipy and POT: benchmarks/bench_wnae.py).
- ``sinkhorn``: log-domain entropic OT with ``n_iter`` fixed iterations, all on the device with no
  host sync (capturable in a CUDA graph). The value is <P_eps, C>, the transport cost of the
  entropic plan; it tends to the exact W_2^2 as ``epsilon`` (in units of the squared distance of
  standardised features) goes to 0. Its gradient is that of the entropic cost OT_eps (see above).
"""
from __future__ import annotations

import math

import torch

from analysis.models.assignment import assignment, match, pair_costs  # noqa: F401 (assignment, pair_costs: API)
from analysis.models.options import WASSERSTEIN_METHODS as METHODS


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cost matrix C_ij = |x_i - y_j|^2, shape (n, m), via one matmul (differentiable)."""
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must be (n, d) and (m, d) with the same d, got {tuple(x.shape)} and {tuple(y.shape)}")
    cost = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
    return cost.clamp_min(0.0)


def exact(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Exact W_2^2 between two equal-size, uniformly weighted batches (optimal assignment).

    The assignment is solved on the host on a detached float64 cost matrix; the value (and its gradient,
    the plan held fixed) is the mean squared distance of the matched pairs, so only n pairs enter the
    graph, not n^2."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"exact Wasserstein needs equal batch sizes, got {x.shape[0]} and {y.shape[0]}")
    cols = match(x.detach().cpu().numpy(), y.detach().cpu().numpy())
    return ((x - y[torch.from_numpy(cols).to(y.device)]) ** 2).sum(1).mean()


def sinkhorn(
    x: torch.Tensor,
    y: torch.Tensor,
    epsilon: float = 0.05,
    n_iter: int = 100,
    a: torch.Tensor | None = None,
) -> torch.Tensor:
    """Entropic W_2^2 estimate <P_eps, C> (log-domain Sinkhorn); `a` = optional weights of x (any scale).
    The gradient is P_eps . dC, that of the entropic cost min_P <P, C> - eps H(P), not of the value returned."""
    if epsilon <= 0 or n_iter < 1:
        raise ValueError(f"sinkhorn needs epsilon > 0 and n_iter >= 1, got epsilon={epsilon}, n_iter={n_iter}")
    cost = squared_distances(x, y)
    n, m = cost.shape
    with torch.no_grad():
        log_k = -cost / epsilon
        if a is None:
            log_a = torch.full((n,), -math.log(n), dtype=cost.dtype, device=cost.device)
        else:
            log_a = torch.log(a.to(cost.dtype)) - torch.log(a.sum().to(cost.dtype))
        log_b = torch.full((m,), -math.log(m), dtype=cost.dtype, device=cost.device)
        v = torch.zeros(m, dtype=cost.dtype, device=cost.device)
        for _ in range(n_iter):
            u = log_a - torch.logsumexp(log_k + v[None, :], dim=1)
            v = log_b - torch.logsumexp(log_k + u[:, None], dim=0)
        plan = torch.exp(log_k + u[:, None] + v[None, :])
    return (plan * cost).sum()


def wasserstein(
    x: torch.Tensor,
    y: torch.Tensor,
    method: str = "sinkhorn",
    epsilon: float = 0.05,
    n_iter: int = 100,
    a: torch.Tensor | None = None,
) -> torch.Tensor:
    """W_2^2 by the named method; `a` (weights of x) only with sinkhorn, exact assumes uniform weights."""
    if method == "sinkhorn":
        return sinkhorn(x, y, epsilon, n_iter, a)
    if method == "exact":
        if a is not None:
            raise ValueError("wasserstein.method 'exact' assumes uniform weights; use 'sinkhorn' with per-sample weights")
        return exact(x, y)
    raise ValueError(f"wasserstein.method must be one of {METHODS}, got {method!r}")
