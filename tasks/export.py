"""Export of a trained model for use outside this tool: TorchScript and ONNX of the autoencoder and the score."""
from __future__ import annotations

import json
import os

from analysis.models.registry import is_graph
from tasks.base import atomic_paths
from tasks.inference import Infer

MAX_DEVIATION = 1e-4  # largest |exported - torch| accepted on the dataset's jets


class ExportModel(Infer):
    """TorchScript (.pt) and ONNX (.onnx) files of the selected (best) checkpoint of ``--model``.

    Same parameters and inputs as Infer (the dataset and the model's training). The folder holds
    autoencoder.{pt,onnx} (scaled features -> reconstruction), score.{pt,onnx} (scaled features ->
    anomaly score) and export.json (feature names, the scaler to apply first, and the measured largest
    deviation of each file from the torch model on the dataset's jets).
    """

    def output(self):
        return self.local_target("export", directory=True)

    def requires(self):
        if is_graph(self.cfg.models[self.model]):  # before anything trains
            raise ValueError(f"config {self.cfg.path}: model '{self.model}' is a graph model; ExportModel exports "
                             "the dense models (TorchScript/ONNX of a variable-size graph input is not supported)")
        return super().requires()

    def run(self):
        from analysis.dataset import load_dataset, scaled
        from analysis.export import check_exports, export_model
        from analysis.training import load_model

        data = load_dataset(self.input()["dataset"]["dataset"].path)
        model = load_model(self.input()["model"]["best"].path)
        x = scaled(data)
        with atomic_paths(self.output().path) as (tmp,):
            paths = export_model(model, x.shape[1], tmp)
            deviation = check_exports(model, paths, x)
            if max(deviation.values()) > MAX_DEVIATION:
                raise RuntimeError(f"model '{self.model}': exported files deviate from torch by {deviation} "
                                   f"(> {MAX_DEVIATION}) on the dataset's jets")
            meta = {"model": self.model, "features": data["feature_names"],
                    "scaler": {"offset": data["scaler_offset"].tolist(), "scale": data["scaler_scale"].tolist(),
                               "apply": "x_scaled = (x - offset) / scale"},
                    "files": {k: os.path.basename(v) for k, v in paths.items()}, "max_deviation": deviation}
            with open(os.path.join(tmp, "export.json"), "w") as f:
                json.dump(meta, f, indent=1, sort_keys=True)
