"""The per-jet feature dataset built from all skimmed samples."""
from __future__ import annotations

from analysis.dataset import build_dataset, concat_tables, jet_table
from analysis.io.nanoaod import read_events
from tasks.base import Task, atomic_paths, read_json, write_json
from tasks.samples import SkimEvents


class FeatureDataset(Task):
    """Skims -> one h5 file: features, weights, labels, signal parameters, train/val/test split, scaler."""

    def config_hash(self) -> str:
        return self.cfg.dataset_hash()

    def requires(self):
        return SkimEvents.req(self)

    def output(self):
        return {"dataset": self.local_target("dataset.h5"), "summary": self.local_target("summary.json")}

    def run(self):
        cfg = self.cfg
        skims = SkimEvents.req(self)
        per_sample: dict[str, dict] = {s: {"tables": [], "sum_genweight": 0.0, "xsec": [], "skipped": []}
                                       for s in cfg.samples}
        for b, (sample, _chunk) in skims.branch_map.items():
            out = skims.as_branch(b).output()
            flow = read_json(out["cutflow"].path)
            acc = per_sample[sample]
            if "skipped" in flow:
                acc["skipped"].append(flow["skipped"])
                continue
            acc["sum_genweight"] += flow["sum_genweight"]
            acc["xsec"].append(flow["xsec_pb"])
            events = read_events(out["events"].path, ["FatJet", "PFCands", "MET", "genWeight", "event"])
            acc["tables"].append(jet_table(events, cfg.selection, cfg.features["names"], cfg.dataset["jets_per_event"]))
        samples = []
        for name, acc in per_sample.items():
            spec = cfg.samples[name]
            if not acc["tables"]:
                raise ValueError(f"sample {name}: every input file was skipped as unreadable: {acc['skipped']}")
            samples.append({
                "name": name, "label": int(spec["label"] == "signal"), "table": concat_tables(acc["tables"]),
                # chunks of one sample share the process: average Pythia's per-chunk estimates
                "xsec_pb": spec.get("xsec_pb", sum(acc["xsec"]) / len(acc["xsec"])),
                "sum_genweight": acc["sum_genweight"], "params": spec.get("params"),
                "process": spec["process"],
            })
        out = self.output()
        with atomic_paths(out["dataset"].path) as (tmp,):
            summary = build_dataset(samples, cfg.features["names"], cfg.dataset["split"], cfg.dataset["seed"],
                                    cfg.dataset["scaler"], tmp)
        for name, acc in per_sample.items():
            summary[name]["files_skipped"] = acc["skipped"]
        write_json(out["summary"].path, summary)
        self.write_config_snapshot()
