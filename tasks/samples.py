"""Skimming: the preselection per generated chunk or input file (generation: tasks/generation.py)."""
from __future__ import annotations

import functools

from analysis.io.files import expand_files
from tasks.base import atomic_paths, read_json, write_json
from tasks.darkmachines import ExportDarkMachines
from tasks.generation import GenerateEvents, SampleWorkflow
from tasks.progress import message


class SkimEvents(SampleWorkflow):
    """Preselection from the config on one generated file, or one file of a sample given by `files:`
    (any supported format) -> selected events (ROOT, NanoAOD-like) + cut flow (JSON)."""

    reads_files = True

    config_sections = ("selection", "inputs")

    def config_parts(self) -> dict:  # a sample read from files: its files and format (no upstream task)
        return super().config_parts() | ({"spec": self.sample_spec()} if self.input_file else {})

    @functools.cached_property
    def input_file(self) -> str | None:
        """The file this branch reads for a sample given by `files:`; None for a generated chunk."""
        spec = self.cfg.samples[self.sample]
        return expand_files(spec["files"])[self.chunk] if "files" in spec else None

    @staticmethod
    def _writer(fmt: str) -> type:
        """The task that writes a generated sample in its format: the generated file itself, or its export
        to the Dark Machines csv."""
        return ExportDarkMachines if fmt == "darkmachines" else GenerateEvents

    def workflow_requires(self):
        formats = {spec.get("format", "nanoaod") for spec in self.cfg.samples.values() if "files" not in spec}
        return {fmt: self._writer(fmt).req(self) for fmt in sorted(formats)}

    def requires(self):
        if self.input_file:
            return {}
        return self._writer(self.cfg.samples[self.sample].get("format", "nanoaod")).req(self, branch=self.branch)

    def output(self):
        return {"events": self.local_target(f"chunk{self.chunk}.root"),
                "cutflow": self.local_target(f"chunk{self.chunk}_cutflow.json")}

    def run(self):
        import numpy as np

        from analysis.io.inputs import read_input
        from analysis.io.nanoaod import InputError, write_events, write_tree
        from analysis.selection.cuts import apply_selection, required_collections

        out, spec = self.output(), self.cfg.samples[self.sample]
        if self.input_file:  # normalised to the config's xsec_pb and the file's genWeight (set after reading)
            path, fmt = self.input_file, spec["format"]
            info = {"sample": self.sample, "chunk": self.chunk, "file": path, "xsec_pb": spec["xsec_pb"],
                    "sum_genweight": 0.0, "n_generated": 0}
        else:
            inp = self.input()
            path, fmt = inp["events"].path, spec.get("format", "nanoaod")
            meta = read_json(inp["meta"].path)
            info = {"sample": self.sample, "chunk": self.chunk, "xsec_pb": meta["xsec_pb"],
                    "sum_genweight": meta["sum_genweight"], "n_generated": meta["n_events"]}
        try:
            # what the selection needs must be there: a file of another layout is a bad input, not a crash
            events, notes = read_input(path, fmt, require=required_collections(self.cfg.selection),
                                       on_bad_line=self.cfg.inputs.get("on_bad_line", "fail"))
        except InputError as e:
            if self.cfg.inputs["on_bad_file"] != "skip":
                raise
            # skipped: counted in the cut flow, left out of the dataset and of its normalisation
            self.logger.warning(f"skipping unreadable input: {e}")
            with atomic_paths(out["events"].path, out["cutflow"].path) as (tmp, cutflow):
                write_tree(tmp, {"event": np.zeros(0, np.uint64)})
                write_json(cutflow, info | {"cutflow": [], "skipped": str(e)})
            return
        if self.input_file:
            info |= {"sum_genweight": float(np.sum(events.genWeight)), "n_generated": len(events)}
        message(self, f"read {len(events)} events from {path}")
        mask, flow = apply_selection(events, self.cfg.selection, events.genWeight)
        message(self, f"{int(mask.sum())} of {len(events)} events pass the selection")
        with atomic_paths(out["events"].path, out["cutflow"].path) as (tmp, cutflow):
            write_events(tmp, events[mask])
            write_json(cutflow, info | ({"read": notes} if notes else {}) | {"cutflow": flow})
