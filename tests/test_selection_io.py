"""Event record io (write -> read round trip, constituents per jet) and the configured selection."""
import awkward as ak
import numpy as np
import pytest

from analysis.io.nanoaod import InputError, jet_constituents, read_events, write_events
from analysis.selection.cuts import apply_selection
from analysis.selection.variables import VARIABLES


def toy_events():
    fj = ak.Array([
        [{"pt": 400.0, "eta": 0.1, "phi": 0.0, "mass": 50.0}, {"pt": 300.0, "eta": 0.5, "phi": 3.0, "mass": 20.0}],
        [{"pt": 500.0, "eta": 0.0, "phi": 1.0, "mass": 80.0}],
        [{"pt": 250.0, "eta": -1.0, "phi": 0.0, "mass": 30.0}, {"pt": 210.0, "eta": 1.0, "phi": 2.0, "mass": 10.0}],
        [{"pt": 800.0, "eta": 2.0, "phi": 0.0, "mass": 90.0}, {"pt": 220.0, "eta": 0.2, "phi": -2.5, "mass": 10.0},
         {"pt": 205.0, "eta": 0.0, "phi": 1.5, "mass": 10.0}],
    ])
    # candidates deliberately NOT grouped by jet in event 0
    pf = ak.Array([
        [{"pt": 100.0, "eta": 0.5, "phi": 3.0, "mass": 0.0, "charge": 1, "pdgId": 211, "fatJetIdx": 1},
         {"pt": 200.0, "eta": 0.1, "phi": 0.0, "mass": 0.0, "charge": 0, "pdgId": 22, "fatJetIdx": 0},
         {"pt": 150.0, "eta": 0.2, "phi": 0.1, "mass": 0.0, "charge": -1, "pdgId": -211, "fatJetIdx": 0}],
        [{"pt": 500.0, "eta": 0.0, "phi": 1.0, "mass": 0.0, "charge": 0, "pdgId": 130, "fatJetIdx": 0}],
        [],
        [{"pt": 50.0, "eta": 0.2, "phi": -2.5, "mass": 0.0, "charge": 0, "pdgId": 22, "fatJetIdx": 1},
         {"pt": 10.0, "eta": 0.0, "phi": 0.0, "mass": 0.0, "charge": 0, "pdgId": 22, "fatJetIdx": -1}],
    ])
    met = ak.zip({"pt": np.array([100.0, 300.0, 50.0, 250.0]), "phi": np.array([0.0, 1.0, 2.0, 3.0])})
    return ak.Array({"FatJet": fj, "PFCands": pf, "MET": met,
                     "genWeight": np.array([1.0, 2.0, 0.5, 1.5]), "event": np.arange(4, dtype=np.uint64)})


def test_round_trip(tmp_path):
    ev = toy_events()
    path = str(tmp_path / "ev.root")
    write_events(path, ev)
    back = read_events(path)
    assert ak.to_list(back.FatJet.pt) == ak.to_list(ev.FatJet.pt)
    assert ak.to_list(back.MET.pt) == ak.to_list(ev.MET.pt)
    assert ak.to_list(back.PFCands.fatJetIdx) == ak.to_list(ev.PFCands.fatJetIdx)


def test_constituents_grouped_per_jet():
    cons = jet_constituents(toy_events())
    assert ak.to_list(ak.num(cons, axis=2)) == [[2, 1], [1], [0, 0], [0, 1, 0]]
    assert ak.to_list(cons[0][0].pt) == [200.0, 150.0]  # input order kept within a jet
    assert ak.to_list(cons[3][1].pt) == [50.0]          # index -1 dropped


def test_cutflow_matches_hand_count():
    ev = toy_events()
    sel = {"objects": {"FatJet": {"min_pt": 200.0, "max_abs_eta": 2.4}},
           "cuts": [{"name": "two", "var": "n_fatjet", "min": 2},
                    {"name": "deta", "var": "abs_deta_jj", "max": 1.5},
                    {"name": "met", "var": "met", "min": 80.0}]}
    mask, flow = apply_selection(ev, sel, ev.genWeight)
    # event 3: its leading jet (|eta|=2.0) passes, so the pair is (800, 220): deta 1.8 fails
    # event 2: deta 2.0 fails; event 1: one jet; event 0: passes (deta 0.4, MET 100)
    assert [r["events"] for r in flow] == [4, 3, 1, 1]
    assert [r["weighted"] for r in flow] == [5.0, 3.0, 1.0, 1.0]
    assert mask.tolist() == [True, False, False, False]
    counts = [r["events"] for r in flow]
    assert all(a >= b for a, b in zip(counts, counts[1:]))


def test_transverse_mass_of_back_to_back_pair():
    ev = ak.Array({"FatJet": [[{"pt": 1000.0, "eta": 0.0, "phi": 0.0, "mass": 0.0},
                               {"pt": 1000.0, "eta": 0.0, "phi": np.pi, "mass": 0.0}]],
                   "MET": ak.zip({"pt": np.array([0.0]), "phi": np.array([0.0])})})
    assert VARIABLES["mjj"](ev)[0] == pytest.approx(2000.0)
    assert VARIABLES["mt"](ev)[0] == pytest.approx(2000.0)


def test_unknown_variable_named():
    with pytest.raises(ValueError, match="selection.cuts.0.var' = 'nope'"):
        apply_selection(toy_events(), {"cuts": [{"name": "x", "var": "nope", "min": 1}]})


def test_bad_files_named(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_events(str(tmp_path / "missing.root"))
    bad = tmp_path / "garbage.root"
    bad.write_bytes(b"not a root file at all" * 10)
    with pytest.raises(InputError, match="garbage.root"):
        read_events(str(bad))
    path = str(tmp_path / "ev.root")
    write_events(path, toy_events())
    with pytest.raises(InputError, match="no branches for Electron"):
        read_events(path, ["FatJet", "Electron"])


def test_written_files_are_byte_reproducible(tmp_path):
    import hashlib
    ev = toy_events()
    a, b, c = (str(tmp_path / f"{x}.root") for x in "abc")
    write_events(a, ev)
    write_events(b, ev)
    write_events(c, ev[:3])
    md5 = lambda p: hashlib.md5(open(p, "rb").read()).hexdigest()  # noqa: E731
    assert md5(a) == md5(b) != md5(c)
    assert ak.to_list(read_events(a).FatJet.pt) == ak.to_list(ev.FatJet.pt)


def jets_leptons_toy():
    """Three events: AK4 jets (one b-tagged), electrons, no muon collection at all."""
    jet = lambda pts, btag=(): [{"pt": p, "eta": 0.5, "phi": 0.0, "mass": 5.0, "btag": int(i in btag)}  # noqa: E731
                                for i, p in enumerate(pts)]
    ele = lambda pts: [{"pt": p, "eta": 0.1, "phi": 1.0, "mass": 0.0, "charge": -1} for p in pts]  # noqa: E731
    return ak.Array({
        "Jet": [jet([250.0, 150.0, 120.0, 90.0], btag=(1,)), jet([300.0, 200.0, 60.0, 45.0]), jet([40.0])],
        "Electron": [ele([]), ele([30.0, 12.0]), ele([20.0, 16.0, 25.0])],
        "MET": ak.zip({"pt": np.array([250.0, 200.0, 60.0]), "phi": np.zeros(3)}),
        "genWeight": np.array([1.0, 2.0, 4.0]),
    })


def test_object_counts_thresholds_and_absent_collections():
    ev = jets_leptons_toy()
    assert VARIABLES["n_jet"](ev).tolist() == [4, 4, 1]
    assert VARIABLES["n_bjet"](ev).tolist() == [1, 0, 0]
    assert VARIABLES["n_muon"](ev).tolist() == [0, 0, 0]  # no Muon collection: none
    assert VARIABLES["n_lepton"](ev).tolist() == [0, 2, 3]
    assert VARIABLES["ht"](ev).tolist() == [610.0, 605.0, 40.0]
    assert VARIABLES["met_over_ht"](ev) == pytest.approx([250 / 610, 200 / 605, 60 / 40])
    sel = {"cuts": [{"name": "jets50", "var": "n_jet", "pt_above": 100.0, "min": 3},
                    {"name": "veto", "var": "n_lepton", "max": 0}]}
    mask, flow = apply_selection(ev, sel, ev.genWeight)
    assert [r["events"] for r in flow] == [3, 1, 1] and mask.tolist() == [True, False, False]
    # the object selection drops leptons below 15 GeV before counting; an absent Muon is no error
    sel = {"objects": {"Electron": {"min_pt": 15.0}, "Muon": {"min_pt": 15.0}},
           "cuts": [{"name": "two_leptons", "var": "n_lepton", "min": 2}]}
    assert apply_selection(ev, sel)[1][-1]["events"] == 1


def test_darkmachines_ch1_on_toy_events():
    import yaml
    from analysis.config import CONFIG_DIR
    ch1 = yaml.safe_load((CONFIG_DIR / "selections.yaml").read_text())["darkmachines_ch1"]
    ev = jets_leptons_toy()
    mask, flow = apply_selection(ev, ch1, ev.genWeight)
    # HT >= 600: events 0, 1; MET >= 200: both; MET/HT >= 0.2: 250/610 and 200/605 pass;
    # >= 4 jets above 50 GeV: event 0 (250, 150, 120, 90), not event 1 (45 GeV); one above 200: event 0
    assert [(r["cut"], r["events"], r["weighted"]) for r in flow] == [
        ("all", 3, 7.0), ("ht", 2, 3.0), ("met", 2, 3.0), ("met_over_ht", 2, 3.0),
        ("four_jets_pt50", 1, 1.0), ("one_jet_pt200", 1, 1.0)]
    assert mask.tolist() == [True, False, False]


def test_pt_above_only_for_counts():
    with pytest.raises(ValueError, match="'pt_above' only applies to object counts"):
        apply_selection(toy_events(), {"cuts": [{"name": "x", "var": "met", "pt_above": 5, "min": 1}]})
