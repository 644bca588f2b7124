"""Model kinds, their config defaults and validation, and the builders used by training and loading.

A model config is a (possibly nested) dict from YAML with a ``kind`` (ae | nae | wnae on the flat features,
graph_ae | graph_nae | graph_wnae on Lund graphs, analysis/models/gnn.py). Every key has
a default (``DEFAULTS``); an unknown key or a bad value raises ValueError naming the key. The default
architecture is the CMS WNAE study's: input -> 10 -> 10 -> 6 (latent) -> 10 -> 10 -> input. Inputs are
expected standardised (mean 0, std 1).

Common keys: architecture (hidden, latent, activation), epochs, batch_size, AdamW (lr, weight_decay),
early stopping (patience), ReduceLROnPlateau (lr_patience, lr_factor), ``l1_weights`` / ``l2_weights``
(penalties on the weight matrices, added to the loss), ``adversary`` (mass decorrelation:
``lambda`` (0 = off), ``input`` energy | reco, ``hidden``, ``lr``; analysis/models/adversary.py).
NAE/WNAE: ``ae_pretrain_epochs`` (plain reconstruction epochs before the NAE/WNAE loss, on top of
``epochs``), ``val_samples`` (size of the fixed validation subset and of the negative sample drawn each
epoch for the exact validation Wasserstein distance that selects the best epoch; default 512: enough
points for a stable W, and the exact assignment stays a few ms on the CPU), ``sampler``
(analysis/models/sampler.py: n_steps, step_size (null: noise^2/2), noise, temperature, bounds,
bound_mode clamp | reject, clip_grad, mh (Metropolis-Hastings), noise_final (annealing), buffer_size,
replay_ratio, init pcd | cd | omi, fresh gaussian | uniform, latent (the omi latent chain: n_steps,
step_size, noise, temperature)). NAE: ``loss`` (gamma, l1_energy, l2_energy, logcosh). WNAE:
``wasserstein`` (method exact | sinkhorn, epsilon, n_iter, grad_through_chain, grad_steps).
Graph kinds take the same keys as their dense kind, with ``hidden`` the widths of the message-passing layers and
``latent`` the graph-level bottleneck, plus ``representation`` (lund_graph), ``max_nodes`` (each jet's first,
widest-angle declusterings; null: all) and ``adjacency`` (``chain``: the edge weights are Langevin variables
too, ``noise_scale``: their Langevin noise over the node features' (step x its square), ``reconstruct``: the
decoder also predicts them, ``weight`` of their error in the energy); their replay
buffer holds node rows (default 100000).

Sampler defaults are the CMS WNAE study's: PCD from a Gaussian with a 10000-sample buffer and replay
ratio 0.95, 10 steps, noise 0.22, step = noise^2/2, temperature 0.063 (drift 0.38 per step), bounds
[-3, 3] by clamping, no MH, no gradient clipping.

The WNAE default is the exact W (the reference WNAE's ``ot.emd2`` value, by optimal assignment) with
the gradient through the LAST chain step only (``grad_through_chain: false, grad_steps: 1``): on the
demo dataset its test AUC was within 0.01 of the gradient through every step (the reference's; 0.856
vs 0.854 after 3 epochs, 0.879 vs 0.886 after 10) at ~60% of the time per epoch
(benchmarks/bench_wnae.py). Sinkhorn stays the option for large batches on a
GPU, where it runs without a host sync; on a CPU its 100 log-domain iterations cost ~50x the exact
assignment (the compiled solver of analysis/models/distances.py) at batch 256.
"""
from __future__ import annotations

import copy
from typing import Any

import torch

from analysis.models.ae import ACTIVATIONS, AutoEncoder
from analysis.models.distances import METHODS
from analysis.models.nae import NAE
from analysis.models.adversary import ADVERSARY_INPUTS
from analysis.models.sampler import BOUND_MODES, FRESH, INITS, LATENT_DEFAULTS, LangevinSampler
from analysis.models.wnae import WNAE

MODEL_CLASSES: dict[str, type[AutoEncoder]] = {"ae": AutoEncoder, "nae": NAE, "wnae": WNAE}
GRAPH_KINDS = ("graph_ae", "graph_nae", "graph_wnae")  # analysis/models/gnn.py, imported when built
GRAPH_REPRESENTATIONS = ("lund_graph",)

_COMMON = {
    "hidden": [10, 10], "latent": 6, "activation": "relu", "epochs": 30, "batch_size": 256,
    "lr": 1.0e-3, "weight_decay": 0.0, "patience": 10, "lr_patience": 5, "lr_factor": 0.5,
    "l1_weights": 0.0, "l2_weights": 0.0,
    "adversary": {"lambda": 0.0, "input": "energy", "hidden": [16, 16], "lr": 1.0e-3},
}
_SAMPLER = {
    "n_steps": 10, "step_size": None, "noise": 0.22, "temperature": 0.063, "bounds": [-3.0, 3.0],
    "bound_mode": "clamp", "clip_grad": None, "mh": False, "noise_final": None,
    "buffer_size": 10000, "replay_ratio": 0.95, "init": "pcd", "fresh": "gaussian",
    "latent": dict(LATENT_DEFAULTS),
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "ae": {"kind": "ae", **_COMMON},
    "nae": {"kind": "nae", **_COMMON, "ae_pretrain_epochs": 5, "val_samples": 512,
            "loss": {"gamma": 1.0, "l1_energy": 0.0, "l2_energy": 0.0, "logcosh": False}, "sampler": _SAMPLER},
    "wnae": {"kind": "wnae", **_COMMON, "ae_pretrain_epochs": 0, "val_samples": 512, "sampler": _SAMPLER,
             "wasserstein": {"method": "exact", "epsilon": 0.05, "n_iter": 100, "grad_through_chain": False,
                             "grad_steps": 1}},
}
_GRAPH = {"representation": "lund_graph", "max_nodes": 32, "hidden": [32, 32], "latent": 8,
          "adjacency": {"chain": False, "reconstruct": False, "weight": 1.0, "noise_scale": 1.0}}
for _kind in GRAPH_KINDS:  # the dense objective's keys, a graph architecture, a replay buffer of node rows
    _base = copy.deepcopy(DEFAULTS[_kind.removeprefix("graph_")])
    if "sampler" in _base:
        _base["sampler"]["buffer_size"] = 100000
    DEFAULTS[_kind] = {**_base, "kind": _kind, **copy.deepcopy(_GRAPH)}


def is_graph(cfg: dict) -> bool:
    """Whether a model config is a graph model (input: a graph representation, not the flat features)."""
    return cfg.get("kind") in GRAPH_KINDS


def _merge(defaults: dict, given: dict, prefix: str) -> dict:
    if not isinstance(given, dict):
        raise ValueError(f"model config '{prefix.rstrip('.')}' must be a mapping, got {type(given).__name__}")
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        if key not in defaults:
            raise ValueError(f"unknown model config key '{prefix}{key}' (allowed: {sorted(defaults)})")
        out[key] = _merge(defaults[key], value, f"{prefix}{key}.") if isinstance(defaults[key], dict) else value
    return out


def _check(ok: bool, key: str, value: Any, why: str) -> None:
    if not ok:
        raise ValueError(f"model config '{key}' = {value!r}: {why}")


def _is_int(v: Any, lo: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo


def _is_num(v: Any, lo: float, strict: bool = True) -> bool:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    return ok and (v > lo if strict else v >= lo)


def resolve_config(cfg: dict) -> dict:
    """Defaults filled in and every value checked; returns a new nested dict."""
    if not isinstance(cfg, dict):
        raise ValueError(f"model config must be a mapping, got {type(cfg).__name__}")
    kind = cfg.get("kind", "ae")
    _check(kind in DEFAULTS, "kind", kind, f"must be one of {sorted(DEFAULTS)}")
    c = _merge(DEFAULTS[kind], cfg, "")
    _check(isinstance(c["hidden"], list) and all(_is_int(h, 1) for h in c["hidden"]), "hidden", c["hidden"],
           "must be a list of positive integers")
    _check(_is_int(c["latent"], 1), "latent", c["latent"], "must be a positive integer")
    _check(c["activation"] in ACTIVATIONS, "activation", c["activation"], f"must be one of {sorted(ACTIVATIONS)}")
    for key in ("epochs", "batch_size", "patience"):
        _check(_is_int(c[key], 1), key, c[key], "must be a positive integer")
    _check(_is_int(c["lr_patience"], 0), "lr_patience", c["lr_patience"], "must be an integer >= 0")
    _check(_is_num(c["lr"], 0), "lr", c["lr"], "must be > 0")
    _check(_is_num(c["weight_decay"], 0, strict=False), "weight_decay", c["weight_decay"], "must be >= 0")
    _check(_is_num(c["lr_factor"], 0) and c["lr_factor"] < 1, "lr_factor", c["lr_factor"], "must be in (0, 1)")
    for key in ("l1_weights", "l2_weights"):
        _check(_is_num(c[key], 0, strict=False), key, c[key], "must be >= 0")
    a = c["adversary"]
    _check(_is_num(a["lambda"], 0, strict=False), "adversary.lambda", a["lambda"], "must be >= 0 (0 turns it off)")
    _check(a["input"] in ADVERSARY_INPUTS, "adversary.input", a["input"], f"must be one of {ADVERSARY_INPUTS}")
    _check(isinstance(a["hidden"], list) and all(_is_int(h, 1) for h in a["hidden"]), "adversary.hidden",
           a["hidden"], "must be a list of positive integers")
    _check(_is_num(a["lr"], 0), "adversary.lr", a["lr"], "must be > 0")
    if kind in GRAPH_KINDS:
        _check_graph(c)
    if kind in ("ae", "graph_ae"):
        return c
    _check(_is_int(c["ae_pretrain_epochs"], 0), "ae_pretrain_epochs", c["ae_pretrain_epochs"], "must be an integer >= 0")
    _check(_is_int(c["val_samples"], 2), "val_samples", c["val_samples"], "must be an integer >= 2")
    s = c["sampler"]
    _check(_is_int(s["n_steps"], 1), "sampler.n_steps", s["n_steps"], "must be a positive integer")
    _check(s["step_size"] is None or _is_num(s["step_size"], 0), "sampler.step_size", s["step_size"], "must be null or > 0")
    _check(_is_num(s["noise"], 0, strict=s["step_size"] is not None), "sampler.noise", s["noise"],
           "must be > 0 when step_size is null (step = noise^2/2), else >= 0")
    _check(_is_num(s["temperature"], 0), "sampler.temperature", s["temperature"], "must be > 0")
    b = s["bounds"]
    _check(b is None or (isinstance(b, (list, tuple)) and len(b) == 2 and all(_is_num(v, float("-inf")) for v in b)
                         and b[0] < b[1]), "sampler.bounds", b, "must be null or [low, high] with low < high")
    _check(s["clip_grad"] is None or _is_num(s["clip_grad"], 0), "sampler.clip_grad", s["clip_grad"], "must be null or > 0")
    _check(s["bound_mode"] in BOUND_MODES, "sampler.bound_mode", s["bound_mode"], f"must be one of {BOUND_MODES}")
    _check(isinstance(s["mh"], bool), "sampler.mh", s["mh"], "must be true or false")
    _check(not s["mh"] or s["noise"] > 0, "sampler.mh", s["mh"], "Metropolis-Hastings needs sampler.noise > 0")
    _check(s["noise_final"] is None or (_is_num(s["noise_final"], 0) and s["noise"] > 0), "sampler.noise_final",
           s["noise_final"], "must be null or > 0 (with sampler.noise > 0)")
    lat = s["latent"]
    _check(_is_int(lat["n_steps"], 1), "sampler.latent.n_steps", lat["n_steps"], "must be a positive integer")
    _check(_is_num(lat["noise"], 0, strict=False), "sampler.latent.noise", lat["noise"], "must be >= 0")
    _check(lat["step_size"] is None and lat["noise"] > 0 or _is_num(lat["step_size"], 0), "sampler.latent.step_size",
           lat["step_size"], "must be > 0, or null with sampler.latent.noise > 0 (step = noise^2/2)")
    _check(_is_num(lat["temperature"], 0), "sampler.latent.temperature", lat["temperature"], "must be > 0")
    _check(_is_int(s["buffer_size"], 1), "sampler.buffer_size", s["buffer_size"], "must be a positive integer")
    _check(_is_num(s["replay_ratio"], 0, strict=False) and s["replay_ratio"] <= 1, "sampler.replay_ratio",
           s["replay_ratio"], "must be in [0, 1]")
    _check(s["init"] in INITS, "sampler.init", s["init"], f"must be one of {INITS}")
    _check(s["fresh"] in FRESH, "sampler.fresh", s["fresh"], f"must be one of {FRESH}")
    _check(s["fresh"] != "uniform" or b is not None, "sampler.fresh", s["fresh"], "'uniform' needs sampler.bounds")
    if kind in ("nae", "graph_nae"):
        for key in ("gamma", "l1_energy", "l2_energy"):
            _check(_is_num(c["loss"][key], 0, strict=False), f"loss.{key}", c["loss"][key], "must be >= 0")
        _check(isinstance(c["loss"]["logcosh"], bool), "loss.logcosh", c["loss"]["logcosh"], "must be true or false")
        return c
    w = c["wasserstein"]
    _check(w["method"] in METHODS, "wasserstein.method", w["method"], f"must be one of {METHODS}")
    _check(_is_num(w["epsilon"], 0), "wasserstein.epsilon", w["epsilon"], "must be > 0")
    _check(_is_int(w["n_iter"], 1), "wasserstein.n_iter", w["n_iter"], "must be a positive integer")
    _check(isinstance(w["grad_through_chain"], bool), "wasserstein.grad_through_chain", w["grad_through_chain"],
           "must be true (graph of every chain step) or false (graph of the last grad_steps steps)")
    _check(_is_int(w["grad_steps"], 1), "wasserstein.grad_steps", w["grad_steps"],
           "must be a positive integer: a fully detached chain leaves the Wasserstein loss without a gradient "
           "w.r.t. the model (use kind: nae for the detached contrastive loss)")
    return c


def _check_graph(c: dict) -> None:
    _check(c["representation"] in GRAPH_REPRESENTATIONS, "representation", c["representation"],
           f"must be one of {GRAPH_REPRESENTATIONS}")
    _check(c["max_nodes"] is None or _is_int(c["max_nodes"], 1), "max_nodes", c["max_nodes"],
           "must be null (all nodes) or a positive integer")
    adj = c["adjacency"]
    for key in ("chain", "reconstruct"):
        _check(isinstance(adj[key], bool), f"adjacency.{key}", adj[key], "must be true or false")
    _check(_is_num(adj["weight"], 0, strict=False), "adjacency.weight", adj["weight"], "must be >= 0")
    _check(_is_num(adj["noise_scale"], 0), "adjacency.noise_scale", adj["noise_scale"],
           "must be > 0 (the edge weights' noise over the node features'; their step scales with its square)")
    _check(c["adversary"]["input"] == "energy", "adversary.input", c["adversary"]["input"],
           "graph models support 'energy' only (their reconstruction has one row per node, not per jet)")


def build_model(cfg: dict, n_features: int) -> torch.nn.Module:
    """The model named by cfg['kind'], with freshly initialised weights (seed torch beforehand)."""
    if not _is_int(n_features, 1):
        raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
    c = resolve_config(cfg)
    arch = {"n_features": n_features, "hidden": c["hidden"], "latent": c["latent"], "activation": c["activation"]}
    if c["kind"] in GRAPH_KINDS:
        from analysis.models import gnn  # torch_geometric's import takes seconds: only when a graph model is built

        adj = c["adjacency"]
        arch.update(adjacency_chain=adj["chain"], adjacency_reconstruct=adj["reconstruct"],
                    adjacency_weight=adj["weight"], adjacency_noise_scale=adj["noise_scale"])
        cls = {"graph_ae": gnn.GraphAutoEncoder, "graph_nae": gnn.GraphNAE, "graph_wnae": gnn.GraphWNAE}[c["kind"]]
        return cls(**arch, **_objective(c))
    return MODEL_CLASSES[c["kind"]](**arch, **_objective(c))


def _objective(c: dict) -> dict:
    """The loss options of a resolved config, as the NAE/WNAE objectives take them."""
    if c["kind"].endswith("wnae"):
        w = c["wasserstein"]
        return {"method": w["method"], "epsilon": w["epsilon"], "n_iter": w["n_iter"],
                "grad_steps": None if w["grad_through_chain"] else w["grad_steps"]}
    if c["kind"].endswith("nae"):
        return dict(c["loss"])
    return {}


def build_sampler(cfg: dict, n_features: int, device: str | torch.device) -> LangevinSampler | None:
    """The Langevin sampler of an NAE/WNAE config; None for a plain AE. For a graph model the chain's rows are
    nodes: the node features, and the parent-edge weight with ``adjacency.chain``."""
    c = resolve_config(cfg)
    if c["kind"] in ("ae", "graph_ae"):
        return None
    width = n_features + int(c["kind"] in GRAPH_KINDS and c["adjacency"]["chain"])
    return LangevinSampler(width, device, **c["sampler"], latent_dim=c["latent"])
