"""Training histories (history.json) read as per-epoch arrays, and the check the report makes on them: does the
validation Wasserstein distance, by which an NAE/WNAE keeps its epoch, go down where the AUC goes up (the CMS
WNAE study, arXiv:2510.02168, finds the two anti-correlated over the epochs)?"""
from __future__ import annotations

import numpy as np


def series(history: dict, key: str) -> np.ndarray | None:
    """Per-epoch values as floats, None -> NaN (a gap in a line); None when the key holds no number."""
    values = history.get(key)
    if values is None:
        return None
    y = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return y if np.any(np.isfinite(y)) else None


def pretraining(history: dict, n: int) -> np.ndarray:
    """Mask of the ``n`` epochs of a pre-training phase: those whose phase differs from the last epoch's (the
    phase the epoch is kept from). All False without a ``phase`` list of length ``n``."""
    phase = history.get("phase")
    if not phase or len(phase) != n:
        return np.zeros(n, dtype=bool)
    return np.array([p != phase[-1] for p in phase])


def best_epoch(history: dict, n: int) -> int | None:
    """The kept epoch of a history of ``n`` epochs (None: none kept); ValueError when it lies outside them."""
    best = history.get("best_epoch")
    if best is not None and not 0 <= int(best) < n:
        raise ValueError(f"history: best_epoch {best} outside the {n} recorded epochs")
    return None if best is None else int(best)


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rank correlation of two equal-length series (ties get their mean rank); None with fewer than
    three points or a constant series, where it is undefined."""
    from scipy.stats import spearmanr

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(spearmanr(x, y).statistic)


def w_auc_correlation(history: dict) -> dict | None:
    """How the validation W and the monitor AUC move together over the epochs; None for a history without
    both (an AE has no W; a training without a monitor set has no AUC).

    ``spearman``: rank correlation over every epoch with both values (negative: lower W, higher AUC). With a
    pre-training phase (its epochs have a W too, but are never kept) also ``spearman_after_pretraining`` over
    the epochs the kept one is chosen from. ``auc_at_best``: the monitor AUC of the kept epoch (``best_epoch``),
    against ``max_auc`` at ``epoch_max_auc``, the best of the epochs it could have been chosen from.
    """
    w, auc = series(history, "val_wasserstein"), series(history, "monitor_auc")
    if w is None or auc is None:
        return None
    if len(w) != len(auc):
        raise ValueError(f"history: val_wasserstein has {len(w)} epochs, monitor_auc {len(auc)}")
    both = np.isfinite(w) & np.isfinite(auc)
    out = {"n_epochs": int(both.sum()), "spearman": spearman(w[both], auc[both])}
    pre = pretraining(history, len(w))
    if pre.any():
        kept = both & ~pre
        out.update(n_epochs_after_pretraining=int(kept.sum()),
                   spearman_after_pretraining=spearman(w[kept], auc[kept]))
    best = best_epoch(history, len(w))
    out["best_epoch"] = best
    out["auc_at_best"] = None if best is None or not np.isfinite(auc[best]) else float(auc[best])
    eligible = np.where(pre, np.nan, auc)
    top = int(np.nanargmax(eligible if np.isfinite(eligible).any() else auc))
    out.update(max_auc=float(auc[top]), epoch_max_auc=top)
    return out
