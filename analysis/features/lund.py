"""Lund planes of jets: the full Cambridge/Aachen declustering tree (a graph) and its primary branch.

Each jet's constituents are reclustered with C/A (distance Delta_ij^2 = dy^2 + dphi^2, E-scheme
recombination, no radius: everything ends in one jet, as fastjet's C/A with R = 1000). Every merge of a
harder branch a and a softer branch b is one Lund declustering with the node features (LundNet,
Dreyer and Qu, arXiv:2012.08526)

    ln(1/Delta), ln kT, z, ln m, psi
    Delta = Delta_ab,  kT = pT_b Delta,  z = pT_b / (pT_a + pT_b),  m = mass of a + b,
    psi = atan2(y_b - y_a, phi_b - phi_a)

The tree is a graph with one node per merge (n - 1 for n constituents), root (the last merge) first,
and a directed edge parent -> child whenever a merged branch is itself a merge; edge indices are local to
the jet. The primary declusterings follow the harder branch from the root (the primary Lund plane).

The clustering is a compiled loop (numba) over all jets with a nearest-neighbour cache: O(n^2) per jet.
fastjet's Python interface gives the primary (Delta, kT) but not the tree's parent links, so the tests
check the primary declusterings against fastjet's ``exclusive_jets_lund_declusterings``.
"""

from __future__ import annotations

import numba
import numpy as np

N_LUND_FEATURES = 5
LUND_FEATURES = ("ln_inv_delta", "ln_kt", "z", "ln_m", "psi")


@numba.njit(cache=True, inline="always")
def _distance2(y: np.ndarray, phi: np.ndarray, i: int, j: int) -> float:
    dphi = abs(phi[i] - phi[j])
    if dphi > np.pi:
        dphi = 2.0 * np.pi - dphi
    return (y[i] - y[j]) ** 2 + dphi**2


@numba.njit(cache=True, inline="always")
def _nearest(y: np.ndarray, phi: np.ndarray, active: np.ndarray, i: int, n_slots: int) -> tuple[int, float]:
    best, best_d = -1, np.inf
    for j in range(n_slots):
        if active[j] and j != i:
            d = _distance2(y, phi, i, j)
            if d < best_d:
                best, best_d = j, d
    return best, best_d


@numba.njit(cache=True, nogil=True)
def _cluster(px: np.ndarray, py: np.ndarray, pz: np.ndarray, energy: np.ndarray,
             offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """C/A trees of all jets (constituents flattened, jet k = offsets[k]:offsets[k + 1]).

    Returns node features (sum(n - 1), 5), edges (sum(n - 2), 2) local (parent, child), and a flag per
    node: on the primary (harder) branch.
    """
    n_jets = len(offsets) - 1
    n_nodes, n_edges_total = 0, 0
    for k in range(n_jets):
        n_nodes += max(offsets[k + 1] - offsets[k] - 1, 0)
        n_edges_total += max(offsets[k + 1] - offsets[k] - 2, 0)
    nodes = np.zeros((n_nodes, 5))
    edges = np.zeros((n_edges_total, 2), dtype=np.int64)
    primary = np.zeros(n_nodes, dtype=np.bool_)
    n_edges = 0
    node_start = 0
    for k in range(n_jets):
        first, n = offsets[k], offsets[k + 1] - offsets[k]
        if n < 2:
            continue
        slots = 2 * n - 1
        qx, qy, qz, qe = np.zeros(slots), np.zeros(slots), np.zeros(slots), np.zeros(slots)
        pt, y, phi = np.zeros(slots), np.zeros(slots), np.zeros(slots)
        active = np.zeros(slots, dtype=np.bool_)
        nn = np.full(slots, -1)
        nn_d = np.full(slots, np.inf)
        harder = np.zeros(n - 1, dtype=np.int64)
        softer = np.zeros(n - 1, dtype=np.int64)
        for i in range(n):
            qx[i], qy[i], qz[i], qe[i] = px[first + i], py[first + i], pz[first + i], energy[first + i]
            active[i] = True
            pt[i] = np.hypot(qx[i], qy[i])
            y[i] = 0.5 * np.log((qe[i] + qz[i]) / (qe[i] - qz[i]))
            phi[i] = np.arctan2(qy[i], qx[i])
        for i in range(n):
            nn[i], nn_d[i] = _nearest(y, phi, active, i, n)
        for step in range(n - 1):
            i, best_d = -1, np.inf
            for s in range(n + step):
                if active[s] and nn_d[s] < best_d:
                    i, best_d = s, nn_d[s]
            j = nn[i]
            a, b = (i, j) if pt[i] >= pt[j] else (j, i)
            new = n + step
            qx[new], qy[new], qz[new], qe[new] = qx[a] + qx[b], qy[a] + qy[b], qz[a] + qz[b], qe[a] + qe[b]
            pt[new] = np.hypot(qx[new], qy[new])
            y[new] = 0.5 * np.log((qe[new] + qz[new]) / (qe[new] - qz[new]))
            phi[new] = np.arctan2(qy[new], qx[new])
            delta = np.sqrt(best_d)
            mass2 = qe[new] ** 2 - qx[new] ** 2 - qy[new] ** 2 - qz[new] ** 2
            dphi = phi[b] - phi[a]
            dphi -= 2.0 * np.pi * np.rint(dphi / (2.0 * np.pi))
            node = node_start + (n - 2 - step)  # root first
            nodes[node, 0] = -np.log(delta)
            nodes[node, 1] = np.log(pt[b] * delta)
            nodes[node, 2] = pt[b] / (pt[a] + pt[b])
            nodes[node, 3] = 0.5 * np.log(max(mass2, 1e-300))
            nodes[node, 4] = np.arctan2(y[b] - y[a], dphi)
            harder[step], softer[step] = a, b
            active[i] = active[j] = False
            active[new] = True
            nn[new], nn_d[new] = _nearest(y, phi, active, new, new + 1)
            for s in range(new):
                if active[s]:
                    if nn[s] == i or nn[s] == j:
                        nn[s], nn_d[s] = _nearest(y, phi, active, s, new + 1)
                    else:
                        d = _distance2(y, phi, s, new)
                        if d < nn_d[s]:
                            nn[s], nn_d[s] = new, d
        for step in range(n - 1):
            for child in (harder[step], softer[step]):
                if child >= n:
                    edges[n_edges, 0] = n - 2 - step
                    edges[n_edges, 1] = n - 2 - (child - n)
                    n_edges += 1
        step = n - 2  # the root; follow the harder branch while it is a merge
        while True:
            primary[node_start + n - 2 - step] = True
            if harder[step] < n:
                break
            step = harder[step] - n
        node_start += n - 1
    return nodes, edges, primary


def lund_trees(px: np.ndarray, py: np.ndarray, pz: np.ndarray, energy: np.ndarray,
               counts: np.ndarray) -> dict[str, np.ndarray]:
    """C/A declustering graphs and primary Lund declusterings of jets (constituents flattened over jets).

    Returns ragged arrays (``<field>`` concatenated over jets, ``<field>_offsets`` of length n_jets + 1):
      nodes (n_nodes, 5) float32 LUND_FEATURES, root first; edges (n_edges, 2) int32 local (parent, child);
      primary (n_primary, 5) float32: the nodes of the harder branch, from the root down.
    A jet with fewer than two constituents has no node.
    """
    counts = np.asarray(counts, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in (px, py, pz, energy)]
    if any(len(a) != offsets[-1] for a in arrays):
        raise ValueError(f"px/py/pz/energy: expected {offsets[-1]} constituents (sum of counts), "
                         f"got {[len(a) for a in arrays]}")
    nodes, edges, primary = _cluster(*arrays, offsets)
    n_nodes = np.maximum(counts - 1, 0)
    node_offsets = np.concatenate([[0], np.cumsum(n_nodes)])
    edge_offsets = np.concatenate([[0], np.cumsum(np.maximum(counts - 2, 0))])
    node_jet = np.repeat(np.arange(len(counts)), n_nodes)
    return {
        "nodes": nodes.astype(np.float32), "nodes_offsets": node_offsets,
        "edges": edges.astype(np.int32), "edges_offsets": edge_offsets,
        "primary": nodes[primary].astype(np.float32),
        "primary_offsets": np.concatenate([[0], np.cumsum(np.bincount(node_jet[primary], minlength=len(counts)))]),
    }
