"""Anomaly scores of every jet in the dataset, per model."""
from __future__ import annotations

import os

import luigi

from analysis.config import data_path
from tasks.base import Task, atomic_paths
from tasks.dataset import FeatureDataset
from tasks.progress import message
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
        from analysis.dataset import load_dataset
        from analysis.event_scores import event_scores
        from analysis.models.registry import model_inputs
        from analysis.results import write_scores
        from analysis.training import load_model, score

        path = self.input()["dataset"]["dataset"].path
        data = load_dataset(path)
        model = load_model(self.input()["model"]["best"].path)
        s = score(model, model_inputs(self.cfg.models[self.model], data, path)())
        message(self, f"scored {len(s)} jets")
        with atomic_paths(self.output().path) as (tmp,):
            write_scores(tmp, s, event_scores(data, s), data,
                         {"model": self.model, "task": self.task_family, "hash": self.config_hash(),
                          # relative to DATA_PATH: the same inputs give the same bytes wherever DATA_PATH is
                          "dataset": os.path.relpath(path, data_path()),
                          "checkpoint": os.path.relpath(self.input()["model"]["best"].path, data_path())})
