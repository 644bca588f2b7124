"""Training of the anomaly detectors (AE, NAE, WNAE) on background jets only."""
from __future__ import annotations

import functools
import json
import os
import shutil

import law
import luigi

from analysis.config import ConfigError, short_hash
from analysis.models.registry import kinds
from tasks.base import Task, atomic_paths, cached_config, write_json
from tasks.dataset import FeatureDataset
from tasks.progress import BranchLabel, message
from tasks.remote import RemoteWorkflow


class TrainModel(BranchLabel, Task, law.LocalWorkflow, RemoteWorkflow):
    """Train the config's models of this task's kind, one branch per model, on the training split's background jets.

    Branch outputs sit at ``TrainWNAE/<version>/<model>__<hash>/``, so a model's files do not depend on
    how many others the config has. Checkpoints go to a work folder beside the outputs, under the outputs'
    lock (one run at a time), so a killed training resumes where it stopped; the outputs (model.pt, best.pt,
    history.json, negatives.h5) appear together only when training has finished. ``--workflow htcondor|slurm`` trains each model in its own job.
    """

    kind: str | None = None  # set by the per-kind subclasses; None: every model

    # a selector, not an identity: it becomes the model's branch (modify_param_values) and is then cleared
    model = luigi.Parameter(default="", significant=False, description="train only this model of the config (its "
                            "branch, as --branch N selects by number); default: every model of this task's kind")

    @classmethod
    def kind_models(cls, cfg) -> list[str]:
        """The config's models this task trains, in config order (the branch numbers)."""
        return [m for m, spec in cfg.models.items() if cls.kind is None or spec.get("kind") == cls.kind]

    def create_branch_map(self) -> dict:
        return dict(enumerate(self.kind_models(self.cfg)))

    @classmethod
    def branch_of(cls, cfg, model: str) -> int:
        """The branch that trains ``model``."""
        models = cls.kind_models(cfg)
        if model not in models:
            raise ConfigError(f"--model {model!r}: not a model that {cls.get_task_family()} trains in config "
                              f"{cfg.path} (its models: {', '.join(models) or 'none'}; all models of the config: "
                              f"{', '.join(cfg.models)})")
        return models.index(model)

    @classmethod
    def modify_param_values(cls, params: dict) -> dict:
        """``--model NAME`` becomes the branch of that model, so a training has one identity however it was
        selected (``--model`` is then cleared); an unknown model is a ConfigError before anything runs."""
        model = params.get("model")
        if model:
            branch = cls.branch_of(cached_config(params["config"], params["no_detector"]), model)
            if params.get("branch", -1) not in (-1, branch):
                raise ConfigError(f"--model {model!r} is branch {branch}, but --branch {params['branch']} was given")
            params["branch"], params["model"] = branch, ""
        return super().modify_param_values(params)

    @property
    def model_name(self) -> str:
        """The config model this branch trains."""
        return self.branch_data

    def config_parts(self) -> dict:
        return {"model": self.cfg.models[self.model_name], "training": self.cfg.training}

    def config_hash(self) -> str:
        """The model's config, the training settings and the training rows of the dataset (not its signals),
        with the dataset's version: one training version on two dataset versions gets two folders."""
        if not self.is_branch():
            return super().config_hash()
        dataset = FeatureDataset.req(self)
        return short_hash(self.config_parts(), dataset.stage_version(), dataset.training_hash())

    def branch_params(self) -> dict:
        return {"model": self.model_name}

    def model_cfg(self) -> dict:
        return self.cfg.models[self.model_name]

    def path_label(self) -> str:
        return self.model_name if self.is_branch() else ""

    def workflow_requires(self):
        reqs = super().workflow_requires()
        reqs["dataset"] = FeatureDataset.req(self)
        return reqs

    def requires(self):
        return FeatureDataset.req(self)

    def output(self):
        return {k: self.local_target(f) for k, f in
                (("model", "model.pt"), ("best", "best.pt"), ("history", "history.json"),
                 ("negatives", "negatives.h5"))}

    def run(self):
        import h5py
        import numpy as np

        from analysis.dataset import load_dataset
        from analysis.features.lund import LUND_FEATURES
        from analysis.models.registry import is_graph, model_inputs, resolve_config
        from analysis.training import StaleCheckpoint, jet_mass, negative_snapshots, train_model

        path = self.input()["dataset"].path
        data = load_dataset(path)
        train, val = data.rows("train", "background"), data.rows("val", "background")
        test = data.rows("test") & (data.rows(label="background") | data.rows(label="signal"))  # the monitor AUC
        device = self.cfg.training["device"]
        workdir = self.local_path("work")
        mcfg = self.model_cfg()
        adversary = resolve_config(mcfg)["adversary"]["lambda"]  # mass decorrelation needs the jet mass
        inputs = model_inputs(mcfg, data, path)
        weight = data["weight"] if self.cfg.training["weights"] == "xsec" else None
        fit = functools.partial(
            train_model, mcfg, inputs(train), inputs(val), workdir,
            seed=int(self.cfg.training["seed"]), device=None if device == "auto" else device,
            w_train=None if weight is None else weight[train], w_val=None if weight is None else weight[val],
            monitor=(inputs(test), data["label"][test].astype(np.int64), None if weight is None else weight[test]),
            mass_train=jet_mass(data)[train] if adversary else None, on_epoch=self._epoch_line,
        )
        # this run holds the outputs' lock (Task): a work folder here is one a stopped run left behind
        checkpoint = os.path.join(workdir, "checkpoint.pt")
        if os.path.exists(checkpoint):
            self.logger.warning(f"{self.repr(color=False)}: resuming the training a stopped run left in {workdir}")
        elif os.path.isdir(workdir):  # stopped before its first checkpoint or while cleaning up: nothing to resume
            shutil.rmtree(workdir)
        try:
            history = fit()
        except StaleCheckpoint as e:
            self.logger.warning(f"{self.repr(color=False)}: {e}; training from the start")
            shutil.rmtree(workdir)
            history = fit(resume=False)
        out = self.output()
        names = ("model", "best", "history", "negatives")
        with atomic_paths(*(out[k].path for k in names)) as (model, best, hist, negatives):
            shutil.copyfile(os.path.join(workdir, "model.pt"), model)
            shutil.copyfile(os.path.join(workdir, "best.pt"), best)
            write_json(hist, history)
            with h5py.File(negatives, "w") as f:  # validation negatives per epoch and the data rows (none for an AE)
                for name, x in negative_snapshots(workdir).items():
                    f.create_dataset(name, data=x)
                # what the columns are: the scaled input features, or a graph model's Lund node features
                columns = [*LUND_FEATURES, "parent-edge weight"] if is_graph(mcfg) else data["feature_names"]
                width = f["data"].shape[1] if "data" in f else len(columns)
                f.attrs["columns"] = json.dumps(columns[:width])
                f.attrs["rows"] = ("validation rows (data) and the negatives the sampler drew against them after each "
                                   "epoch (epoch_NNN), in the model's scaled input space")
                f.attrs["task"], f.attrs["hash"] = self.task_family, self.config_hash()
        os.remove(checkpoint)  # first, so a kill during the cleanup leaves nothing that looks resumable
        shutil.rmtree(workdir)

    def _epoch_line(self, epoch: int, total: int, row: dict) -> None:
        """One line per epoch (loss, E+, E-, validation W, lr, seconds) and the progress bar."""
        def fmt(key: str) -> str:
            value = row.get(key)
            return "-" if value is None else f"{value:.4g}"

        message(self, f"epoch {epoch + 1}/{total} [{row['phase']}] loss {fmt('loss')} E+ {fmt('e_pos')} "
                      f"E- {fmt('e_neg')} val W {fmt('val_wasserstein')} lr {fmt('lr')} {row['time_s']:.2f} s")
        self.publish_progress(100.0 * (epoch + 1) / total)


def make_train_task(kind: str, task: str) -> type[TrainModel]:
    """The training task of one model kind (TrainWNAE for ``wnae``), registered with law under ``task``."""
    return type(task, (TrainModel,), {"kind": kind, "__module__": __name__,
                                      "__doc__": f"Train the config's models of kind '{kind}', one branch each."})


TRAIN_TASKS = {name: make_train_task(name, kind.task) for name, kind in kinds().items()}  # one per registered kind
globals().update({cls.__name__: cls for cls in TRAIN_TASKS.values()})  # TrainAE, TrainWNAE, ... by name


def train_task(task: Task, model: str) -> TrainModel:
    """The training branch of a config model, by its kind (so all tasks share one output path)."""
    kind = task.cfg.models[model].get("kind")
    if kind not in TRAIN_TASKS:
        raise ValueError(f"config {task.cfg.path}: model '{model}' has unknown kind '{kind}' "
                         f"(known: {', '.join(TRAIN_TASKS)})")
    return TRAIN_TASKS[kind].req(task, model=model, _exclude={"workflow", "branches", "branch"})
