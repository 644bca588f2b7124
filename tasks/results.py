"""A study's outputs by config and version, from the tasks' own output paths (no globbing over hash folders).

    from tasks.results import Study
    study = Study("tiny", "v1")
    study.paths()                          # {"dataset": ..., "scores": {model: ...}, "report": ..., ...}
    jets = study.scores("wnae")            # pandas: sample, event, jet_index, weight, split, label, score
    events = study.scores("wnae", level="event")   # per event: score_max, score_sum, n_jets, ...
"""
from __future__ import annotations

import os

import pandas as pd

from tasks.base import cached_config


class Study:
    """The outputs of ``law run PlotSignificance --version <version> --config <config>``."""

    def __init__(self, config: str = "default", version: str = "v1", no_detector: bool = False):
        self.config, self.version, self.no_detector = config, version, no_detector
        self.cfg = cached_config(config, no_detector)

    def _params(self) -> dict:
        return {"version": self.version, "config": self.config, "no_detector": self.no_detector}

    def paths(self) -> dict:
        """Where every output of the study is (whether it exists yet or not)."""
        from tasks.dataset import FeatureDataset
        from tasks.inference import Infer
        from tasks.plotting import PlotSignificance
        from tasks.training import train_task

        report = PlotSignificance(**self._params())
        dataset = FeatureDataset(**self._params()).output()
        return {"dataset": dataset["dataset"].path, "dataset_summary": dataset["summary"].path,
                "scores": {m: Infer(model=m, **self._params()).output().path for m in self.cfg.models},
                "models": {m: train_task(report, m).output()["best"].path for m in self.cfg.models},
                "histories": {m: train_task(report, m).output()["history"].path for m in self.cfg.models},
                "report": os.path.join(report.output().path, "index.html")}

    def scores(self, model: str, level: str = "jet") -> pd.DataFrame:
        """The model's scores joined to their jets or events (``analysis.results.scores_table``)."""
        from analysis.results import scores_table

        if model not in self.cfg.models:
            raise ValueError(f"config {self.cfg.path}: no model {model!r} (models: {', '.join(self.cfg.models)})")
        paths = self.paths()
        path = paths["scores"][model]
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: not produced yet; run `law run Infer --version {self.version} "
                                    f"--config {self.config} --model {model}`")
        return scores_table(path, paths["dataset"], level=level)
