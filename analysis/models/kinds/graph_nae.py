"""``kind: graph_nae``: the NAE objective on each jet's Lund graph, with a message-passing encoder and decoder
(analysis/models/gnn.py)."""
from __future__ import annotations

from analysis.models.kinds.base import GraphKind
from analysis.models.kinds.nae import NAEKind


class GraphNAEKind(GraphKind, NAEKind):
    name = "graph_nae"
    task = "TrainGraphNAE"

    def model_class(self) -> type:
        from analysis.models.gnn import GraphNAE

        return GraphNAE


KIND = GraphNAEKind()
