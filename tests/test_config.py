"""Config resolution, validation messages and the per-section hashes that drive staleness."""
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


def test_model_edit_changes_only_model_hashes(tmp_path):
    base = load_config(_copy_config(tmp_path))
    edited = load_config(_copy_config(tmp_path, lambda d: d["models"]["wnae"].update(epochs=5)))
    assert base.dataset_hash() == edited.dataset_hash()
    assert all(base.skim_hash(s) == edited.skim_hash(s) for s in base.samples)
    assert base.model_hash("ae") == edited.model_hash("ae")
    assert base.model_hash("wnae") != edited.model_hash("wnae")
    assert base.report_hash() != edited.report_hash()


def test_selection_edit_keeps_generation(tmp_path):
    base = load_config(_copy_config(tmp_path))
    edited = load_config(_copy_config(tmp_path, lambda d: d.update(selection="ak8_dijet_met")))
    assert all(base.sample_hash(s) == edited.sample_hash(s) for s in base.samples)
    assert all(base.skim_hash(s) != edited.skim_hash(s) for s in base.samples)


@pytest.mark.parametrize("edit, words", [
    (lambda d: d.update(bogus=1), ["bogus", "unknown key"]),
    (lambda d: d.update(features={"name": "hlf_basic", "names": ["pt", "tau99"]}), ["features", "tau99"]),
    (lambda d: d.update(selection={"name": "ak8_dijet", "cuts": [{"name": "x", "var": "nope", "min": 1}]}),
     ["selection", "nope"]),
    (lambda d: d.update(features="no_such_set"), ["features", "no_such_set"]),
    (lambda d: d["samples"].update(nosample={}), ["samples.nosample", "catalogue"]),
    (lambda d: d["samples"]["qcd"].update(chunks="two"), ["samples.qcd.chunks", "positive integer"]),
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
