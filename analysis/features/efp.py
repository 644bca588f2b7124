"""Energy flow polynomials (Komiske, Metodiev, Thaler, arXiv:1712.07124) on padded jets.

An EFP of a multigraph G is
    EFP_G = sum_{i_1..i_V} z_{i_1} ... z_{i_V} prod_{(k,l) in G} theta_{i_k i_l}
with the hadronic measure: z_i = pT_i / sum_j pT_j (normed) and theta_ij = sqrt(dy^2 + dphi^2)
(rapidity-azimuth distance, beta = 1). Every connected graph is one ``numpy.einsum`` over padded arrays
z: (J, N) and theta: (J, N, N) (padding has z = 0, so it never contributes); a disconnected graph is the
product of its connected components. The same contraction, with theta**beta, gives the energy
correlation functions used in ``substructure.energy_correlation_ratios``.

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

Edges = tuple[tuple[int, int], ...]

EFP_GRAPHS: dict[str, Edges] = {
    "efp_d1_0": ((0, 1),),
    "efp_d2_0": ((0, 1), (0, 1)),
    "efp_d2_1": ((0, 1), (1, 2)),
    "efp_d2_2": ((0, 1), (2, 3)),
    "efp_d3_0": ((0, 1), (0, 1), (0, 1)),
    "efp_d3_1": ((0, 1), (0, 1), (1, 2)),
    "efp_d3_2": ((0, 1), (1, 2), (2, 3)),
    "efp_d3_3": ((0, 1), (0, 2), (0, 3)),
    "efp_d3_4": ((0, 1), (1, 2), (2, 0)),
    "efp_d3_5": ((0, 1), (2, 3), (2, 3)),
    "efp_d3_6": ((0, 1), (2, 3), (3, 4)),
    "efp_d3_7": ((0, 1), (2, 3), (4, 5)),
}

# einsum letters for graph vertices; the jet (batch) axis is "J"
_VERTEX_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def connected_components(edges: Edges) -> list[Edges]:
    """Split a multigraph into connected components, vertices relabelled 0.. in order of appearance.

    The relabelling makes equal components (e.g. the single edge inside efp_d2_2 and efp_d3_7) share
    one key, so ``GraphEvaluator`` contracts them once.
    """
    if not edges:
        raise ValueError("edges: a graph needs at least one edge")
    parent: dict[int, int] = {}

    def root(v: int) -> int:
        while parent.setdefault(v, v) != v:
            v = parent[v]
        return v

    for a, b in edges:
        if a == b:
            raise ValueError(f"edges: self-loop ({a},{b}) is not allowed (theta_ii = 0)")
        parent[root(a)] = root(b)
    groups: dict[int, list[tuple[int, int]]] = {}
    for a, b in edges:
        groups.setdefault(root(a), []).append((a, b))
    components = []
    for group in groups.values():
        label: dict[int, int] = {}
        for a, b in group:
            label.setdefault(a, len(label))
            label.setdefault(b, len(label))
        components.append(tuple((label[a], label[b]) for a, b in group))
    return components


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

    def angle_power(self, multiplicity: int) -> np.ndarray:
        """theta**(beta * multiplicity): a k-fold edge is one operand instead of k."""
        if multiplicity not in self._powers:
            exponent = self.beta * multiplicity
            self._powers[multiplicity] = self.theta if exponent == 1.0 else self.theta**exponent
        return self._powers[multiplicity]

    def _connected(self, edges: Edges) -> np.ndarray:
        if edges not in self._components:
            n_vertices = 1 + max(max(edge) for edge in edges)
            if n_vertices > len(_VERTEX_LETTERS):
                raise ValueError(f"edges: at most {len(_VERTEX_LETTERS)} vertices are supported")
            multiplicity = Counter(tuple(sorted(edge)) for edge in edges)
            subscripts = [f"J{_VERTEX_LETTERS[v]}" for v in range(n_vertices)]
            operands = [self.z] * n_vertices
            for (a, b), m in multiplicity.items():
                subscripts.append(f"J{_VERTEX_LETTERS[a]}{_VERTEX_LETTERS[b]}")
                operands.append(self.angle_power(m))
            expression = ",".join(subscripts) + "->J"
            self._components[edges] = np.einsum(expression, *operands, optimize="greedy")
        return self._components[edges]

    def value(self, edges: Edges) -> np.ndarray:
        """The graph's value per jet: product of its connected components' contractions."""
        result = np.ones(self.z.shape[0])
        for component in connected_components(edges):
            result = result * self._connected(component)
        return result


def energy_flow_polynomials(evaluator: GraphEvaluator, names: list[str]) -> dict[str, np.ndarray]:
    """EFPs named in EFP_GRAPHS, evaluated on the evaluator's chunk (its beta must be 1)."""
    unknown = [name for name in names if name not in EFP_GRAPHS]
    if unknown:
        raise ValueError(f"names: unknown EFPs {unknown}; available: {list(EFP_GRAPHS)}")
    if evaluator.beta != 1.0:
        raise ValueError(f"evaluator.beta: EFPs here use beta = 1, got {evaluator.beta}")
    return {name: evaluator.value(EFP_GRAPHS[name]) for name in names}
