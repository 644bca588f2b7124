"""A toy model kind, added the way a new kind is (this file plus one line in registry.KINDS, which
tests/test_model_kinds.py adds): a denoising autoencoder whose training reconstructs each jet from a copy with
Gaussian noise of width ``input_noise`` added to its standardised features; its score is the clean error."""
from __future__ import annotations

from typing import Any

from analysis.models.kinds.base import ModelKind, check, is_num


class DenoisingAEKind(ModelKind):
    name = "toy_dae"
    task = "TrainToyDAE"

    def defaults(self) -> dict[str, Any]:
        return {**super().defaults(), "input_noise": 0.3}

    def check(self, c: dict) -> None:
        super().check(c)
        check(is_num(c["input_noise"], 0, strict=False), "input_noise", c["input_noise"], "must be >= 0")

    def model_class(self) -> type:
        import torch

        from analysis.models.ae import AutoEncoder, weighted_mean

        class DenoisingAE(AutoEncoder):
            def __init__(self, *args, input_noise: float, **kwargs):
                super().__init__(*args, **kwargs)
                self.input_noise = input_noise

            def reconstruction_loss(self, x_pos, w):
                reco = self.decoder(self.encoder(x_pos + self.input_noise * torch.randn_like(x_pos)))
                e_pos = weighted_mean(((x_pos - reco) ** 2).mean(dim=1), w)
                return e_pos, e_pos.detach(), None

        return DenoisingAE

    def objective(self, c: dict) -> dict[str, Any]:
        return {"input_noise": c["input_noise"]}


KIND = DenoisingAEKind()
