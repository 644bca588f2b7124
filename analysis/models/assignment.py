"""The optimal assignment behind the exact Wasserstein distance: compiled (numba), with the plain solver beside it.

``match`` pairs two equal-size point clouds at minimum total squared distance. The compiled path computes the
float64 cost matrix from the differences and solves it with Jonker-Volgenant (``assignment``); with SVJ_PLAIN=1
(analysis/accelerated.py) numpy computes the costs and scipy's ``linear_sum_assignment`` solves them. Both give
an optimal matching (tests: same total cost; the matching itself may differ where costs tie).
"""
from __future__ import annotations

import numba
import numpy as np
from scipy.optimize import linear_sum_assignment

from analysis.accelerated import plain

_FAR = 1e300  # "infinite" distance kept finite, so the min-reductions stay plain float compares


@numba.njit(cache=True)
def pair_costs(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """float64 C_ij = |x_i - y_j|^2 from the differences (no cancellation, unlike the matmul form)."""
    n, d = x.shape
    m = y.shape[0]
    yt = np.ascontiguousarray(y.T).astype(np.float64)
    cost = np.zeros((n, m))
    for i in range(n):
        for k in range(d):
            xik = np.float64(x[i, k])
            for j in range(m):
                diff = xik - yt[k, j]
                cost[i, j] += diff * diff
    return cost


@numba.njit(cache=True)
def assignment(cost: np.ndarray) -> np.ndarray:
    """Column assigned to each row by a minimum-cost perfect matching of the square matrix `cost` (exact:
    the optimum of scipy's linear_sum_assignment).

    Jonker-Volgenant's initialisation (column reduction, reduction transfer, one sweep of augmenting row
    reduction) gives duals and most matches; each remaining row is matched by a shortest augmenting path
    (Dijkstra on the reduced costs). Each Dijkstra step is two passes over all columns that the compiler
    vectorises (relaxation; a minimum kept in 8 lanes) and no predecessor bookkeeping: the path is
    recovered at the end from the rows scanned. Costs must be finite (not checked here: a NaN would
    never be found as the minimum).
    """
    n = cost.shape[0]
    x = np.full(n, -1, np.int64)  # column of each row
    y = np.full(n, -1, np.int64)  # row of each column
    v = np.full(n, np.inf)  # column duals
    for i in range(n):  # column reduction: each column to its cheapest row
        for j in range(n):
            if cost[i, j] < v[j]:
                v[j] = cost[i, j]
                y[j] = i
    unique = np.ones(n, np.bool_)
    for j in range(n - 1, -1, -1):
        i = y[j]
        if x[i] < 0:
            x[i] = j
        else:
            unique[i] = False
            y[j] = -1
    free = np.empty(n, np.int64)
    n_free = 0
    for i in range(n):
        if x[i] < 0:
            free[n_free] = i
            n_free += 1
        elif unique[i]:  # reduction transfer: lower the column's dual by the row's second-best slack
            j = x[i]
            slack = np.inf
            for j2 in range(n):
                if j2 != j and cost[i, j2] - v[j2] < slack:
                    slack = cost[i, j2] - v[j2]
            v[j] -= slack
    n_left = 0
    for f in range(n_free):  # augmenting row reduction: each free row bids for its cheapest column
        i = free[f]
        j1, u1, j2, u2 = 0, cost[i, 0] - v[0], -1, np.inf
        for j in range(1, n):
            c = cost[i, j] - v[j]
            if c < u2:
                if c >= u1:
                    u2, j2 = c, j
                else:
                    u2, j2, u1, j1 = u1, j1, c, j
        owner = y[j1]
        if u2 > u1:
            v[j1] -= u2 - u1
        elif owner >= 0 and j2 >= 0:
            j1, owner = j2, y[j2]
        if owner >= 0:  # the outbid row is free again
            x[owner] = -1
            free[n_left] = owner
            n_left += 1
        x[i] = j1
        y[j1] = i
    u = np.zeros(n)  # row duals: every matched edge is tight
    for i in range(n):
        if x[i] >= 0:
            u[i] = cost[i, x[i]] - v[x[i]]
    n8 = n - n % 8
    lanes = np.empty(8)
    d = np.empty(n)  # shortest reduced path length from the free row to each column
    done = np.empty(n)  # 0 for a column still to reach, _FAR once its distance is final
    done_at = np.empty(n, np.int64)  # number of rows scanned when the column was reached
    rows = np.empty(n + 1, np.int64)  # rows scanned, in order, and their offset dist - u
    offsets = np.empty(n + 1)
    path = np.empty(n + 1, np.int64)  # columns of the augmenting path from the sink, and their rows
    path_rows = np.empty(n + 1, np.int64)
    for f in range(n_left):
        start = free[f]
        d[:] = _FAR
        done[:] = 0.0
        n_rows = 0
        i = start
        dist = 0.0
        sink = -1
        while sink < 0:
            offset = dist - u[i]
            rows[n_rows] = i
            offsets[n_rows] = offset
            n_rows += 1
            for j in range(n):  # relax the columns through row i
                d[j] = min(d[j], offset + cost[i, j] - v[j] + done[j])
            lanes[:] = 4 * _FAR
            for j0 in range(0, n8, 8):
                for k in range(8):
                    t = d[j0 + k] + done[j0 + k]
                    lanes[k] = t if t < lanes[k] else lanes[k]
            dist = lanes.min()
            for j in range(n8, n):
                dist = min(dist, d[j] + done[j])
            jmin = 0
            while d[jmin] + done[jmin] != dist:
                jmin += 1
            done[jmin] = _FAR
            done_at[jmin] = n_rows
            if y[jmin] < 0:
                sink = jmin
            else:
                i = y[jmin]
        # the path back from the sink: each column's predecessor is a row scanned before it was reached
        # whose offset + reduced cost gives its distance (old matching and duals)
        n_path = 0
        j = sink
        while True:
            best = 4 * _FAR
            for k in range(done_at[j]):
                r = offsets[k] + cost[rows[k], j] - v[j]
                if r < best:
                    best, i = r, rows[k]
            path[n_path] = j
            path_rows[n_path] = i
            n_path += 1
            if i == start:
                break
            j = x[i]
        u[start] += dist  # dual update keeps the matched edges tight and the reduced costs >= 0
        for k in range(1, n_rows):
            u[rows[k]] += dist - d[x[rows[k]]]
        for j in range(n):
            if done[j] != 0.0:
                v[j] -= dist - d[j]
        for k in range(n_path):  # augment along the path
            y[path[k]] = path_rows[k]
            x[path_rows[k]] = path[k]
    return x


def pair_costs_plain(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """float64 C_ij = |x_i - y_j|^2 from the differences, by numpy broadcasting (the oracle of ``pair_costs``)."""
    diff = np.asarray(x, dtype=np.float64)[:, None, :] - np.asarray(y, dtype=np.float64)[None, :, :]
    return (diff * diff).sum(axis=2)


def match(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The row of y matched to each row of x by a minimum-cost assignment under the squared distance.
    A non-finite point (a diverging model) matches in order: the loss is then non-finite, which the training
    loop reports; the solvers need finite costs."""
    readable = plain()
    cost = pair_costs_plain(x, y) if readable else pair_costs(x, y)
    if not np.isfinite(cost).all():
        return np.arange(cost.shape[0])
    return linear_sum_assignment(cost)[1] if readable else assignment(cost)
