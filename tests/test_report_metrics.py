"""Sensitivity-report metrics (S/B along the cut, Jensen-Shannon divergence, mass sculpting) and their figures."""
import math
import os

import numpy as np
import pytest

from analysis.metrics import jensen_shannon, mass_sculpting, sb_vs_cut
from analysis.plotting.performance import plot_auc_grid, plot_sb_vs_cut
from analysis.plotting.sculpting import plot_mass_sculpting
from tests.figures import check_figure

# 4 background and 3 signal jets; every number below is worked out by hand in the comments
SB, SS = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.5, 3.5, 5.0])


def test_sb_vs_cut_injection_by_hand():
    # unit weights: n_eff_bkg = 4, targets 1, 0.5, 0.25 -> cuts score >= 1, 3, 4
    r = sb_vs_cut(SB, SS, np.ones(4), np.array([1.0, 1.0, 2.0]), injection=0.01, n_points=3)
    np.testing.assert_allclose(r["eps_b_target"], [1.0, 0.5, 0.25])
    np.testing.assert_allclose(r["threshold"], [1.0, 3.0, 4.0])
    np.testing.assert_allclose(r["eps_b"], [1.0, 0.5, 0.25])
    np.testing.assert_allclose(r["eps_s"], [1.0, 0.75, 0.5])  # signal weight passing 4, 3, 2 of 4
    np.testing.assert_allclose(r["B"], [4.0, 2.0, 1.0])
    np.testing.assert_allclose(r["S"], [0.04, 0.03, 0.02])  # 0.01 x total background 4 x eps_s
    np.testing.assert_allclose(r["s_over_b"], [0.01, 0.015, 0.02])
    np.testing.assert_allclose(r["s_over_sqrt_b"], [0.02, 0.03 / math.sqrt(2), 0.02])


def test_sb_vs_cut_lumi_by_hand():
    # weights in pb: n_eff_bkg = 4^2 / 5.5, so targets 1, 0.586, 0.344; the tightest cut reaching each
    # keeps background weight 4 (>= 1), 3 (>= 3, eps_b 0.75) and 2 (>= 4, eps_b 0.5)
    r = sb_vs_cut(SB, SS, np.array([0.5, 0.5, 1.0, 2.0]), np.array([0.1, 0.2, 0.3]), lumi_fb=2.0, n_points=3)
    np.testing.assert_allclose(r["eps_b_target"][[0, 2]], [1.0, 5.5 / 16])
    np.testing.assert_allclose(r["threshold"], [1.0, 3.0, 4.0])
    np.testing.assert_allclose(r["eps_b"], [1.0, 0.75, 0.5])
    np.testing.assert_allclose(r["B"], [8000.0, 6000.0, 4000.0])  # 1000 /pb/fb x 2 /fb x pb passing
    np.testing.assert_allclose(r["S"], [1200.0, 1000.0, 600.0])  # signal pb passing 0.6, 0.5, 0.3
    np.testing.assert_allclose(r["eps_s"], [1.0, 0.5 / 0.6, 0.5])
    np.testing.assert_allclose(r["s_over_b"], [0.15, 1 / 6, 0.15])
    np.testing.assert_allclose(r["s_over_sqrt_b"], [1200 / math.sqrt(8000), 1000 / math.sqrt(6000), 600 / math.sqrt(4000)])


def test_sb_vs_cut_scan_and_bad_input():
    rng = np.random.default_rng(5)
    sb, ss = rng.normal(size=5000), rng.normal(1.0, 1.0, 1000)
    wb = rng.uniform(0.5, 1.5, 5000)
    r = sb_vs_cut(sb, ss, wb, None, injection=0.025)
    assert all(r[k].shape == (50,) for k in ("eps_b", "eps_s", "threshold", "S", "B", "s_over_b", "s_over_sqrt_b"))
    n_eff = wb.sum() ** 2 / np.square(wb).sum()
    assert r["eps_b_target"][0] == 1.0 and r["eps_b_target"][-1] == pytest.approx(1 / n_eff)
    assert np.all(r["eps_b"] >= r["eps_b_target"] * (1 - 1e-12))  # the tightest cut reaching each target
    assert np.all(np.diff(r["threshold"]) >= 0) and np.all(r["B"] > 0)
    assert r["s_over_b"][0] == pytest.approx(0.025) and r["s_over_b"][-1] > 0.025 * 3  # the cut enriches signal
    for kwargs in ({}, {"injection": 0.01, "lumi_fb": 1.0}, {"injection": -1.0}, {"lumi_fb": float("nan")}):
        with pytest.raises(ValueError):
            sb_vs_cut(sb, ss, wb, None, **kwargs)
    with pytest.raises(ValueError, match="n_points"):
        sb_vs_cut(sb, ss, wb, None, lumi_fb=1.0, n_points=1)


def test_jensen_shannon_identities():
    p, q = np.array([1.0, 4.0, 0.0, 5.0]), np.array([3.0, 0.0, 2.0, 1.0])
    assert jensen_shannon(p, 7 * p) == pytest.approx(0.0, abs=1e-12)  # same shape, any normalisation
    assert jensen_shannon([2.0, 3.0, 0.0, 0.0], [0.0, 0.0, 1.0, 9.0]) == pytest.approx(1.0)  # disjoint
    assert jensen_shannon(p, q) == pytest.approx(jensen_shannon(q, p))
    assert 0 < jensen_shannon(p, q) < 1
    # [1, 0] against [1/2, 1/2]: 0.5 log2(4/3) + 0.25 log2(2/3) + 0.25 log2(2) by hand
    assert jensen_shannon([1.0, 0.0], [1.0, 1.0]) == pytest.approx(0.5 * math.log2(4 / 3) + 0.25 * math.log2(2 / 3) + 0.25)
    for bad in (([1.0, 2.0], [1.0]), ([1.0, -1.0], [1.0, 1.0]), ([0.0, 0.0], [1.0, 1.0]), ([np.nan, 1.0], [1.0, 1.0])):
        with pytest.raises(ValueError):
            jensen_shannon(*bad)


N = 20000
RNG = np.random.default_rng(17)
MASS = RNG.exponential(100.0, N) + 50.0
W = RNG.uniform(0.5, 1.5, N)


def test_sculpting_independent_score_is_flat():
    # with 20k jets: 10k and 2k pass; the statistical JSD of 40 bins is ~0.0003 and ~0.004 there
    r = mass_sculpting(RNG.normal(size=N), MASS, W, eps_b_points=(0.5, 0.1))
    assert set(r["cuts"]) == {0.5, 0.1} and r["edges"].size == 41 and r["uncut"].sum() == pytest.approx(W.sum())
    for eps, cut in r["cuts"].items():
        assert cut["eps_b"] == pytest.approx(eps, rel=1e-3)
        assert cut["hist"].sum() == pytest.approx(cut["eps_b"] * W.sum())  # overflow kept in the edge bins
        assert cut["jsd"] < 0.02


def test_sculpting_score_equal_to_mass_sculpts():
    r = mass_sculpting(MASS, MASS, W, bins=30)
    jsd = [r["cuts"][e]["jsd"] for e in (0.5, 0.1, 0.01)]
    assert r["edges"].size == 31
    assert jsd[1] > 0.3 and jsd[2] > 0.3 and jsd[0] < jsd[1] < jsd[2] <= 1
    explicit = mass_sculpting(MASS, MASS, W, eps_b_points=(0.1,), bins=np.linspace(0, 1000, 11))
    np.testing.assert_array_equal(explicit["edges"], np.linspace(0, 1000, 11))
    with pytest.raises(ValueError):
        mass_sculpting(MASS, MASS[:-1], W)
    with pytest.raises(ValueError):
        mass_sculpting(MASS, MASS, W, eps_b_points=(0.0,))


def test_plot_mass_sculpting(tmp_path):
    stem = str(tmp_path / "sculpting")
    r = mass_sculpting(MASS, MASS, W)
    check_figure(plot_mass_sculpting(r, "AE, QCD + ttbar", r"$m_{\mathrm{SD}}$ [GeV]", stem), stem)


def test_plot_sb_vs_cut(tmp_path):
    rng = np.random.default_rng(2)
    sb, wb = rng.normal(size=5000), rng.uniform(0.5, 1.5, 5000)
    curves = {f"injection {inj:g}": sb_vs_cut(sb, rng.normal(1.0, 1.0, 500), wb, None, injection=inj)
              for inj in (0.005, 0.01, 0.025)}
    stem = str(tmp_path / "sub" / "sb")
    check_figure(plot_sb_vs_cut(curves, "WNAE", stem), stem)


def test_plot_auc_grid(tmp_path):
    aucs = {(2000, 0.3): 0.851, (3000, 0.3): 0.950, (2000, 0.6): 0.726, (3000, 0.6): float("nan"), (4000, 0.3): 0.97}
    stem = str(tmp_path / "auc_grid")
    check_figure(plot_auc_grid(aucs, "WNAE", stem), stem)
    with pytest.raises(ValueError):
        plot_auc_grid({}, "WNAE", stem)


def test_auc_grids_one_per_signal_model(tmp_path):
    from analysis.sensitivity import _auc_grids

    names = ["qcd", "s_a", "s_b", "t_a"]
    sid = np.repeat(np.arange(4), 3)
    data = {"sample_names": names, "sample_processes": ["qcd", "svj_schannel", "svj_schannel", "svj_tchannel"],
            "sample_id": sid, "label": (sid > 0).astype(np.int8),
            "signal_mmed": np.array([-1, 2000, 3000, 2000], np.float32)[sid],
            "signal_rinv": np.array([-1, 0.3, 0.3, 0.3], np.float32)[sid]}
    summary = {m: {s: {"auc": 0.7} for s in names[1:]} for m in ("ae", "wnae")}
    files = _auc_grids(data, summary, {}, {"ae": "AE", "wnae": "WNAE"}, lambda n: str(tmp_path / n))
    # the t-channel model has one point: no grid; the s-channel one gets a grid per model
    assert sorted(os.path.basename(f) for f in files if f.endswith(".png")) == [
        "auc_grid_svj_schannel_ae.png", "auc_grid_svj_schannel_wnae.png"]
    # two signals at the same (m_med, r_inv) but another m_dark are two grids, not one overwriting the other
    samples = {"s_a": {"params": {"m_dark": 10}}, "s_b": {"params": {"m_dark": 20}}}
    files = _auc_grids(data, summary, samples, {"ae": "AE", "wnae": "WNAE"}, lambda n: str(tmp_path / n))
    assert not any(f.endswith(".png") for f in files)  # now one point per grid
    # the default catalogue's signals carry every parameter: one grid, its title naming the shared ones
    same = {"m_dark": 20, "n_c": 2, "n_f": 2}
    files = _auc_grids(data, summary, {"s_a": {"params": same}, "s_b": {"params": same}},
                       {"ae": "AE", "wnae": "WNAE"}, lambda n: str(tmp_path / n))
    assert sorted(os.path.basename(f) for f in files if f.endswith(".png")) == [
        "auc_grid_svj_schannel_m_dark20_n_c2_n_f2_ae.png", "auc_grid_svj_schannel_m_dark20_n_c2_n_f2_wnae.png"]
    from analysis.plotting.labels import OTHER_PARAMS
    assert OTHER_PARAMS["m_dark"].format(20.0) == r"$m_\mathrm{dark}$ = 20 GeV"
