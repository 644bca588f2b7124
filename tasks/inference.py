"""Anomaly scores of every jet in the dataset, per model."""
from __future__ import annotations

import h5py
import luigi

from analysis.dataset import load_dataset
from analysis.models.registry import model_inputs
from analysis.training import load_model, score
from tasks.base import Task, atomic_paths
from tasks.dataset import FeatureDataset
from tasks.training import train_task


class Infer(Task):
    """Score all jets with the selected (best) checkpoint of ``--model``; metrics use the test split."""

    model = luigi.Parameter(default="ae", description="model name in the config's models section")

    def path_label(self) -> str:
        return self.model

    def requires(self):
        return {"dataset": FeatureDataset.req(self), "model": train_task(self, self.model)}

    def output(self):
        return self.local_target("scores.h5")

    def run(self):
        path = self.input()["dataset"]["dataset"].path
        data = load_dataset(path)
        model = load_model(self.input()["model"]["best"].path)
        s = score(model, model_inputs(self.cfg.models[self.model], data, path)())
        with atomic_paths(self.output().path) as (tmp,):
            with h5py.File(tmp, "w") as f:
                f.create_dataset("score", data=s)
                f.attrs["model"] = self.model
