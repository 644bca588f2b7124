"""Named study configs: load, resolve against the catalogues, validate, and hash per section.

A named config (``config/<name>.yaml`` or any YAML path) picks samples, a selection, a feature set
and models by name from the catalogues beside it (``samples.yaml``, ``selections.yaml``,
``features.yaml``, ``models.yaml``) and may override any catalogue entry inline. Every section is
resolved to plain data, so a task can hash exactly the parts it depends on: editing the model section
changes the training hash and nothing upstream.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from analysis.features.names import available_features, check_representation_name, needs_constituents
from analysis.generation.catalogue import expand_grids
from analysis.generation.detector_settings import resolve_detector
from analysis.config_schema import SECTIONS, Features, Sample, check_safe_name
from analysis.generation.pythia import NOMINAL_QUARK_MASS, pythia_settings
from analysis.btag import TAGGED_FORMATS, missing_branch
from analysis.io.files import GENERATED_FORMATS, constituents_missing, expand_files, first_local_branches
from analysis.models.registry import resolve_config as resolve_model_config
from analysis.schema import resolve_section
from analysis.selection.cuts import validate_selection

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"

TOP_KEYS = {
    "description", "generation", "samples", "selection", "features", "dataset", "models",
    "training", "plots", "inputs", "versions",
}


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
    inputs: dict
    versions: dict[str, str] = field(default_factory=dict)
    description: str = ""
    raw: dict = field(default_factory=dict, repr=False)

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


# libyaml's parser (PyYAML's wheels ship it) reads the catalogues ten times faster than the pure-Python one,
# which was most of a config's loading time; both give the same data
class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML 1.2 numbers: ``1e9`` and ``1.2e5`` are floats (PyYAML's YAML 1.1 reads them as strings)."""


_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def read_yaml(path: Path) -> Any:
    """A YAML file as plain data (numbers with exponents are numbers); ConfigError if it is not YAML."""
    try:
        with open(path) as f:
            return yaml.load(f, Loader=_Loader)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None


def _catalogue(name: str, directory: Path) -> dict:
    """The built-in catalogue, extended (and per entry overridden) by a catalogue file beside the study."""
    out = {}
    for path in dict.fromkeys([CONFIG_DIR / f"{name}.yaml", directory / f"{name}.yaml"]):
        if not path.exists():
            continue
        data = read_yaml(path) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of named entries")
        if name == "samples":  # a malformed grid is named with its own file
            _checked(path, expand_grids, data)
        out |= data
    return out


def _require(cond: bool, path: Path, key: str, why: str) -> None:
    if not cond:
        raise ConfigError(f"{path}: key '{key}': {why}")


def _checked(path: Path, fn, *args, **kwargs):
    """``fn(*args)``; its ValueError ("key '...' = value: why") becomes a ConfigError naming the file."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        raise ConfigError(f"{path}: {e}") from None


def _safe(path: Path, key: str, name: Any) -> str:
    try:
        return check_safe_name(name)
    except ValueError as e:
        raise ConfigError(f"{path}: key '{key}' = {name!r}: {e}") from None


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
    _require(isinstance(entry, dict), path, key, f"catalogue entry '{name}' must be a mapping or a list")
    return _merge(entry, {k: v for k, v in section.items() if k != "name"}) | {"name": name}


def _sample_spec(name: str, spec: dict, generation: dict, path: Path) -> dict:
    """One sample checked against its schema (defaults filled, unset keys left out), its Pythia card
    built once (so signal parameters and pT-hat cuts fail now), its file globs matched now."""
    key = f"samples.{name}"
    spec = _checked(path, resolve_section, Sample, spec, key, exclude_none=True)
    spec.setdefault("events_per_chunk", generation["events_per_chunk"])
    if "files" in spec:
        if spec["label"] == "data":  # collision data: every event weighs 1, no cross-section
            _require("xsec_pb" not in spec, path, f"{key}.xsec_pb", "collision data (label: data) has no cross-section")
        _require("xsec_pb" in spec or spec["label"] == "data", path, f"{key}.xsec_pb", "a sample read from files is "
                 "normalised to its cross-section: give one > 0 pb")
        try:
            expand_files(spec["files"])
        except FileNotFoundError as e:
            raise ConfigError(f"{path}: key '{key}.files' = {spec['files']!r}: {e}") from None
        return spec
    _require(spec["format"] in GENERATED_FORMATS, path, f"{key}.format",
             f"a generated sample is read as one of {', '.join(GENERATED_FORMATS)}")
    try:
        pythia_settings(spec, 1, NOMINAL_QUARK_MASS)
    except ValueError as e:
        where, _, why = str(e).partition(": ")
        value = functools.reduce(lambda d, k: d.get(k) if isinstance(d, dict) else None, where.split("."), spec)
        raise ConfigError(f"{path}: key '{key}.{where}' = {value!r}: {why}") from None
    return spec


def _resolve_samples(samples: Any, catalogue: dict, generation: dict, path: Path) -> dict[str, dict]:
    _require(isinstance(samples, dict) and samples, path, "samples", "a non-empty mapping of sample names")
    # grid entries of the catalogue become one sample per point; a grid's name picks all its points
    catalogue, grids = _checked(path, expand_grids, catalogue)
    picked = [(point, over) for name, over in samples.items() for point in grids.get(name, [name])]
    out = {}
    for name, over in picked:
        over = over or {}
        key = f"samples.{name}"
        _safe(path, key, name)
        _require(isinstance(over, dict), path, key, "a mapping of overrides (or empty)")
        _require(name in catalogue or "process" in over or "files" in over, path, key,
                 f"not in the sample catalogue ({', '.join(sorted(catalogue))}) and no 'process' or 'files' given")
        out[name] = _sample_spec(name, _merge(catalogue.get(name, {}), over), generation, path)
    labels = {spec["label"] for spec in out.values()}
    _require("background" in labels and labels & {"signal", "data"}, path, "samples",
             "needs at least one background sample and one signal or data sample")
    return out


def _resolve_features(raw: Any, catalogue: dict, path: Path) -> dict:
    features = _pick(raw, catalogue, path, "features")
    key = f"features ({features['name']})"
    features = _checked(path, resolve_section, Features, features, "features", exclude_none=True)
    if features["level"] == "event":  # the column names follow from the object layout
        try:
            from analysis.event_features import event_feature_names  # awkward, numba: only for event-level sets

            features["names"] = event_feature_names(features)
        except ValueError as e:
            raise ConfigError(f"{path}: {key}.{e}") from None
        return features
    unknown = [n for n in features.get("names", []) if n not in available_features()]
    _require(not unknown, path, key, f"unknown feature names {unknown} (available: {', '.join(available_features())})")
    return features


def _resolve_models(raw: Any, catalogue: dict, path: Path) -> dict[str, dict]:
    """Every model resolved by its kind's schema (defaults filled in: what trains is what is hashed)."""
    if isinstance(raw, list):
        raw = {m: {} for m in raw}
    _require(isinstance(raw, dict) and raw, path, "models", "a list of model names or a mapping")
    models = {}
    for m, over in raw.items():
        _safe(path, f"models.{m}", m)
        spec = _pick({"name": m} | (over or {}), catalogue, path, f"models.{m}")
        spec.pop("name")
        try:  # every model key and value checked now, not when its training starts
            models[m] = resolve_model_config(spec)
        except ValueError as e:
            raise ConfigError(f"{path}: models.{m}: {e}") from None
    return models


def _check_constituents(samples: dict, features: dict, representations: list, path: Path) -> None:
    """Jet features or representations computed from constituents need samples whose files have them."""
    wanted = [] if features.get("level") == "event" else needs_constituents(features.get("names") or [])
    wanted += [str(r) for r in representations]
    if not wanted:
        return
    for name, spec in samples.items():
        if "files" in spec:
            why = constituents_missing(expand_files(spec["files"]), spec["format"])
            _require(why is None, path, f"samples.{name}",
                     f"features ({features['name']}) {wanted} need jet constituents, but {why}; use a feature set "
                     f"of stored jet branches (hlf_nano) or files with constituents (PFNano)")


def _check_btag(samples: dict, selection: dict, features: dict, btag: dict, path: Path) -> None:
    """A study that uses b tags needs the configured discriminator in its NanoAOD files (the first local file of
    each sample is looked at here; the skim checks every file)."""
    tagged = {name: spec for name, spec in samples.items() if "files" in spec and spec["format"] in TAGGED_FORMATS}
    if not tagged:
        return
    from analysis.event_features import btag_needed_by  # awkward, numba: only for studies of NanoAOD files

    need = btag_needed_by(selection, features)
    if need is None:
        return
    for name, spec in tagged.items():
        first = first_local_branches(expand_files(spec["files"]))
        if first is not None:
            why = missing_branch(first[1], btag["branch"])
            _require(why is None, path, f"samples.{name}", f"{first[0]}: {why}; {need} needs b tags: set "
                     "inputs.btag.branch to one of them and inputs.btag.threshold to its working point")


def load_config(name: str) -> Config:
    """Load, resolve and validate a named config; raises ConfigError naming the file, key and value."""
    path = config_path(name)
    raw = read_yaml(path)
    _require(isinstance(raw, dict), path, "<top>", "the file must hold a mapping")
    _safe(path, "<config name>", path.stem)
    for k in raw:
        _require(k in TOP_KEYS, path, k, f"unknown key (allowed: {', '.join(sorted(TOP_KEYS))})")
    for k in ("samples", "selection", "features", "models"):
        _require(k in raw, path, k, "missing")
    directory = path.parent
    section = {k: _checked(path, resolve_section, SECTIONS[k], raw.get(k), k) for k in SECTIONS}

    generation = section["generation"]
    try:  # the detector response, Delphes-CMS-like defaults; ``enabled: false`` is truth level
        generation["detector"] = resolve_detector(generation.get("detector"))
    except ValueError as e:
        raise ConfigError(f"{path}: generation.{e}") from None
    samples = _resolve_samples(raw["samples"], _catalogue("samples", directory), generation, path)
    selection = _checked(path, validate_selection, _pick(raw["selection"], _catalogue("selections", directory),
                                                         path, "selection"))
    features = _resolve_features(raw["features"], _catalogue("features", directory), path)
    models = _resolve_models(raw["models"], _catalogue("models", directory), path)

    dataset = section["dataset"]
    for rep in dataset["representations"]:
        try:
            check_representation_name(str(rep))
        except ValueError as e:
            raise ConfigError(f"{path}: key 'dataset.representations' = {rep!r}: {e}") from None
    for m, spec in models.items():  # a graph model trains on a stored representation of the jets
        wanted = spec.get("representation")
        if wanted is not None and wanted not in dataset["representations"]:
            raise ConfigError(f"{path}: models.{m}: needs the '{wanted}' representation of the jets; "
                              f"add it to dataset.representations (now: {dataset['representations']})")
    _check_constituents(samples, features, dataset["representations"], path)
    _check_btag(samples, selection, features, section["inputs"]["btag"], path)
    versions = raw.get("versions") or {}
    _require(isinstance(versions, dict), path, "versions", "a mapping of task name -> version (e.g. FeatureDataset: v1)")
    for task, version in versions.items():
        _safe(path, "versions", task)
        _safe(path, f"versions.{task}", version)
    description = raw.get("description", "")
    _require(isinstance(description, str), path, "description", "a text")
    return Config(
        name=path.stem, path=str(path), generation=generation, samples=samples, selection=selection,
        features=features, dataset=dataset, models=models, training=section["training"],
        plots=section["plots"], inputs=section["inputs"], versions=versions, description=description, raw=raw,
    )



def data_path() -> Path:
    """Where task outputs live ($DATA_PATH, set by setup.sh; ./data otherwise)."""
    return Path(os.environ.get("DATA_PATH", CONFIG_DIR.parent / "data"))
