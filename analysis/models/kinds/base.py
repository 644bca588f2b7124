"""What a model kind is, and the parts the dense and graph kinds share.

A kind is one object (``KIND`` in its module, listed in analysis/models/registry.py) that owns everything the
rest of the workflow needs to know about its models: the config defaults (plain data: the keys a config may set)
and their checks, the model and sampler it builds, what the model is fed (``inputs``), how an epoch trains
(``phase``), which validation number selects the kept epoch, the law task that trains it (``task``) and what the
report does with it (``graph``). Nothing here imports torch at module level: the config is validated and the
command line starts without it; ``build`` and ``sampler`` import it.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, NamedTuple

from analysis.models.options import (
    ACTIVATION_NAMES, ADVERSARY_INPUTS, BOUND_MODES, FRESH, GRAPH_REPRESENTATIONS, INITS, LATENT_DEFAULTS,
)

COMMON = {
    "hidden": [10, 10], "latent": 6, "activation": "relu", "epochs": 30, "batch_size": 256,
    "lr": 1.0e-3, "weight_decay": 0.0, "patience": 10, "lr_patience": 5, "lr_factor": 0.5,
    "lr_threshold": 1.0e-4, "lr_cooldown": 0, "lr_metric": "val",
    "l1_weights": 0.0, "l2_weights": 0.0,
    "adversary": {"lambda": 0.0, "input": "energy", "hidden": [16, 16], "lr": 1.0e-3},
}
SAMPLER = {
    "n_steps": 10, "step_size": None, "noise": 0.22, "temperature": 0.063, "bounds": [-3.0, 3.0],
    "bound_mode": "clamp", "clip_grad": None, "mh": False, "noise_final": None,
    "buffer_size": 10000, "replay_ratio": 0.95, "init": "pcd", "fresh": "gaussian",
    "latent": dict(LATENT_DEFAULTS),
}
GRAPH = {"representation": "lund_graph", "max_nodes": 32, "hidden": [32, 32], "latent": 8,
         "adjacency": {"chain": False, "reconstruct": False, "weight": 1.0, "noise_scale": 1.0}}
GRAPH_BUFFER_SIZE = 100000  # a graph model's replay buffer holds node rows

LR_METRICS = ("val", "train")  # what ReduceLROnPlateau watches

# The CMS WNAE study's training (the reference: example/config.py and example/trainer.py of Eble's WNAE, public
# fork Z0zzz/wnae_ at 800441d, arXiv:2510.02168): AdamW at lr 2e-4 (torch's default weight decay 0.01), batch
# 2048, 500 epochs, ReduceLROnPlateau factor 0.8, patience 20, threshold 1e-3 (relative), cooldown 10 on the
# training loss, early stopping after 5000 epochs without improvement (off), the kept epoch the one with the
# lowest validation W averaged over the validation set in batches. Its sampler is the SAMPLER default below.
REFERENCE = {"epochs": 500, "batch_size": 2048, "lr": 2.0e-4, "weight_decay": 0.01, "patience": 5000,
             "lr_patience": 20, "lr_factor": 0.8, "lr_threshold": 1.0e-3, "lr_cooldown": 10, "lr_metric": "train",
             "ae_pretrain_epochs": 0, "val_samples": 2048, "val_draws": "all"}

RECONSTRUCTION = "ae"  # the phase name of reconstruction-only epochs (an AE's, or NAE/WNAE pre-training)


class Phase(NamedTuple):
    """How an epoch trains: its name in the history, and whether its loss needs the sampler's negatives."""

    name: str
    negatives: bool


def check(ok: bool, key: str, value: Any, why: str) -> None:
    """Raise ValueError naming the key, its value and what is allowed, unless ok."""
    if not ok:
        raise ValueError(f"model config '{key}' = {value!r}: {why}")


def is_int(v: Any, lo: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo


def is_num(v: Any, lo: float, strict: bool = True) -> bool:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    return ok and (v > lo if strict else v >= lo)


def merge(defaults: dict, given: dict, prefix: str = "") -> dict:
    """``given`` over a copy of ``defaults``, nested; an unknown key raises ValueError naming it."""
    if not isinstance(given, dict):
        raise ValueError(f"model config '{prefix.rstrip('.')}' must be a mapping, got {type(given).__name__}")
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        if key not in defaults:
            raise ValueError(f"unknown model config key '{prefix}{key}' (allowed: {sorted(defaults)})")
        out[key] = merge(defaults[key], value, f"{prefix}{key}.") if isinstance(defaults[key], dict) else value
    return out


class ModelKind:
    """A reconstruction autoencoder kind; subclasses add a sampler-based objective or a graph input."""

    name: str = ""
    task: str = ""  # the law task that trains this kind's models (tasks/training.py makes it)
    graph = False  # input: a graph representation (the report's per-feature diagnostics skip these models)
    uses_sampler = False  # the loss needs negatives from the Langevin sampler
    selection_metric = "val_loss"  # the history column whose lowest value selects the kept epoch

    def defaults(self) -> dict[str, Any]:
        """Every key a config of this kind may set, with its default (a fresh copy)."""
        return {"kind": self.name, "preset": None, **copy.deepcopy(COMMON)}

    def presets(self) -> dict[str, dict[str, Any]]:
        """Named sets of values that replace defaults (``preset: <name>``; the config's own keys still win)."""
        return {}

    def resolve(self, cfg: dict) -> dict:
        """Defaults (and the named preset's values) filled in and every value checked; returns a new nested dict."""
        base = self.defaults()
        preset = cfg.get("preset") if isinstance(cfg, dict) else None
        if preset is not None:
            check(preset in self.presets(), "preset", preset,
                  f"must be null or one of {sorted(self.presets())} (kind {self.name})")
            base = merge(base, self.presets()[preset])
        c = merge(base, cfg)
        self.check(c)
        return c

    def check(self, c: dict) -> None:
        """Raise ValueError naming the first bad key of the merged config c."""
        check(isinstance(c["hidden"], list) and all(is_int(h, 1) for h in c["hidden"]), "hidden", c["hidden"],
              "must be a list of positive integers")
        check(is_int(c["latent"], 1), "latent", c["latent"], "must be a positive integer")
        check(c["activation"] in ACTIVATION_NAMES, "activation", c["activation"],
              f"must be one of {sorted(ACTIVATION_NAMES)}")
        for key in ("epochs", "batch_size", "patience"):
            check(is_int(c[key], 1), key, c[key], "must be a positive integer")
        check(is_int(c["lr_patience"], 0), "lr_patience", c["lr_patience"], "must be an integer >= 0")
        check(is_num(c["lr"], 0), "lr", c["lr"], "must be > 0")
        check(is_num(c["weight_decay"], 0, strict=False), "weight_decay", c["weight_decay"], "must be >= 0")
        check(is_num(c["lr_factor"], 0) and c["lr_factor"] < 1, "lr_factor", c["lr_factor"], "must be in (0, 1)")
        check(is_num(c["lr_threshold"], 0, strict=False), "lr_threshold", c["lr_threshold"],
              "must be >= 0 (relative improvement ReduceLROnPlateau counts as one)")
        check(is_int(c["lr_cooldown"], 0), "lr_cooldown", c["lr_cooldown"], "must be an integer >= 0")
        check(c["lr_metric"] in LR_METRICS, "lr_metric", c["lr_metric"],
              f"must be one of {LR_METRICS} (the selection metric, or the epoch's mean training loss)")
        for key in ("l1_weights", "l2_weights"):
            check(is_num(c[key], 0, strict=False), key, c[key], "must be >= 0")
        a = c["adversary"]
        check(is_num(a["lambda"], 0, strict=False), "adversary.lambda", a["lambda"], "must be >= 0 (0 turns it off)")
        check(a["input"] in ADVERSARY_INPUTS, "adversary.input", a["input"], f"must be one of {ADVERSARY_INPUTS}")
        check(isinstance(a["hidden"], list) and all(is_int(h, 1) for h in a["hidden"]), "adversary.hidden",
              a["hidden"], "must be a list of positive integers")
        check(is_num(a["lr"], 0), "adversary.lr", a["lr"], "must be > 0")

    def model_class(self) -> type:
        """The torch module class (imported here, so listing kinds needs no torch)."""
        from analysis.models.ae import AutoEncoder

        return AutoEncoder

    def architecture(self, c: dict, n_features: int) -> dict[str, Any]:
        return {"n_features": n_features, "hidden": c["hidden"], "latent": c["latent"], "activation": c["activation"]}

    def objective(self, c: dict) -> dict[str, Any]:
        """The loss options of a resolved config, as the model class takes them."""
        return {}

    def build(self, c: dict, n_features: int):
        """The model of the resolved config c, freshly initialised (seed torch beforehand)."""
        return self.model_class()(**self.architecture(c, n_features), **self.objective(c))

    def sampler(self, c: dict, n_features: int, device):
        """The Langevin sampler of the resolved config c; None when the loss needs no negatives."""
        return None

    def epochs(self, c: dict) -> int:
        """Every epoch the training runs (pre-training included)."""
        return c["epochs"]

    def phase(self, c: dict, epoch: int) -> Phase:
        return Phase(RECONSTRUCTION, False)

    def inputs(self, c: dict, data: dict, path: str) -> Callable:
        """What the model sees of the dataset at `path` (loaded as `data`), as a function of a row mask (None:
        every row): here the scaled flat features."""
        from analysis.dataset import scaled

        return lambda rows=None: scaled(data, rows)


def _check_chain_options(s: dict, prefix: str) -> None:
    """Bounds, boundary mode, gradient clipping and Metropolis-Hastings of a Langevin chain (input or latent)."""
    b = s["bounds"]
    check(b is None or (isinstance(b, (list, tuple)) and len(b) == 2 and all(is_num(v, float("-inf")) for v in b)
                        and b[0] < b[1]), f"{prefix}bounds", b, "must be null or [low, high] with low < high")
    check(s["clip_grad"] is None or is_num(s["clip_grad"], 0), f"{prefix}clip_grad", s["clip_grad"],
          "must be null or > 0")
    check(s["bound_mode"] in BOUND_MODES, f"{prefix}bound_mode", s["bound_mode"], f"must be one of {BOUND_MODES}")
    check(isinstance(s["mh"], bool), f"{prefix}mh", s["mh"], "must be true or false")
    check(not s["mh"] or s["noise"] > 0, f"{prefix}mh", s["mh"], "Metropolis-Hastings needs noise > 0")


class SamplerKind(ModelKind):
    """A kind whose objective needs negatives from the Langevin sampler (NAE, WNAE), after optional
    reconstruction pre-training; the kept epoch is the one with the lowest validation Wasserstein distance."""

    uses_sampler = True
    selection_metric = "val_wasserstein"
    pretrain_epochs = 0  # default of ae_pretrain_epochs

    def defaults(self) -> dict[str, Any]:
        return {**super().defaults(), "ae_pretrain_epochs": self.pretrain_epochs, "val_samples": 512,
                "val_draws": "all"}

    def check(self, c: dict) -> None:
        super().check(c)
        check(is_int(c["ae_pretrain_epochs"], 0), "ae_pretrain_epochs", c["ae_pretrain_epochs"],
              "must be an integer >= 0")
        check(is_int(c["val_samples"], 2), "val_samples", c["val_samples"], "must be an integer >= 2")
        check(c["val_draws"] == "all" or is_int(c["val_draws"], 1), "val_draws", c["val_draws"],
              "must be 'all' (the whole validation set in chunks of val_samples) or a positive integer")
        s = c["sampler"]
        check(is_int(s["n_steps"], 1), "sampler.n_steps", s["n_steps"], "must be a positive integer")
        check(s["step_size"] is None or is_num(s["step_size"], 0), "sampler.step_size", s["step_size"],
              "must be null or > 0")
        check(is_num(s["noise"], 0, strict=s["step_size"] is not None), "sampler.noise", s["noise"],
              "must be > 0 when step_size is null (step = noise^2/2), else >= 0")
        check(is_num(s["temperature"], 0), "sampler.temperature", s["temperature"], "must be > 0")
        b = s["bounds"]
        _check_chain_options(s, "sampler.")
        check(s["noise_final"] is None or (is_num(s["noise_final"], 0) and s["noise"] > 0), "sampler.noise_final",
              s["noise_final"], "must be null or > 0 (with sampler.noise > 0)")
        lat = s["latent"]
        check(is_int(lat["n_steps"], 1), "sampler.latent.n_steps", lat["n_steps"], "must be a positive integer")
        check(is_num(lat["noise"], 0, strict=False), "sampler.latent.noise", lat["noise"], "must be >= 0")
        check(lat["step_size"] is None and lat["noise"] > 0 or is_num(lat["step_size"], 0), "sampler.latent.step_size",
              lat["step_size"], "must be > 0, or null with sampler.latent.noise > 0 (step = noise^2/2)")
        check(is_num(lat["temperature"], 0), "sampler.latent.temperature", lat["temperature"], "must be > 0")
        _check_chain_options(lat, "sampler.latent.")
        check(is_int(s["buffer_size"], 1), "sampler.buffer_size", s["buffer_size"], "must be a positive integer")
        check(is_num(s["replay_ratio"], 0, strict=False) and s["replay_ratio"] <= 1, "sampler.replay_ratio",
              s["replay_ratio"], "must be in [0, 1]")
        check(s["init"] in INITS, "sampler.init", s["init"], f"must be one of {INITS}")
        check(s["fresh"] in FRESH, "sampler.fresh", s["fresh"], f"must be one of {FRESH}")
        check(s["fresh"] != "uniform" or b is not None, "sampler.fresh", s["fresh"], "'uniform' needs sampler.bounds")

    def chain_width(self, c: dict, n_features: int) -> int:
        """Columns of the rows the chain moves."""
        return n_features

    def sampler(self, c: dict, n_features: int, device):
        from analysis.models.sampler import LangevinSampler

        return LangevinSampler(self.chain_width(c, n_features), device, **c["sampler"], latent_dim=c["latent"])

    def epochs(self, c: dict) -> int:
        return c["ae_pretrain_epochs"] + c["epochs"]

    def phase(self, c: dict, epoch: int) -> Phase:
        """Reconstruction pre-training first (never kept), then this kind's objective."""
        return Phase(RECONSTRUCTION, False) if epoch < c["ae_pretrain_epochs"] else Phase(self.name, True)


class GraphKind:
    """Mixed in before a dense kind: the same objective on Lund graphs (analysis/models/gnn.py), with ``hidden``
    the message-passing widths, ``latent`` the graph-level bottleneck, and ``representation``, ``max_nodes`` and
    ``adjacency``; a replay buffer of node rows."""

    graph = True

    def defaults(self) -> dict[str, Any]:
        base = super().defaults()
        if "sampler" in base:
            base["sampler"]["buffer_size"] = GRAPH_BUFFER_SIZE
        return {**base, "kind": self.name, **copy.deepcopy(GRAPH)}

    def check(self, c: dict) -> None:
        super().check(c)
        check(c["representation"] in GRAPH_REPRESENTATIONS, "representation", c["representation"],
              f"must be one of {GRAPH_REPRESENTATIONS}")
        check(c["max_nodes"] is None or is_int(c["max_nodes"], 1), "max_nodes", c["max_nodes"],
              "must be null (all nodes) or a positive integer")
        adj = c["adjacency"]
        for key in ("chain", "reconstruct"):
            check(isinstance(adj[key], bool), f"adjacency.{key}", adj[key], "must be true or false")
        check(is_num(adj["weight"], 0, strict=False), "adjacency.weight", adj["weight"], "must be >= 0")
        check(is_num(adj["noise_scale"], 0), "adjacency.noise_scale", adj["noise_scale"],
              "must be > 0 (the edge weights' noise over the node features'; their step scales with its square)")
        check(c["adversary"]["input"] == "energy", "adversary.input", c["adversary"]["input"],
              "graph models support 'energy' only (their reconstruction has one row per node, not per jet)")

    def architecture(self, c: dict, n_features: int) -> dict[str, Any]:
        adj = c["adjacency"]
        return {**super().architecture(c, n_features), "adjacency_chain": adj["chain"],
                "adjacency_reconstruct": adj["reconstruct"], "adjacency_weight": adj["weight"],
                "adjacency_noise_scale": adj["noise_scale"]}

    def chain_width(self, c: dict, n_features: int) -> int:
        """Node rows: the node features, and the parent-edge weight with ``adjacency.chain``."""
        return n_features + int(c["adjacency"]["chain"])

    def inputs(self, c: dict, data: dict, path: str) -> Callable:
        """The Lund graphs of the config's representation (``max_nodes`` each), selected by a row mask."""
        from analysis.dataset import load_representation
        from analysis.models.graphs import LundGraphs

        graphs = LundGraphs.from_representation(load_representation(path, c["representation"]), c["max_nodes"])
        return lambda rows=None: graphs if rows is None else graphs.select(rows)
