"""The base task: version, config, store parts, one run per output, atomic outputs.

Output paths are ``$DATA_PATH/<Task>/<version>/<hash>/...`` where ``hash`` is computed from the task
graph: the resolved config sections a task reads (``config_sections`` / ``config_parts``) and the hashes
of the tasks it reads from (``upstream``). An edited model section reruns training and what follows,
never generation or skimming; a changed default reruns exactly what reads it.
A branch's ``run`` holds the lock of its outputs (analysis.locks): a second run of the same branch waits for
the first and then finds the outputs there; a run killed before writing them leaves a lock that the next run
takes over. Outputs are written with analysis.atomic's ``atomic_paths``.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import re
import signal
from collections import OrderedDict

import law
import luigi

import analysis.forked  # noqa: F401  (shared memory made before luigi forks its workers: the FastJet banner once)
from analysis.atomic import atomic_paths, read_json, remove_stale, write_json  # noqa: F401  (the tasks' writers)
from analysis.config import (
    CATALOGUES, CONFIG_DIR, Config, ConfigError, config_path, data_path, load_config, short_hash,
)
from analysis.config_schema import check_safe_name
from analysis.locks import LockSettings, describe, lock_path, lock_settings, output_lock


@functools.lru_cache(maxsize=32)
def _load(path: str, stamp: tuple, no_detector: bool = False) -> Config:
    cfg = load_config(path)
    if no_detector:  # truth level lives in the generation config, so every hash from generation on changes
        detector = cfg.generation["detector"] | {"enabled": False}
        cfg = dataclasses.replace(cfg, generation=cfg.generation | {"detector": detector})
    return cfg


def cached_config(name: str, no_detector: bool = False) -> Config:
    """The config, re-read whenever the named file or a catalogue it reads (beside it, in config/) changes;
    ``no_detector`` switches the detector response off (truth level)."""
    path = str(config_path(name))
    return _load(path, tuple(map(_stamp, _read_files(path))), no_detector)


@functools.lru_cache(maxsize=64)
def _read_files(path: str) -> tuple[str, ...]:
    """The files ``load_config(path)`` reads: the config and the catalogues (present or not) that
    ``analysis.config`` merges, beside it and in config/."""
    folders = dict.fromkeys([os.path.dirname(path), str(CONFIG_DIR)])
    return (path, *(os.path.join(d, f"{c}.yaml") for d in folders for c in CATALOGUES))


def _stamp(path: str) -> tuple[int, int] | None:
    """(mtime, size) of a file, None where there is none: checked on each of the graph's hundreds of reads."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


class Task(law.Task):
    """Base of every task: a ``version`` and a named ``config``."""

    version = luigi.Parameter(description="output version, e.g. v1")
    config = luigi.Parameter(default="default", significant=True,
                             description="config name in config/ (or a YAML path); default: default")
    no_detector = luigi.BoolParameter(default=False, description="truth level: generate events without the "
                                      "detector response (sets generation.detector.enabled false)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        try:  # the version is a folder name of every output
            check_safe_name(self.version)
        except ValueError as e:
            raise ConfigError(f"--version {self.version!r}: {e}") from None

    @classmethod
    def get_params(cls) -> list:
        """luigi's (name, parameter) list, built once per class: luigi rebuilds it from ``dir(cls)`` on each
        call, and building the task graph calls it hundreds of times."""
        if "_params_once" not in cls.__dict__:
            cls._params_once = tuple(super().get_params())
        return list(cls._params_once)

    @property
    def cfg(self) -> Config:
        return cached_config(self.config, self.no_detector)

    # the config sections this task reads itself (resolved: defaults filled in); subclasses name theirs
    config_sections: tuple[str, ...] = ()

    def config_parts(self) -> dict:
        """The resolved config this task reads itself, beyond what its upstream tasks read."""
        return {s: getattr(self.cfg, s) for s in self.config_sections}

    def upstream(self) -> list:
        """The tasks whose outputs this one reads; their hashes are part of this one's."""
        return law.util.flatten(self.requires())

    def config_hash(self) -> str:
        """This task's identity from the task graph: the config it reads and the hashes of its upstream
        tasks (a workflow: of its branches), so exactly what depends on an edited setting or default is
        stale."""
        memo = self.__dict__.get("_hash_memo")
        if memo and memo[0] is self.cfg:
            return memo[1]
        if isinstance(self, law.BaseWorkflow) and not self.is_branch():
            value = short_hash(sorted(t.config_hash() for t in self.get_branch_tasks().values()))
        else:  # an upstream version other than this task's own (in its path already) is part of the hash
            own = self.stage_version()
            value = short_hash(self.config_parts(), sorted(
                t.config_hash() if t.stage_version() == own else f"{t.stage_version()}/{t.config_hash()}"
                for t in self.upstream()))
        self.__dict__["_hash_memo"] = (self.cfg, value)
        return value

    @classmethod
    def families(cls) -> list[str]:
        """This task's family and those of its base tasks (TrainWNAE, TrainModel): what a version is set for."""
        return [c.get_task_family() for c in cls.__mro__
                if isinstance(c, type) and issubclass(c, Task) and c is not Task]

    @classmethod
    def version_for(cls, cfg: Config, carried: str) -> str:
        """This stage's version in ``cfg``: its pin (the study's ``versions:`` entry for it or a base task, else
        law.cfg's ``[versions]`` one), else ``carried``, the version of the task that reads it."""
        check_version_keys(cfg)
        for fam in cls.families():
            if fam in cfg.versions:
                return cfg.versions[fam]
        cfg_versions = law_cfg_versions()
        for fam in cls.families():
            if fam.lower() in cfg_versions:
                return cfg_versions[fam.lower()]
        return carried

    def stage_version(self) -> str:
        """This task's version: its pin, else ``--version`` (a requirement's ``--version`` is its reader's stage
        version, see ``req_params``). So ``versions: {FeatureDataset: v1}`` with ``--version v2`` trains v2 models
        on the v1 dataset, built from v1 tables, skims and events, without regenerating anything."""
        return self.version_for(self.cfg, self.version)

    @classmethod
    def req_params(cls, inst, **kwargs) -> dict:
        """A requirement takes the version of the task that reads it, unless pinned itself: a pin carries
        upstream, so a pinned stage reads what it read when it was made."""
        params = super().req_params(inst, **kwargs)
        if isinstance(inst, Task) and "version" not in kwargs:
            cfg = cached_config(params["config"], params.get("no_detector", False))
            params["version"] = cls.version_for(cfg, inst.stage_version())
        return params

    def path_label(self) -> str:
        """A readable name put before the hash in the output folder (a sample, a model); '' for none."""
        return ""

    def store_parts(self) -> OrderedDict:
        label = self.path_label()
        return OrderedDict([("task", self.task_family), ("version", self.stage_version()),
                            ("hash", f"{label}__{self.config_hash()}" if label else self.config_hash())])

    def local_path(self, *parts: str) -> str:
        return str(data_path().joinpath(*self.store_parts().values(), *parts))

    def local_target(self, *parts: str, directory: bool = False):
        cls = law.LocalDirectoryTarget if directory else law.LocalFileTarget
        return cls(self.local_path(*parts))

    def identity(self) -> dict:
        """What the hash stands for, written as ``config.json`` beside the outputs: the resolved config this
        task reads and the version and hash of each task it reads from."""
        ups = {f"{u.task_family}/{u.path_label()}".rstrip("/"): f"{u.stage_version()}/{u.config_hash()}"
               for u in self.upstream()}
        return {"task": self.task_family, "version": self.stage_version(), "hash": self.config_hash(),
                "config": self.config_parts(), "upstream": dict(sorted(ups.items()))}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "run" in cls.__dict__:
            cls.run = _locked(cls.__dict__["run"])


def _locked(run):
    """``run`` under the lock of the task's outputs: waits for another run of the same branch, then does
    nothing if that one wrote them."""
    @functools.wraps(run)
    def locked_run(self):
        outputs = sorted(t.path for t in law.util.flatten(self.output()))
        if not outputs:
            return run(self)

        def waiting(holder: dict) -> None:
            self.logger.warning(f"{self.repr(color=False)}: already running ({describe(holder)}); waiting for it "
                                f"(lock {lock_path(outputs[0])})")

        with output_lock(outputs[0], on_wait=waiting, settings=law_cfg_locks()) as left:
            if left:
                self.logger.warning(f"{self.repr(color=False)}: the run before ({describe(left)}) stopped without "
                                    "finishing; taking over")
            if self.complete():
                self.logger.info(f"{self.repr(color=False)}: written by another run meanwhile")
                return None
            for path in outputs:  # what killed runs left beside the outputs (we hold the lock: nobody writes them)
                remove_stale(path)
            return run(self)
    return locked_run


def law_cfg_locks() -> LockSettings:
    """law.cfg's ``[locks]`` (``mode``: auto, flock, file or none; the file lock's ``heartbeat`` and
    ``stale_after`` in seconds), ``$SVJ_LOCKS`` overriding the mode; checked (a ConfigError naming the file)."""
    cfg = law.config.Config.instance()
    where = f"{cfg.config_file or 'law.cfg'}: [locks]"
    given = {k: cfg.get_expanded("locks", k) for k in cfg.options("locks")} if cfg.has_section("locks") else {}
    try:
        unknown = set(given) - {f.name for f in dataclasses.fields(LockSettings)}
        if unknown:
            raise ValueError(f"{where} {sorted(unknown)[0]}: not a key (keys: mode, heartbeat, stale_after)")
        return lock_settings(**given, where=where)
    except ValueError as e:
        raise ConfigError(str(e)) from None


# the tasks that can take a version of their own (``versions:`` in a study, ``[versions]`` in law.cfg);
# tests/test_config.py checks this against the task classes
STAGES = ("SampleWorkflow", "GenerateEvents", "ExportDarkMachines", "SkimEvents", "JetTables", "FeatureDataset",
          "TrainModel", "Infer", "ExportModel", "PlotSignificance", "PlotValidation")


def stage_names() -> tuple[str, ...]:
    from analysis.models.registry import kinds

    return STAGES + tuple(k.task for k in kinds().values())


def law_cfg_versions() -> dict[str, str]:
    """law.cfg's ``[versions]`` (task name -> version; names lower-cased by the config parser), checked."""
    cfg = law.config.Config.instance()
    if not cfg.has_section("versions"):
        return {}
    out = {k.lower(): cfg.get_expanded("versions", k) for k in cfg.options("versions")}
    known = {s.lower() for s in stage_names()}
    for task, version in out.items():
        where = f"{cfg.config_file or 'law.cfg'}: [versions] {task}"
        if task not in known:
            raise ConfigError(f"{where}: not a task (tasks: {', '.join(stage_names())})")
        try:
            check_safe_name(version)
        except ValueError as e:
            raise ConfigError(f"{where} = {version!r}: {e}") from None
    return out


def check_version_keys(cfg: Config) -> None:
    """Every task named in the study's ``versions:`` exists."""
    for task, version in cfg.versions.items():
        if task not in stage_names():
            raise ConfigError(f"{cfg.path}: key 'versions.{task}' = {version!r}: not a task "
                              f"(tasks: {', '.join(stage_names())})")


@Task.event_handler(luigi.Event.SUCCESS)
def _write_identity(task: Task) -> None:
    """``config.json`` beside a finished task's outputs (a workflow's are its branches')."""
    if isinstance(task, law.BaseWorkflow) and not task.is_branch():
        return
    write_json(task.local_path("config.json"), task.identity())


@Task.event_handler(luigi.Event.PROCESS_FAILURE)
def _report_killed(task: Task, message: str) -> None:
    """luigi notes a worker process that died (e.g. the out-of-memory killer) only at INFO level: say which
    task died and how."""
    code = re.search(r"exit code (-?\d+)", message)
    code = int(code.group(1)) if code else None
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else "?"
        how = f"was killed by signal {-code} ({name}"
        how += ", e.g. by the out-of-memory killer or kill -9)" if -code == signal.SIGKILL else ")"
    else:
        how = f"died with exit code {code}"
    task.logger.error(f"{task.repr(color=False)} {how}; run the same command again: finished outputs are kept and a "
                      "training resumes from its last checkpoint")
