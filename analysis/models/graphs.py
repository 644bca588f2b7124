"""Lund graphs as model input: jets' C/A declustering trees on the host (numpy) and batched on a device.

A jet's graph comes from the dataset's ``lund_graph`` representation (analysis/features/lund.py): one node per
declustering, root first, an edge parent -> child when a merged branch is itself a merge. Children always come
after their parent, so keeping a jet's first ``max_nodes`` nodes keeps a connected tree with the root: the
``max_nodes`` widest-angle declusterings (C/A merges from small to large angles), where the jet's prongs are.

Each node has one parent (the root none), so an edge is stored at its child as ``parent_gap`` = local index of
the child minus that of its parent (0 at the root); a batch's edges then follow from node positions alone, and
a soft adjacency is one weight per node (the weight of the edge to its parent). Besides the node features the
models see three structural inputs that the Langevin chain never changes: log(1 + depth), the number of
children and log(1 + position in the jet) (the rank of the declustering angle). A jet with fewer than two
constituents has no declustering: its graph is empty and its energy 0 (the least anomalous score).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from analysis.models.sampler import per_sample_sum

N_STRUCTURE = 3


@dataclass(frozen=True)
class LundGraphs:
    """Graphs of n jets on the host: node rows of all jets concatenated (jet k owns ``counts[k]`` rows)."""

    nodes: np.ndarray        # (n_nodes, n_features) float32
    parent_gap: np.ndarray   # (n_nodes,) int64, 0 at the root
    counts: np.ndarray       # (n_jets,) int64

    @classmethod
    def from_representation(cls, rep: dict[str, np.ndarray], max_nodes: int | None = None) -> LundGraphs:
        """From a ``lund_graph`` representation (nodes, nodes_offsets, edges, edges_offsets), each jet cut to
        its first ``max_nodes`` nodes (None: all)."""
        missing = [k for k in ("nodes", "nodes_offsets", "edges", "edges_offsets") if k not in rep]
        if missing:
            raise ValueError(f"lund_graph representation: missing fields {missing}")
        nodes, offsets = np.asarray(rep["nodes"], dtype=np.float32), np.asarray(rep["nodes_offsets"], np.int64)
        if not np.isfinite(nodes).all():
            bad = np.flatnonzero(~np.isfinite(nodes).all(axis=1))[0]
            jet = int(np.searchsorted(offsets, bad, side="right") - 1)
            raise ValueError(f"lund_graph representation: non-finite node features in jet row {jet}")
        n_jets = len(offsets) - 1
        counts = np.diff(offsets)
        local = np.arange(len(nodes)) - np.repeat(offsets[:-1], counts)
        gap = np.zeros(len(nodes), dtype=np.int64)
        edges, edge_offsets = np.asarray(rep["edges"], np.int64), np.asarray(rep["edges_offsets"], np.int64)
        edge_jet = np.repeat(np.arange(n_jets), np.diff(edge_offsets))
        parent, child = edges[:, 0], edges[:, 1]
        if (child <= parent).any():
            raise ValueError("lund_graph representation: an edge's child does not come after its parent")
        gap[offsets[:-1][edge_jet] + child] = child - parent
        keep = np.ones(len(nodes), dtype=bool) if max_nodes is None else local < max_nodes
        kept_counts = counts if max_nodes is None else np.minimum(counts, max_nodes)
        return cls(nodes[keep], gap[keep], kept_counts.astype(np.int64))

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def n_features(self) -> int:
        return self.nodes.shape[1]

    def select(self, rows: np.ndarray) -> LundGraphs:
        """The graphs of the jets ``rows`` (bool mask or indices), in that order."""
        index = np.arange(len(self.counts))[rows]
        starts = np.concatenate([[0], np.cumsum(self.counts)])[index]
        counts = self.counts[index]
        node = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
        return LundGraphs(self.nodes[node], self.parent_gap[node], counts)

    def structure(self) -> np.ndarray:
        """(n_nodes, N_STRUCTURE) float32: log(1 + depth), number of children, log(1 + position in the jet)."""
        n = len(self.nodes)
        index = np.arange(n)
        parent = index - self.parent_gap
        depth = (self.parent_gap > 0).astype(np.int64)  # distance to `ancestor`, first the parent
        ancestor = parent
        while True:  # pointer jumping: log2(max depth) vectorised passes
            further = ancestor[ancestor]
            if (further == ancestor).all():
                break
            depth, ancestor = depth + depth[ancestor], further
        children = np.bincount(parent[self.parent_gap > 0], minlength=n)
        local = index - np.repeat(np.concatenate([[0], np.cumsum(self.counts)[:-1]]), self.counts)
        return np.stack([np.log1p(depth), children, np.log1p(local)], axis=1).astype(np.float32)


@dataclass(frozen=True)
class GraphBatch:
    """Graphs of a batch as one disconnected graph on a device (the torch_geometric layout).

    ``adjacency`` is the soft weight of each node's edge to its parent (None: the tree itself, all weights 1);
    it is a Langevin variable of the graph models' adjacency chain.
    """

    x: torch.Tensor            # (n_nodes, n_features)
    adjacency: torch.Tensor | None  # (n_nodes,) or None
    structure: torch.Tensor    # (n_nodes, N_STRUCTURE)
    edge_index: torch.Tensor   # (2, n_edges) parent, child
    batch: torch.Tensor        # (n_nodes,) graph of each node
    position: torch.Tensor     # (n_nodes,) index of each node in its graph (root 0)
    counts: torch.Tensor       # (n_graphs,) nodes per graph

    @property
    def n_graphs(self) -> int:
        return len(self.counts)

    def __len__(self) -> int:
        return self.n_graphs

    def edge_weight(self) -> torch.Tensor | None:
        """Weight of each edge (the child's adjacency), None for the plain tree."""
        return None if self.adjacency is None else self.adjacency[self.edge_index[1]]

    def has_parent(self) -> torch.Tensor:
        """1.0 at every node with an edge to a parent (all but the roots), else 0.0."""
        return torch.zeros_like(self.x[:, 0]).index_fill(0, self.edge_index[1], 1.0)

    def node_mean(self, values: torch.Tensor) -> torch.Tensor:
        """Per-graph mean of per-node values (n_nodes, ...) -> (n_graphs, ...); 0 for a graph without nodes."""
        counts = self.counts.to(values.dtype).clamp_min(1.0)
        return per_sample_sum(values, self.batch, self.n_graphs) / counts.view(-1, *([1] * (values.ndim - 1)))

    def padded(self, values: torch.Tensor) -> torch.Tensor:
        """Per-node rows (n_nodes, d) as (n_graphs, largest graph, d), each graph's nodes in order, zero-padded."""
        out = torch.zeros(self.n_graphs, int(self.counts.max()) if self.n_graphs else 0, values.shape[1],
                          device=values.device, dtype=values.dtype)
        return out.index_put((self.batch, self.position), values)

    def with_nodes(self, x: torch.Tensor, adjacency: torch.Tensor | None) -> GraphBatch:
        return replace(self, x=x, adjacency=adjacency)


class GraphSet:
    """Standardised graphs of many jets held on a device; ``graphs[idx]`` gathers a GraphBatch with tensor ops."""

    def __init__(self, graphs: LundGraphs, offset: torch.Tensor, scale: torch.Tensor, device: torch.device):
        self.device = device
        self.x = (torch.as_tensor(graphs.nodes, device=device) - offset.to(device)) / scale.to(device)
        self.structure = torch.as_tensor(graphs.structure(), device=device)
        self.parent_gap = torch.as_tensor(graphs.parent_gap, device=device)
        self.counts = torch.as_tensor(graphs.counts, device=device)
        self.starts = torch.cumsum(self.counts, 0) - self.counts
        self.n_features = graphs.n_features

    def __len__(self) -> int:
        return len(self.counts)

    def __getitem__(self, idx: torch.Tensor | slice) -> GraphBatch:
        if isinstance(idx, slice):
            idx = torch.arange(len(self), device=self.device)[idx]
        counts = self.counts[idx]
        total = int(counts.sum())
        batch = torch.repeat_interleave(torch.arange(len(idx), device=self.device), counts, output_size=total)
        first = torch.cumsum(counts, 0) - counts  # position of each graph's root in the batch
        position = torch.arange(total, device=self.device) - first[batch]
        node = self.starts[idx][batch] + position
        gap = self.parent_gap[node]
        child = torch.nonzero(gap > 0).flatten()
        return GraphBatch(self.x[node], None, self.structure[node], torch.stack([child - gap[child], child]),
                          batch, position, counts)
