"""The energy flow polynomials' multigraphs by name (``efp_graphs``): pure Python, so the feature names
load without numpy; ``efp`` evaluates them (its docstring lists the d <= 3 graphs)."""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from itertools import combinations_with_replacement, permutations, product

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
