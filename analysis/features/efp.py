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
from functools import lru_cache
from itertools import combinations_with_replacement, permutations, product

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

MAX_DEGREE = 5


def canonical_form(edges: Edges) -> Edges:
    """A label-independent key of a multigraph: isomorphic graphs get the same sorted edge tuple.

    The key of a disconnected graph is its components' keys, sorted and relabelled one after another.
    A connected component's key: vertices labelled in order of decreasing degree, the lexicographically
    smallest edge list over the labellings that keep that order (at most MAX_DEGREE + 1 vertices, few of
    equal degree, so this stays cheap).
    """
    keys = sorted(_canonical_connected(component) for component in connected_components(edges))
    out: list[tuple[int, int]] = []
    for key in keys:
        shift = 1 + max((max(e) for e in out), default=-1)
        out.extend((a + shift, b + shift) for a, b in key)
    return tuple(out)


def _canonical_connected(edges: Edges) -> Edges:
    degree = Counter(v for edge in edges for v in edge)
    groups: dict[int, list[int]] = {}
    for v, d in degree.items():
        groups.setdefault(-d, []).append(v)
    ordered = [groups[key] for key in sorted(groups)]
    best: Edges | None = None
    for arrangement in product(*(permutations(group) for group in ordered)):
        label = {v: i for i, v in enumerate(v for group in arrangement for v in group)}
        candidate = tuple(sorted(tuple(sorted((label[a], label[b]))) for a, b in edges))
        if best is None or candidate < best:
            best = candidate
    assert best is not None
    return best


def _connected_graphs(max_degree: int) -> dict[int, list[Edges]]:
    """Connected loopless multigraphs with d = 1..max_degree edges, up to isomorphism (grown edge by edge)."""
    graphs = {1: [((0, 1),)]}
    for d in range(2, max_degree + 1):
        found: set[Edges] = set()
        for graph in graphs[d - 1]:
            n = 1 + max(max(edge) for edge in graph)
            new_edges = [(a, b) for a in range(n) for b in range(a + 1, n)] + [(a, n) for a in range(n)]
            found.update(canonical_form(graph + (edge,)) for edge in new_edges)
        graphs[d] = sorted(found, key=lambda g: (1 + max(max(e) for e in g), g))
    return graphs


@lru_cache(maxsize=1)
def efp_graphs() -> dict[str, Edges]:
    """Every EFP with 1 <= d <= MAX_DEGREE edges (connected and composite), by name.

    The d <= 3 names and order are EFP_GRAPHS'. For d >= 4, ``efp_d{d}_{k}`` counts the connected graphs
    first (by number of vertices, then edge list) and then the composite ones (products of connected
    graphs of lower degree, by number of factors, then factor names). 102 graphs for d <= 5, the same
    set as energyflow's ``EFPSet('d<=5')`` without the constant d = 0 one.
    """
    connected = _connected_graphs(MAX_DEGREE)
    names: dict[str, Edges] = dict(EFP_GRAPHS)
    connected_name = {canonical_form(g): n for n, g in EFP_GRAPHS.items() if len(connected_components(g)) == 1}
    for d in range(4, MAX_DEGREE + 1):
        graphs = list(connected[d])
        for graph in graphs:
            connected_name[graph] = f"efp_d{d}_{len(graphs[:graphs.index(graph)])}"
        composites = []
        for n_factors in range(2, d + 1):
            for degrees in combinations_with_replacement(range(1, d), n_factors):
                if sum(degrees) != d:
                    continue
                for factors in product(*(connected[k] for k in degrees)):
                    key = tuple(sorted(connected_name[f] for f in factors))
                    if key not in [c[0] for c in composites]:
                        composites.append((key, factors))
        composites.sort(key=lambda c: (len(c[0]), c[0]))
        for k, graph in enumerate(graphs):
            names[f"efp_d{d}_{k}"] = graph
        for k, (_, factors) in enumerate(composites, start=len(graphs)):
            edges: list[tuple[int, int]] = []
            for factor in factors:
                shift = 1 + max((max(e) for e in edges), default=-1)
                edges.extend((a + shift, b + shift) for a, b in factor)
            names[f"efp_d{d}_{k}"] = tuple(edges)
    return names


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
