"""Performance figures: ROC curves, significance improvement, score distributions, AUC per model and signal."""
from __future__ import annotations

import mplhep
import numpy as np

from analysis.plotting.style import cms_style, label, new_figure, save, shade_few_events, thin_curve

SCORE_QUANTILES = (1e-3, 1 - 1e-3)  # per-sample range kept in the score histograms; the rest goes to edge bins
LOG_BINNING_SPAN = 1e3  # positive scores spanning more than this factor are binned in log(score)


def _curves(curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Validated float arrays; every curve needs matching eps_b and eps_s."""
    if not curves:
        raise ValueError("curves: nothing to plot")
    out = {}
    for name, (eps_b, eps_s) in curves.items():
        eps_b, eps_s = np.asarray(eps_b, dtype=np.float64), np.asarray(eps_s, dtype=np.float64)
        if eps_b.shape != eps_s.shape or eps_b.ndim != 1:
            raise ValueError(f"curves[{name!r}]: eps_b {eps_b.shape} and eps_s {eps_s.shape} must be equal 1-d")
        out[name] = (eps_b, eps_s)
    return out


def _log_eps_b_range(curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> float:
    """The smallest positive background efficiency of all curves: the left edge of a log eps_b axis."""
    pos = [b[b > 0].min() for b, _ in curves.values() if np.any(b > 0)]
    if not pos:
        raise ValueError("curves: no curve has a positive background efficiency to put on a log axis")
    return float(min(pos))


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str, path_stem: str,
             styles: dict[str, dict] | None = None, few_events_below: float | None = None) -> list[str]:
    """eps_S against eps_B (log x) for every labelled curve, with the random classifier eps_S = eps_B.

    ``styles``: matplotlib line keywords per curve (one colour per model across figures);
    ``few_events_below``: the eps_B under which fewer than 10 effective background events remain (shaded)."""
    curves = _curves(curves)
    x_min = _log_eps_b_range(curves)
    with cms_style():
        fig, ax = new_figure()
        shade_few_events(ax, x_min, few_events_below)
        for name, (eps_b, eps_s) in curves.items():
            ax.plot(*thin_curve(eps_b, eps_s), label=name, **(styles or {}).get(name, {}))
        diag = np.geomspace(x_min, 1, 200)
        ax.plot(diag, diag, color="grey", linestyle="--", label="Random")
        ax.set_xscale("log")
        ax.set_xlim(x_min, 1)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel(r"Background efficiency $\varepsilon_B$")
        ax.set_ylabel(r"Signal efficiency $\varepsilon_S$")
        ax.legend(title=title, loc="upper left")
        label(ax)
        return save(fig, path_stem)


def plot_si(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str, path_stem: str,
            styles: dict[str, dict] | None = None, few_events_below: float | None = None) -> list[str]:
    """Significance improvement eps_S / sqrt(eps_B) against eps_B (log x).

    Above 1 the cut raises S/sqrt(B); a random classifier (eps_S = eps_B) gives sqrt(eps_B), drawn for reference.
    ``styles`` and ``few_events_below`` as in ``plot_roc``.
    """
    curves = _curves(curves)
    x_min = _log_eps_b_range(curves)
    with cms_style():
        fig, ax = new_figure()
        shade_few_events(ax, x_min, few_events_below)
        for name, (eps_b, eps_s) in curves.items():
            keep = eps_b > 0
            b, s = thin_curve(eps_b[keep], eps_s[keep])
            ax.plot(b, s / np.sqrt(b), label=name, **(styles or {}).get(name, {}))
        ref = np.geomspace(x_min, 1, 200)
        ax.plot(ref, np.sqrt(ref), color="grey", linestyle="--", label="Random")
        ax.axhline(1.0, color="black", linestyle=":", label="No improvement")
        ax.set_xscale("log")
        ax.set_xlim(x_min, 1)
        ax.set_ylim(bottom=0)
        ax.set_xlabel(r"Background efficiency $\varepsilon_B$")
        ax.set_ylabel(r"$\varepsilon_S\,/\,\varepsilon_B^{1/2}$")
        ax.legend(title=title, loc="best")
        label(ax)
        return save(fig, path_stem)


def _score_binning(scores: dict[str, tuple[np.ndarray, np.ndarray]], bins: int) -> tuple[np.ndarray, bool]:
    """Common bin edges covering every sample's central quantiles; log-spaced when positive scores span decades."""
    lo = min(float(np.quantile(s, SCORE_QUANTILES[0])) for s, _ in scores.values())
    hi = max(float(np.quantile(s, SCORE_QUANTILES[1])) for s, _ in scores.values())
    if lo > 0 and hi / lo > LOG_BINNING_SPAN:
        return np.geomspace(lo, hi, bins + 1), True
    if hi <= lo:  # every sample (almost) constant: one unit-wide window around it
        lo, hi = lo - 0.5 * max(abs(lo), 1.0), hi + 0.5 * max(abs(hi), 1.0)
    return np.linspace(lo, hi, bins + 1), False


def plot_score_distributions(scores: dict[str, tuple[np.ndarray, np.ndarray]], title: str, path_stem: str,
                             bins: int = 50) -> list[str]:
    """Weighted score histogram of every sample, each normalised to unit sum, on common bins (log y).

    The range holds each sample's central 99.8 %; entries outside are counted in the first/last bin so
    every histogram still sums to one. Error bars: sqrt(sum w^2) / sum w per bin.
    """
    if not scores:
        raise ValueError("scores: nothing to plot")
    if bins < 1:
        raise ValueError(f"bins: need at least 1, got {bins}")
    checked = {}
    for name, (s, w) in scores.items():
        s = np.asarray(s, dtype=np.float64).ravel()
        w = np.ones_like(s) if w is None else np.asarray(w, dtype=np.float64).ravel()
        if s.size == 0:
            raise ValueError(f"scores[{name!r}]: no entries")
        if w.shape != s.shape:
            raise ValueError(f"scores[{name!r}]: {w.size} weights for {s.size} scores")
        if not (np.all(np.isfinite(s)) and np.all(np.isfinite(w))):
            raise ValueError(f"scores[{name!r}]: scores and weights must be finite")
        if not w.sum() > 0:
            raise ValueError(f"scores[{name!r}]: total weight {w.sum():g} is not positive")
        checked[name] = (s, w)
    edges, log_x = _score_binning(checked, bins)
    with cms_style():
        fig, ax = new_figure()
        filled = []
        for name, (s, w) in checked.items():
            clipped = np.clip(s, edges[0], edges[-1])
            h, _ = np.histogram(clipped, edges, weights=w)
            w2, _ = np.histogram(clipped, edges, weights=np.square(w))
            mplhep.histplot(h / w.sum(), edges, yerr=np.sqrt(w2) / w.sum(), label=name, ax=ax)
            filled.append(h[h > 0] / w.sum())
        if log_x:
            ax.set_xscale("log")
        ax.set_yscale("log")
        y = np.concatenate(filled)
        if y.size:  # the top ~30 % of the decades stay free for the legend
            lo, hi = 0.5 * y.min(), y.max()
            ax.set_ylim(lo, hi * (hi / lo) ** 0.45)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel("Anomaly score")
        ax.set_ylabel("Fraction of weighted jets / bin")
        ax.legend(title=title, loc="upper right")
        label(ax)
        return save(fig, path_stem)


def plot_auc_comparison(aucs: dict[str, dict[str, float]], path_stem: str) -> list[str]:
    """AUC of every model (markers, side by side) for every signal; 0.5 is a random classifier."""
    if not aucs:
        raise ValueError("aucs: nothing to plot")
    signals = list(dict.fromkeys(s for per_model in aucs.values() for s in per_model))
    if not signals:
        raise ValueError("aucs: no model has any signal")
    x = np.arange(len(signals))
    width = 0.4 / max(len(aucs) - 1, 1)
    markers = ("o", "s", "^", "D", "v", "P", "X", "*")
    with cms_style():
        fig, ax = new_figure(figsize=(max(10.0, 1.4 * len(signals)), 9.0))
        values = []
        for i, (model, per_model) in enumerate(aucs.items()):
            y = np.array([per_model.get(s, np.nan) for s in signals], dtype=np.float64)
            offset = (i - (len(aucs) - 1) / 2) * width if len(aucs) > 1 else 0.0
            ax.plot(x + offset, y, linestyle="none", marker=markers[i % len(markers)], markersize=12, label=model)
            values.append(y)
        ax.axhline(0.5, color="grey", linestyle="--", label="Random")
        for edge in x[1:] - 0.5:
            ax.axvline(edge, color="0.85", linewidth=1)
        finite = np.concatenate(values)
        finite = finite[np.isfinite(finite)]
        # below 0.5 (worse than random, rare) the band down to 0.3 holds the legend
        low = min(0.3, float(finite.min()) - 0.05) if finite.size else 0.0
        ax.set_ylim(max(low, 0.0), 1.02)
        ax.set_xlim(-0.6, len(signals) - 0.4)
        ax.set_xticks(x, signals, rotation=30 if len(signals) > 3 else 0, ha="right" if len(signals) > 3 else "center")
        ax.minorticks_off()
        ax.set_ylabel("AUC")
        ax.legend(loc="lower right", ncols=min(len(aucs) + 1, 3))
        label(ax)
        return save(fig, path_stem)


def plot_sb_vs_cut(curves: dict[str, dict], title: str, path_stem: str, styles: dict[str, dict] | None = None,
                   lumi_fb: float | None = None, few_events_below: float | None = None) -> list[str]:
    """S/B (left) and S/sqrt(B) (right) against the achieved background efficiency eps_B (log x).

    ``curves`` = {label: metrics.sb_vs_cut(...)}; points with eps_B <= 0 or a non-finite ratio are skipped.
    ``lumi_fb``: the yields are expected events at that luminosity (in the CMS header, S/sqrt(B) in events).
    The legend sits beside the axes, so it covers no curve; ``styles`` and ``few_events_below`` as in ``plot_roc``.
    """
    if not curves:
        raise ValueError("curves: nothing to plot")
    checked = {}
    for name, c in curves.items():
        missing = {"eps_b", "s_over_b", "s_over_sqrt_b"} - set(c)
        if missing:
            raise ValueError(f"curves[{name!r}]: missing {sorted(missing)} (pass the result of sb_vs_cut)")
        arrays = [np.asarray(c[k], dtype=np.float64).ravel() for k in ("eps_b", "s_over_b", "s_over_sqrt_b")]
        if len({a.size for a in arrays}) != 1:
            raise ValueError(f"curves[{name!r}]: eps_b, s_over_b and s_over_sqrt_b differ in length")
        checked[name] = arrays
    pos = [b[b > 0].min() for b, _, _ in checked.values() if np.any(b > 0)]
    if not pos:
        raise ValueError("curves: no curve has a positive background efficiency to put on a log axis")
    x_min = float(min(pos))
    with cms_style():
        fig, axes = new_figure(1, 2, figsize=(24.0, 9.0))
        left = x_min / 1.5 if x_min < 1 else 0.5
        for ax in axes:
            shade_few_events(ax, left, few_events_below)
        for name, (eps_b, sob, sosb) in checked.items():
            for ax, y in zip(axes, (sob, sosb)):
                keep = (eps_b > 0) & np.isfinite(y)
                order = np.argsort(eps_b[keep], kind="stable")
                style = {"marker": "o", "markersize": 4} | (styles or {}).get(name, {})
                ax.plot(eps_b[keep][order], y[keep][order], label=name, **style)
        unit = " (events)" if lumi_fb else ""
        for ax, ylabel in zip(axes, (r"$S\,/\,B$", r"$S\,/\,B^{1/2}$" + unit)):
            ax.set_xscale("log")
            ax.set_xlim(left, 1.5)
            ax.set_ylim(bottom=0)
            ax.set_xlabel(r"Background efficiency $\varepsilon_B$")
            ax.set_ylabel(ylabel)
            label(ax, lumi=lumi_fb)
        axes[1].legend(title=title, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small",
                       title_fontsize="small")
        return save(fig, path_stem)


def plot_auc_grid(aucs: dict[tuple[float, float], float], title: str, path_stem: str,
                  xlabel: str = r"$m_{Z'}$ [GeV]") -> list[str]:
    """Heat map of the AUC over the signal grid: mediator mass (x, labelled ``xlabel``) and r_inv (y).

    ``aucs`` = {(m_med, r_inv): auc}; grid points without an entry, or with a NaN AUC, stay blank.
    """
    if not aucs:
        raise ValueError("aucs: nothing to plot")
    try:
        keys = [(float(m), float(r)) for m, r in aucs]
    except (TypeError, ValueError) as err:
        raise ValueError(f"aucs: keys must be (m_med, r_inv) pairs of numbers ({err})") from err
    masses = sorted({m for m, _ in keys})
    rinvs = sorted({r for _, r in keys})
    grid = np.full((len(rinvs), len(masses)), np.nan)
    for (m, r), value in zip(keys, aucs.values()):
        grid[rinvs.index(r), masses.index(m)] = np.nan if value is None else float(value)
    finite = grid[np.isfinite(grid)]
    vmin = min(0.5, float(finite.min())) if finite.size else 0.5
    with cms_style():
        fig, ax = new_figure(figsize=(max(13.0, 1.6 * len(masses) + 6), max(10.0, 1.0 * len(rinvs) + 5)))
        image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap="viridis",
                          vmin=vmin, vmax=1.0, interpolation="nearest")
        cmap = image.get_cmap()
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                shade = cmap((value - vmin) / (1.0 - vmin) if vmin < 1 else 1.0)
                dark = 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2] < 0.5
                ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=16,
                        color="white" if dark else "black")
        ax.set_xticks(np.arange(len(masses)), [f"{m:g}" for m in masses])
        ax.set_yticks(np.arange(len(rinvs)), [f"{r:g}" for r in rinvs])
        ax.minorticks_off()
        ax.set_xlabel(xlabel)
        ax.set_ylabel(r"$r_{\mathrm{inv}}$")
        fig.colorbar(image, ax=ax, label=f"AUC, {title}" if title else "AUC")
        label(ax)
        return save(fig, path_stem)
