"""The per-jet feature dataset built from all skimmed samples: per-file tables (a workflow), then one merge."""
from __future__ import annotations

from analysis.config import short_hash
from tasks.base import Task, atomic_paths, read_json, write_json
from tasks.generation import SampleWorkflow
from tasks.progress import message
from tasks.samples import SkimEvents


class JetTables(SampleWorkflow):
    """One skimmed file -> features and representations of its leading jets (h5 table); one branch per file."""

    reads_files = True  # the same branches as SkimEvents

    def config_parts(self) -> dict:
        ds = self.cfg.dataset
        return {"features": self.cfg.features, "jets_per_event": ds["jets_per_event"],
                "representations": ds["representations"]}

    def workflow_requires(self):
        return {"skims": SkimEvents.req(self)}

    def requires(self):
        return SkimEvents.req(self, branch=self.branch)

    def output(self):
        return self.local_target(f"chunk{self.chunk}_jets.h5")

    def run(self):
        from analysis.dataset import jet_table, write_table
        from analysis.event_features import EVENT_COLLECTIONS, event_table
        from analysis.io.nanoaod import read_events

        cfg, inp = self.cfg, self.input()
        flow = read_json(inp["cutflow"].path)
        table = None
        if "skipped" not in flow and cfg.features.get("level") == "event":
            events = read_events(inp["events"].path, [*EVENT_COLLECTIONS, "MET", "genWeight", "event"],
                                 optional=EVENT_COLLECTIONS)
            table = event_table(events, cfg.selection, cfg.features)
        elif "skipped" not in flow:
            events = read_events(inp["events"].path, ["FatJet", "PFCands", "MET", "genWeight", "event"],
                                 optional=["PFCands"])  # plain NanoAOD: stored jet branches only
            table = jet_table(events, cfg.selection, cfg.features["names"], cfg.dataset["jets_per_event"],
                              cfg.dataset["representations"])
        message(self, "input skipped (unreadable)" if table is None else f"{len(table['features'])} rows")
        with atomic_paths(self.output().path) as (tmp,):
            write_table(tmp, table, flow)


class FeatureDataset(Task):
    """Per-file jet tables -> one h5 file: features, representations, weights, labels, signal parameters,
    train/val/test split, scaler."""

    config_sections = ("dataset",)

    def config_parts(self) -> dict:
        return super().config_parts() | {"labels": {s: spec["label"] for s, spec in self.cfg.samples.items()}}

    def training_hash(self) -> str:
        """What a background-only model's training rows depend on: the dataset settings and the background
        samples' tables. Each jet's split is its own and the scaler is fitted on training background, so
        adding, removing or changing a signal sample leaves the trainings complete."""
        backgrounds = self.cfg.backgrounds
        bkg = [t.config_hash() for t in JetTables.req(self).get_branch_tasks().values() if t.sample in backgrounds]
        return short_hash(self.cfg.dataset, backgrounds, sorted(bkg))

    def requires(self):
        return JetTables.req(self)

    def output(self):
        return {"dataset": self.local_target("dataset.h5"), "summary": self.local_target("summary.json")}

    def run(self):
        from analysis.dataset import build_dataset, read_table
        from analysis.normalisation import sample_entry

        cfg = self.cfg
        tables = JetTables.req(self)
        parts: dict[str, list] = {s: [] for s in cfg.samples}
        for b, (sample, _chunk) in tables.branch_map.items():
            parts[sample].append(read_table(tables.as_branch(b).output().path))
        samples = [sample_entry(name, cfg.samples[name], p) for name, p in parts.items()]
        out = self.output()
        with atomic_paths(out["dataset"].path, out["summary"].path) as (tmp, summary_tmp):
            summary = build_dataset(samples, cfg.features["names"], cfg.dataset["split"], cfg.dataset["seed"],
                                    cfg.dataset["scaler"], tmp)
            for s in samples:
                summary[s["name"]]["files_skipped"] = s["skipped"]
            write_json(summary_tmp, summary)
