"""Training-history figure: losses, energies, validation Wasserstein distance and monitor AUC per epoch."""
from __future__ import annotations

import numpy as np

from analysis.plotting.style import cms_style, label, new_figure, save

# one panel per entry: (y label, ((history key, legend), ...)); panels whose keys hold no value are left out
PANELS = (
    ("Loss", (("loss", "Training"), ("val_loss", "Validation"))),
    ("Energy", (("e_pos", r"$E_+$ (data)"), ("e_neg", r"$E_-$ (MCMC samples)"))),
    ("Val. Wasserstein dist.", (("val_wasserstein", "Validation"),)),
    ("Monitor AUC (test)", (("monitor_auc", "Test split, not used for selection"),)),
)


def _series(history: dict, key: str) -> np.ndarray | None:
    """Per-epoch values as floats, None -> NaN (a gap in the line); None when the key holds no number."""
    values = history.get(key)
    if values is None:
        return None
    y = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return y if np.any(np.isfinite(y)) else None


def plot_history(history: dict, title: str, path_stem: str) -> list[str]:
    """One panel per quantity against the epoch (0-based, as in the history), the selected epoch marked.

    ``history`` is what training writes: per-epoch lists ('loss', 'val_loss', 'e_pos', 'e_neg',
    'val_wasserstein', 'monitor_auc', optionally 'phase'), with None where a quantity does not apply, and
    'best_epoch' (0-based index, or None). Epochs of a pre-training phase that differs from the final
    phase are shaded.
    """
    panels = []
    for ylabel, entries in PANELS:
        lines = [(_series(history, key), legend) for key, legend in entries]
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
    best = history.get("best_epoch")
    if best is not None and not 0 <= int(best) < n:
        raise ValueError(f"history: best_epoch {best} outside the {n} recorded epochs")
    phase = history.get("phase")
    pretrain = (np.array([p != phase[-1] for p in phase]) if phase and len(phase) == n
                else np.zeros(n, dtype=bool))
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
                    ax.plot(int(best), y[int(best)], marker="*", markersize=16, color=line.get_color(),
                            linestyle="none")
            if best is not None:
                ax.axvline(int(best), color="grey", linestyle="--", label=f"Selected epoch {int(best)}")
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
