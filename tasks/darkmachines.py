"""Generated events in the Dark Machines challenge's csv format: the challenge's path on our own events."""
from __future__ import annotations

import shutil

from tasks.base import atomic_paths
from tasks.generation import GenerateEvents, SampleWorkflow


class ExportDarkMachines(SampleWorkflow):
    """One generated chunk -> one challenge csv (one event per line, MeV), labelled with the sample name.

    A generated sample with ``format: darkmachines`` in the config is skimmed from this file, so the
    csv reader and the challenge's object content (jets, b-jets, leptons, photons, MET: no jet
    constituents) are what the later stages see, exactly as with the challenge's own files.
    """

    def create_branch_map(self) -> dict:
        """Only the chunks of samples read as csv, with their GenerateEvents / SkimEvents branch numbers."""
        return {b: (s, c) for b, (s, c) in super().create_branch_map().items()
                if self.cfg.samples[s].get("format") == "darkmachines"}

    def workflow_requires(self):
        return {"events": GenerateEvents.req(self)}

    def requires(self):
        return GenerateEvents.req(self, branch=self.branch)

    def output(self):
        return {"events": self.local_target(f"chunk{self.chunk}.csv"),
                "meta": self.local_target(f"chunk{self.chunk}.json")}

    def run(self):
        from analysis.io.darkmachines import write_darkmachines
        from analysis.io.inputs import read_input

        inp, out = self.input(), self.output()
        events, _ = read_input(inp["events"].path, "nanoaod", collections=["Jet", "Electron", "Muon", "Photon", "MET",
                                                                          "genWeight", "event"])
        with atomic_paths(out["events"].path, out["meta"].path) as (csv_tmp, meta_tmp):
            write_darkmachines(csv_tmp, events, self.sample)
            shutil.copyfile(inp["meta"].path, meta_tmp)
