"""inputs.on_bad_file: 'fail' stops on an unreadable file; 'skip' counts it, leaves it out of the dataset
and of the sample's normalisation."""
import json
import shutil
from pathlib import Path

import h5py
import luigi
import numpy as np
import pytest
import yaml

from analysis.config import CONFIG_DIR

MICRO = {
    "generation": {"events_per_chunk": 60, "seed": 11},
    "samples": {"qcd": {"chunks": 2}, "svj_s_m2000_r0.3": {"chunks": 1}},
    "selection": "ak8_dijet", "features": "hlf_basic",
    "models": {"ae": {"epochs": 2}},
}


def _config(directory: Path, on_bad_file: str) -> str:
    for f in CONFIG_DIR.glob("*.yaml"):
        shutil.copy(f, directory / f.name)
    path = directory / f"micro_{on_bad_file}.yaml"
    path.write_text(yaml.safe_dump(MICRO | {"inputs": {"on_bad_file": on_bad_file}}))
    return str(path)


@pytest.fixture
def corrupted(tmp_path, monkeypatch):
    """Generated micro samples with the second QCD chunk overwritten by garbage."""
    monkeypatch.setenv("DATA_PATH", str(tmp_path / "data"))
    from tasks.samples import GenerateEvents

    cfg = _config(tmp_path, "skip")
    gen = GenerateEvents(version="t", config=cfg)
    assert luigi.build([gen], local_scheduler=True, workers=1, log_level="WARNING")
    target = next(p for p in (tmp_path / "data" / "GenerateEvents").rglob("qcd__*/chunk1.root"))
    target.write_bytes(b"\0garbage" * 100)
    return tmp_path, target


def test_fail_names_the_file(corrupted):
    tmp_path, target = corrupted
    from tasks.samples import SkimEvents

    task = SkimEvents(version="t", config=_config(tmp_path, "fail"))
    branch = next(b for b, (s, c) in task.branch_map.items() if (s, c) == ("qcd", 1))
    with pytest.raises(ValueError, match=str(target)):
        task.as_branch(branch).run()
    assert not Path(task.as_branch(branch).output()["events"].path).exists()


def test_skip_counts_and_renormalises(corrupted):
    tmp_path, target = corrupted
    from tasks.dataset import FeatureDataset

    ds = FeatureDataset(version="t", config=_config(tmp_path, "skip"))
    assert luigi.build([ds], local_scheduler=True, workers=1, log_level="WARNING")
    flows = {p.name: json.loads(p.read_text()) for p in (tmp_path / "data" / "SkimEvents").rglob("qcd__*/*_cutflow.json")}
    assert str(target) in flows["chunk1_cutflow.json"]["skipped"]
    assert "skipped" not in flows["chunk0_cutflow.json"]
    summary = json.loads(Path(ds.output()["summary"].path).read_text())
    assert len(summary["qcd"]["files_skipped"]) == 1 and summary["svj_s_m2000_r0.3"]["files_skipped"] == []
    good = flows["chunk0_cutflow.json"]
    with h5py.File(ds.output()["dataset"].path) as f:
        names = [n.decode() for n in f["sample_id"].attrs["samples"]]
        qcd = f["sample_id"][()] == names.index("qcd")
        # weights normalised to the one readable chunk: xsec * (selected genWeight sum) / (its genWeight sum)
        per_event = f["weight"][()][qcd & (f["jet_index"][()] == 0)].sum()
    expected = good["xsec_pb"] * good["cutflow"][-1]["weighted"] / good["sum_genweight"]
    assert per_event == pytest.approx(expected, rel=1e-6)
    assert np.isfinite(per_event) and per_event > 0
