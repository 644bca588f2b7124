"""``kind: graph_wnae``: the WNAE objective on each jet's Lund graph, with a message-passing encoder and decoder
(analysis/models/gnn.py)."""
from __future__ import annotations

from typing import Any

from analysis.models.kinds.base import GraphKind
from analysis.models.kinds.wnae import WNAEKind


class GraphWNAEKind(GraphKind, WNAEKind):
    name = "graph_wnae"
    task = "TrainGraphWNAE"

    def defaults(self) -> dict[str, Any]:
        """The dense WNAE's, but the gradient through the last chain step only: there is no graph reference to be
        faithful to, and the full chain's double backward through the message passing costs several times more."""
        base = super().defaults()
        base["wasserstein"]["grad_through_chain"] = False
        return base

    def model_class(self) -> type:
        from analysis.models.gnn import GraphWNAE

        return GraphWNAE


KIND = GraphWNAEKind()
