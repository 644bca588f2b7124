"""Named study configs: load, resolve against the catalogues, validate, and hash per section.

A named config (``config/<name>.yaml`` or any YAML path) picks samples, a selection, a feature set
and models by name from the catalogues beside it (``samples.yaml``, ``selections.yaml``,
``features.yaml``, ``models.yaml``) and may override any catalogue entry inline. Every section is
resolved to plain data, so a task can hash exactly the parts it depends on: editing the model section
changes the training hash and nothing upstream.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from analysis.event_features import event_feature_names
from analysis.features import available_features
from analysis.features.representations import available_representations, check_representation_name
from analysis.generation.catalogue import expand_grids
from analysis.generation.detector import resolve_detector
from analysis.io.files import FORMATS, GENERATED_FORMATS, expand_files
from analysis.models.registry import resolve_config as resolve_model_config
from analysis.selection.cuts import validate_selection

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"

TOP_KEYS = {
    "description", "generation", "samples", "selection", "features", "dataset", "models",
    "training", "plots", "inputs",
}
ON_BAD_FILE = ("fail", "skip")
SAMPLE_KEYS = {
    "process", "label", "pt_hat_min", "pt_hat_max", "params", "xsec_pb", "pythia", "mpi", "sqrt_s",
    "chunks", "events_per_chunk", "files", "format",
}
LABELS = {"background": 0, "signal": 1}
GENERATION_KEYS = {"events_per_chunk", "seed", "detector"}


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file and the key."""


@dataclass
class Config:
    """A resolved study config. Each attribute is plain data (dicts, lists, numbers, strings)."""

    name: str
    path: str
    generation: dict
    samples: dict[str, dict]
    selection: dict
    features: dict
    dataset: dict
    models: dict[str, dict]
    training: dict
    plots: dict
    inputs: dict = field(default_factory=lambda: {"on_bad_file": "fail"})
    description: str = ""
    raw: dict = field(default_factory=dict, repr=False)

    def sample_hash(self, sample: str) -> str:
        """What a sample's generated events depend on (its card, the event counts, the seed)."""
        spec = {k: v for k, v in self.samples[sample].items() if k != "label"}
        return short_hash(sample, spec, self.generation)

    def samples_hash(self) -> str:
        return short_hash(*(self.sample_hash(s) for s in sorted(self.samples)))

    def skim_hash(self, sample: str) -> str:
        return short_hash(self.sample_hash(sample), self.selection, self.inputs)

    def dataset_hash(self) -> str:
        """Everything the h5 dataset depends on: all samples (and labels), selection, features, split."""
        labels = {s: spec["label"] for s, spec in self.samples.items()}
        skims = [self.skim_hash(s) for s in sorted(self.samples)]
        return short_hash(skims, labels, self.features, self.dataset)

    def model_hash(self, model: str) -> str:
        return short_hash(self.dataset_hash(), self.models[model], self.training)

    def report_hash(self) -> str:
        return short_hash([self.model_hash(m) for m in sorted(self.models)], self.plots)

    @property
    def signals(self) -> list[str]:
        return [s for s, spec in self.samples.items() if spec["label"] == "signal"]

    @property
    def backgrounds(self) -> list[str]:
        return [s for s, spec in self.samples.items() if spec["label"] == "background"]


def short_hash(*objs: Any, n: int = 10) -> str:
    """Stable hash of plain data (key order does not matter)."""
    blob = json.dumps(objs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:n]


def config_path(name: str) -> Path:
    """``name`` is a config in ``config/`` (without .yaml) or a path to a YAML file."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p.resolve()
    p = CONFIG_DIR / f"{name}.yaml"
    if not p.exists():
        known = sorted(q.stem for q in CONFIG_DIR.glob("*.yaml") if q.stem not in CATALOGUES)
        raise ConfigError(f"config '{name}' not found: no file {p} (known configs: {', '.join(known)})")
    return p


CATALOGUES = ("samples", "selections", "features", "models")


def _read_yaml(path: Path) -> Any:
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None


def _catalogue(name: str, directory: Path) -> dict:
    path = directory / f"{name}.yaml"
    if not path.exists():
        path = CONFIG_DIR / f"{name}.yaml"
    data = _read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of named entries")
    return data


def _require(cond: bool, path: Path, key: str, why: str) -> None:
    if not cond:
        raise ConfigError(f"{path}: key '{key}': {why}")


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _pick(section: Any, catalogue: dict, path: Path, key: str) -> dict:
    """A section given by catalogue name (``features: hlf_basic``) or as ``{name: ..., <overrides>}``."""
    if isinstance(section, str):
        section = {"name": section}
    _require(isinstance(section, dict) and "name" in section, path, key,
             "give a catalogue name or a mapping with 'name'")
    name = section["name"]
    _require(name in catalogue, path, key,
             f"unknown entry '{name}' (known: {', '.join(sorted(catalogue))})")
    entry = catalogue[name]
    if isinstance(entry, list):
        entry = {"names": entry}
    return _merge(entry, {k: v for k, v in section.items() if k != "name"}) | {"name": name}


def _check_file_sample(spec: dict, path: Path, key: str) -> None:
    """A sample read from ``files`` (paths, globs, root:// URLs) of a ``format`` instead of generated;
    normalised to its ``xsec_pb`` with the files' genWeight. Globs must match now, not mid-run."""
    if "files" not in spec:  # generated: read as written (nanoaod), or exported to the challenge's csv first
        _require(spec.get("format", "nanoaod") in GENERATED_FORMATS, path, f"{key}.format",
                 f"a generated sample is read as one of {', '.join(GENERATED_FORMATS)}")
        return
    files = spec["files"]
    _require(isinstance(files, str) or (isinstance(files, list) and files and all(isinstance(f, str) for f in files)),
             path, f"{key}.files", "a path, glob or root:// URL, or a non-empty list of them")
    _require("process" not in spec, path, key, "give 'process' (generate) or 'files' (read), not both")
    spec.setdefault("format", "nanoaod")
    _require(spec["format"] in FORMATS, path, f"{key}.format", f"one of {', '.join(FORMATS)}")
    xsec = spec.get("xsec_pb")
    _require(isinstance(xsec, (int, float)) and not isinstance(xsec, bool) and xsec > 0, path, f"{key}.xsec_pb",
             "a cross-section > 0 pb: a sample read from files is normalised to it")
    try:
        expand_files(files)
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: key '{key}.files': {e}") from None


def _resolve_samples(samples: Any, catalogue: dict, generation: dict, path: Path) -> dict[str, dict]:
    _require(isinstance(samples, dict) and samples, path, "samples", "a non-empty mapping of sample names")
    local = path.parent / "samples.yaml"
    try:  # grid entries of the catalogue become one sample per point; a grid's name picks all its points
        catalogue, grids = expand_grids(catalogue)
    except ValueError as e:
        raise ConfigError(f"{local if local.exists() else CONFIG_DIR / 'samples.yaml'}: {e}") from None
    picked = [(point, over) for name, over in samples.items() for point in grids.get(name, [name])]
    out = {}
    for name, over in picked:
        over = over or {}
        key = f"samples.{name}"
        _require(isinstance(over, dict), path, key, "a mapping of overrides (or empty)")
        _require(name in catalogue or "process" in over or "files" in over, path, key,
                 f"not in the sample catalogue ({', '.join(sorted(catalogue))}) and no 'process' or 'files' given")
        spec = _merge(catalogue.get(name, {}), over)
        for k in spec:
            _require(k in SAMPLE_KEYS, path, f"{key}.{k}", f"unknown key (allowed: {', '.join(sorted(SAMPLE_KEYS))})")
        _require(spec.get("label") in LABELS, path, f"{key}.label", "must be 'background' or 'signal'")
        _check_file_sample(spec, path, key)
        spec.setdefault("chunks", 1)
        spec.setdefault("events_per_chunk", generation["events_per_chunk"])
        for k in ("chunks", "events_per_chunk"):
            _require(isinstance(spec[k], int) and spec[k] > 0, path, f"{key}.{k}", "a positive integer")
        out[name] = spec
    labels = {spec["label"] for spec in out.values()}
    _require(labels == set(LABELS), path, "samples", "needs at least one background and one signal sample")
    return out


def load_config(name: str) -> Config:
    """Load, resolve and validate a named config; raises ConfigError naming the file and key."""
    path = config_path(name)
    raw = _read_yaml(path)
    _require(isinstance(raw, dict), path, "<top>", "the file must hold a mapping")
    for k in raw:
        _require(k in TOP_KEYS, path, k, f"unknown key (allowed: {', '.join(sorted(TOP_KEYS))})")
    for k in ("samples", "selection", "features", "models"):
        _require(k in raw, path, k, "missing")
    directory = path.parent

    generation = {"events_per_chunk": 1000, "seed": 1} | (raw.get("generation") or {})
    for k in generation:
        _require(k in GENERATION_KEYS, path, f"generation.{k}", f"unknown key (allowed: {', '.join(sorted(GENERATION_KEYS))})")
    _require(isinstance(generation["seed"], int) and generation["seed"] >= 0, path, "generation.seed",
             "a non-negative integer")
    try:  # the detector response, Delphes-CMS-like defaults; ``enabled: false`` is truth level
        generation["detector"] = resolve_detector(generation.get("detector"))
    except ValueError as e:
        raise ConfigError(f"{path}: generation.{e}") from None
    samples = _resolve_samples(raw["samples"], _catalogue("samples", directory), generation, path)
    selection = _pick(raw["selection"], _catalogue("selections", directory), path, "selection")
    features = _pick(raw["features"], _catalogue("features", directory), path, "features")
    _require(features.get("level", "jet") in ("jet", "event"), path, f"features ({features['name']}).level",
             "'jet' (one row per AK8 jet) or 'event' (one row per event, its objects in a fixed layout)")
    if features.get("level") == "event":  # the column names follow from the object layout
        try:
            features["names"] = event_feature_names(features)
        except ValueError as e:
            raise ConfigError(f"{path}: features ({features['name']}).{e}") from None
    else:
        unknown = [n for n in features.get("names", []) if n not in available_features()]
        _require(not unknown, path, f"features ({features['name']})",
                 f"unknown feature names {unknown} (available: {', '.join(available_features())})")
    try:
        validate_selection(selection)
    except ValueError as e:
        raise ConfigError(f"{path}: selection ({selection['name']}): {e}") from None

    model_cat = _catalogue("models", directory)
    models_raw = raw["models"]
    if isinstance(models_raw, list):
        models_raw = {m: {} for m in models_raw}
    _require(isinstance(models_raw, dict) and models_raw, path, "models", "a list of model names or a mapping")
    models = {m: _pick({"name": m} | (over or {}), model_cat, path, f"models.{m}") for m, over in models_raw.items()}
    inputs_of = {}  # model -> the jet representation it trains on (None: the flat features)
    for m in models:
        models[m].pop("name")
        try:  # every model key and value checked now, not when its training starts
            inputs_of[m] = resolve_model_config(models[m]).get("representation")
        except ValueError as e:
            raise ConfigError(f"{path}: models.{m}: {e}") from None

    dataset = {"split": [0.7, 0.15, 0.15], "seed": 1, "scaler": "standard", "jets_per_event": 2} | (raw.get("dataset") or {})
    split = dataset["split"]
    _require(isinstance(split, list) and len(split) == 3 and all(x > 0 for x in split)
             and abs(sum(split) - 1) < 1e-9, path, "dataset.split", "three positive fractions summing to 1")
    _require(dataset["scaler"] in ("standard", "minmax"), path, "dataset.scaler", "'standard' or 'minmax'")
    representations = dataset.get("representations", [])  # absent, not [], keeps older dataset hashes
    _require(isinstance(representations, list), path, "dataset.representations",
             f"a list of representation names ({', '.join(available_representations())})")
    for name in representations:
        try:
            check_representation_name(str(name))
        except ValueError as e:
            raise ConfigError(f"{path}: key 'dataset.representations': {e}") from None
    for m, wanted in inputs_of.items():  # a graph model trains on a stored representation of the jets
        if wanted is not None and wanted not in representations:
            raise ConfigError(f"{path}: models.{m}: needs the '{wanted}' representation of the jets; "
                              f"add it to dataset.representations (now: {representations})")
    inputs = {"on_bad_file": "fail"} | (raw.get("inputs") or {})
    for k in inputs:
        _require(k in ("on_bad_file", "on_bad_line"), path, f"inputs.{k}", "unknown key (allowed: on_bad_file, on_bad_line)")
    _require(inputs.get("on_bad_line", "fail") in ON_BAD_FILE, path, "inputs.on_bad_line",
             f"one of {', '.join(ON_BAD_FILE)} (skip: a malformed line of a Dark Machines csv is counted and left out)")
    _require(inputs["on_bad_file"] in ON_BAD_FILE, path, "inputs.on_bad_file",
             f"one of {', '.join(ON_BAD_FILE)} (skip: an unreadable input file is counted and left out)")
    training = {"seed": 1, "device": "auto", "weights": "xsec"} | (raw.get("training") or {})
    _require(training["weights"] in TRAINING_WEIGHTS, path, "training.weights",
             "'xsec' (training and validation rows drawn with probability proportional to their cross-section "
             "weight: the physical background mixture) or 'none' (every jet alike)")
    plots = {"eps_b": [1e-4, 1e-3, 1e-2, 0.1, 0.5], "injections": [0.005, 0.01, 0.025], "lumi_fb": 138.0,
             "sculpting_eps_b": [0.5, 0.1, 0.01], "max_feature_panels": 12} | (raw.get("plots") or {})

    return Config(
        name=path.stem, path=str(path), generation=generation, samples=samples, selection=selection,
        features=features, dataset=dataset, models=models, training=training, plots=plots, inputs=inputs,
        description=raw.get("description", ""), raw=raw,
    )


TRAINING_WEIGHTS = ("xsec", "none")


def data_path() -> Path:
    """Where task outputs live ($DATA_PATH, set by setup.sh; ./data otherwise)."""
    return Path(os.environ.get("DATA_PATH", CONFIG_DIR.parent / "data"))
