"""ROC, AUC, significance improvement and the summary tables against hand-computed values."""
import json
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from analysis.metrics import auc, roc_curve, significance_improvement, summarize
from analysis.report import write_summary


def test_roc_and_auc_with_ties_unweighted():
    eps_b, eps_s, thr = roc_curve([0.1, 0.4, 0.4], [0.4, 0.8])
    np.testing.assert_allclose(eps_b, [0, 0, 2 / 3, 1])
    np.testing.assert_allclose(eps_s, [0, 0.5, 1, 1])
    np.testing.assert_array_equal(thr, [np.inf, 0.8, 0.4, 0.1])
    # pairs: 0.8 beats all three (3), 0.4 beats 0.1 (1) and ties two 0.4 (2 x 1/2): 5 of 6
    assert auc([0.1, 0.4, 0.4], [0.4, 0.8]) == pytest.approx(5 / 6, abs=1e-15)


def test_roc_and_auc_with_ties_weighted():
    wb, ws = [1.0, 2.0, 3.0], [2.0, 1.0]
    eps_b, eps_s, _ = roc_curve([0.1, 0.4, 0.4], [0.4, 0.8], wb, ws)
    np.testing.assert_allclose(eps_b, [0, 0, 5 / 6, 1])
    np.testing.assert_allclose(eps_s, [0, 1 / 3, 1, 1])
    # 0.8 (w1) beats all 6; 0.4 (w2) beats 0.1 (w1) and ties 0.4 (w5): (6 + 2 + 0.5*10) / 18
    assert auc([0.1, 0.4, 0.4], [0.4, 0.8], wb, ws) == pytest.approx(13 / 18, abs=1e-15)


def test_auc_limits():
    rng = np.random.default_rng(1)
    same = rng.normal(size=1000)
    assert auc(same, same) == pytest.approx(0.5, abs=1e-12)  # every pair tied
    assert abs(auc(rng.normal(size=20000), rng.normal(size=20000)) - 0.5) < 0.015
    assert auc([0.0, 0.1, 0.2], [0.5, 0.9]) == 1.0
    assert auc([0.5, 0.9], [0.0, 0.1, 0.2]) == 0.0


def test_weighted_equals_replicated_and_sklearn():
    rng = np.random.default_rng(7)
    sb, ss = np.round(rng.normal(size=400), 1), np.round(rng.normal(0.7, size=300), 1)  # many ties
    wb, ws = rng.integers(0, 4, sb.size).astype(float), rng.integers(1, 4, ss.size).astype(float)
    rep_b, rep_s = np.repeat(sb, wb.astype(int)), np.repeat(ss, ws.astype(int))
    assert auc(sb, ss, wb, ws) == pytest.approx(auc(rep_b, rep_s), abs=1e-12)
    pts_w = np.unique(np.round(np.stack(roc_curve(sb, ss, wb, ws)[:2], 1), 12), axis=0)
    pts_r = np.unique(np.round(np.stack(roc_curve(rep_b, rep_s)[:2], 1), 12), axis=0)
    np.testing.assert_allclose(pts_w, pts_r)
    si_w = significance_improvement(sb, ss, (0.01, 0.1, 0.5), wb, ws)
    si_r = significance_improvement(rep_b, rep_s, (0.01, 0.1, 0.5))
    for t in si_w:
        assert si_w[t]["eps_s"] == pytest.approx(si_r[t]["eps_s"])
        assert si_w[t]["si"] == pytest.approx(si_r[t]["si"])
    y = np.r_[np.zeros(sb.size), np.ones(ss.size)]
    assert auc(sb, ss, wb, ws) == pytest.approx(roc_auc_score(y, np.r_[sb, ss], sample_weight=np.r_[wb, ws]))


def test_negative_weights_enter_the_sums():
    # a negative-weight duplicate cancels half of its positive partner
    assert auc([0.2, 0.3, 0.3], [0.25], [1.0, 1.0, -0.5]) == pytest.approx(auc([0.2, 0.3], [0.25], [1.0, 0.5]))


def test_significance_improvement_hand_computed():
    bkg, sig = np.arange(10.0), np.array([8.5, 9.5, 3.5, 0.5])
    si = significance_improvement(bkg, sig, (0.01, 0.05, 0.1, 0.5))
    # eps_B = 0.1: loosest cut keeping one background jet is score >= 8.5, passing 2 of 4 signal jets
    r = si[0.1]
    assert (r["eps_b"], r["eps_s"], r["threshold"], r["n_bkg_pass"], r["reachable"]) == (0.1, 0.5, 8.5, 1, True)
    assert r["si"] == pytest.approx(0.5 / math.sqrt(0.1))
    assert r["si_err"] == pytest.approx(math.sqrt(0.25 / 4 / 0.1 + 0.25 * 2.5 * (0.09 / 10) / 0.01))
    assert si[0.5]["eps_b"] == 0.5 and si[0.5]["si"] == pytest.approx(0.5 / math.sqrt(0.5))
    assert si[0.5]["n_bkg_pass"] == 5
    # 10 background jets cannot probe eps_B = 0.01 or 0.05
    for t in (0.01, 0.05):
        assert not si[t]["reachable"] and math.isnan(si[t]["si"]) and math.isnan(si[t]["si_err"])


def test_significance_improvement_weighted():
    si = significance_improvement([1.0, 2.0, 3.0], [2.5, 0.5], (0.5,), [1.0, 1.0, 2.0], [3.0, 1.0])[0.5]
    assert (si["eps_b"], si["eps_s"], si["threshold"]) == (0.5, 0.75, 2.5)
    n_eff_b, n_eff_s = 16 / 6, 16 / 10  # Kish: (sum w)^2 / sum w^2
    var_s, var_b = 0.75 * 0.25 / n_eff_s, 0.25 / n_eff_b
    assert si["si"] == pytest.approx(0.75 / math.sqrt(0.5))
    assert si["si_err"] == pytest.approx(math.sqrt(var_s / 0.5 + 0.25 * si["si"] ** 2 * var_b / 0.25))
    assert si["n_eff_bkg_pass"] == pytest.approx(1.0)


def test_bad_inputs_name_the_field():
    with pytest.raises(ValueError, match="w_bkg.*total weight"):
        auc([0.1, 0.2], [0.3], [1.0, -1.0])
    with pytest.raises(ValueError, match="w_sig.*total weight"):
        auc([0.1, 0.2], [0.3], None, [0.0])
    with pytest.raises(ValueError, match="score_sig.*NaN"):
        roc_curve([0.1], [np.nan, 0.2])
    with pytest.raises(ValueError, match="w_bkg: 1 weights for 2 scores"):
        roc_curve([0.1, 0.2], [0.3], [1.0])
    with pytest.raises(ValueError, match="eps_b_points"):
        significance_improvement([0.1], [0.2], (0.0,))


def _scores():
    rng = np.random.default_rng(3)
    bkg = (rng.exponential(1.0, 2000), rng.uniform(0.5, 1.5, 2000))
    return {m: {"background": bkg,
                "signals": {"svj_rinv0.3": (rng.exponential(k, 500), None),
                            "svj_rinv0.6": (rng.exponential(k / 2, 500), np.ones(500))}}
            for m, k in (("ae", 1.5), ("wnae", 3.0))}


def test_summarize_and_write_summary(tmp_path):
    summary = summarize(_scores(), eps_b_points=(1e-5, 1e-2, 0.1))
    assert {m: sorted(s) for m, s in summary.items()} == {m: ["svj_rinv0.3", "svj_rinv0.6"] for m in ("ae", "wnae")}
    assert summary["wnae"]["svj_rinv0.3"]["auc"] > summary["ae"]["svj_rinv0.3"]["auc"] > 0.5
    assert 0 < summary["ae"]["svj_rinv0.3"]["auc_err"] < 0.05
    assert not summary["ae"]["svj_rinv0.3"]["si"][1e-5]["reachable"]  # n_eff ~ 1900 background jets
    meta = {"config": "tiny", "config_hash": "abc123", "versions": {"numpy": np.__version__}, "date": "2026-11-23"}
    write_summary(summary, meta, str(tmp_path / "s.json"), str(tmp_path / "s.md"))

    def no_nan(token):
        raise AssertionError(f"non-standard JSON constant {token}")

    data = json.loads((tmp_path / "s.json").read_text(), parse_constant=no_nan)
    assert data["meta"]["config_hash"] == "abc123"
    for m in ("ae", "wnae"):
        for s in ("svj_rinv0.3", "svj_rinv0.6"):
            entry = data["summary"][m][s]
            assert entry["auc"] == pytest.approx(summary[m][s]["auc"])
            assert entry["si"]["1e-05"]["si"] is None and entry["si"]["1e-05"]["reachable"] is False
            assert entry["si"]["0.1"]["si"] == pytest.approx(summary[m][s]["si"][0.1]["si"])
    md = (tmp_path / "s.md").read_text()
    assert md.count("| svj_rinv0.3 |") == 2 and "## ae" in md and "## wnae" in md and "abc123" in md
    assert "n/a" in md and f"{summary['ae']['svj_rinv0.6']['auc']:.4f} ± " in md
