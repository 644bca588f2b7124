"""``kind: ae``: the MLP autoencoder on the flat features, trained on reconstruction error (analysis/models/ae.py);
the kept epoch has the lowest validation loss."""
from __future__ import annotations

from analysis.models.kinds.base import ModelKind


class AEKind(ModelKind):
    name = "ae"
    task = "TrainAE"


KIND = AEKind()
