"""The report's check of the epoch selection: the rank correlation of the validation W with the monitor AUC over
the epochs, on a constructed history whose Spearman coefficients are worked out by hand, and its figure."""
import pytest

from analysis.history import w_auc_correlation
from analysis.plotting.training import plot_w_vs_auc, rho_text
from tests.figures import check_figure

# two pre-training epochs (high W, low AUC), then five kept-phase epochs: W ranks 1..5, AUC ranks 4, 3, 5, 1, 2.
# After pre-training: sum d^2 = 9+1+4+9+9 = 32, rho = 1 - 6*32/(5*24) = -0.6. All seven: W ranks 7, 6, 1..5,
# AUC ranks 1, 2, 6, 5, 7, 3, 4: sum d^2 = 36+16+25+9+16+1+1 = 104, rho = 1 - 6*104/(7*48) = -6/7.
HISTORY = {"val_wasserstein": [9.0, 8.0, 1.0, 2.0, 3.0, 4.0, 5.0],
           "val_wasserstein_err": [0.3, 0.3, 0.1, 0.1, 0.1, None, 0.1],
           "monitor_auc": [0.5, 0.55, 0.8, 0.7, 0.9, 0.6, 0.65],
           "phase": ["ae", "ae", "wnae", "wnae", "wnae", "wnae", "wnae"], "best_epoch": 2}


def test_spearman_of_a_constructed_history():
    c = w_auc_correlation(HISTORY)
    assert c["n_epochs"] == 7 and c["spearman"] == pytest.approx(-6 / 7)
    assert c["n_epochs_after_pretraining"] == 5 and c["spearman_after_pretraining"] == pytest.approx(-0.6)
    # the kept epoch's AUC against the best of the epochs it was chosen from (pre-training ones excluded)
    assert (c["best_epoch"], c["auc_at_best"], c["max_auc"], c["epoch_max_auc"]) == (2, 0.8, 0.9, 4)
    assert rho_text(c) == ("Spearman ρ(W, AUC) = -0.86 over 7 epochs\n"
                           "Spearman ρ(W, AUC) = -0.60 over 5 epochs after pre-training")
    # without pre-training there is one coefficient; a missing value drops its epoch: W ranks 6, 1..5 against
    # AUC ranks 1, 5, 4, 6, 2, 3
    plain = {**HISTORY, "phase": ["wnae"] * 7, "monitor_auc": [None, *HISTORY["monitor_auc"][1:]]}
    c = w_auc_correlation(plain)
    assert c["n_epochs"] == 6 and "spearman_after_pretraining" not in c
    assert c["spearman"] == pytest.approx(1 - 6 * (25 + 16 + 4 + 9 + 4 + 4) / (6 * 35))
    # constant W: undefined, not a number
    assert w_auc_correlation({**plain, "val_wasserstein": [2.0] * 7})["spearman"] is None


def test_models_without_w_or_auc_are_skipped(tmp_path):
    ae = {"val_loss": [1.0, 0.9, 0.8], "val_wasserstein": [None] * 3, "monitor_auc": [0.6, 0.7, 0.8], "best_epoch": 2}
    no_monitor = {**HISTORY, "monitor_auc": [None] * 7}
    assert w_auc_correlation(ae) is None and w_auc_correlation(no_monitor) is None
    with pytest.raises(ValueError, match="both val_wasserstein and monitor_auc"):
        plot_w_vs_auc(ae, "AE", "test split", str(tmp_path / "ae"))


def test_w_vs_auc_figure(tmp_path):
    stem = str(tmp_path / "w_vs_auc")
    check_figure(plot_w_vs_auc(HISTORY, "WNAE", r"test split, $r_\mathrm{inv}$ = 0.3, cross-section weighted", stem),
                 stem)
    no_err = {k: v for k, v in HISTORY.items() if k not in ("val_wasserstein_err", "phase")}  # older histories
    check_figure(plot_w_vs_auc(no_err, "NAE", "test split", stem), stem)
    with pytest.raises(ValueError, match="best_epoch 9 outside"):
        plot_w_vs_auc({**HISTORY, "best_epoch": 9}, "WNAE", "test split", stem)
