"""Event-level features (Dark Machines style) and the challenge's metric tables."""
import math

import awkward as ak
import numpy as np
import pytest

from analysis.challenge import CHALLENGE_EPS_B, challenge_rows, total_improvement
from analysis.event_features import event_feature_names, event_table, validate_event_spec
from analysis.metrics import summarize


def _events() -> ak.Array:
    jets = [[{"pt": 50.0, "eta": 0.0, "phi": 0.1, "mass": 0.0, "btag": 0},
             {"pt": 300.0, "eta": 1.0, "phi": 1.0, "mass": 10.0, "btag": 1},
             {"pt": 80.0, "eta": -1.0, "phi": 2.0, "mass": 5.0, "btag": 0},
             {"pt": 25.0, "eta": 0.2, "phi": 0.0, "mass": 1.0, "btag": 0}],
            []]  # the 25 GeV jet fails the test's 30 GeV object requirement and must appear nowhere
    electrons = [[], [{"pt": 20.0, "eta": 0.5, "phi": -1.0, "mass": 0.000511, "charge": -1}]]
    return ak.Array({
        "Jet": jets, "Electron": electrons,
        "MET": [{"pt": 120.0, "phi": 0.3}, {"pt": 40.0, "phi": -2.0}],
        "genWeight": [1.0, 2.0], "event": [11, 12],
    })


def test_event_table_orders_pads_and_counts():
    spec = {"objects": {"jet": 3, "bjet": 1, "electron": 1, "muon": 1}}
    t = event_table(_events(), {"objects": {"Jet": {"min_pt": 30.0}}}, spec)
    names = event_feature_names(spec)
    x = dict(zip(names, t["features"].T))
    assert t["features"].shape == (2, len(names))
    # light jets pT-ordered (80 before 50), the b-tagged 300 GeV jet in its own slot
    np.testing.assert_allclose(x["jet0_pt"], [80.0, 0.0])
    np.testing.assert_allclose(x["jet1_pt"], [50.0, 0.0])
    np.testing.assert_allclose(x["jet2_present"], [0.0, 0.0])
    np.testing.assert_allclose(x["bjet0_pt"], [300.0, 0.0])
    # energy from pT, eta and mass
    np.testing.assert_allclose(x["bjet0_e"][0], math.sqrt((300 * math.cosh(1.0)) ** 2 + 100.0))
    np.testing.assert_allclose(x["n_jet"], [2, 0])
    np.testing.assert_allclose(x["n_electron"], [0, 1])
    np.testing.assert_allclose(x["n_muon"], [0, 0])  # no Muon collection in the record: empty, not an error
    np.testing.assert_allclose(x["ht"], [430.0, 0.0])
    np.testing.assert_allclose(x["met"], [120.0, 40.0])
    assert list(t["event"]) == [11, 12] and list(t["genweight"]) == [1.0, 2.0]


@pytest.mark.parametrize("spec, key", [({"objects": {"tau": 2}}, "objects.tau"),
                                       ({"objects": {"jet": 0}}, "objects.jet"), ({}, "objects")])
def test_event_spec_errors_name_the_key(spec, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        validate_event_spec(spec)


def test_challenge_rows_and_total_improvement():
    rng = np.random.default_rng(1)
    bkg = rng.normal(0, 1, 200_000)
    strong, weak = rng.normal(3, 1, 20_000), rng.normal(0.5, 1, 20_000)
    eps = (*CHALLENGE_EPS_B, 0.1)
    s1 = summarize({"ae": {"background": (bkg, None), "signals": {"A": (strong, None), "B": (weak, None)}}}, eps)
    s2 = summarize({"ae": {"background": (bkg, None), "signals": {"A": (weak, None)}}}, eps)
    rows = challenge_rows(s1, "ch1") + challenge_rows(s2, "ch3")
    assert [r["Chan"] for r in rows] == ["ch1", "ch1", "ch3"]
    a1 = rows[0]
    assert set(a1) == {"Signal", "Model", "Chan", "AUC", "1e-2", "1e-3", "1e-4"}
    # Gaussian shift 3: eps_S at eps_B = 1e-2 is P(z > 2.326 - 3) = 0.75
    assert a1["1e-2"] == pytest.approx(0.75, abs=0.02)
    assert a1["1e-2"] > a1["1e-3"] > a1["1e-4"] > 0
    ti = total_improvement(rows)
    assert len(ti) == 1
    best = lambda r: max(r[k] / math.sqrt(float(k)) for k in ("1e-2", "1e-3", "1e-4"))  # noqa: E731
    expect_a = math.hypot(best(rows[0]), best(rows[2]))
    assert ti[0]["MaxTotalImprovement"] == pytest.approx(expect_a)
    assert ti[0]["MinTotalImprovement"] == pytest.approx(best(rows[1]))
    with pytest.raises(ValueError, match="plots.eps_b"):
        challenge_rows(summarize({"ae": {"background": (bkg, None), "signals": {"A": (strong, None)}}}, (0.1,)), "ch1")
