"""``kind: graph_ae``: the AE objective on each jet's Lund graph, with a message-passing encoder and decoder
(analysis/models/gnn.py)."""
from __future__ import annotations

from analysis.models.kinds.ae import AEKind
from analysis.models.kinds.base import GraphKind


class GraphAEKind(GraphKind, AEKind):
    name = "graph_ae"
    task = "TrainGraphAE"

    def model_class(self) -> type:
        from analysis.models.gnn import GraphAutoEncoder

        return GraphAutoEncoder


KIND = GraphAEKind()
