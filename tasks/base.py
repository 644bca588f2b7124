"""The base task: version, config, store parts, and atomic outputs.

Output paths are ``$DATA_PATH/<Task>/<version>/<hash>/...`` where ``hash`` covers exactly the config
sections (and parameters) that the task and its upstream depend on (analysis.config.Config.*_hash),
so an edited model section reruns training and what follows, never generation or skimming.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import shutil
import uuid
from collections import OrderedDict
from pathlib import Path

import law
import luigi

from analysis.config import CONFIG_DIR, Config, config_path, data_path, load_config


@functools.lru_cache(maxsize=32)
def _load(path: str, stamp: tuple, no_detector: bool = False) -> Config:
    cfg = load_config(path)
    if no_detector:  # truth level lives in the generation config, so every hash from generation on changes
        detector = cfg.generation["detector"] | {"enabled": False}
        cfg = dataclasses.replace(cfg, generation=cfg.generation | {"detector": detector})
    return cfg


def cached_config(name: str, no_detector: bool = False) -> Config:
    """The config, re-read whenever the named file or a catalogue beside it changes; ``no_detector``
    switches the detector response off (truth level)."""
    path = config_path(name)
    files = [path] + sorted(path.parent.glob("*.yaml")) + sorted(CONFIG_DIR.glob("*.yaml"))
    stamp = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    return _load(str(path), stamp, no_detector)


class Task(law.Task):
    """Base of every task: a ``version`` and a named ``config``."""

    version = luigi.Parameter(description="output version, e.g. v1")
    config = luigi.Parameter(default="default", significant=True,
                             description="config name in config/ (or a YAML path); default: default")
    no_detector = luigi.BoolParameter(default=False, description="truth level: generate events without the "
                                      "detector response (sets generation.detector.enabled false)")

    @property
    def cfg(self) -> Config:
        return cached_config(self.config, self.no_detector)

    def config_hash(self) -> str:
        """The part of the config this task depends on; subclasses narrow it."""
        raise NotImplementedError

    def store_parts(self) -> OrderedDict:
        return OrderedDict([("task", self.task_family), ("version", self.version), ("hash", self.config_hash())])

    def local_path(self, *parts: str) -> str:
        return str(data_path().joinpath(*self.store_parts().values(), *parts))

    def local_target(self, *parts: str, directory: bool = False):
        cls = law.LocalDirectoryTarget if directory else law.LocalFileTarget
        return cls(self.local_path(*parts))

    def write_config_snapshot(self) -> None:
        """The resolved config beside the outputs, so a user can see what a hash stands for."""
        path = Path(self.local_path("config.json"))
        path.parent.mkdir(parents=True, exist_ok=True)
        snap = {k: getattr(self.cfg, k) for k in ("generation", "samples", "selection", "features",
                                                    "dataset", "models", "training", "plots", "inputs")}
        with atomic_paths(str(path)) as (tmp,):
            Path(tmp).write_text(json.dumps(snap, indent=1, sort_keys=True, default=str))


@contextlib.contextmanager
def atomic_paths(*paths: str):
    """Yield temporary paths beside ``paths``; move them into place only if the block succeeds.

    Same filesystem, so ``os.replace`` is atomic: a task killed at any point leaves no output or a
    complete one, and two runs of the same task at once cannot interleave their bytes.
    """
    tag = f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmps = [p + tag for p in paths]
    for p in paths:
        os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
    try:
        yield tmps
        for tmp, p in zip(tmps, paths):
            if os.path.isdir(tmp):
                if os.path.isdir(p):
                    shutil.rmtree(p)
                os.replace(tmp, p)
            else:
                os.replace(tmp, p)
    finally:
        for tmp in tmps:
            if os.path.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
            elif os.path.exists(tmp):
                os.remove(tmp)


def write_json(path: str, obj) -> None:
    with atomic_paths(path) as (tmp,):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True, default=str)


def read_json(path: str):
    with open(path) as f:
        return json.load(f)
