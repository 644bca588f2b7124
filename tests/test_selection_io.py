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
    with pytest.raises(ValueError, match="unknown variable 'nope'"):
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
