"""The generated samples: Pythia 8 events per (sample, chunk), the first task of the chain."""
from __future__ import annotations

import hashlib
import time

import law

from analysis.io.files import expand_files
from tasks.base import Task, atomic_paths, write_json
from tasks.progress import BranchLabel, message
from tasks.remote import RemoteWorkflow


def branch_seed(base: int, sample: str, chunk: int) -> int:
    """A distinct, reproducible Pythia seed per branch (Pythia accepts 0..900000000)."""
    digest = hashlib.sha256(f"{base}/{sample}/{chunk}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % 900_000_000


class SampleWorkflow(BranchLabel, Task, law.LocalWorkflow, RemoteWorkflow):
    """A workflow with one branch per (sample, chunk) of the config; output paths carry the sample's hash."""

    # SkimEvents also reads samples given by `files:`: one branch per file, numbered after the generated
    # chunks, so a generated chunk has the same branch number in GenerateEvents and SkimEvents
    reads_files = False

    def create_branch_map(self) -> dict:
        pairs = [(s, c) for s, spec in self.cfg.samples.items() if "files" not in spec for c in range(spec["chunks"])]
        if self.reads_files:
            pairs += [(s, i) for s, spec in self.cfg.samples.items() if "files" in spec
                      for i in range(len(expand_files(spec["files"])))]
        return dict(enumerate(pairs))

    @property
    def sample(self) -> str:
        return self.branch_data[0]

    @property
    def chunk(self) -> int:
        return self.branch_data[1]

    def path_label(self) -> str:
        return self.sample if self.is_branch() else ""

    def branch_params(self) -> dict:
        return {"sample": self.sample, "chunk": self.chunk}

    def sample_spec(self) -> dict:
        """This branch's sample as configured, without its label (which does not change its events)."""
        return {"sample": self.sample} | {k: v for k, v in self.cfg.samples[self.sample].items() if k != "label"}


class GenerateEvents(SampleWorkflow):
    """Pythia 8 events of one sample chunk -> NanoAOD-like ROOT file + generator metadata (JSON)."""

    def config_parts(self) -> dict:
        return {"spec": self.sample_spec(), "generation": self.cfg.generation}

    def output(self):
        return {"events": self.local_target(f"chunk{self.chunk}.root"),
                "meta": self.local_target(f"chunk{self.chunk}.json")}

    def run(self):
        from analysis.generation import generate_sample

        spec = self.cfg.samples[self.sample]
        out = self.output()
        seed = branch_seed(self.cfg.generation["seed"], self.sample, self.chunk)
        t0 = time.perf_counter()

        def progress(done: int, total: int) -> None:
            message(self, f"{done}/{total} events, {done / (time.perf_counter() - t0):.0f} events/s")
            self.publish_progress(100.0 * done / total)

        message(self, f"generating {spec['events_per_chunk']} events (seed {seed})")
        with atomic_paths(out["events"].path, out["meta"].path) as (events, meta):
            info = generate_sample(spec, spec["events_per_chunk"], seed, events,
                                   detector=self.cfg.generation["detector"], progress=progress)
            write_json(meta, info | {"sample": self.sample, "chunk": self.chunk})
