"""Training-history figure: losses, energies, validation Wasserstein distance and monitor AUC per epoch."""
from __future__ import annotations

import numpy as np

from analysis.history import best_epoch, pretraining, series, w_auc_correlation
from analysis.plotting.style import cms_style, label, new_figure, save

# one panel per entry: (y label, ((history key, legend), ...)); panels whose keys hold no value are left out
PANELS = (
    ("Loss", (("loss", "Training"), ("val_loss", "Validation"))),
    ("Energy", (("e_pos", r"$E_+$ (data)"), ("e_neg", r"$E_-$ (MCMC samples)"))),
    ("Val. Wasserstein dist.", (("val_wasserstein", "Validation"),)),
    # the training loop's own AUC on the test jets, as it computes it (the report's AUCs are the reference)
    ("Monitor AUC (test)", (("monitor_auc", "Test jets, as training computes it; not used for selection"),)),
)


def plot_history(history: dict, title: str, path_stem: str) -> list[str]:
    """One panel per quantity against the epoch (0-based, as in the history), the selected epoch marked.

    ``history`` is what training writes: per-epoch lists ('loss', 'val_loss', 'e_pos', 'e_neg',
    'val_wasserstein', 'monitor_auc', optionally 'phase'), with None where a quantity does not apply, and
    'best_epoch' (0-based index, or None). Epochs of a pre-training phase that differs from the final
    phase are shaded.
    """
    panels = []
    for ylabel, entries in PANELS:
        lines = [(series(history, key), legend) for key, legend in entries]
        lines = [(y, legend) for y, legend in lines if y is not None]
        if lines:
            panels.append((ylabel, lines))
    if not panels:
        keys = ", ".join(k for _, entries in PANELS for k, _ in entries)
        raise ValueError(f"history: no per-epoch values under any of {keys}")
    n_epochs = {len(y) for _, lines in panels for y, _ in lines}
    if len(n_epochs) != 1:
        raise ValueError(f"history: per-epoch lists have different lengths {sorted(n_epochs)}")
    n = n_epochs.pop()
    best = best_epoch(history, n)
    phase = history.get("phase")
    pretrain = pretraining(history, n)
    epochs = np.arange(n)

    with cms_style():
        fig, axes = new_figure(len(panels), 1, figsize=(12.0, 2.0 + 4.0 * len(panels)), sharex=True)
        axes = np.atleast_1d(axes)
        for ax, (ylabel, lines) in zip(axes, panels):
            if pretrain.any():
                ax.axvspan(-0.5, epochs[pretrain].max() + 0.5, color="0.9", label=f"{phase[0]} pre-training")
            for y, legend in lines:
                (line,) = ax.plot(epochs, y, marker="." if n < 50 else None, label=legend)
                if best is not None:
                    ax.plot(best, y[best], marker="*", markersize=16, color=line.get_color(),
                            linestyle="none")
            if best is not None:
                ax.axvline(best, color="grey", linestyle="--", label=f"Selected epoch {best}")
            ax.set_ylabel(ylabel, fontsize="small")
            # the top panel explains the shading and the marker; the others only name their lines
            handles, names = ax.get_legend_handles_labels()
            shown = [(h, s) for h, s in zip(handles, names) if ax is axes[0] or s in {legend for _, legend in lines}]
            if ax is axes[0] or len(lines) > 1:
                bottom, top = ax.get_ylim()
                ax.set_ylim(bottom, top + (0.5 if ax is axes[0] else 0.3) * (top - bottom))
                ax.legend(*zip(*shown), loc="upper right", fontsize="x-small", ncols=2,
                          title=title if ax is axes[0] else None, title_fontsize="small")
        axes[-1].set_xlabel("Epoch")
        label(axes[0])
        fig.align_ylabels(axes)
        return save(fig, path_stem)


def rho_text(corr: dict, rho: str = "ρ") -> str:
    """The Spearman correlation(s) of ``analysis.history.w_auc_correlation``, one line each (``rho``: the symbol,
    mathtext in a figure)."""
    def one(value: float | None, n: int, what: str) -> str:
        value = "n/a (constant or < 3 epochs)" if value is None else f"{value:+.2f}"
        return f"Spearman {rho}(W, AUC) = {value} over {n} {what}"

    lines = [one(corr["spearman"], corr["n_epochs"], "epochs")]
    if "spearman_after_pretraining" in corr:
        lines.append(one(corr["spearman_after_pretraining"], corr["n_epochs_after_pretraining"],
                         "epochs after pre-training"))
    return "\n".join(lines)


def plot_w_vs_auc(history: dict, title: str, monitor: str, path_stem: str) -> list[str]:
    """Does the validation W, by which the epoch is kept, follow the AUC? Left: the validation W (with its
    standard error over the draws where the history has it) and the monitor AUC (right axis) against the epoch,
    the kept epoch marked; right: the monitor AUC against the validation W, one point per epoch coloured by
    epoch (x: pre-training), with their Spearman rank correlation. ``monitor`` says what the AUC is measured on.
    Raises ValueError for a history without both series (an AE's)."""
    corr = w_auc_correlation(history)
    if corr is None:
        raise ValueError("history: no per-epoch values under both val_wasserstein and monitor_auc")
    w, auc, err = (series(history, k) for k in ("val_wasserstein", "monitor_auc", "val_wasserstein_err"))
    n = len(w)
    if err is not None and len(err) != n:
        raise ValueError(f"history: val_wasserstein_err has {len(err)} epochs, val_wasserstein {n}")
    best = best_epoch(history, n)
    pre = pretraining(history, n)
    epochs = np.arange(n)
    marker = "." if n < 50 else None

    from matplotlib.ticker import MaxNLocator

    with cms_style():
        fig, (ax_w, ax_s) = new_figure(1, 2, figsize=(22.0, 9.0), width_ratios=(1.25, 1.0))
        fig.set_layout_engine("constrained")
        ax_a = ax_w.twinx()
        if pre.any():
            ax_w.axvspan(-0.5, epochs[pre].max() + 0.5, color="0.9", label=f"{history['phase'][0]} pre-training")
        ax_w.plot(epochs, w, color="C0", marker=marker, label="Validation W (data vs negatives)")
        if err is not None:
            ax_w.fill_between(epochs, w - err, w + err, color="C0", alpha=0.3, linewidth=0,
                              label="± its std. error over the draws")
        ax_a.plot(epochs, auc, color="C3", marker=marker, label="Monitor AUC")
        if best is not None:
            lowest = (~pre).any() and w[best] == np.nanmin(w[~pre])  # a kind may keep its epoch by another metric
            ax_w.axvline(best, color="grey", linestyle="--",
                         label=f"Kept epoch {best}{' (lowest W)' if lowest else ''}")
            ax_w.plot(best, w[best], marker="*", markersize=16, color="C0", linestyle="none")
            ax_a.plot(best, auc[best], marker="*", markersize=16, color="C3", linestyle="none")
        for ax in (ax_w, ax_a):  # room for the legend above the curves
            bottom, top = ax.get_ylim()
            ax.set_ylim(bottom, top + 0.8 * (top - bottom))
        ax_w.set_xlabel("Epoch")
        ax_w.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_w.set_ylabel("Validation Wasserstein distance", color="C0")
        ax_a.set_ylabel("Monitor AUC", color="C3")
        handles = [sum(pair, []) for pair in zip(ax_w.get_legend_handles_labels(), ax_a.get_legend_handles_labels())]
        ax_a.legend(*handles, loc="upper right", fontsize="x-small", ncols=2, title=title, title_fontsize="small")

        both = np.isfinite(w) & np.isfinite(auc)
        if err is not None:
            ax_s.errorbar(w[both], auc[both], xerr=np.where(np.isfinite(err), err, 0.0)[both], fmt="none",
                          ecolor="0.7", zorder=1)
        colour = {"c": epochs, "cmap": "viridis", "vmin": 0, "vmax": max(n - 1, 1), "zorder": 2}
        points = ax_s.scatter(w[both & ~pre], auc[both & ~pre], **{**colour, "c": epochs[both & ~pre]},
                              label="Epoch (colour)")
        if (both & pre).any():
            ax_s.scatter(w[both & pre], auc[both & pre], marker="x", **{**colour, "c": epochs[both & pre]},
                         label="Pre-training epoch")
        if best is not None and both[best]:
            ax_s.plot(w[best], auc[best], marker="*", markersize=22, color="C3", markeredgecolor="black",
                      linestyle="none", zorder=3, label=f"Kept epoch {best}")
        fig.colorbar(points, ax=ax_s, label="Epoch", ticks=MaxNLocator(integer=True))
        ax_s.set_xlabel("Validation Wasserstein distance")
        ax_s.set_ylabel("Monitor AUC")
        ax_s.legend(loc="best", fontsize="x-small")
        ax_s.set_title(rho_text(corr, r"$\rho$"), loc="left", fontsize="small")
        fig.supxlabel(f"Monitor AUC: {monitor}; not used to keep the epoch", fontsize="x-small")
        label(ax_w)
        return save(fig, path_stem)


# ---- model diagnostics: inputs vs reconstructions, negative samples, the network ------------------

def _feature_grid(n_features: int, ncols: int = 3):
    """A cms-style figure with one panel per feature (unused panels hidden) and its flat axes."""
    ncols = max(1, min(ncols, n_features))
    nrows = -(-n_features // ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(7.5 * ncols, 6.5 * nrows + 0.5))
    fig.set_layout_engine("constrained")
    axes = np.atleast_1d(axes).ravel()
    for ax in axes[n_features:]:
        ax.set_visible(False)
    return fig, axes[:n_features]


def _as_matrix(x, name: str, n_features: int | None = None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (n, d), got shape {x.shape}")
    if n_features is not None and x.shape[1] != n_features:
        raise ValueError(f"{name} has {x.shape[1]} features, expected {n_features}")
    return x


def _bins(arrays: list[np.ndarray], n_bins: int = 40) -> np.ndarray:
    """Common bin edges over the 0.1-99.9 % range of the finite values of all arrays."""
    values = np.concatenate([a[np.isfinite(a)] for a in arrays])
    if values.size == 0:
        return np.linspace(0.0, 1.0, n_bins + 1)
    lo, hi = np.percentile(values, [0.1, 99.9])
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, n_bins + 1)


def _check_names(names, n_features: int) -> list[str]:
    names = [str(n) for n in names]
    if len(names) != n_features:
        raise ValueError(f"names: {len(names)} names for {n_features} features")
    return names


def _finish_grid(fig, axes, title: str, path_stem: str, headroom: float) -> list[str]:
    """Label, legend (with room above the curves) and save a per-feature grid."""
    axes[0].set_ylabel("Normalised", fontsize="small")
    bottom, top = axes[0].get_ylim()
    axes[0].set_ylim(bottom, top * headroom)
    axes[0].legend(loc="upper right", fontsize="xx-small", title=title, title_fontsize="x-small")
    label(axes[0])
    return save(fig, path_stem)


def plot_inputs_vs_reconstruction(x_bkg: np.ndarray, r_bkg: np.ndarray, x_sig: np.ndarray, r_sig: np.ndarray,
                                  names: list[str], title: str, path_stem: str) -> list[str]:
    """One panel per feature: scaled inputs (filled / solid) against their reconstructions (dashed),
    for background and one signal, each normalised to unit area (as autoencodeSVJ's figure)."""
    x_bkg = _as_matrix(x_bkg, "x_bkg")
    d = x_bkg.shape[1]
    r_bkg, x_sig, r_sig = (_as_matrix(a, n, d) for a, n in ((r_bkg, "r_bkg"), (x_sig, "x_sig"), (r_sig, "r_sig")))
    if r_bkg.shape != x_bkg.shape or r_sig.shape != x_sig.shape:
        raise ValueError(f"reconstructions must have their inputs' shape: {r_bkg.shape} vs {x_bkg.shape}, "
                         f"{r_sig.shape} vs {x_sig.shape}")
    names = _check_names(names, d)
    with cms_style():
        fig, axes = _feature_grid(d)
        for j, ax in enumerate(axes):
            bins = _bins([x_bkg[:, j], r_bkg[:, j], x_sig[:, j], r_sig[:, j]])
            kw = {"bins": bins, "density": True}
            ax.hist(x_bkg[:, j], histtype="stepfilled", color="tab:blue", alpha=0.35, label="Background input", **kw)
            ax.hist(r_bkg[:, j], histtype="step", color="tab:blue", linestyle="--", linewidth=2,
                    label="Background reco.", **kw)
            ax.hist(x_sig[:, j], histtype="step", color="tab:red", linewidth=2, label="Signal input", **kw)
            ax.hist(r_sig[:, j], histtype="step", color="tab:red", linestyle="--", linewidth=2,
                    label="Signal reco.", **kw)
            ax.set_yscale("log")
            ax.set_xlabel(f"{names[j]} (scaled)", fontsize="small")
            ax.tick_params(labelsize="x-small")
        return _finish_grid(fig, axes, title, path_stem, headroom=1e3)


def plot_negative_samples(x_data: np.ndarray, x_neg: np.ndarray, names: list[str], title: str,
                          path_stem: str) -> list[str]:
    """One panel per feature: training data (filled) against the model's negative samples (line),
    both normalised to unit area."""
    x_data = _as_matrix(x_data, "x_data")
    d = x_data.shape[1]
    x_neg = _as_matrix(x_neg, "x_neg", d)
    names = _check_names(names, d)
    with cms_style():
        fig, axes = _feature_grid(d)
        for j, ax in enumerate(axes):
            kw = {"bins": _bins([x_data[:, j], x_neg[:, j]]), "density": True}
            ax.hist(x_data[:, j], histtype="stepfilled", color="tab:blue", alpha=0.4, label="Training data", **kw)
            ax.hist(x_neg[:, j], histtype="step", color="tab:orange", linewidth=2, label="Negative samples", **kw)
            ax.set_xlabel(f"{names[j]} (scaled)", fontsize="small")
            ax.tick_params(labelsize="x-small")
        return _finish_grid(fig, axes, title, path_stem, headroom=1.5)


MAX_DRAWN_NODES = 24  # wider layers are drawn with this many nodes (the label gives the true width)


def plot_architecture(layers: list[tuple[str, int, int]], title: str, path_stem: str) -> list[str]:
    """The network as columns of nodes (one per layer width: input, every Linear output), edges between
    consecutive columns, each column labelled with its width; the narrowest column is the latent space.

    ``layers`` is ``analysis.diagnostics.architecture(model)``: (name, in, out) per nn.Linear, in order.
    """
    layers = [(str(n), int(i), int(o)) for n, i, o in layers]
    if not layers:
        raise ValueError("layers: empty")
    for (n1, _, o1), (n2, i2, _) in zip(layers[:-1], layers[1:]):
        if o1 != i2:
            raise ValueError(f"layers: {n1} gives {o1} outputs but {n2} takes {i2} inputs")
    widths = [layers[0][1]] + [o for _, _, o in layers]
    if min(widths) < 1:
        raise ValueError(f"layers: widths must be positive, got {widths}")
    latent = int(np.argmin(widths[1:-1])) + 1 if len(widths) > 2 else None
    drawn = [min(w, MAX_DRAWN_NODES) for w in widths]
    spacing = 1.0 if max(drawn) <= 12 else 11.0 / (max(drawn) - 1)  # the tallest column spans at most 11 units
    ys = [spacing * np.linspace(-(k - 1) / 2.0, (k - 1) / 2.0, k) for k in drawn]
    half = spacing * (max(drawn) - 1) / 2.0 + 0.5

    from matplotlib.collections import LineCollection

    with cms_style():
        fig, ax = new_figure(figsize=(max(9.0, 2.4 * len(widths)), 9.0))
        segs = [((i, y0), (i + 1, y1)) for i in range(len(widths) - 1) for y0 in ys[i] for y1 in ys[i + 1]]
        ax.add_collection(LineCollection(segs, colors="0.75", linewidths=0.5, zorder=1))
        for i, (w, y) in enumerate(zip(widths, ys)):
            if i == 0 or i == len(widths) - 1:
                color, role = "tab:green", "input" if i == 0 else "output"
            elif i == latent:
                color, role = "tab:red", "latent"
            else:
                color, role = ("tab:blue", "encoder") if latent is None or i < latent else ("tab:purple", "decoder")
            ax.scatter(np.full(len(y), i), y, s=max(30.0, 120.0 * spacing**2), color=color, edgecolors="black", linewidths=0.8, zorder=2)
            ax.text(i, -half - 0.8, f"{w}", ha="center", va="top", fontsize="small", fontweight="bold")
            ax.text(i, -half - 2.0, role, ha="center", va="top", fontsize="x-small", color=color)
            if w > len(y):
                ax.text(i, half + 0.4, f"{len(y)}/{w} drawn", ha="center", va="bottom", fontsize="xx-small")
        for i, (name, _, _) in enumerate(layers):
            ax.text(i + 0.5, half + 1.6, name, ha="center", va="bottom", fontsize="xx-small", color="0.3")
        ax.set_xlim(-0.7, len(widths) - 0.3)
        ax.set_ylim(-half - 3.2, half + 4.5)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.02, 0.97, f"{title}: {' - '.join(str(w) for w in widths)}", transform=ax.transAxes,
                ha="left", va="top", fontsize="small")
        label(ax)
        return save(fig, path_stem)
