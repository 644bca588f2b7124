"""The Dark Machines path end to end on generated events: Pythia -> challenge csv -> read back -> channel 3
selection -> event-level objects -> AE/NAE/WNAE -> the challenge's tables."""
import csv
import json

import awkward as ak
import h5py
import luigi
import numpy as np
import pytest
import yaml

from analysis.event_features import event_feature_names
from analysis.io.inputs import read_input

CONFIG = {
    "description": "Dark Machines channel 3 on a few hundred generated events exported to the challenge csv.",
    "generation": {"events_per_chunk": 300, "seed": 5},
    "samples": {"ttbar": {"format": "darkmachines"}, "zjets_nunu": {"format": "darkmachines"},
                "wjets_lnu": {"format": "darkmachines"},
                "svj_s_m2000_r0.3": {"format": "darkmachines", "events_per_chunk": 200}},
    "selection": "darkmachines_ch3",
    "features": "dm_objects",
    "dataset": {"split": [0.6, 0.2, 0.2], "seed": 2, "scaler": "standard"},
    "models": {"ae": {"epochs": 10, "batch_size": 32}, "nae": {"epochs": 3, "ae_pretrain_epochs": 2, "batch_size": 32},
               "wnae": {"epochs": 3, "batch_size": 32}},
    "training": {"seed": 3, "device": "cpu"},
    "plots": {"eps_b": [1e-4, 1e-3, 1e-2, 0.1], "challenge_channel": "ch3"},
}


@pytest.fixture(scope="module")
def dm_chain(tmp_path_factory):
    base = tmp_path_factory.mktemp("darkmachines")
    cfg = base / "dm.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    mp = pytest.MonkeyPatch()
    mp.setenv("DATA_PATH", str(base / "data"))
    from tasks.plotting import PlotSignificance

    assert luigi.build([PlotSignificance(version="dm", config=str(cfg))], local_scheduler=True, workers=1,
                       log_level="WARNING")
    yield base / "data"
    mp.undo()


def _one(data, pattern):
    found = sorted(data.glob(pattern))
    assert len(found) == 1, (pattern, found)
    return found[0]


def test_csv_export_reads_back_and_channel_cut_flow_matches_a_hand_count(dm_chain):
    path = _one(dm_chain, "ExportDarkMachines/dm/ttbar__*/chunk0.csv")
    lines = path.read_text().splitlines()
    assert len(lines) == 300 and lines[0].count(";") >= 5
    events, notes = read_input(str(path), "darkmachines")
    assert notes["processes"] == {str(k): "ttbar" for k in notes["processes"]} and len(events) == 300
    jets = events.Jet[(events.Jet.pt > 20) & (abs(events.Jet.eta) < 2.8)]
    ht = ak.to_numpy(ak.sum(jets.pt, axis=1))
    passed = int(np.sum((ht >= 600) & (ak.to_numpy(events.MET.pt) >= 100)))
    flow = json.loads(_one(dm_chain, "SkimEvents/dm/ttbar__*/chunk0_cutflow.json").read_text())
    assert [r["cut"] for r in flow["cutflow"]] == ["all", "ht", "met"]
    assert flow["cutflow"][-1]["events"] == passed > 0


def test_event_level_dataset_has_the_object_layout(dm_chain):
    with h5py.File(_one(dm_chain, "FeatureDataset/dm/*/dataset.h5"), "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f["features"].attrs["names"]]
        x = f["features"][()]
        assert names == event_feature_names({"objects": {"jet": 6, "bjet": 2, "electron": 2, "muon": 2, "photon": 2}})
        assert x.shape[1] == 78 and np.isfinite(x).all()
        # one row per selected event: every row's jet_index is 0, event numbers unique per sample
        assert not f["jet_index"][()].any()
        ht, n_jet = x[:, names.index("ht")], x[:, names.index("n_jet")] + x[:, names.index("n_bjet")]
        assert (ht >= 600 - 1e-3).all() and (n_jet >= 1).all()


def test_challenge_tables_in_the_published_layout(dm_chain):
    report = _one(dm_chain, "PlotSignificance/dm/*/report")
    with open(report / "challenge.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["Signal", "Model", "Chan", "AUC", "1e-2", "1e-3", "1e-4"]
    assert {(r["Signal"], r["Model"], r["Chan"]) for r in rows} == {("svj_s_m2000_r0.3", m, "ch3")
                                                                     for m in ("ae", "nae", "wnae")}
    assert all(0.0 <= float(r["AUC"]) <= 1.0 for r in rows)
    with open(report / "challenge_total_improvement.csv") as f:
        total = list(csv.DictReader(f))
    assert {r["Model"] for r in total} == {"ae", "nae", "wnae"}
    assert list(total[0]) == ["Model", "MinTotalImprovement", "MedianTotalImprovement", "MaxTotalImprovement"]
