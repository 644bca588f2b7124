"""Energy flow polynomials (Komiske, Metodiev, Thaler, arXiv:1712.07124) on padded jets.

An EFP of a multigraph G is
    EFP_G = sum_{i_1..i_V} z_{i_1} ... z_{i_V} prod_{(k,l) in G} theta_{i_k i_l}
with the hadronic measure: z_i = pT_i / sum_j pT_j (normed) and theta_ij = sqrt(dy^2 + dphi^2)
(rapidity-azimuth distance, beta = 1). Every connected graph is contracted by batched mat-vecs and
matmuls over padded arrays z: (J, N) and theta: (J, N, N) (padding has z = 0, so it never contributes);
a disconnected graph is the product of its connected components.

The 12 EFPs with 1 <= d <= 3 edges, named ``efp_d{d}_{k}`` (edges list; vertices are dummy labels):

    efp_d1_0  [(0,1)]                     single edge            (= 2 e2 for beta=1)
    efp_d2_0  [(0,1),(0,1)]               doubled edge
    efp_d2_1  [(0,1),(1,2)]               path with 2 edges
    efp_d2_2  [(0,1),(2,3)]               efp_d1_0^2             (composite)
    efp_d3_0  [(0,1),(0,1),(0,1)]         tripled edge
    efp_d3_1  [(0,1),(0,1),(1,2)]         doubled edge + pendant edge
    efp_d3_2  [(0,1),(1,2),(2,3)]         path with 3 edges
    efp_d3_3  [(0,1),(0,2),(0,3)]         star with 3 leaves
    efp_d3_4  [(0,1),(1,2),(2,0)]         triangle               (= 6 e3 for beta=1)
    efp_d3_5  [(0,1),(2,3),(2,3)]         efp_d1_0 * efp_d2_0    (composite)
    efp_d3_6  [(0,1),(2,3),(3,4)]         efp_d1_0 * efp_d2_1    (composite)
    efp_d3_7  [(0,1),(2,3),(4,5)]         efp_d1_0^3             (composite)
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .efp_graphs import Edges, connected_components, efp_graphs


class GraphEvaluator:
    """Contract graphs over one chunk of padded jets, sharing theta**k and component values.

    z: (J, N) energy fractions (0 for padding); theta: (J, N, N) pairwise angles; beta: angular exponent.
    """

    def __init__(self, z: np.ndarray, theta: np.ndarray, beta: float = 1.0) -> None:
        if z.ndim != 2 or theta.shape != z.shape + (z.shape[1],):
            raise ValueError(f"z/theta: expected shapes (J, N) and (J, N, N), got {z.shape} and {theta.shape}")
        self.z = z
        self.theta = theta
        self.beta = beta
        self._powers: dict[int, np.ndarray] = {}
        self._components: dict[Edges, np.ndarray] = {}
        self._intermediates: dict[tuple, np.ndarray] = {}

    def angle_power(self, multiplicity: int) -> np.ndarray:
        """theta**(beta * multiplicity): a k-fold edge is one operand instead of k."""
        if multiplicity not in self._powers:
            exponent = self.beta * multiplicity
            self._powers[multiplicity] = self.theta if exponent == 1.0 else self.theta**exponent
        return self._powers[multiplicity]

    def _connected(self, edges: Edges) -> np.ndarray:
        """Contract a connected graph by eliminating vertices of at most two neighbours (series-parallel).

        Every graph with at most 5 edges has no K4 minor, so some vertex always has <= 2 distinct
        neighbours: one neighbour u turns it into a vector factor on u (a batched mat-vec, O(N^2)), two
        neighbours u, w into a matrix factor on (u, w) (one batched matmul, O(N^3), BLAS), multiplied
        elementwise into any factor already on (u, w). Each intermediate gets a structural key, so the
        ones several graphs share (theta z theta, ...) are computed once per chunk.
        """
        if edges not in self._components:
            weights: dict[int, tuple] = {}
            factors: dict[tuple[int, int], tuple] = {}
            for (a, b), m in Counter(tuple(sorted(edge)) for edge in edges).items():
                weights[a] = weights[b] = ("z",)
                factors[(a, b)] = ("theta", m)

            def factor(u: int, w: int) -> tuple:
                return factors[(u, w)] if (u, w) in factors else ("T", factors[(w, u)])

            while len(weights) > 1:
                neighbours = {v: sorted({w for pair in factors if v in pair for w in pair if w != v}) for v in weights}
                v = min(weights, key=lambda x: (len(neighbours[x]), x))
                if len(neighbours[v]) > 2:
                    raise ValueError(f"edges: {edges} is not series-parallel (has a K4 minor), not supported")
                if len(neighbours[v]) == 1:
                    (u,) = neighbours[v]
                    weights[u] = ("mul", weights[u], ("matvec", factor(u, v), weights[v]))
                else:
                    u, w = neighbours[v]
                    new = ("matmul", factor(u, v), weights[v], factor(v, w))
                    factors[(u, w)] = ("mul", factor(u, w), new) if {(u, w), (w, u)} & factors.keys() else new
                    factors.pop((w, u), None)
                for pair in [pair for pair in factors if v in pair]:
                    del factors[pair]
                del weights[v]
            (last,) = weights.values()
            self._components[edges] = self._evaluate(("sum", last))
        return self._components[edges]

    def _evaluate(self, key: tuple) -> np.ndarray:
        """The array of an intermediate's structural key (memoised per chunk)."""
        if key not in self._intermediates:
            kind = key[0]
            if kind == "z":
                out = self.z
            elif kind == "theta":
                out = self.angle_power(key[1])
            elif kind == "T":
                out = self._evaluate(key[1]).transpose(0, 2, 1)
            elif kind == "mul":
                out = self._evaluate(key[1]) * self._evaluate(key[2])
            elif kind == "matvec":
                out = np.matmul(self._evaluate(key[1]), self._evaluate(key[2])[:, :, None])[:, :, 0]
            elif kind == "matmul":
                out = np.matmul(self._evaluate(key[1]) * self._evaluate(key[2])[:, None, :], self._evaluate(key[3]))
            else:  # "sum"
                out = self._evaluate(key[1]).sum(axis=1)
            self._intermediates[key] = out
        return self._intermediates[key]

    def value(self, edges: Edges) -> np.ndarray:
        """The graph's value per jet: product of its connected components' contractions."""
        result = np.ones(self.z.shape[0])
        for component in connected_components(edges):
            result = result * self._connected(component)
        return result


def energy_flow_polynomials(evaluator: GraphEvaluator, names: list[str]) -> dict[str, np.ndarray]:
    """EFPs named in EFP_GRAPHS, evaluated on the evaluator's chunk (its beta must be 1)."""
    graphs = efp_graphs()
    unknown = [name for name in names if name not in graphs]
    if unknown:
        raise ValueError(f"names: unknown EFPs {unknown}; available: {list(graphs)}")
    if evaluator.beta != 1.0:
        raise ValueError(f"evaluator.beta: EFPs here use beta = 1, got {evaluator.beta}")
    return {name: evaluator.value(graphs[name]) for name in names}
