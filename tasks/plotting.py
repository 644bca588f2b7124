"""The sensitivity report: ROC/AUC, significance improvement, score distributions, summary tables."""
from __future__ import annotations

import os

from tasks.base import Task, atomic_paths, read_json
from tasks.progress import announce_report, message
from tasks.dataset import FeatureDataset
from tasks.inference import Infer
from tasks.samples import SkimEvents
from tasks.training import train_task


class PlotSignificance(Task):
    """Figures (PNG+PDF) and a summary (JSON + Markdown) for every model and signal of the config."""

    config_sections = ("plots",)

    def requires(self):
        return {
            "dataset": FeatureDataset.req(self),
            "scores": {m: Infer.req(self, model=m) for m in self.cfg.models},
            "train": {m: train_task(self, m) for m in self.cfg.models},
            "skims": self.skims(),
        }

    def skims(self) -> SkimEvents:
        """The skims the dataset was made from (its version: a pinned dataset reads older skims), for the cut flows."""
        return SkimEvents.req(FeatureDataset.req(self))

    def output(self):
        target = self.local_target("report", directory=True)
        announce_report(os.path.join(target.path, "index.html"))
        return target

    def run(self):
        import h5py
        import numpy as np

        from analysis.dataset import load_dataset
        from analysis.report import package_versions
        from analysis.sensitivity import build_report

        inp = self.input()
        data = load_dataset(inp["dataset"]["dataset"].path)
        scores, histories = {}, {}
        for m in self.cfg.models:
            with h5py.File(inp["scores"][m].path, "r") as f:
                scores[m] = np.asarray(f["score"][()])
            histories[m] = read_json(inp["train"][m]["history"].path)
        message(self, f"{len(scores)} models, {len(data['sample_names'])} samples")
        meta = {"config": self.cfg.name, "config_hash": self.config_hash(), "version": self.version,
                "versions": package_versions()}
        with atomic_paths(self.output().path) as (tmp,):
            os.makedirs(tmp)
            build_report(data, scores, histories, self.cfg.plots, meta, tmp,
                         checkpoints={m: inp["train"][m]["best"].path for m in self.cfg.models},
                         negatives={m: inp["train"][m]["negatives"].path for m in self.cfg.models},
                         samples=self.cfg.samples, models=self.cfg.models, cutflows=self.cutflows(),
                         training_weights=self.cfg.training["weights"])

    def cutflows(self) -> dict[str, list[dict]]:
        """Per sample, its files' cut flows added up (events and genWeight-weighted events after each cut)."""
        skims = self.skims()
        out: dict[str, list[dict]] = {}
        for b, (sample, _chunk) in skims.branch_map.items():
            flow = read_json(skims.as_branch(b).output()["cutflow"].path)
            rows = out.setdefault(sample, [])
            for i, r in enumerate(flow["cutflow"]):
                if i == len(rows):
                    rows.append({"cut": r["cut"], "events": 0, "weighted": 0.0})
                rows[i]["events"] += r["events"]
                rows[i]["weighted"] += r["weighted"]
            if rows:
                rows[0]["xsec_pb"] = flow["xsec_pb"]
        return out
