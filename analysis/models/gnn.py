"""Graph autoencoders on Lund graphs: the AE, NAE and WNAE energies with a message-passing encoder and decoder.

Encoder: each node's state (its standardised Lund features, plus the soft weight of its edge to its parent when
the adjacency is a chain variable) with the structural inputs (analysis/models/graphs.py) -> ``GraphConv`` layers
(torch_geometric; messages along both directions of every tree edge, weighted by the soft adjacency) -> mean and
max pooling over the nodes -> a linear map to the graph-level latent vector, the bottleneck. Decoder: the latent
vector at every node with the structural inputs -> ``GraphConv`` layers on the same tree -> the node features
(and, with ``adjacency.reconstruct``, the weight of each node's edge to its parent).

Energy per graph = mean over its nodes of the squared error averaged over the node features, plus
``adjacency.weight`` x (w - w_hat)^2 at every non-root node when the adjacency is reconstructed. The Langevin chain
moves the node states of a fixed tree; with ``adjacency.chain`` the edge weights move with them (clamped to [0, 1]
inside the energy): x_n = x_{n-1} - a grad_x E + b eps and A_n = A_{n-1} - c grad_A E + d eps with the sampler's
a, b and d = k b, c = k^2 a for ``adjacency.noise_scale`` k (a preconditioned Langevin step: same stationary density).
The chain samples exp(-E_sum / T) with E_sum the error SUMMED over a graph's nodes: every node then feels the
drift a dense sample of its features would (a mean over ~30 nodes would shrink each node's drift 30-fold and
leave the negatives where they started), and the stationary density factorises over nodes given the latent.
The Wasserstein distance of the graph WNAE is measured in the graphs' input space: each graph's chain rows at
their positions in the jet (root first, i.e. by decreasing declustering angle), zero-padded and flattened, so
that the k-th widest declustering of a negative is compared with that of the data.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import GraphConv, global_max_pool

from analysis.models.ae import ACTIVATIONS, EnergyModel
from analysis.models.graphs import N_STRUCTURE, GraphBatch, GraphSet, LundGraphs
from analysis.models.nae import NAEObjective
from analysis.models.sampler import ChainView, per_sample_sum
from analysis.models.wnae import WNAEObjective


class GraphAutoEncoder(EnergyModel):
    """Lund graph -> latent vector -> node features on the same tree, trained on reconstruction error."""

    def __init__(self, n_features: int, hidden: list[int], latent: int, activation: str = "relu",
                 adjacency_chain: bool = False, adjacency_reconstruct: bool = False, adjacency_weight: float = 1.0,
                 adjacency_noise_scale: float = 1.0):
        super().__init__()
        self.n_features = n_features
        self.adjacency_chain = adjacency_chain
        self.adjacency_noise_scale = adjacency_noise_scale
        self.adjacency_reconstruct = adjacency_reconstruct
        self.adjacency_weight = adjacency_weight
        self.act = ACTIVATIONS[activation]()
        widths = [n_features + adjacency_chain + N_STRUCTURE, *hidden]
        self.encoder_convs = nn.ModuleList(GraphConv(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.to_latent = nn.Linear(2 * hidden[-1], latent)
        self.from_latent = nn.Linear(latent + N_STRUCTURE, hidden[-1])
        back = list(reversed(hidden))
        self.decoder_convs = nn.ModuleList(GraphConv(a, b) for a, b in zip([back[0], *back[:-1]], back))
        self.to_nodes = nn.Linear(back[-1], n_features + adjacency_reconstruct)
        self.register_buffer("input_offset", torch.zeros(n_features))
        self.register_buffer("input_scale", torch.ones(n_features))

    def fit_inputs(self, graphs: LundGraphs) -> None:
        """The node-feature standardisation, from the training graphs (kept in the state dict)."""
        scale = graphs.nodes.std(axis=0)
        self.input_offset.copy_(torch.as_tensor(graphs.nodes.mean(axis=0)))
        self.input_scale.copy_(torch.as_tensor(np.where(scale > 0, scale, 1.0)))

    def prepare(self, graphs: LundGraphs, device: torch.device) -> GraphSet:
        return GraphSet(graphs, self.input_offset, self.input_scale, device)

    def _convolve(self, convs: nn.ModuleList, h: torch.Tensor, b: GraphBatch) -> torch.Tensor:
        edges = torch.cat([b.edge_index, b.edge_index.flip(0)], dim=1)
        weight = b.edge_weight()
        weight = None if weight is None else torch.cat([weight, weight])
        for conv in convs:
            h = self.act(conv(h, edges, weight))
        return h

    def _state(self, b: GraphBatch) -> torch.Tensor:
        """The chain's rows: node features, and the parent-edge weight with the adjacency chain."""
        if not self.adjacency_chain:
            return b.x
        weight = torch.ones_like(b.x[:, 0]) if b.adjacency is None else b.adjacency
        return torch.cat([b.x, weight[:, None]], dim=1)

    def encode(self, b: GraphBatch) -> torch.Tensor:
        h = self._convolve(self.encoder_convs, torch.cat([self._state(b), b.structure], dim=1), b)
        pooled = torch.cat([b.node_mean(h), global_max_pool(h, b.batch, size=b.n_graphs)], dim=1)
        return self.to_latent(pooled)

    def decode(self, z: torch.Tensor, b: GraphBatch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(node features, parent-edge weights or None) of the graphs of b from their latent vectors z."""
        h = self.act(self.from_latent(torch.cat([z[b.batch], b.structure], dim=1)))
        out = self.to_nodes(self._convolve(self.decoder_convs, h, b))
        return out[:, :self.n_features], (out[:, self.n_features] if self.adjacency_reconstruct else None)

    def node_errors(self, b: GraphBatch) -> torch.Tensor:
        """Squared reconstruction error of every node (averaged over its features), shape (n_nodes,)."""
        x_hat, w_hat = self.decode(self.encode(b), b)
        error = ((b.x - x_hat) ** 2).mean(dim=1)
        if w_hat is not None:
            target = torch.ones_like(w_hat) if b.adjacency is None else b.adjacency
            error = error + self.adjacency_weight * b.has_parent() * (target - w_hat) ** 2
        return error

    def energy(self, b: GraphBatch) -> torch.Tensor:
        """Per-graph mean over nodes of the squared reconstruction error, shape (n_graphs,): the anomaly score."""
        return b.node_mean(self.node_errors(b))

    def chain_view(self, b: GraphBatch) -> ChainView:
        n = self.n_features

        def to_batch(state: torch.Tensor) -> GraphBatch:
            return b.with_nodes(state[:, :n], state[:, n].clamp(0.0, 1.0) if self.adjacency_chain else None)

        def decode(z: torch.Tensor) -> torch.Tensor:
            x_hat, w_hat = self.decode(z, b)
            if not self.adjacency_chain:
                return x_hat
            return torch.cat([x_hat, (torch.ones_like(x_hat[:, 0]) if w_hat is None else w_hat)[:, None]], dim=1)

        def chain_energy(state: torch.Tensor) -> torch.Tensor:  # summed over nodes: see the module docstring
            errors = self.node_errors(to_batch(state))
            return per_sample_sum(errors, b.batch, b.n_graphs)

        scale = None
        if self.adjacency_chain and self.adjacency_noise_scale != 1.0:  # the edge weights' own step and noise
            scale = torch.ones(n + 1, device=b.x.device, dtype=b.x.dtype)
            scale[n] = self.adjacency_noise_scale**2
        return ChainView(self._state(b), chain_energy, None, b.batch, b.n_graphs, to_batch, decode, scale=scale)

    def descriptor(self, b: GraphBatch) -> torch.Tensor:
        """Per graph, its chain rows at their positions in the jet (root first, zero-padded to the batch's
        largest graph), flattened: the input space in which the WNAE compares data and negatives."""
        return b.padded(self._state(b)).flatten(1)


class GraphNAE(NAEObjective, GraphAutoEncoder):
    """Graph autoencoder trained with the NAE loss."""


class GraphWNAE(WNAEObjective, GraphAutoEncoder):
    """Graph autoencoder trained with the WNAE loss (on the per-graph descriptors)."""
