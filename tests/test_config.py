"""Config resolution, validation messages and the per-section hashes that drive staleness."""
import copy
import shutil
from pathlib import Path

import pytest
import yaml

from analysis.config import CONFIG_DIR, ConfigError, load_config


def _copy_config(tmp_path: Path, edit=None) -> str:
    for f in CONFIG_DIR.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    path = tmp_path / "tiny.yaml"
    if edit:
        data = yaml.safe_load(path.read_text())
        edit(data)
        path.write_text(yaml.safe_dump(data))
    return str(path)


def test_all_shipped_configs_load():
    for name in ("default", "tiny"):
        cfg = load_config(name)
        assert cfg.signals and cfg.backgrounds
        assert {"ae", "nae", "wnae", "graph_wnae"} <= set(cfg.models)
        assert "lund_graph" in cfg.dataset["representations"]  # what the graph models train on


def test_graph_model_without_its_representation_is_named(tmp_path):
    path = _copy_config(tmp_path, edit=lambda d: d["dataset"].pop("representations"))
    with pytest.raises(ConfigError, match="models.graph_wnae: needs the 'lund_graph' representation"):
        load_config(path)


def _graph_hashes(path: str, version: str = "t") -> dict[str, str]:
    """Every task of the report's graph (workflows with their branches) -> its version/hash, from a freshly read
    config."""
    from tasks.base import _load
    from tasks.plotting import PlotSignificance

    _load.cache_clear()
    out = {}

    def walk(task):
        branch = task.is_branch() if hasattr(task, "is_branch") else True
        model = getattr(task, "model_name", "") or getattr(task, "model", "")  # a training's, an Infer's
        parts = (task.task_family, model if branch else "",
                 task.branch_data if hasattr(task, "is_branch") and branch else "")
        key = "/".join(str(x) if not isinstance(x, tuple) else "/".join(map(str, x)) for x in parts if x != "")
        if key in out:
            return
        out[key] = f"{task.stage_version()}/{task.config_hash()}"
        is_workflow = hasattr(task, "get_branch_tasks") and not task.is_branch()
        for up in (task.get_branch_tasks().values() if is_workflow else task.upstream()):
            walk(up)

    walk(PlotSignificance(version=version, config=path))
    return out


def _changed(a: dict, b: dict) -> set[str]:
    return {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}


def test_model_edit_changes_only_its_training_and_after(tmp_path):
    base = _graph_hashes(_copy_config(tmp_path))
    edited = _graph_hashes(_copy_config(tmp_path, lambda d: d["models"]["wnae"].update(epochs=5)))
    assert _changed(base, edited) == {"TrainWNAE/wnae/wnae", "Infer/wnae", "PlotSignificance"}


def test_changed_default_makes_exactly_its_dependents_stale(tmp_path, monkeypatch):
    """Hashes cover the resolved config: a default changed in the code (not in the YAML) reruns what reads it."""
    from analysis.models.registry import get_kind

    path = _copy_config(tmp_path)
    base = _graph_hashes(path)
    wnae = get_kind("wnae")
    changed_defaults = wnae.defaults() | {"patience": wnae.defaults()["patience"] + 1}
    monkeypatch.setattr(wnae, "defaults", lambda: copy.deepcopy(changed_defaults))  # this kind's only
    assert _changed(base, _graph_hashes(path)) == {"TrainWNAE/wnae/wnae", "Infer/wnae", "PlotSignificance"}
    monkeypatch.undo()
    from analysis.generation import detector_settings as detector

    monkeypatch.setitem(detector.DEFAULT_DETECTOR, "calo_min_e", detector.DEFAULT_DETECTOR["calo_min_e"] + 0.1)
    changed = _changed(base, _graph_hashes(path))
    assert changed == set(base)  # the detector response: every generated event, so everything
    monkeypatch.undo()
    assert _changed(base, _graph_hashes(path)) == set()


def test_selection_edit_keeps_generation(tmp_path):
    base = _graph_hashes(_copy_config(tmp_path))
    edited = _graph_hashes(_copy_config(tmp_path, lambda d: d.update(selection="ak8_dijet_met")))
    assert not any(k.startswith("GenerateEvents") for k in _changed(base, edited))
    assert all(k in _changed(base, edited) for k in base if k.startswith(("SkimEvents/", "TrainWNAE/")))


def test_signal_edit_keeps_trainings_and_other_samples(tmp_path):
    """Adding, changing or removing a signal sample changes its own steps, the dataset, the scores and the
    report, never the trainings or the other samples' generation, skim and tables."""
    base = _graph_hashes(_copy_config(tmp_path))
    add = lambda d: d["samples"].update({"svj_s_m3000_r0.3": {"events_per_chunk": 100}})  # noqa: E731
    change = lambda d: d["samples"]["svj_s_m2000_r0.3"].update(events_per_chunk=300)  # noqa: E731
    for edit in (add, change):
        changed = _changed(base, _graph_hashes(_copy_config(tmp_path, edit)))
        assert not any(k.startswith("Train") for k in changed)
        assert not any("qcd" in k or "ttbar" in k for k in changed)
        assert {"FeatureDataset", "Infer/wnae", "PlotSignificance"} <= changed
    removed = _graph_hashes(_copy_config(tmp_path, lambda d: d["samples"].update({"svj_s_m3000_r0.3": {}})))
    back = _graph_hashes(_copy_config(tmp_path))
    assert back == base and removed != base


def test_btag_working_point_moves_only_the_skims_of_nanoaod_files(tmp_path):
    """inputs.btag applies to CMS NanoAOD/PFNano files only: generated samples keep their hashes (the default
    study's folders do not move), a PFNano file's skim and what reads it are stale."""
    real = str(Path(__file__).parent / "data" / "real" / "coffea_pfnano.root")

    def pf(d):
        d["samples"]["pf"] = {"files": real, "format": "pfnano", "label": "background", "xsec_pb": 1.0}

    def wp(d):
        d.setdefault("inputs", {})["btag"] = {"branch": "btagPNetB", "threshold": 0.5}

    generated, files = tmp_path / "generated", tmp_path / "files"  # law keeps a workflow's branches per config path
    generated.mkdir(), files.mkdir()
    base = _graph_hashes(_copy_config(generated))
    assert _changed(base, _graph_hashes(_copy_config(generated, wp))) == set()
    with_pf = _graph_hashes(_copy_config(files, pf))
    changed = _changed(with_pf, _graph_hashes(_copy_config(files, lambda d: (pf(d), wp(d)))))
    assert {k for k in changed if k.startswith("SkimEvents/")} == {"SkimEvents/pf/0"}
    assert {"SkimEvents", "JetTables/pf/0", "FeatureDataset", "PlotSignificance"} <= changed
    assert not any(k.startswith(("GenerateEvents", "JetTables/qcd", "JetTables/svj")) for k in changed)


@pytest.mark.parametrize("edit, words", [
    (lambda d: d.update(bogus=1), ["bogus", "unknown key"]),
    (lambda d: d.update(features={"name": "hlf_basic", "names": ["pt", "tau99"]}), ["features", "tau99"]),
    (lambda d: d.update(selection={"name": "ak8_dijet", "cuts": [{"name": "x", "var": "nope", "min": 1}]}),
     ["selection", "nope"]),
    (lambda d: d.update(features="no_such_set"), ["features", "no_such_set"]),
    (lambda d: d["samples"].update(nosample={}), ["samples.nosample", "catalogue"]),
    (lambda d: d["samples"]["qcd"].update(chunks="two"), ["samples.qcd.chunks", "'two'", "valid integer"]),
    (lambda d: d["dataset"].update(split=[0.5, 0.5, 0.5]), ["dataset.split"]),
    (lambda d: d.update(models=["ae", "vae"]), ["models.vae", "unknown entry"]),
    (lambda d: d["models"]["wnae"].update(sampler={"nsteps": 3}), ["models.wnae", "sampler.nsteps"]),
    (lambda d: d.setdefault("training", {}).update(weights="genweight"), ["training.weights", "xsec"]),
])
def test_bad_config_names_file_and_key(tmp_path, edit, words):
    path = _copy_config(tmp_path, edit)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert "tiny.yaml" in msg
    for w in words:
        assert w in msg


def test_unknown_config_name():
    with pytest.raises(ConfigError, match="not found"):
        load_config("does_not_exist")


def _sig_params(d, **over):
    d["samples"]["sig"] = {"process": "svj_schannel", "label": "signal", "xsec_pb": 0.1,
                           "params": {"m_dark": 20, "n_c": 2, "m_med": 2000, "r_inv": 0.3} | over}


# every case of issue 17, and then some: (edit of tiny.yaml, words the single ConfigError must hold)
BAD = [
    (lambda d: d["training"].update(devic="cuda"), ["training.devic", "unknown key", "device"]),
    (lambda d: d.update(plots={"lumi": 300}), ["plots.lumi", "unknown key", "lumi_fb"]),
    (lambda d: d["dataset"].update(splt=[0.8, 0.1, 0.1]), ["dataset.splt", "unknown key", "split"]),
    (lambda d: d.update(features={"name": "hlf_basic", "levle": "jet"}), ["features.levle", "unknown key"]),
    (lambda d: d.update(selection={"name": "ak8_dijet", "cut": [{"name": "m", "var": "met", "min": 1}]}),
     ["selection.cut", "unknown key", "cuts"]),
    (lambda d: d.update(selection={"name": "ak8_dijet", "cuts": [{"name": "m", "var": "met", "min": "lots"}]}),
     ["selection.cuts.0.min", "'lots'", "number"]),
    (lambda d: d.update(selection={"name": "ak8_dijet", "objects": {"Fatjet": {"min_pt": 200}}}),
     ["selection.objects.Fatjet", "'Fatjet'", "'FatJet'"]),
    (lambda d: d["training"].update(seed="five"), ["training.seed", "'five'", "integer"]),
    (lambda d: d["training"].update(device="gpu0"), ["training.device", "'gpu0'", "cuda"]),
    (lambda d: d["dataset"].update(seed="x"), ["dataset.seed", "'x'", "integer"]),
    (lambda d: d.update(plots={"eps_b": "0.01"}), ["plots.eps_b", "'0.01'", "list"]),
    (lambda d: d.update(plots={"eps_b": ["0.01"]}), ["plots.eps_b.0", "'0.01'", "number"]),
    (lambda d: d["dataset"].update(split=["a", "b", "c"]), ["dataset.split.0", "'a'", "number"]),
    (lambda d: d["dataset"].update(split=[0.5, 0.5]), ["dataset.split", "3"]),
    (lambda d: d["dataset"].update(scaler="robust"), ["dataset.scaler", "'robust'", "standard"]),
    (lambda d: d.update(inputs={"on_bad_file": "ignore"}), ["inputs.on_bad_file", "'ignore'", "skip"]),
    (lambda d: d["generation"].update(seed=-1), ["generation.seed", "-1"]),
    (lambda d: d["generation"].update(events_per_chunk="1k"), ["generation.events_per_chunk", "'1k'"]),
    (lambda d: _sig_params(d), ["samples.sig.params", "n_f"]),
    (lambda d: _sig_params(d, n_f=2.5), ["samples.sig.params", "n_f", "2.5"]),
    (lambda d: _sig_params(d, n_f=2, r_inv=1.5), ["samples.sig.params.r_inv", "1.5"]),
    (lambda d: d["samples"]["qcd"].update(label="bkg"), ["samples.qcd.label", "'bkg'", "background"]),
    (lambda d: d["samples"]["qcd"].update(procss="qcd"), ["samples.qcd.procss", "unknown key", "process"]),
    (lambda d: d["samples"].update(x={"files": "/nonexistent/*.root", "label": "background", "xsec_pb": 1.0}),
     ["samples.x.files", "/nonexistent/*.root"]),
    (lambda d: d["samples"].update(x={"files": "/nonexistent.csv", "label": "data", "xsec_pb": 1.0}), ["samples.x.xsec_pb", "cross-section"]),
    (lambda d: d["samples"].update({"../evil": {"process": "qcd", "label": "background", "pt_hat_min": 300}}),
     ["samples.../evil", "'../evil'", "safe name"]),
    (lambda d: d["samples"].update({"a/b": {"process": "qcd", "label": "background", "pt_hat_min": 300}}),
     ["samples.a/b", "safe name"]),
    (lambda d: d["samples"].update({"/abs": {"process": "qcd", "label": "background", "pt_hat_min": 300}}),
     ["samples./abs", "safe name"]),
    (lambda d: d["samples"].update({".hidden": {"process": "qcd", "label": "background", "pt_hat_min": 300}}),
     ["samples..hidden", "safe name"]),
    (lambda d: d["models"].update({"../ae": {"kind": "ae"}}), ["models.../ae", "safe name"]),
    (lambda d: d["models"].update({"my ae": {"kind": "ae"}}), ["models.my ae", "safe name"]),
    (lambda d: d["models"]["ae"].update(epochs="ten"), ["models.ae", "epochs", "'ten'"]),
    (lambda d: d.update(description=["x"]), ["description"]),
]


@pytest.mark.parametrize("edit, words", BAD)
def test_bad_config_table(tmp_path, edit, words):
    """Each bad config gives one ConfigError at load (before any task), naming the file, the key and the value."""
    path = _copy_config(tmp_path, edit)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") or msg.startswith(str(Path(path).parent)), msg
    for w in words:
        assert w in msg, msg


def test_numbers_with_exponents(tmp_path):
    """YAML 1.2 numbers: the README's `xsec_pb: 1.2e5` and a cut `min: 1e9` are numbers, not strings."""
    (tmp_path / "f.root").write_bytes(b"")
    path = Path(_copy_config(tmp_path))
    text = path.read_text().replace("samples:", f"samples:\n  mine: {{files: {tmp_path}/f.root, label: background, "
                                    "xsec_pb: 1.2e5}", 1)
    text = text.replace("selection: ak8_dijet", "selection: {name: ak8_dijet, cuts: [{name: met, var: met, max: 1e9}]}")
    path.write_text(text)
    cfg = load_config(str(path))
    assert cfg.samples["mine"]["xsec_pb"] == 120000.0
    assert cfg.selection["cuts"][0]["max"] == 1e9


def test_bad_config_name(tmp_path):
    path = Path(_copy_config(tmp_path))
    bad = tmp_path / "my study.yaml"
    bad.write_text(path.read_text())
    with pytest.raises(ConfigError, match="'my study': not a safe name"):
        load_config(str(bad))


def test_study_catalogue_extends_builtin(tmp_path):
    """A samples.yaml beside a study adds entries; the built-in ones stay available."""
    path = Path(_copy_config(tmp_path))
    for f in tmp_path.glob("*.yaml"):
        if f.name != "tiny.yaml":
            f.unlink()
    (tmp_path / "samples.yaml").write_text("my_qcd: {process: qcd, label: background, pt_hat_min: 400}\n")
    text = path.read_text().replace("samples:", "samples:\n  my_qcd: {}", 1)
    path.write_text(text)
    cfg = load_config(str(path))
    assert cfg.samples["my_qcd"]["pt_hat_min"] == 400 and cfg.samples["qcd"]["pt_hat_min"] == 300


def test_readme_config_reference_matches_schema():
    """The README's config reference is the one the schema renders (python -m analysis.config_schema)."""
    from analysis.config_schema import config_reference

    readme = (CONFIG_DIR.parent / "README.md").read_text()
    assert config_reference() in readme, "README config reference is stale: python -m analysis.config_schema"


def test_law_refuses_bad_config_before_any_job(tmp_path):
    """`law run ... --print-status 0` stops at the ConfigError; nothing is written to DATA_PATH."""
    import os
    import subprocess
    import sys

    root = CONFIG_DIR.parent
    path = _copy_config(tmp_path, lambda d: d["training"].update(devic="cuda"))
    env = dict(os.environ, DATA_PATH=str(tmp_path / "data"), LAW_HOME=str(tmp_path / ".law"),
               LAW_CONFIG_FILE=str(root / "law.cfg"), PYTHONPATH=str(root))
    law = str(Path(sys.executable).with_name("law"))  # the task by module path: no law index needed
    out = subprocess.run([law, "run", "tasks.plotting.PlotSignificance", "--version", "v1", "--config", path, "--print-status", "0"],
                         env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert f"ConfigError: {path}: key 'training.devic': unknown key" in out.stdout + out.stderr
    assert not (tmp_path / "data").exists()



def test_law_print_output_names_readable_paths(tmp_path):
    """The README's `law run PlotSignificance --version v1 --print-output 1`: every output path, readable
    (<Task>/<version>/<sample or model>__<hash>), and nothing written."""
    import os
    import subprocess
    import sys

    root = CONFIG_DIR.parent
    env = dict(os.environ, DATA_PATH=str(tmp_path / "data"), LAW_HOME=str(tmp_path / ".law"),
               LAW_CONFIG_FILE=str(root / "law.cfg"), PYTHONPATH=str(root))
    law = str(Path(sys.executable).with_name("law"))
    out = subprocess.run([law, "run", "tasks.plotting.PlotSignificance", "--version", "v1", "--config",
                          _copy_config(tmp_path), "--print-output", "1"],
                         env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    data = f"file://{tmp_path / 'data'}"
    for part in ("TrainWNAE/v1/wnae__", "Infer/v1/ae__", "FeatureDataset/v1/", "PlotSignificance/v1/"):
        assert f"{data}/{part}" in out.stdout, part
    assert not (tmp_path / "data").exists()


def test_cached_config_rereads_an_edited_catalogue(tmp_path):
    """The tasks' config is read once and read again when the study or a catalogue beside it changes."""
    from tasks.base import cached_config

    path = _copy_config(tmp_path)
    cfg = cached_config(path)
    assert cached_config(path) is cfg
    models = tmp_path / "models.yaml"
    data = yaml.safe_load(models.read_text())
    data["wnae"]["latent"] = cfg.models["wnae"]["latent"] + 1  # tiny.yaml keeps the catalogue's latent
    models.write_text(yaml.safe_dump(data))
    assert cached_config(path).models["wnae"]["latent"] == cfg.models["wnae"]["latent"] + 1


def test_training_by_model_name(tmp_path):
    """`law run TrainWNAE --version v1 --model wnae` is the branch of that model (the same task as its
    --branch); an unknown model is refused, naming the value and the allowed models, before anything runs."""
    import os
    import subprocess
    import sys

    from tasks.training import TRAIN_TASKS

    path = _copy_config(tmp_path)
    train = TRAIN_TASKS["graph_wnae"](version="v1", config=path, model="graph_wnae")
    assert train.is_branch() and train.branch == 0 and train.model_name == "graph_wnae"
    assert train is TRAIN_TASKS["graph_wnae"](version="v1", config=path, branch=0)  # one task, however selected
    with pytest.raises(ConfigError, match="--model 'graph_wnae' is branch 0, but --branch 1 was given"):
        TRAIN_TASKS["graph_wnae"](version="v1", config=path, model="graph_wnae", branch=1)

    root = CONFIG_DIR.parent
    env = dict(os.environ, DATA_PATH=str(tmp_path / "data"), LAW_HOME=str(tmp_path / ".law"),
               LAW_CONFIG_FILE=str(root / "law.cfg"), PYTHONPATH=str(root))
    law = str(Path(sys.executable).with_name("law"))  # the task by module path: no law index needed

    def status(model: str) -> subprocess.CompletedProcess:
        return subprocess.run([law, "run", "tasks.training.TrainWNAE", "--version", "v1", "--config", path,
                               "--model", model, "--print-status", "0"],
                              env=env, cwd=root, capture_output=True, text=True, timeout=300)

    out = status("wnae")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "TrainWNAE(" in out.stdout and "branch=0" in out.stdout and "model=wnae" in out.stdout
    assert f"{tmp_path / 'data'}/TrainWNAE/v1/wnae__" in out.stdout
    out = status("nae")
    assert out.returncode != 0
    assert (f"ConfigError: --model 'nae': not a model that TrainWNAE trains in config {path} (its models: wnae; "
            "all models of the config: ae, nae, wnae") in out.stdout + out.stderr
    assert not (tmp_path / "data").exists()


def test_stage_names_are_the_tasks():
    """Every task class can take a version of its own; the study's `versions:` names are checked against them."""
    import tasks.darkmachines  # noqa: F401
    import tasks.export  # noqa: F401
    import tasks.plotting  # noqa: F401
    import tasks.validation  # noqa: F401
    from tasks.base import Task, stage_names

    def subclasses(c):
        return {c} | {s for d in c.__subclasses__() for s in subclasses(d)}

    assert set(stage_names()) == {c.get_task_family() for c in subclasses(Task) - {Task}}


def test_versions_per_stage(tmp_path):
    """A pin carries upstream: with `versions: {FeatureDataset: v1, TrainModel: v3}` and --version v2 the dataset
    and all it reads keep the folders (versions and hashes) of a plain v1 run, so nothing before it regenerates;
    the trainings are v3, the scores and report v2. A task of one version on two versions of what it reads
    (a training, the scores or the report on two dataset versions; the tables on two skim versions) gets two
    folders."""
    from tasks.plotting import PlotSignificance
    from tasks.training import TRAIN_TASKS

    def study(folder: str, versions: dict) -> str:
        (tmp_path / folder).mkdir()
        return _copy_config(tmp_path / folder, lambda d: d.update(versions=versions))

    path = study("a", {"FeatureDataset": "v1", "TrainModel": "v3"})
    report = PlotSignificance(version="v2", config=path)
    parts = {t.task_family: t.store_parts()["version"] for t in report.upstream()}
    assert parts == {"FeatureDataset": "v1", "Infer": "v2", "TrainAE": "v3", "TrainNAE": "v3", "TrainWNAE": "v3",
                     "TrainGraphWNAE": "v3", "SkimEvents": "v1"}  # the cut flows of the dataset's own skims
    train = TRAIN_TASKS["wnae"].req(report, branch=0, _exclude={"workflow", "branches"})
    assert train.local_path().endswith(f"TrainWNAE/v3/wnae__{train.config_hash()}")
    plain = _graph_hashes(study("plain", {}), "v1")
    pinned = _graph_hashes(path, "v2")
    before = [k for k in plain if k.startswith(("FeatureDataset", "JetTables", "SkimEvents", "GenerateEvents"))]
    assert len(before) > 8 and {k: pinned[k] for k in before} == {k: plain[k] for k in before}
    other = _graph_hashes(study("b", {"FeatureDataset": "v4", "TrainModel": "v3"}), "v2")
    assert other["FeatureDataset"] == "v4/" + plain["FeatureDataset"].split("/")[1]
    for key in ("TrainWNAE/wnae/wnae", "Infer/wnae", "PlotSignificance"):
        assert other[key].split("/")[0] == pinned[key].split("/")[0] and other[key] != pinned[key], key
    # the versions of what a task reads are in its hash: JetTables v2 on v5 skims, and all after it, are not
    # the folders of a plain v2 run (whose hashes are the plain v1 run's)
    skims = _graph_hashes(study("c", {"SkimEvents": "v5"}), "v2")
    changed = {k for k in plain if skims[k].split("/")[1] != plain[k].split("/")[1]}
    assert changed == {k for k in plain if not k.startswith(("SkimEvents", "GenerateEvents"))}
    assert {skims[k].split("/")[0] for k in plain if k.startswith(("SkimEvents", "GenerateEvents"))} == {"v5"}
    bad = _copy_config(tmp_path, lambda d: d.update(versions={"TrainWNEA": "v1"}))
    with pytest.raises(ConfigError, match="versions.TrainWNEA' = 'v1': not a task"):
        PlotSignificance(version="v2", config=bad).store_parts()
    with pytest.raises(ConfigError, match="versions.FeatureDataset' = '../v1'"):
        load_config(_copy_config(tmp_path, lambda d: d.update(versions={"FeatureDataset": "../v1"})))


def _law_cfg(tmp_path, monkeypatch):
    """A function that makes law read a law.cfg of the given text (for this test) and returns its path."""
    import law

    def law_cfg(text: str) -> str:
        cfg_file = tmp_path / "law.cfg"
        cfg_file.write_text(text)
        monkeypatch.setattr(law.config.Config, "_instance",
                            law.config.Config(str(cfg_file), skip_fallbacks=True, skip_luigi_sync=True))
        return str(cfg_file)
    return law_cfg


def test_law_cfg_versions(tmp_path, monkeypatch):
    """law.cfg's `[versions]` pins a stage as a study's `versions:` does, carried upstream; the study's entry wins;
    a misspelt task or an unsafe version there is a ConfigError naming the file."""
    from tasks.dataset import FeatureDataset, JetTables
    from tasks.plotting import PlotSignificance

    law_cfg = _law_cfg(tmp_path, monkeypatch)
    law_cfg("[versions]\nFeatureDataset: v1\nTrainModel = v3\n")
    report = PlotSignificance(version="v2", config=_copy_config(tmp_path))
    assert {t.task_family: t.stage_version() for t in report.upstream()} == {
        "FeatureDataset": "v1", "Infer": "v2", "TrainAE": "v3", "TrainNAE": "v3", "TrainWNAE": "v3",
        "TrainGraphWNAE": "v3", "SkimEvents": "v1"}
    assert JetTables.req(FeatureDataset.req(report)).stage_version() == "v1"
    (tmp_path / "s").mkdir()
    study = _copy_config(tmp_path / "s", lambda d: d.update(versions={"FeatureDataset": "v5"}))
    assert FeatureDataset(version="v2", config=study).stage_version() == "v5"
    where = law_cfg("[versions]\nFeatureDatset: v1\n")
    with pytest.raises(ConfigError, match=rf"{where}: \[versions\] featuredatset: not a task"):
        PlotSignificance(version="v2", config=_copy_config(tmp_path)).store_parts()
    where = law_cfg("[versions]\nFeatureDataset: ../v1\n")
    with pytest.raises(ConfigError, match=rf"{where}: \[versions\] featuredataset = '../v1': not a safe name"):
        FeatureDataset(version="v2", config=_copy_config(tmp_path)).stage_version()


def test_law_cfg_locks(tmp_path, monkeypatch):
    """law.cfg's [locks] reaches the tasks' locks; $SVJ_LOCKS overrides its mode; a bad entry is a ConfigError
    naming the file."""
    from analysis.locks import LockSettings
    from tasks.base import law_cfg_locks

    law_cfg = _law_cfg(tmp_path, monkeypatch)
    monkeypatch.delenv("SVJ_LOCKS", raising=False)
    law_cfg("[locks]\nmode: file\nheartbeat: 5\nstale_after = 40\n")
    assert law_cfg_locks() == LockSettings("file", 5.0, 40.0)
    monkeypatch.setenv("SVJ_LOCKS", "flock")
    assert law_cfg_locks().mode == "flock"
    monkeypatch.delenv("SVJ_LOCKS")
    law_cfg("")
    assert law_cfg_locks() == LockSettings()
    where = law_cfg("[locks]\nmode: afs\n")
    with pytest.raises(ConfigError, match=rf"{where}: \[locks\] mode = 'afs': not a lock mode"):
        law_cfg_locks()
    where = law_cfg("[locks]\ntimeout: 30\n")
    with pytest.raises(ConfigError, match=rf"{where}: \[locks\] timeout: not a key"):
        law_cfg_locks()
