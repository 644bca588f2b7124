"""Training of the anomaly detectors (AE, NAE, WNAE) on background jets only."""
from __future__ import annotations

import os
import shutil

import h5py
import luigi
import numpy as np

from analysis.dataset import load_dataset, scaled
from analysis.training import negative_snapshots, train_model
from tasks.base import Task, atomic_paths, write_json
from tasks.dataset import FeatureDataset


class TrainModel(Task):
    """Train the config's model ``--model`` on the training split's background jets.

    Checkpoints go to a work folder beside the outputs, so a killed training resumes where it stopped;
    the outputs (model.pt, best.pt, history.json, negatives.h5) appear only when training has finished.
    """

    model = luigi.Parameter(description="model name in the config's models section")
    kind: str | None = None  # set by the per-kind subclasses

    def config_hash(self) -> str:
        return self.cfg.model_hash(self.model)

    def model_cfg(self) -> dict:
        if self.model not in self.cfg.models:
            raise ValueError(f"config {self.cfg.path}: no model '{self.model}' (models: {', '.join(self.cfg.models)})")
        mcfg = self.cfg.models[self.model]
        if self.kind and mcfg.get("kind") != self.kind:
            raise ValueError(f"config {self.cfg.path}: model '{self.model}' is of kind '{mcfg.get('kind')}', "
                             f"not '{self.kind}' ({self.task_family} trains {self.kind} models)")
        return mcfg

    def store_parts(self):
        parts = super().store_parts()
        parts["model"] = self.model
        return parts

    def requires(self):
        return FeatureDataset.req(self)

    def output(self):
        return {k: self.local_target(f) for k, f in
                (("model", "model.pt"), ("best", "best.pt"), ("history", "history.json"),
                 ("negatives", "negatives.h5"))}

    def run(self):
        data = load_dataset(self.input()["dataset"].path)
        bkg = data["label"] == 0
        train, val = bkg & (data["split"] == 0), bkg & (data["split"] == 1)
        test = data["split"] == 2
        device = self.cfg.training.get("device", "auto")
        workdir = self.local_path("work")
        history = train_model(
            self.model_cfg(), scaled(data, train), scaled(data, val), workdir,
            seed=int(self.cfg.training["seed"]), device=None if device == "auto" else device,
            monitor=(scaled(data, test), data["label"][test].astype(np.int64)),
        )
        out = self.output()
        with atomic_paths(out["model"].path, out["best"].path) as tmps:
            for tmp, name in zip(tmps, ("model.pt", "best.pt")):
                shutil.copyfile(os.path.join(workdir, name), tmp)
        with atomic_paths(out["negatives"].path) as (tmp,):
            with h5py.File(tmp, "w") as f:  # validation negatives per epoch (none for an AE)
                for epoch, x in negative_snapshots(workdir).items():
                    f.create_dataset(f"epoch_{epoch:03d}", data=x)
        write_json(out["history"].path, history)
        shutil.rmtree(workdir, ignore_errors=True)


class TrainAE(TrainModel):
    kind = "ae"
    model = luigi.Parameter(default="ae", description="model name in the config (kind ae)")


class TrainNAE(TrainModel):
    kind = "nae"
    model = luigi.Parameter(default="nae", description="model name in the config (kind nae)")


class TrainWNAE(TrainModel):
    kind = "wnae"
    model = luigi.Parameter(default="wnae", description="model name in the config (kind wnae)")


TRAIN_TASKS = {"ae": TrainAE, "nae": TrainNAE, "wnae": TrainWNAE}


def train_task(task: Task, model: str) -> TrainModel:
    """The training task of a config model, by its kind (so all tasks share one output path)."""
    kind = task.cfg.models[model].get("kind")
    if kind not in TRAIN_TASKS:
        raise ValueError(f"config {task.cfg.path}: model '{model}' has unknown kind '{kind}' "
                         f"(known: {', '.join(TRAIN_TASKS)})")
    return TRAIN_TASKS[kind].req(task, model=model)
