"""``kind: graph_wnae``: the WNAE objective on each jet's Lund graph, with a message-passing encoder and decoder
(analysis/models/gnn.py)."""
from __future__ import annotations

from analysis.models.kinds.base import GraphKind
from analysis.models.kinds.wnae import WNAEKind


class GraphWNAEKind(GraphKind, WNAEKind):
    name = "graph_wnae"
    task = "TrainGraphWNAE"

    def model_class(self) -> type:
        from analysis.models.gnn import GraphWNAE

        return GraphWNAE


KIND = GraphWNAEKind()
