"""The `files:` path end to end on files written by CMS software (tests/data/real, from coffea's test samples):
NanoAOD v12 and v15, PFNano as TTree and RNTuple, collision data, and Delphes and Dark Machines csv files
written from those real events, through SkimEvents -> JetTables -> FeatureDataset -> TrainAE -> Infer ->
PlotSignificance, with the configs of the README's "Bringing your own files". Cut flows and normalisation are
checked against counts made here with uproot."""
import json
import shutil
import warnings
from pathlib import Path

import awkward as ak
import h5py
import luigi
import numpy as np
import pytest
import uproot
import yaml

REAL = Path(__file__).parent / "data" / "real"
TINY = {"dataset": {"split": [0.5, 0.25, 0.25], "seed": 1, "scaler": "standard", "jets_per_event": 2},
        "models": {"ae": {"epochs": 2, "batch_size": 16}}, "training": {"seed": 1, "device": "cpu"},
        "plots": {"max_feature_panels": 3, "sculpting_eps_b": [0.5], "injections": [0.01]}}
ONE_FATJET = {"name": "ak8_dijet", "objects": {"FatJet": {"min_pt": 170.0, "max_abs_eta": 2.4}},
              "cuts": [{"name": "one_fatjet", "var": "n_fatjet", "min": 1}]}
# the README's examples: plain NanoAOD (stored jet branches), PFNano (TTree and RNTuple), collision data
STORED = {
    "samples": {
        "tt_v12": {"files": str(REAL / "coffea_nano_tt_v12.root"), "format": "nanoaod", "label": "background",
                   "xsec_pb": 833.9},
        "tt_v15": {"files": str(REAL / "coffea_nano_tt_v15.root"), "format": "nanoaod", "label": "signal",
                   "xsec_pb": 1.0},
        "pf": {"files": str(REAL / "coffea_pfnano.root"), "format": "pfnano", "label": "background", "xsec_pb": 10.0},
        "pf_rntuple": {"files": str(REAL / "coffea_pfnano_rntuple.root"), "format": "pfnano", "label": "signal",
                       "xsec_pb": 1.0},
        "dimuon": {"files": str(REAL / "coffea_nano_dimuon.root"), "label": "data"},
    },
    "selection": ONE_FATJET, "features": "hlf_nano", **TINY,
}


# Delphes and Dark Machines csv files written from real CMS events, collision data and a plain NanoAOD file
# whose FatJets all fail a jet selection: the event-level objects (dm_objects) through to the report
ONE_JET = {"name": "darkmachines_ch3", "cuts": [{"name": "one_jet", "var": "n_jet", "min": 1}]}


def event_level(derived: Path) -> dict:
    return {
        "samples": {
            "csv_tt": {"files": str(derived / "tt_v12.csv"), "format": "darkmachines", "label": "background",
                       "xsec_pb": 833.9},
            "dy": {"files": str(REAL / "coffea_nano_dy.root"), "format": "nanoaod", "label": "background",
                   "xsec_pb": 6077.2},
            "delphes": {"files": str(derived / "pfnano_delphes.root"), "format": "delphes", "label": "signal",
                        "xsec_pb": 1.0},
            "dimuon": {"files": str(REAL / "coffea_nano_dimuon.root"), "label": "data"},
        },
        "selection": ONE_JET, "features": "dm_objects", **TINY,
        # Drell-Yan at NLO has negative weights, which the training cannot draw batches by
        "training": {"seed": 1, "device": "cpu", "weights": "none"},
        # NanoAOD's b tag (README): a working point other than the default, to see the setting reach the skim
        "inputs": {"btag": {"branch": "btagDeepFlavB", "threshold": 0.5}},
    }


def _run(base: Path, name: str, config: dict) -> Path:
    cfg = base / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump(config))
    mp = pytest.MonkeyPatch()
    mp.setenv("DATA_PATH", str(base / "data"))
    from tasks.plotting import PlotSignificance

    try:
        assert luigi.build([PlotSignificance(version=name, config=str(cfg))], local_scheduler=True, workers=1,
                           log_level="WARNING")
    finally:
        mp.undo()
    return base / "data"


def _one(data: Path, pattern: str) -> Path:
    found = sorted(data.glob(pattern))
    assert len(found) == 1, (pattern, found)
    return found[0]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("real_stored"), "stored", STORED)


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    """Delphes and csv inputs written from real events (PFNano's and NanoAOD v12's), then the event-level chain."""
    from analysis.io.darkmachines import write_darkmachines
    from analysis.io.delphes import write_delphes
    from analysis.io.inputs import read_input

    base = tmp_path_factory.mktemp("real_events")
    tt, _ = read_input(str(REAL / "coffea_nano_tt_v12.root"), "nanoaod",
                       ["Jet", "Electron", "Muon", "Photon", "MET", "genWeight", "event"])
    write_darkmachines(str(base / "tt_v12.csv"), tt, "ttbar")
    pf, _ = read_input(str(REAL / "coffea_pfnano.root"), "pfnano",
                       ["FatJet", "Jet", "PFCands", "Electron", "Muon", "Photon", "MET", "genWeight", "event"])
    write_delphes(str(base / "pfnano_delphes.root"), pf)
    return base, _run(base, "events", event_level(base))


def _hand_count(path: Path, min_pt=170.0, max_eta=2.4):
    """Events with >= 1 FatJet above min_pt in |eta| < max_eta, their weight sum and their jets (<= 2 each)."""
    from analysis.io.nanoaod import branch_names

    t = uproot.open(path)["Events"]  # TTree or RNTuple
    names = ["FatJet_pt", "FatJet_eta"] + (["genWeight"] if "genWeight" in branch_names(t) else [])
    a = ak.zip({n: t[n].array() for n in names}, depth_limit=1)
    good = ak.sum((a.FatJet_pt > min_pt) & (abs(a.FatJet_eta) < max_eta), axis=1)
    passed = ak.to_numpy(good >= 1)
    w = ak.to_numpy(a.genWeight) if "genWeight" in a.fields else np.ones(len(a))
    return int(passed.sum()), float(w[passed].sum()), int(np.minimum(ak.to_numpy(good), 2).sum())


def test_every_real_root_file_reaches_the_report(stored):
    data = stored
    summary = json.loads(_one(data, "FeatureDataset/stored/*/summary.json").read_text())
    for sample, spec in STORED["samples"].items():
        flow = json.loads(_one(data, f"SkimEvents/stored/{sample}__*/chunk0_cutflow.json").read_text())
        events, weighted, jets = _hand_count(Path(spec["files"]))
        assert flow["cutflow"][-1]["events"] == events > 0, sample
        assert flow["cutflow"][-1]["weighted"] == pytest.approx(weighted, rel=1e-6), sample
        assert summary[sample]["jets"] + summary[sample]["nonfinite_dropped"] == jets, sample
    report = json.loads(_one(data, "PlotSignificance/stored/*/report/summary.json").read_text())["summary"]["ae"]
    assert set(report) == {"tt_v15", "pf_rntuple"} and 0.0 <= report["tt_v15"]["auc"] <= 1.0  # data: no metric
    assert _one(data, "PlotSignificance/stored/*/report/scores_ae.png").stat().st_size > 0


def test_collision_data_is_scored_and_drawn_with_weight_one(stored):
    from analysis.dataset import load_dataset
    from analysis.sensitivity import test_scores

    data = load_dataset(str(_one(stored, "FeatureDataset/stored/*/dataset.h5")))
    rows = data["sample_id"] == data["sample_names"].index("dimuon")
    assert (data["label"][rows] == 2).all() and (data["weight"][rows] == 1).all()
    with h5py.File(_one(stored, "Infer/stored/ae__*/scores.h5")) as f:
        scores = f["score"][()]
    assert np.isfinite(scores[rows]).all()
    drawn = test_scores(data, {"ae": scores})["ae"]  # what the score-distribution figure draws
    assert "dimuon" in drawn["samples"] and "dimuon" not in drawn["signals"]
    assert len(drawn["background"][0]) == ((data["label"] == 0) & (data["split"] == 2)).sum()


def test_normalisation_from_the_runs_tree_else_the_weights(stored):
    pf = json.loads(_one(stored, "SkimEvents/stored/pf__*/chunk0_cutflow.json").read_text())
    runs = uproot.open(REAL / "coffea_pfnano.root")["Runs"]["genEventSumw"].array(library="np")
    assert pf["sum_genweight_from"] == "Runs.genEventSumw" and pf["sum_genweight"] == pytest.approx(runs.sum())
    v12 = json.loads(_one(stored, "SkimEvents/stored/tt_v12__*/chunk0_cutflow.json").read_text())
    w = uproot.open(REAL / "coffea_nano_tt_v12.root")["Events"]["genWeight"].array(library="np")
    assert v12["sum_genweight_from"] == "genWeight" and v12["sum_genweight"] == pytest.approx(w.astype(float).sum())
    with h5py.File(_one(stored, "FeatureDataset/stored/*/dataset.h5")) as f:
        names = [x.decode() for x in f["sample_id"].attrs["samples"]]
        sid, weight = f["sample_id"][()], f["weight"][()]
    rows = sid == names.index("tt_v12")  # weight = xsec * genWeight / sum of genWeight over the file
    per_jet_genweight = weight[rows] * v12["sum_genweight"] / STORED["samples"]["tt_v12"]["xsec_pb"]
    assert np.isin(np.round(per_jet_genweight, 1), np.round(w.astype(float), 1)).all()


def test_skims_keep_what_downstream_needs_and_read_with_coffea(stored):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    skim = _one(stored, "SkimEvents/stored/tt_v12__*/chunk0.root")
    names = set(uproot.open(skim)["Events"].keys())
    source = set(uproot.open(REAL / "coffea_nano_tt_v12.root")["Events"].keys())
    assert {"run", "luminosityBlock", "event", "genWeight", "FatJet_tau2", "MET_pt"} <= names
    assert not any(n.startswith(("HLT_", "LHEScaleWeight", "GenPart_")) for n in names) and len(names) < len(source) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = NanoEventsFactory.from_root({str(skim): "Events"}, schemaclass=NanoAODSchema, mode="eager").events()
    assert len(ev) == _hand_count(REAL / "coffea_nano_tt_v12.root")[0] and ak.all(ev.FatJet.pt[:, 0] > 170)
    assert uproot.open(skim)["Runs"]["genEventCount"].array(library="np").tolist() == [200]


def test_delphes_csv_and_data_reach_the_event_level_report(events):
    from analysis.io.inputs import read_input

    base, data = events
    config = event_level(base)
    summary = json.loads(_one(data, "FeatureDataset/events/*/summary.json").read_text())
    for sample, spec in config["samples"].items():
        flow = json.loads(_one(data, f"SkimEvents/events/{sample}__*/chunk0_cutflow.json").read_text())
        fmt = spec.get("format", "nanoaod")
        ev, _ = read_input(spec["files"], fmt, ["Jet"], ())
        jets = ev.Jet[(ev.Jet.pt > 20) & (abs(ev.Jet.eta) < 2.8)]  # the challenge's jet definition
        passed = int(ak.sum(ak.num(jets) >= 1))
        assert flow["cutflow"][-1]["events"] == passed == summary[sample]["jets"] + summary[sample]["nonfinite_dropped"]
        skim = _one(data, f"SkimEvents/events/{sample}__*/chunk0.root")
        assert {"run", "luminosityBlock", "event"} <= set(uproot.open(skim)["Events"].keys())  # coffea reads it
    report = json.loads(_one(data, "PlotSignificance/events/*/report/summary.json").read_text())["summary"]["ae"]
    assert set(report) == {"delphes"} and 0.0 <= report["delphes"]["auc"] <= 1.0 + 1e-3
    skim = uproot.open(_one(data, "SkimEvents/events/dy__*/chunk0.root"))["Events"].arrays(["event", "Jet_btag"])
    source = uproot.open(REAL / "coffea_nano_dy.root")["Events"].arrays(["event", "Jet_btagDeepFlavB"])
    kept = np.isin(ak.to_numpy(source.event), ak.to_numpy(skim.event))  # the skim keeps the file's order
    b_jets = ak.to_numpy(ak.sum(source.Jet_btagDeepFlavB[kept] > 0.5, axis=1))
    assert ak.to_numpy(ak.sum(skim.Jet_btag, axis=1)).tolist() == b_jets.tolist() and b_jets.sum() > 0
    dy = json.loads(_one(data, "SkimEvents/events/dy__*/chunk0_cutflow.json").read_text())
    runs = uproot.open(REAL / "coffea_nano_dy.root")["Runs"]["genEventSumw_"].array(library="np")
    assert dy["sum_genweight_from"] == "Runs.genEventSumw" and dy["sum_genweight"] == pytest.approx(runs.sum())


def test_pfnano_tau21_with_puppi_weights_matches_the_files_own():
    """CMSSW's FatJet_tau2/tau1 come from PUPPI-weighted constituents with one-pass minimised kT axes: so do
    the tool's by default for PFNano (inputs.puppi), and turning the weights off moves away from them."""
    from analysis.features.registry import compute_features
    from analysis.io.inputs import read_input
    from analysis.io.nanoaod import jet_constituents

    deviation = {}
    for puppi in (True, False):
        ev, _ = read_input(str(REAL / "coffea_pfnano.root"), "pfnano", ["FatJet", "PFCands"], puppi=puppi)
        jets = ak.flatten(ev.FatJet)
        ours = compute_features(jets, ak.flatten(jet_constituents(ev), axis=1), ["tau21"])["tau21"]
        theirs = ak.to_numpy(jets.tau2 / jets.tau1)
        assert len(ours) == 24 and np.isfinite(theirs).all()
        if puppi:
            assert np.corrcoef(ours, theirs)[0, 1] >= 0.95
        deviation[puppi] = np.median(np.abs(ours - theirs))
    assert deviation[True] < 0.01 < deviation[False]


def test_a_file_truncated_anywhere_is_an_input_error_or_reads_whole(tmp_path):
    """Every truncation point of a small NanoAOD file (a skim of real events): the skim either raises
    InputError naming the file (and with on_bad_file: skip records it as skipped) or, when only bytes
    after the last thing read were cut, gives the complete file's result."""
    from analysis.io.nanoaod import InputError
    from analysis.skim import skim_file, skim_or_skip

    source = tmp_path / "small.root"
    selection = {"objects": ONE_FATJET["objects"], "cuts": ONE_FATJET["cuts"]}
    full = skim_file(str(REAL / "coffea_nano_tt_v12.root"), "nanoaod", selection, str(source), "k", step_size=50)
    reference = skim_file(str(source), "nanoaod", selection, str(tmp_path / "ref.root"), "k", step_size=5)
    assert reference["cutflow"][-1]["events"] == full["cutflow"][-1]["events"] > 0
    data = source.read_bytes()
    cut = tmp_path / "cut.root"
    outcomes = {"error": 0, "whole": 0}
    for size in sorted({*range(0, len(data), max(len(data) // 20, 1)), len(data) - 1, len(data) - 100}):
        cut.write_bytes(data[:size])
        try:
            got = skim_file(str(cut), "nanoaod", selection, str(tmp_path / "out.root"), "k", step_size=5)
        except InputError as e:
            assert str(e).startswith(f"{cut}: ")
            skipped = skim_or_skip(str(cut), "nanoaod", selection, str(tmp_path / "out.root"), "k", "skip", step_size=5)
            assert skipped == {"cutflow": [], "skipped": str(e)}
            outcomes["error"] += 1
        else:
            assert got["cutflow"] == reference["cutflow"], size
            outcomes["whole"] += 1
    assert outcomes["error"] >= 19
