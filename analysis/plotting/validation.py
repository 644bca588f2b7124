"""Validation figures of the generated samples: MET, dijet+MET transverse mass, AK8 soft-drop mass,
tau21 and the jets' truth invisible share r_inv, every sample overlaid (unit area, genWeight-weighted).

What a physicist looks at before trusting a sample: MET rising with r_inv, the Z' edge in MT, the top
peak in the ttbar soft-drop mass, two-prong (low tau21) top/W jets against one-prong QCD.
"""
from __future__ import annotations

import awkward as ak
import mplhep
import numpy as np

from analysis.features.registry import compute_features
from analysis.io.nanoaod import jet_constituents, read_events
from analysis.plotting.style import cms_style, label, new_figure, save
from analysis.selection.variables import dijet_system

JETS_PER_EVENT = 2  # the two leading AK8 jets, as in the dijet analyses
# name: (axis label, bin edges)
VARIABLES = {
    "met": (r"$p_T^{miss}$ [GeV]", np.linspace(0, 1000, 41)),
    "mt": (r"$m_T$(jj, $p_T^{miss}$) [GeV]", np.linspace(0, 5000, 51)),
    "msoftdrop": (r"Leading AK8 jets: $m_{SD}$ [GeV]", np.linspace(0, 400, 41)),
    "tau21": (r"Leading AK8 jets: $\tau_{21}$", np.linspace(0, 1.2, 49)),
    "rinv": (r"Leading AK8 jets: truth $r_{inv}$ (invisible $p_T$ share of dark hadrons)", np.linspace(0, 1, 21)),
}


def sample_distributions(paths: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per variable of :data:`VARIABLES`, the values and genWeight weights of one sample's files.

    MT needs two AK8 jets; jet variables use the two leading AK8 jets; r_inv only jets with dark hadrons.
    """
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {k: [] for k in VARIABLES}
    for path in paths:
        ev = read_events(path, ["FatJet", "PFCands", "MET", "genWeight"])
        w = np.asarray(ak.to_numpy(ev.genWeight), dtype=np.float64)
        parts["met"].append((np.asarray(ak.to_numpy(ev.MET.pt), dtype=np.float64), w))
        dijet = ak.num(ev.FatJet) >= 2
        parts["mt"].append((dijet_system(ev[dijet])["mt"], w[dijet]))
        jets = ev.FatJet[:, :JETS_PER_EVENT]
        constituents = jet_constituents(ev)[:, :JETS_PER_EVENT]
        jet_w = np.repeat(w, ak.to_numpy(ak.num(jets)))
        flat_jets, flat_const = ak.flatten(jets), ak.flatten(constituents, axis=1)
        tau21 = compute_features(flat_jets, flat_const, ["tau21"])["tau21"]
        msd = np.asarray(ak.to_numpy(flat_jets.msoftdrop), dtype=np.float64)
        rinv = np.asarray(ak.to_numpy(flat_jets.rinv), dtype=np.float64)
        parts["msoftdrop"].append((msd, jet_w))
        parts["tau21"].append((tau21, jet_w))
        parts["rinv"].append((rinv[rinv >= 0], jet_w[rinv >= 0]))
    return {k: (np.concatenate([v for v, _ in p]), np.concatenate([w for _, w in p])) for k, p in parts.items()}


def plot_validation(distributions: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], out_dir: str) -> dict:
    """One figure per variable (``<out_dir>/<variable>.png/.pdf``), every sample with entries overlaid.

    Returns a summary: per sample and variable the number of entries, weighted mean and the share of
    entries outside the plotted range; and the figure paths.
    """
    summary: dict = {"samples": {s: {} for s in distributions}, "figures": []}
    for var, (xlabel, edges) in VARIABLES.items():
        with cms_style():
            fig, ax = new_figure()
            drawn = 0
            for sample, dists in distributions.items():
                values, weights = dists[var]
                finite = np.isfinite(values)
                values, weights = values[finite], weights[finite]
                inside = (values >= edges[0]) & (values <= edges[-1])
                summary["samples"][sample][var] = {
                    "entries": int(values.size),
                    "mean": float(np.average(values, weights=weights)) if weights.sum() > 0 else None,
                    "outside_range": float(np.mean(~inside)) if values.size else None,
                }
                hist, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges, weights=weights)
                if hist.sum() > 0:
                    mplhep.histplot(hist / hist.sum(), edges, label=sample, ax=ax)
                    drawn += 1
            ax.set_xlim(edges[0], edges[-1])
            ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1e-3) * 1.4)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("Fraction / bin (last bins include overflow)")
            if drawn:
                ax.legend(loc="upper right", fontsize="x-small", ncol=2)
            else:
                ax.text(0.5, 0.5, "no sample has entries", transform=ax.transAxes, ha="center")
            label(ax)
            summary["figures"] += save(fig, f"{out_dir}/{var}")
    return summary
