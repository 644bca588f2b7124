"""``kind: wnae``: the MLP autoencoder trained on the Wasserstein distance between data and Langevin negatives
(analysis/models/wnae.py), with the gradient through every chain step (or the last ``grad_steps``)."""
from __future__ import annotations

import copy
from typing import Any

from analysis.models.kinds.base import REFERENCE, SAMPLER, SamplerKind, check, is_int, is_num
from analysis.models.options import WASSERSTEIN_METHODS

# the gradient through every chain step (the reference WNAE's estimator) by default; grad_through_chain: false
# with grad_steps k keeps the last k steps only (a biased, cheaper estimator: README, benchmarks/bench_wnae.py)
WASSERSTEIN = {"method": "exact", "epsilon": 0.05, "n_iter": 100, "grad_through_chain": True, "grad_steps": 1}


class WNAEKind(SamplerKind):
    name = "wnae"
    task = "TrainWNAE"

    def defaults(self) -> dict[str, Any]:
        return {**super().defaults(), "sampler": copy.deepcopy(SAMPLER), "wasserstein": dict(WASSERSTEIN)}

    def presets(self) -> dict[str, dict[str, Any]]:
        """``reference``: the CMS study's training with the exact W and the gradient through every chain step."""
        return {"reference": {**REFERENCE, "wasserstein": {"method": "exact", "grad_through_chain": True}}}

    def check(self, c: dict) -> None:
        super().check(c)
        w = c["wasserstein"]
        check(w["method"] in WASSERSTEIN_METHODS, "wasserstein.method", w["method"],
              f"must be one of {WASSERSTEIN_METHODS}")
        check(is_num(w["epsilon"], 0), "wasserstein.epsilon", w["epsilon"], "must be > 0")
        check(is_int(w["n_iter"], 1), "wasserstein.n_iter", w["n_iter"], "must be a positive integer")
        check(isinstance(w["grad_through_chain"], bool), "wasserstein.grad_through_chain", w["grad_through_chain"],
              "must be true (graph of every chain step) or false (graph of the last grad_steps steps)")
        check(is_int(w["grad_steps"], 1), "wasserstein.grad_steps", w["grad_steps"],
              "must be a positive integer: a fully detached chain leaves the Wasserstein loss without a gradient "
              "w.r.t. the model (use kind: nae for the detached contrastive loss)")

    def model_class(self) -> type:
        from analysis.models.wnae import WNAE

        return WNAE

    def objective(self, c: dict) -> dict[str, Any]:
        w = c["wasserstein"]
        return {"method": w["method"], "epsilon": w["epsilon"], "n_iter": w["n_iter"],
                "grad_steps": None if w["grad_through_chain"] else w["grad_steps"]}


KIND = WNAEKind()
