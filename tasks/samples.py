"""Skimming: the preselection per generated chunk or input file (generation: tasks/generation.py)."""
from __future__ import annotations

import functools

from analysis.btag import TAGGED_FORMATS
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
        data = {"data": True} if self.cfg.samples[self.sample]["label"] == "data" else {}  # weight 1
        parts = super().config_parts() | ({"spec": self.sample_spec()} if self.input_file else {}) | data
        if not self.tags_bjets:  # the b-tag working point changes nothing else: their skims keep their hashes
            parts["inputs"] = {k: v for k, v in parts["inputs"].items() if k != "btag"}
        return parts

    @property
    def tags_bjets(self) -> bool:
        """Whether this branch's jets get their b tag from a discriminator (``inputs.btag``): CMS NanoAOD/PFNano
        files; generated events and the other formats carry their own (or none)."""
        return bool(self.input_file) and self.cfg.samples[self.sample]["format"] in TAGGED_FORMATS

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
        formats = {spec["format"] for spec in self.cfg.samples.values() if "files" not in spec}
        return {fmt: self._writer(fmt).req(self) for fmt in sorted(formats)}

    def requires(self):
        if self.input_file:
            return {}
        return self._writer(self.cfg.samples[self.sample]["format"]).req(self, branch=self.branch)

    def output(self):
        return {"events": self.local_target(f"chunk{self.chunk}.root"),
                "cutflow": self.local_target(f"chunk{self.chunk}_cutflow.json")}

    def run(self):
        from analysis.event_features import btag_needed_by
        from analysis.skim import skim_or_skip

        out, spec, inputs = self.output(), self.cfg.samples[self.sample], self.cfg.inputs
        if self.input_file:  # normalised to the config's xsec_pb and the file's sum of weights
            path, fmt, xsec = self.input_file, spec["format"], spec.get("xsec_pb", 1.0)  # data: weight 1
        else:
            inp = self.input()
            path, fmt, xsec = inp["events"].path, spec["format"], read_json(inp["meta"].path)["xsec_pb"]
        with atomic_paths(out["events"].path, out["cutflow"].path) as (tmp, cutflow):
            record = skim_or_skip(path, fmt, self.cfg.selection, tmp, f"{self.config_hash()}/{self.branch}",
                                  inputs["on_bad_file"], is_data=spec["label"] == "data", keep=inputs["keep"],
                                  step_size=inputs["step_size"], on_bad_line=inputs["on_bad_line"],
                                  puppi=inputs["puppi"], btag=inputs["btag"],
                                  need_btag=btag_needed_by(self.cfg.selection, self.cfg.features) if self.tags_bjets else None)
            if "skipped" in record:
                self.logger.warning(f"skipping unreadable input: {record['skipped']}")
            else:
                message(self, f"{record['cutflow'][-1]['events']} of {record['n_generated']} events from {path} "
                        "pass the selection")
            write_json(cutflow, {"sample": self.sample, "chunk": self.chunk, "xsec_pb": xsec}
                       | ({"file": path} if self.input_file else {}) | record)
