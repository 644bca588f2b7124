"""Every figure is written as a real PNG and PDF; curve thinning keeps the shape; bad input is refused."""
import numpy as np
import pytest

from analysis.metrics import roc_curve
from analysis.plotting.performance import plot_auc_comparison, plot_roc, plot_score_distributions, plot_si
from analysis.plotting.style import thin_curve
from analysis.plotting.training import plot_history
from tests.figures import check_figure

RNG = np.random.default_rng(11)
BKG = (RNG.exponential(1.0, 5000), RNG.uniform(0.5, 1.5, 5000))
SIGS = {"svj_rinv0.3": (RNG.exponential(2.5, 1000), None), "svj_rinv0.6": (RNG.exponential(1.6, 1000), None)}


def _curves():
    out = {}
    for name, (s, w) in SIGS.items():
        eps_b, eps_s, _ = roc_curve(BKG[0], s, BKG[1], w)
        out[name] = (eps_b, eps_s)
    return out


def test_roc_is_written_and_reproducible(tmp_path):
    stem = str(tmp_path / "roc")
    check_figure(plot_roc(_curves(), "Z' 2 TeV", stem), stem)
    first = (tmp_path / "roc.pdf").read_bytes()
    plot_roc(_curves(), "Z' 2 TeV", stem)
    assert (tmp_path / "roc.pdf").read_bytes() == first  # no creation date: same figure, same bytes


def test_si(tmp_path):
    stem = str(tmp_path / "sub" / "si")  # missing folders are created
    check_figure(plot_si(_curves(), "Z' 2 TeV", stem), stem)


def test_score_distributions(tmp_path):
    stem = str(tmp_path / "scores")
    check_figure(plot_score_distributions({"QCD": BKG, **SIGS}, "WNAE", stem, bins=40), stem)
    with pytest.raises(ValueError, match="scores\\['empty'\\]: no entries"):
        plot_score_distributions({"QCD": BKG, "empty": (np.array([]), None)}, "WNAE", stem)


def test_auc_comparison(tmp_path):
    stem = str(tmp_path / "auc")
    aucs = {"ae": {"svj_rinv0.3": 0.71, "svj_rinv0.6": 0.62}, "wnae": {"svj_rinv0.3": 0.83, "svj_tch": float("nan")}}
    check_figure(plot_auc_comparison(aucs, stem), stem)


def test_history_with_missing_and_none(tmp_path):
    n = 12
    history = {"loss": list(np.linspace(1, 0.2, n)), "val_loss": list(np.linspace(1.1, 0.3, n)),
               "e_pos": [None] * 3 + list(np.linspace(0, -1, n - 3)), "e_neg": [None] * 3 + list(np.linspace(0, 1, n - 3)),
               "monitor_auc": [None] * n, "phase": ["ae"] * 3 + ["wnae"] * (n - 3), "best_epoch": 8}
    stem = str(tmp_path / "history")
    check_figure(plot_history(history, "WNAE", stem), stem)
    with pytest.raises(ValueError, match="different lengths"):
        plot_history({"loss": [1.0, 0.5], "val_loss": [1.0], "best_epoch": 0}, "AE", stem)
    with pytest.raises(ValueError, match="best_epoch 5 outside"):
        plot_history({"loss": [1.0, 0.5], "best_epoch": 5}, "AE", stem)
    with pytest.raises(ValueError, match="no per-epoch values"):
        plot_history({"monitor_auc": [None, None], "best_epoch": None}, "AE", stem)


def test_thin_curve_keeps_ends_and_steps():
    eps_b, eps_s, _ = roc_curve(RNG.normal(size=200_000), RNG.normal(1.0, size=50_000))
    x, y = thin_curve(eps_b, eps_s, n_max=500)
    assert x.size <= 1002 and (x[0], y[0], x[-1], y[-1]) == (0.0, 0.0, 1.0, 1.0)
    # every kept point lies on the original curve, and the thinned curve tracks it within a percent
    assert np.isin(x, eps_b).all()
    grid = np.geomspace(1e-3, 1, 50)
    np.testing.assert_allclose(np.interp(grid, x, y), np.interp(grid, eps_b, eps_s), atol=0.01)
