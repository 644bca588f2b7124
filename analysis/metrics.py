"""Weighted ROC, AUC and significance improvement for anomaly scores (higher score = more anomalous).

Every metric is a weighted fraction: eps = (sum of weights with score >= threshold) / (sum of all weights),
so cross-section weights make the background the physical mixture of its processes. Negative (NLO)
weights enter the sums as they are; the efficiencies are then not guaranteed to be monotone in the
threshold, and the binomial uncertainties (Kish effective sample size) are only approximate.
Scores are sorted once and everything else follows from cumulative sums, so a million jets cost one sort.
"""
from __future__ import annotations

import math

import numpy as np

EPS_B_POINTS = (1e-4, 1e-3, 1e-2, 0.1, 0.5)


def _scores_weights(score: np.ndarray, weight: np.ndarray | None, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 copies; unit weights when none are given."""
    s = np.asarray(score, dtype=np.float64).ravel()
    if s.size == 0:
        raise ValueError(f"score_{name}: no entries")
    bad = int(np.count_nonzero(~np.isfinite(s)))
    if bad:
        raise ValueError(f"score_{name}: {bad} of {s.size} scores are NaN or infinite")
    if weight is None:
        w = np.ones_like(s)
    else:
        w = np.asarray(weight, dtype=np.float64).ravel()
        if w.shape != s.shape:
            raise ValueError(f"w_{name}: {w.size} weights for {s.size} scores")
        if not np.all(np.isfinite(w)):
            raise ValueError(f"w_{name}: weights must be finite")
    total = w.sum()
    if not total > 0:
        raise ValueError(f"w_{name}: total weight is {total:g}; efficiencies need a positive total")
    return s, w


def n_eff(w: np.ndarray) -> float:
    """Kish effective sample size (sum w)^2 / sum w^2: the unit-weight count with the same relative error
    (0 for no entries)."""
    w2 = float(np.square(w).sum())
    return float(w.sum()) ** 2 / w2 if w2 > 0 else 0.0


def _cumulative(score_bkg, score_sig, w_bkg, w_sig) -> dict[str, np.ndarray]:
    """Cumulative background/signal sums at every distinct score, scanning from the highest score down.

    Row 0 is the threshold +inf (nothing passes); row k > 0 is the k-th highest distinct score of the
    union of both samples, with everything scoring >= it counted, so tied scores form one step.
    """
    sb, wb = _scores_weights(score_bkg, w_bkg, "bkg")
    ss, ws = _scores_weights(score_sig, w_sig, "sig")
    s = np.concatenate([sb, ss])
    is_b = np.concatenate([np.ones(sb.size), np.zeros(ss.size)])
    w = np.concatenate([wb, ws])
    order = np.argsort(-s, kind="stable")
    s, is_b, w = s[order], is_b[order], w[order]
    last = np.append(s[1:] != s[:-1], True)  # last entry of each group of tied scores

    def run(x: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(x)[last]])

    return {
        "threshold": np.concatenate([[np.inf], s[last]]),
        "w_b": run(w * is_b), "w2_b": run(np.square(w) * is_b), "n_b": run(is_b),
        "w_s": run(w * (1 - is_b)),
        "n_eff_b": np.array(n_eff(wb)), "n_eff_s": np.array(n_eff(ws)),
    }


def _efficiencies(c: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(eps_b, eps_s) from the cumulative sums; dividing by the last cumulative sum ends them exactly at 1."""
    return c["w_b"] / c["w_b"][-1], c["w_s"] / c["w_s"][-1]


def _auc(c: dict[str, np.ndarray]) -> float:
    eps_b, eps_s = _efficiencies(c)
    return float(np.trapezoid(eps_s, eps_b))


def _si(c: dict[str, np.ndarray], eps_b_points: tuple[float, ...]) -> dict[float, dict]:
    targets = np.asarray([float(e) for e in eps_b_points], dtype=np.float64)
    if targets.size == 0 or not np.all((targets > 0) & (targets <= 1)):
        raise ValueError(f"eps_b_points: need values in (0, 1], got {list(eps_b_points)}")
    eps_b, eps_s = _efficiencies(c)
    n_eff_b, n_eff_s = float(c["n_eff_b"]), float(c["n_eff_s"])
    # last (loosest) point not above each target; row 0 (eps_b = 0) always qualifies
    ok = eps_b[:, None] <= targets[None, :] * (1 + 1e-12)
    idx = eps_b.size - 1 - np.argmax(ok[::-1], axis=0)
    eb, es = eps_b[idx], eps_s[idx]
    reachable = (targets * n_eff_b >= 1) & (c["w_b"][idx] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        si = np.where(reachable, es / np.sqrt(eb), np.nan)
        var_s = np.clip(es * (1 - es), 0, None) / n_eff_s
        var_b = np.clip(eb * (1 - eb), 0, None) / n_eff_b
        si_err = np.where(reachable, np.sqrt(var_s / eb + 0.25 * si**2 * var_b / eb**2), np.nan)
        n_eff_pass = np.where(c["w2_b"][idx] > 0, c["w_b"][idx] ** 2 / c["w2_b"][idx], 0.0)
    return {
        float(t): {
            "eps_b_target": float(t), "eps_b": float(eb[k]), "eps_s": float(es[k]),
            "si": float(si[k]), "si_err": float(si_err[k]), "threshold": float(c["threshold"][idx[k]]),
            "n_bkg_pass": int(round(c["n_b"][idx[k]])), "n_eff_bkg_pass": float(n_eff_pass[k]),
            "reachable": bool(reachable[k]),
        }
        for k, t in enumerate(targets)
    }


def roc_curve(score_bkg: np.ndarray, score_sig: np.ndarray, w_bkg: np.ndarray | None = None,
              w_sig: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(eps_b, eps_s, thresholds): weighted fractions with score >= threshold at every distinct score.

    Starts at (0, 0) (threshold +inf) and ends exactly at (1, 1) (the lowest score); thresholds decrease.
    """
    c = _cumulative(score_bkg, score_sig, w_bkg, w_sig)
    return (*_efficiencies(c), c["threshold"])


def auc(score_bkg: np.ndarray, score_sig: np.ndarray, w_bkg: np.ndarray | None = None,
        w_sig: np.ndarray | None = None) -> float:
    """Area under the ROC curve, weighted: P(s_sig > s_bkg) + 0.5 P(s_sig == s_bkg).

    The trapezoid over a ROC whose tied scores form one diagonal step gives exactly the half-credit for ties.
    """
    return _auc(_cumulative(score_bkg, score_sig, w_bkg, w_sig))


def auc_uncertainty(auc_value: float, n_eff_bkg: float, n_eff_sig: float) -> float:
    """Statistical uncertainty of an AUC, Hanley & McNeil (Radiology 143 (1982) 29), with effective sizes.

    An approximation (exact for exponential score distributions), good enough to tell whether two
    models differ by more than the test sample's fluctuations.
    """
    a = auc_value
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_eff_sig - 1) * (q1 - a * a) + (n_eff_bkg - 1) * (q2 - a * a)) / (n_eff_sig * n_eff_bkg)
    return math.sqrt(max(var, 0.0))


def significance_improvement(score_bkg: np.ndarray, score_sig: np.ndarray,
                             eps_b_points: tuple[float, ...] = EPS_B_POINTS, w_bkg: np.ndarray | None = None,
                             w_sig: np.ndarray | None = None) -> dict[float, dict]:
    """Significance improvement eps_s / sqrt(eps_b) at fixed background efficiencies.

    For each target eps_B the loosest cut whose background efficiency does not exceed the target is used
    (the achieved eps_b is reported). Returns {target: {"eps_b_target", "eps_b", "eps_s", "si", "si_err",
    "threshold", "n_bkg_pass", "n_eff_bkg_pass", "reachable"}}; the cut is score >= threshold. si_err
    propagates binomial errors on eps_s and eps_b with Kish effective sizes (it vanishes, like every
    binomial error, when no signal passes: read si = 0 there as an upper limit of order 1/n_eff_sig). A target is unreachable
    (si = si_err = nan) when the background sample has fewer than one effective event there:
    eps_B * n_eff_bkg < 1, or no background passes the chosen cut.
    """
    return _si(_cumulative(score_bkg, score_sig, w_bkg, w_sig), eps_b_points)


def summarize(scores: dict, eps_b_points: tuple[float, ...] = EPS_B_POINTS) -> dict:
    """{model: {signal: {"auc", "auc_err", "n_eff_bkg", "n_eff_sig", "si": significance_improvement(...)}}}.

    ``scores`` = {model: {"background": (score, weight), "signals": {signal: (score, weight)}}};
    weights may be None. Each signal is compared with the model's whole (weighted) background.
    """
    out: dict = {}
    for model, entry in scores.items():
        if "background" not in entry or "signals" not in entry:
            raise ValueError(f"scores[{model!r}]: need keys 'background' and 'signals', got {sorted(entry)}")
        if not entry["signals"]:
            raise ValueError(f"scores[{model!r}]['signals']: no signal samples")
        sb, wb = entry["background"]
        out[model] = {}
        for signal, (ss, ws) in entry["signals"].items():
            try:
                c = _cumulative(sb, ss, wb, ws)
                si = _si(c, eps_b_points)
            except ValueError as err:
                raise ValueError(f"model {model!r}, signal {signal!r}: {err}") from err
            a, n_b, n_s = _auc(c), float(c["n_eff_b"]), float(c["n_eff_s"])
            out[model][signal] = {"auc": a, "auc_err": auc_uncertainty(a, n_b, n_s),
                                  "n_eff_bkg": n_b, "n_eff_sig": n_s, "si": si}
    return out


# --- sensitivity-report metrics: S/B along the cut, Jensen-Shannon divergence, mass sculpting ---------------

def _quantile_cuts(score: np.ndarray, weight: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(threshold, eps, sum of weights passing): for each target the tightest cut score >= threshold whose
    weighted efficiency reaches the target, i.e. the weighted (1 - target) quantile of the scores.

    Thresholds are scores of the sample itself, tied scores pass or fail together, so the achieved
    efficiency is >= the target (equal up to the granularity of the sample). With negative weights the
    efficiency is not monotone; the first cut (scanning down from the highest score) whose efficiency
    reaches the target is taken.
    """
    order = np.argsort(-score, kind="stable")
    s = score[order]
    last = np.append(s[1:] != s[:-1], True)  # last entry of each group of tied scores
    cum = np.cumsum(weight[order])[last]
    eps = cum / cum[-1]
    reach = np.maximum.accumulate(eps)  # monotone: searchsorted finds the first cut reaching each target
    idx = np.minimum(np.searchsorted(reach, targets * (1 - 1e-12), side="left"), eps.size - 1)
    return s[last][idx], eps[idx], cum[idx]


def _passing(score: np.ndarray, weight: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Sum of the weights with score >= threshold, for every threshold (one sort, one cumulative sum)."""
    order = np.argsort(score, kind="stable")
    tail = np.concatenate([np.cumsum(weight[order][::-1])[::-1], [0.0]])  # tail[i] = sum of sorted[i:]
    return tail[np.searchsorted(score[order], thresholds, side="left")]


def sb_vs_cut(score_bkg: np.ndarray, score_sig: np.ndarray, w_bkg: np.ndarray | None, w_sig: np.ndarray | None,
              injection: float | None = None, lumi_fb: float | None = None, n_points: int = 50) -> dict:
    """Signal and background yields, S/B and S/sqrt(B) along a scan of cuts score >= threshold.

    The cuts sit at background-efficiency quantiles: ``n_points`` targets eps_B log-spaced from 1 down to
    1/n_eff_bkg (Kish effective size of the background, so the tightest cut keeps about one effective
    background event). Each cut is the tightest one whose weighted background efficiency reaches its
    target (see ``_quantile_cuts``), so B > 0 for positive weights; the achieved eps_b is returned.

    Exactly one normalisation:
      * ``injection``: the signal total is ``injection`` x the background total (sum of w_bkg), so
        S = injection * sum(w_bkg) * eps_s and B = sum of w_bkg passing. S/B does not depend on the weight
        units; S/sqrt(B) is an event-count significance only when the weights are expected yields.
      * ``lumi_fb``: the weights are cross sections in pb per jet; S = 1000 * lumi_fb * (sum of w_sig
        passing), B = 1000 * lumi_fb * (sum of w_bkg passing), expected jet counts.

    Returns {"eps_b_target", "eps_b", "eps_s", "threshold", "S", "B", "s_over_b", "s_over_sqrt_b"}, each an
    array of length ``n_points`` in the order of decreasing eps_b_target (loosest cut first); where
    B <= 0 the two ratios are NaN.
    """
    if (injection is None) == (lumi_fb is None):
        raise ValueError(f"give exactly one of injection and lumi_fb (got injection={injection}, lumi_fb={lumi_fb})")
    norm = injection if injection is not None else lumi_fb
    if not (isinstance(norm, (int, float, np.floating, np.integer)) and math.isfinite(norm) and norm > 0):
        raise ValueError(f"{'injection' if injection is not None else 'lumi_fb'}: need a finite positive number, got {norm!r}")
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 2:
        raise ValueError(f"n_points: need an integer >= 2, got {n_points!r}")
    sb, wb = _scores_weights(score_bkg, w_bkg, "bkg")
    ss, ws = _scores_weights(score_sig, w_sig, "sig")
    targets = np.geomspace(1.0, min(1.0, 1.0 / n_eff(wb)), int(n_points))
    threshold, eps_b, wb_pass = _quantile_cuts(sb, wb, targets)
    ws_pass = _passing(ss, ws, threshold)
    eps_s = ws_pass / ws.sum()
    if injection is not None:
        s_yield, b_yield = float(injection) * wb.sum() * eps_s, wb_pass
    else:
        s_yield, b_yield = 1000.0 * float(lumi_fb) * ws_pass, 1000.0 * float(lumi_fb) * wb_pass
    positive = b_yield > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        s_over_b = np.where(positive, s_yield / b_yield, np.nan)
        s_over_sqrt_b = np.where(positive, s_yield / np.sqrt(np.where(positive, b_yield, 1.0)), np.nan)
    return {"eps_b_target": targets, "eps_b": eps_b, "eps_s": eps_s, "threshold": threshold,
            "S": s_yield, "B": b_yield, "s_over_b": s_over_b, "s_over_sqrt_b": s_over_sqrt_b}


def jensen_shannon(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) of two histograms on the same bins.

    Both are normalised to unit sum here; empty bins contribute nothing (0 log 0 = 0). 0 for identical
    shapes, 1 for shapes with no bin in common; symmetric in p and q. Counts must be finite and >= 0
    with a positive total.
    """
    p = np.asarray(p_counts, dtype=np.float64).ravel()
    q = np.asarray(q_counts, dtype=np.float64).ravel()
    if p.shape != q.shape:
        raise ValueError(f"jensen_shannon: {p.size} and {q.size} bins; the histograms need the same bins")
    for name, h in (("p_counts", p), ("q_counts", q)):
        if not np.all(np.isfinite(h)) or np.any(h < 0):
            raise ValueError(f"{name}: counts must be finite and non-negative")
        if not h.sum() > 0:
            raise ValueError(f"{name}: total is {h.sum():g}; need a positive total to normalise")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0  # where a > 0, m > 0 too
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return float(min(max(0.5 * kl(p) + 0.5 * kl(q), 0.0), 1.0))


MASS_BINS = 40
MASS_QUANTILES = (1e-3, 1 - 1e-3)


def mass_sculpting(score_bkg: np.ndarray, mass_bkg: np.ndarray, w_bkg: np.ndarray | None,
                   eps_b_points: tuple[float, ...] = (0.5, 0.1, 0.01), bins=None) -> dict:
    """How much a cut on the anomaly score distorts the background mass shape.

    For each target eps_B the cut score >= threshold is the tightest one whose weighted background
    efficiency reaches the target (as in ``sb_vs_cut``). ``bins``: None (40 bins over the central 99.8 %
    of the masses), an int (that many bins over the same range) or explicit increasing edges. Masses
    outside the edges are counted in the first/last bin, so every histogram holds all the weight.
    The JSD compares the cut and uncut shapes (negative bins, possible with NLO weights, count as 0).

    Returns {"edges", "uncut": weighted histogram before any cut, "cuts": {eps_b_target: {"eps_b_target",
    "eps_b", "threshold", "hist", "jsd"}}}.
    """
    s, w = _scores_weights(score_bkg, w_bkg, "bkg")
    m = np.asarray(mass_bkg, dtype=np.float64).ravel()
    if m.shape != s.shape:
        raise ValueError(f"mass_bkg: {m.size} masses for {s.size} scores")
    if not np.all(np.isfinite(m)):
        raise ValueError("mass_bkg: masses must be finite")
    targets = np.asarray([float(e) for e in eps_b_points], dtype=np.float64)
    if targets.size == 0 or not np.all((targets > 0) & (targets <= 1)):
        raise ValueError(f"eps_b_points: need values in (0, 1], got {list(eps_b_points)}")
    if bins is None or isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        n_bins = MASS_BINS if bins is None else int(bins)
        if n_bins < 1:
            raise ValueError(f"bins: need at least 1 bin, got {bins}")
        lo, hi = (float(x) for x in np.quantile(m, MASS_QUANTILES))
        if hi <= lo:
            lo, hi = lo - 0.5 * max(abs(lo), 1.0), hi + 0.5 * max(abs(hi), 1.0)
        edges = np.linspace(lo, hi, n_bins + 1)
    else:
        edges = np.asarray(bins, dtype=np.float64).ravel()
        if edges.size < 2 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
            raise ValueError("bins: explicit edges must be at least two finite, strictly increasing values")
    clipped = np.clip(m, edges[0], edges[-1])
    uncut, _ = np.histogram(clipped, edges, weights=w)
    threshold, eps_b, _ = _quantile_cuts(s, w, targets)
    cuts = {}
    for k, t in enumerate(targets):
        keep = s >= threshold[k]
        hist, _ = np.histogram(clipped[keep], edges, weights=w[keep])
        cut_pos, uncut_pos = np.clip(hist, 0, None), np.clip(uncut, 0, None)
        jsd = jensen_shannon(uncut_pos, cut_pos) if cut_pos.sum() > 0 and uncut_pos.sum() > 0 else float("nan")
        cuts[float(t)] = {"eps_b_target": float(t), "eps_b": float(eps_b[k]), "threshold": float(threshold[k]),
                          "hist": hist, "jsd": jsd}
    return {"edges": edges, "uncut": uncut, "cuts": cuts}
