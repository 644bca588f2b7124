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

The C/A trees come from the project's one clustering (analysis/kinematics/clustering.py ``ca_trees``, the
same as soft drop's); the node features are computed here, in one compiled loop over all jets. fastjet's Python
interface gives the primary (Delta, kT) but not the tree's parent links, so the tests check the primary
declusterings against fastjet's ``exclusive_jets_lund_declusterings``.
"""

from __future__ import annotations

import numba
import numpy as np

from analysis.kinematics.clustering import ca_trees

N_LUND_FEATURES = 5
LUND_FEATURES = ("ln_inv_delta", "ln_kt", "z", "ln_m", "psi")


@numba.njit(cache=True, inline="always")
def _distance2(y: np.ndarray, phi: np.ndarray, i: int, j: int) -> float:
    dphi = abs(phi[i] - phi[j])
    if dphi > np.pi:
        dphi = 2.0 * np.pi - dphi
    return (y[i] - y[j]) ** 2 + dphi**2


@numba.njit(cache=True, nogil=True)
def _declusterings(offsets: np.ndarray, parents: np.ndarray, momenta: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lund nodes of C/A trees (``ca_trees``: jet k has offsets[k + 1] - offsets[k] constituents).

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
    merge_start, pseudo_start = 0, 0
    for k in range(n_jets):
        n = offsets[k + 1] - offsets[k]
        if n == 0:
            continue
        slots = 2 * n - 1
        q = momenta[pseudo_start:pseudo_start + slots]
        pseudo_start += slots
        if n < 2:
            continue
        pt, y, phi = np.zeros(slots), np.zeros(slots), np.zeros(slots)
        for i in range(slots):
            pt[i] = np.hypot(q[i, 0], q[i, 1])
            y[i] = 0.5 * np.log((q[i, 3] + q[i, 2]) / (q[i, 3] - q[i, 2]))
            phi[i] = np.arctan2(q[i, 1], q[i, 0])
        harder = np.zeros(n - 1, dtype=np.int64)
        softer = np.zeros(n - 1, dtype=np.int64)
        for step in range(n - 1):
            i, j = parents[merge_start + step, 0], parents[merge_start + step, 1]
            a, b = (i, j) if pt[i] >= pt[j] else (j, i)
            new = n + step
            delta = np.sqrt(_distance2(y, phi, a, b))
            mass2 = q[new, 3] ** 2 - q[new, 0] ** 2 - q[new, 1] ** 2 - q[new, 2] ** 2
            dphi = phi[b] - phi[a]
            dphi -= 2.0 * np.pi * np.rint(dphi / (2.0 * np.pi))
            node = node_start + (n - 2 - step)  # root first
            nodes[node, 0] = -np.log(delta)
            nodes[node, 1] = np.log(pt[b] * delta)
            nodes[node, 2] = pt[b] / (pt[a] + pt[b])
            nodes[node, 3] = 0.5 * np.log(max(mass2, 1e-300))
            nodes[node, 4] = np.arctan2(y[b] - y[a], dphi)
            harder[step], softer[step] = a, b
        merge_start += n - 1
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
    nodes, edges, primary = _declusterings(offsets, *ca_trees(offsets, *arrays))
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
