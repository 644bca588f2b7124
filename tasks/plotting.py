"""The sensitivity report: ROC/AUC, significance improvement, score distributions, summary tables."""
from __future__ import annotations

import os

import h5py
import numpy as np

from analysis.dataset import load_dataset
from analysis.report import package_versions
from analysis.sensitivity import build_report
from tasks.base import Task, atomic_paths, read_json
from tasks.dataset import FeatureDataset
from tasks.inference import Infer
from tasks.training import train_task


class PlotSignificance(Task):
    """Figures (PNG+PDF) and a summary (JSON + Markdown) for every model and signal of the config."""

    config_sections = ("plots",)

    def requires(self):
        return {
            "dataset": FeatureDataset.req(self),
            "scores": {m: Infer.req(self, model=m) for m in self.cfg.models},
            "train": {m: train_task(self, m) for m in self.cfg.models},
        }

    def output(self):
        return self.local_target("report", directory=True)

    def run(self):
        inp = self.input()
        data = load_dataset(inp["dataset"]["dataset"].path)
        scores, histories = {}, {}
        for m in self.cfg.models:
            with h5py.File(inp["scores"][m].path, "r") as f:
                scores[m] = np.asarray(f["score"][()])
            histories[m] = read_json(inp["train"][m]["history"].path)
        meta = {"config": self.cfg.name, "config_hash": self.config_hash(), "version": self.version,
                "versions": package_versions()}
        with atomic_paths(self.output().path) as (tmp,):
            os.makedirs(tmp)
            build_report(data, scores, histories, self.cfg.plots, meta, tmp,
                         checkpoints={m: inp["train"][m]["best"].path for m in self.cfg.models},
                         negatives={m: inp["train"][m]["negatives"].path for m in self.cfg.models})
