"""Validation figures of the generated samples (MET, MT, soft-drop mass, tau21, truth r_inv)."""
from __future__ import annotations

import os

from tasks.base import Task, atomic_paths, write_json
from tasks.generation import GenerateEvents


class PlotValidation(Task):
    """Every sample of the config overlaid, one figure per variable, plus ``summary.json``; its hash is
    the generation hash, so it reruns exactly when the events do."""

    def requires(self):
        return GenerateEvents.req(self)

    def output(self):
        return self.local_target("validation", directory=True)

    def run(self):
        from analysis.plotting.validation import plot_validation, sample_distributions

        gen = GenerateEvents.req(self)
        files: dict[str, list[str]] = {s: [] for s, spec in self.cfg.samples.items() if "files" not in spec}
        for b, (sample, _chunk) in gen.branch_map.items():
            files[sample].append(gen.as_branch(b).output()["events"].path)
        with atomic_paths(self.output().path) as (tmp,):
            os.makedirs(tmp)
            summary = plot_validation({s: sample_distributions(paths) for s, paths in files.items()}, tmp)
            summary["figures"] = [os.path.basename(f) for f in summary["figures"]]
            write_json(os.path.join(tmp, "summary.json"), summary | {"config": self.cfg.name})
