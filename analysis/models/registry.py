"""The model kinds, their config defaults and validation, and the builders used by training and loading.

A model config is a (possibly nested) dict from YAML with a ``kind`` (ae | nae | wnae on the flat features,
graph_ae | graph_nae | graph_wnae on Lund graphs, analysis/models/gnn.py). Each kind is one module of
analysis/models/kinds/ (its ``KIND``: defaults, checks, model, sampler, inputs, epoch phases, selection metric,
training task); ``KINDS`` below lists them, so adding a kind is one module and one line here. Loading this module
and validating configs does not import torch. Every key has a default (``defaults(kind)``); an unknown key or a
bad value raises ValueError naming the key. The default architecture is the CMS WNAE study's:
input -> 10 -> 10 -> 6 (latent) -> 10 -> 10 -> input. Inputs are expected standardised (mean 0, std 1).

Common keys: architecture (hidden, latent, activation), epochs, batch_size, AdamW (lr, weight_decay),
early stopping (patience), ReduceLROnPlateau (lr_patience, lr_factor), ``l1_weights`` / ``l2_weights``
(penalties on the weight matrices, added to the loss), ``adversary`` (mass decorrelation:
``lambda`` (0 = off), ``input`` energy | reco, ``hidden``, ``lr``; analysis/models/adversary.py).
NAE/WNAE: ``ae_pretrain_epochs`` (plain reconstruction epochs before the NAE/WNAE loss, on top of
``epochs``), ``val_samples`` (size of the fixed validation subset and of the negative sample drawn each
epoch for the exact validation Wasserstein distance that selects the best epoch; default 512: the exact
assignment stays a few ms on the CPU), ``val_draws`` (how many such draws the selecting W averages: an
integer, or "all" (default): the whole validation set), ``sampler``
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

The WNAE default is the exact W (the reference WNAE's ``ot.emd2`` value, by optimal assignment) with the
gradient through every chain step (the reference's estimator); ``grad_through_chain: false`` keeps the last
``grad_steps`` steps only, a cheaper, biased estimator (the graph WNAE's default; the README has the measured
difference). ``preset: reference`` (NAE, WNAE) is the CMS study's training (analysis/models/kinds/base.py).
Sinkhorn stays the option for large batches on a GPU, where it runs without a host sync; on a CPU its
log-domain iterations cost far more than the exact assignment (the compiled solver of
analysis/models/distances.py).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from analysis.models.kinds.base import ModelKind, is_int

KINDS: dict[str, str] = {  # kind -> the module whose KIND implements it
    "ae": "analysis.models.kinds.ae",
    "nae": "analysis.models.kinds.nae",
    "wnae": "analysis.models.kinds.wnae",
    "graph_ae": "analysis.models.kinds.graph_ae",
    "graph_nae": "analysis.models.kinds.graph_nae",
    "graph_wnae": "analysis.models.kinds.graph_wnae",
}


def kinds() -> dict[str, ModelKind]:
    """Every registered kind, by name, in registry order."""
    return {name: get_kind(name) for name in KINDS}


def get_kind(name: str) -> ModelKind:
    """The kind called `name`; ValueError naming the known kinds otherwise."""
    if name not in KINDS:
        raise ValueError(f"model config 'kind' = {name!r}: must be one of {sorted(KINDS)}")
    kind = importlib.import_module(KINDS[name]).KIND
    if kind.name != name:
        raise ValueError(f"{KINDS[name]}.KIND is named {kind.name!r}, registered as {name!r}")
    return kind


def model_kind(cfg: dict) -> ModelKind:
    """The kind of a model config (``ae`` when it names none)."""
    return get_kind(cfg.get("kind", "ae"))


def defaults(kind: str) -> dict[str, Any]:
    """Every key a model config of this kind may set, with its default (nested dicts for the sections)."""
    return get_kind(kind).defaults()


def is_graph(cfg: dict) -> bool:
    """Whether a model config is a graph model (input: a graph representation, not the flat features)."""
    return cfg.get("kind") in KINDS and get_kind(cfg["kind"]).graph


def resolve_config(cfg: dict) -> dict:
    """Defaults filled in and every value checked; returns a new nested dict."""
    if not isinstance(cfg, dict):
        raise ValueError(f"model config must be a mapping, got {type(cfg).__name__}")
    return model_kind(cfg).resolve(cfg)


def build_model(cfg: dict, n_features: int):
    """The model named by cfg['kind'], with freshly initialised weights (seed torch beforehand)."""
    if not is_int(n_features, 1):
        raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
    c = resolve_config(cfg)
    return get_kind(c["kind"]).build(c, n_features)


def build_sampler(cfg: dict, n_features: int, device):
    """The Langevin sampler of an NAE/WNAE config; None for a plain AE. For a graph model the chain's rows are
    nodes: the node features, and the parent-edge weight with ``adjacency.chain``."""
    c = resolve_config(cfg)
    return get_kind(c["kind"]).sampler(c, n_features, device)


def model_inputs(cfg: dict, data: dict, path: str) -> Callable:
    """What the model of `cfg` sees of the dataset at `path` (loaded as `data`), as a function of a row mask
    (None: every row): the scaled flat features, or for a graph model the Lund graphs of its representation."""
    c = resolve_config(cfg)
    return get_kind(c["kind"]).inputs(c, data, path)
