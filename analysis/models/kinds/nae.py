"""``kind: nae``: the MLP autoencoder trained with the NAE contrastive loss (analysis/models/nae.py) on detached
Langevin negatives, after ``ae_pretrain_epochs`` of reconstruction."""
from __future__ import annotations

import copy
from typing import Any

from analysis.models.kinds.base import REFERENCE, SAMPLER, SamplerKind, check, is_num

LOSS = {"gamma": 1.0, "l1_energy": 0.0, "l2_energy": 0.0, "logcosh": False}


class NAEKind(SamplerKind):
    name = "nae"
    task = "TrainNAE"
    pretrain_epochs = 5

    def defaults(self) -> dict[str, Any]:
        return {**super().defaults(), "loss": dict(LOSS), "sampler": copy.deepcopy(SAMPLER)}

    def presets(self) -> dict[str, dict[str, Any]]:
        """``reference``: the CMS study's training with its NAE loss, mean E+ - mean E- on detached negatives
        (``train_step_nae`` of the reference: no gamma term, no pre-training)."""
        return {"reference": {**REFERENCE, "loss": {"gamma": 0.0, "l1_energy": 0.0, "l2_energy": 0.0,
                                                    "logcosh": False}}}

    def check(self, c: dict) -> None:
        super().check(c)
        for key in ("gamma", "l1_energy", "l2_energy"):
            check(is_num(c["loss"][key], 0, strict=False), f"loss.{key}", c["loss"][key], "must be >= 0")
        check(isinstance(c["loss"]["logcosh"], bool), "loss.logcosh", c["loss"]["logcosh"], "must be true or false")

    def model_class(self) -> type:
        from analysis.models.nae import NAE

        return NAE

    def objective(self, c: dict) -> dict[str, Any]:
        return dict(c["loss"])


KIND = NAEKind()
