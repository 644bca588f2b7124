"""Mass sculpting: the background mass shape before and after cuts on the anomaly score."""
from __future__ import annotations

import mplhep
import numpy as np

from analysis.plotting.style import MIN_EFFECTIVE_EVENTS, cms_style, label, new_figure, save


def plot_mass_sculpting(result: dict, title: str, xlabel: str, path_stem: str) -> list[str]:
    """Unit-normalised background mass shape without a cut and after each score cut, JSD in the legend.

    ``result`` is ``metrics.mass_sculpting(...)``: {"edges", "uncut", "cuts": {eps_b: {"hist", "jsd", ...}}}.
    A cut that keeps no (positive) weight is listed in the legend but draws nothing. A cut with ``n_eff`` (the
    effective number of background entries it keeps) shows it, dotted and flagged below MIN_EFFECTIVE_EVENTS.
    """
    missing = {"edges", "uncut", "cuts"} - set(result)
    if missing:
        raise ValueError(f"result: missing {sorted(missing)} (pass the result of mass_sculpting)")
    edges = np.asarray(result["edges"], dtype=np.float64)
    uncut = np.asarray(result["uncut"], dtype=np.float64)
    if edges.ndim != 1 or uncut.shape != (edges.size - 1,):
        raise ValueError(f"result: {uncut.size} uncut bins for {edges.size} edges")
    if not uncut.sum() > 0:
        raise ValueError("result: the uncut histogram has no positive total")
    with cms_style():
        fig, ax = new_figure()
        mplhep.histplot(uncut / uncut.sum(), edges, label="No cut", color="black", linewidth=2, ax=ax)
        for eps, cut in sorted(result["cuts"].items(), key=lambda kv: -float(kv[0])):
            hist = np.asarray(cut["hist"], dtype=np.float64)
            if hist.shape != uncut.shape:
                raise ValueError(f"result['cuts'][{eps}]: {hist.size} bins, the uncut histogram has {uncut.size}")
            name = rf"$\varepsilon_B$ = {float(eps):g} (JSD {float(cut['jsd']):.3f})"
            few = "n_eff" in cut and cut["n_eff"] < MIN_EFFECTIVE_EVENTS
            if "n_eff" in cut:
                name += rf", $N_\mathrm{{eff}}$ = {cut['n_eff']:.1f}" + (" - too few!" if few else "")
            if hist.sum() > 0:
                mplhep.histplot(hist / hist.sum(), edges, label=name, ax=ax, linestyle=":" if few else "-")
            else:
                ax.plot([], [], label=f"{name}, empty")
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.35)  # room for the legend
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Fraction of weighted background / bin")
        ax.legend(title=title, loc="upper right")
        label(ax)
        return save(fig, path_stem)
