"""The sensitivity report: metrics on the test split, every figure, and the summary tables.

Background is the weighted sum of all background samples (cross-section weights), each signal is
compared against it alone; metrics and figures use only the test split, which no model trained or
selected its epoch on.
"""
from __future__ import annotations

import html
import os

import h5py
import numpy as np

import torch

from analysis.challenge import TABLE_COLUMNS, TOTAL_COLUMNS, challenge_rows, total_improvement, write_csv
from analysis.dataset import rows, scaled
from analysis.diagnostics import architecture, negative_samples, reconstructions
from analysis.features.lund import LUND_FEATURES
from analysis.metrics import mass_sculpting, roc_curve, sb_vs_cut, summarize
from analysis.models.registry import is_graph
from analysis.plotting.performance import (plot_auc_comparison, plot_auc_grid, plot_roc, plot_sb_vs_cut,
                                          plot_score_distributions, plot_si)
from analysis.plotting.sculpting import plot_mass_sculpting
from analysis.plotting.training import (plot_architecture, plot_history, plot_inputs_vs_reconstruction,
                                       plot_negative_samples)
from analysis.report import write_summary
from analysis.training import load_model


def test_scores(data: dict, scores: dict[str, np.ndarray]) -> dict:
    """{model: {"background": (s, w), "signals": {name: (s, w)}, "samples": {name: (s, w)}}} on the test split."""
    test = rows(data, "test")
    names = data["sample_names"]
    out = {}
    for model, s in scores.items():
        per = {}
        for sid, name in enumerate(names):
            m = test & (data["sample_id"] == sid)
            per[name] = (s[m], data["weight"][m])
        bkg = rows(data, "test", "background")
        out[model] = {
            "background": (s[bkg], data["weight"][bkg]),
            "signals": {n: per[n] for sid, n in enumerate(names)
                        if (rows(data, label="signal") & (data["sample_id"] == sid)).any()},
            "samples": per,
        }
    return out


def build_report(data: dict, scores: dict[str, np.ndarray], histories: dict[str, dict], plots_cfg: dict,
                 meta: dict, outdir: str, checkpoints: dict[str, str] | None = None,
                 negatives: dict[str, str] | None = None) -> dict:
    """Write figures, summary.json, summary.md and index files into ``outdir``; return the summary.

    ``checkpoints`` (model -> best.pt) adds the model diagnostics: inputs vs reconstructions, negative
    samples against the training data, and the network drawn from its layers; ``negatives`` (model ->
    negatives.h5 from training) adds the validation negatives at the first, selected and last epochs."""
    per_model = test_scores(data, scores)
    summary = summarize({m: {"background": v["background"], "signals": v["signals"]} for m, v in per_model.items()},
                        eps_b_points=tuple(plots_cfg["eps_b"]))
    figures: list[str] = []

    def stem(name: str) -> str:
        return os.path.join(outdir, name)

    signals = list(next(iter(per_model.values()))["signals"])
    for sig in signals:
        curves = {}
        for m, v in per_model.items():
            (sb, wb), (ss, ws) = v["background"], v["signals"][sig]
            eps_b, eps_s, _ = roc_curve(sb, ss, wb, ws)
            curves[f"{m} (AUC {summary[m][sig]['auc']:.3f})"] = (eps_b, eps_s)
        figures += plot_roc(curves, sig, stem(f"roc_{sig}"))
        figures += plot_si(curves, sig, stem(f"si_{sig}"))
    for m, v in per_model.items():
        figures += plot_score_distributions(v["samples"], m, stem(f"scores_{m}"))
        figures += plot_history(histories[m], m, stem(f"history_{m}"))
    figures += plot_auc_comparison({m: {s: r["auc"] for s, r in summary[m].items()} for m in summary},
                                   stem("auc_comparison"))
    figures += _sb_figures(per_model, summary, plots_cfg, stem)
    figures += _auc_grids(data, summary, stem)
    x_train = scaled(data, rows(data, "train", "background"))
    max_panels = int(plots_cfg["max_feature_panels"])
    # the per-feature diagnostics are those of models on the flat features (a graph model's rows are nodes)
    graphs = {m for m, path in (checkpoints or {}).items()
              if is_graph(torch.load(path, map_location="cpu", weights_only=True)["cfg"])}
    figures += _model_figures(data, x_train, {m: p for m, p in (checkpoints or {}).items() if m not in graphs},
                              stem, max_panels)
    figures += _negatives_by_epoch(data, x_train, negatives or {}, histories, stem, max_panels, graphs)
    sculpting, sculpt_figs = _sculpting(data, scores, plots_cfg, stem)
    figures += sculpt_figs
    extra = {"mass_sculpting": sculpting}
    if plots_cfg.get("challenge_channel"):  # Dark Machines tables, in the challenge's csv layouts
        table = challenge_rows(summary, str(plots_cfg["challenge_channel"]))
        write_csv(stem("challenge.csv"), table, TABLE_COLUMNS)
        write_csv(stem("challenge_total_improvement.csv"), total_improvement(table), TOTAL_COLUMNS)
        extra["challenge"] = table
    write_summary(summary, meta, stem("summary.json"), stem("summary.md"), extra=extra)
    pngs = sorted(os.path.basename(f) for f in figures if f.endswith(".png"))
    write_index(pngs, meta, outdir)
    return summary


def write_index(pngs: list[str], meta: dict, outdir: str) -> None:
    """index.md and a static index.html (no scripts, opens from disk) listing every figure."""
    title = (f"Sensitivity report: config {meta.get('config')} ({meta.get('config_hash')}), "
             f"version {meta.get('version')}")
    with open(os.path.join(outdir, "index.md"), "w") as f:
        f.write(f"# {title}\n\nTables: [summary.md](summary.md), [summary.json](summary.json)\n\n")
        f.writelines(f"## {p[:-4]}\n\n![{p}]({p})\n\n" for p in pngs)
    cards = "".join(f'<figure><a href="{p[:-4]}.pdf"><img src="{p}" alt="{p[:-4]}"></a>'
                    f"<figcaption>{html.escape(p[:-4])}</figcaption></figure>\n" for p in pngs)
    with open(os.path.join(outdir, "index.html"), "w") as f:
        f.write(f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} figure{{display:inline-block;width:31%;margin:0.5%}}
img{{width:100%}} figcaption{{text-align:center}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Tables: <a href="summary.md">summary.md</a>, <a href="summary.json">summary.json</a> (every metric per model and signal).</p>
{cards}</body></html>
""")


def _sb_figures(per_model: dict, summary: dict, plots_cfg: dict, stem) -> list[str]:
    """S/B and S/sqrt(B) vs cut per signal: injected at fixed fractions, and at the stated luminosity."""
    figures = []
    for sig in next(iter(per_model.values()))["signals"]:
        injected, lumi = {}, {}
        for m, v in per_model.items():
            (sb, wb), (ss, ws) = v["background"], v["signals"][sig]
            for frac in plots_cfg["injections"]:
                injected[f"{m}, S = {frac:.1%} B"] = sb_vs_cut(sb, ss, wb, ws, injection=frac)
            lumi[m] = sb_vs_cut(sb, ss, wb, ws, lumi_fb=plots_cfg["lumi_fb"])
            summary[m][sig]["max_s_over_sqrt_b_lumi"] = float(np.nanmax(lumi[m]["s_over_sqrt_b"]))
            summary[m][sig]["lumi_fb"] = plots_cfg["lumi_fb"]
        figures += plot_sb_vs_cut(injected, f"{sig}, injected", stem(f"sb_injected_{sig}"))
        figures += plot_sb_vs_cut(lumi, f"{sig}, {plots_cfg['lumi_fb']:g} fb$^{{-1}}$", stem(f"sb_lumi_{sig}"))
    return figures


def _auc_grids(data: dict, summary: dict, stem) -> list[str]:
    """AUC over (mediator mass, r_inv) per model and signal model (process), where a model has two points or more."""
    grids: dict[str, dict[str, tuple[float, float]]] = {}
    for sid, name in enumerate(data["sample_names"]):
        sample = data["sample_id"] == sid
        if (sample & rows(data, label="signal")).any():
            point = (float(data["signal_mmed"][sample][0]), float(data["signal_rinv"][sample][0]))
            grids.setdefault(data["sample_processes"][sid], {})[name] = point
    figures = []
    for process, params in grids.items():
        if len(set(params.values())) < 2:
            continue
        for m, per_sig in summary.items():
            grid = {params[s]: r["auc"] for s, r in per_sig.items() if s in params}
            figures += plot_auc_grid(grid, f"{m.upper()}, {process}", stem(f"auc_grid_{process}_{m}"))
    return figures


def _sculpting(data: dict, scores: dict, plots_cfg: dict, stem) -> tuple[dict, list[str]]:
    """Background jet (soft-drop) mass, dijet mass and MT after score cuts, with their JSD to the uncut shape."""
    names = data["feature_names"]
    test_bkg = rows(data, "test", "background")
    variables = {"event_mt": (data["event_mt"][test_bkg], "Dijet+MET $m_T$ [GeV]"),
                 "event_mjj": (data["event_mjj"][test_bkg], "Dijet mass $m_{jj}$ [GeV]")}
    for feat, transform, label in (("msoftdrop", None, "Soft-drop mass [GeV]"),
                                   ("log_msoftdrop", np.exp, "Soft-drop mass [GeV]"),
                                   ("mass", None, "Jet mass [GeV]")):
        if feat in names:
            x = data["features"][test_bkg, names.index(feat)].astype(np.float64)
            variables["jet_mass"] = (transform(x) if transform else x, label)
            break
    out, figures = {}, []
    eps = tuple(plots_cfg["sculpting_eps_b"])
    for m, s in scores.items():
        out[m] = {}
        for var, (x, xlabel) in variables.items():
            has = np.isfinite(x)  # e.g. no dijet mass in an event with one jet: sculpting of the others
            if has.sum() < 2:
                continue
            res = mass_sculpting(s[test_bkg][has], x[has], data["weight"][test_bkg][has], eps_b_points=eps, bins=20)
            out[m][var] = {str(e): c["jsd"] for e, c in res["cuts"].items()}
            figures += plot_mass_sculpting(res, m, xlabel, stem(f"sculpting_{var}_{m}"))
    return out, figures


def _model_figures(data: dict, x_train: np.ndarray, checkpoints: dict[str, str], stem,
                   max_panels: int, n_negatives: int = 2000) -> list[str]:
    names = data["feature_names"]
    x_bkg = scaled(data, rows(data, "test", "background"))
    first_signal = data["sample_id"][rows(data, label="signal")].min()
    x_sig = scaled(data, rows(data, "test") & (data["sample_id"] == first_signal))
    sig_name = data["sample_names"][first_signal]
    figures = []
    for m, path in checkpoints.items():
        model, cfg = load_model(path), torch.load(path, map_location="cpu", weights_only=True)["cfg"]
        cols, note = _panels(names, x_bkg, x_sig, max_panels)
        figures += plot_inputs_vs_reconstruction(x_bkg[:, cols], reconstructions(model, x_bkg)[:, cols], x_sig[:, cols],
                                                 reconstructions(model, x_sig)[:, cols], [names[c] for c in cols],
                                                 f"{m}, {sig_name}{note}", stem(f"reconstruction_{m}"))
        figures += plot_architecture(architecture(model), m.upper(), stem(f"architecture_{m}"))
        if cfg.get("sampler"):
            neg = negative_samples(model, cfg, x_train, min(n_negatives, len(x_train)), seed=0)
            cols, note = _panels(names, x_train, neg, max_panels)
            figures += plot_negative_samples(x_train[:, cols], neg[:, cols], [names[c] for c in cols],
                                             f"{m}, selected epoch{note}", stem(f"negatives_{m}"))
    return figures


def _panels(names: list[str], a: np.ndarray, b: np.ndarray, n: int) -> tuple[list[int], str]:
    """The columns a per-feature figure shows: all, or the ``n`` where the two (scaled) samples differ most
    in mean and width (a 78-feature event record would otherwise make an unreadable, slow figure)."""
    if len(names) <= n:
        return list(range(len(names))), ""
    diff = np.abs(a.mean(axis=0) - b.mean(axis=0)) + np.abs(a.std(axis=0) - b.std(axis=0))
    cols = sorted(np.argsort(-diff, kind="stable")[:n].tolist())
    return cols, f" ({n} of {len(names)} features, largest differences)"


def _negatives_by_epoch(data: dict, x_train: np.ndarray, negatives: dict[str, str], histories: dict[str, dict],
                        stem, max_panels: int, graphs: set[str] = frozenset()) -> list[str]:
    """The WNAE papers' view of a collapse: negatives against the training data (``x_train``, scaled) as
    training goes on. A graph model's negatives are node rows: they are drawn per Lund feature against the
    validation jets' nodes stored beside them."""
    figures = []
    for m, path in negatives.items():
        with h5py.File(path, "r") as f:
            epochs = sorted(int(k[6:]) for k in f.keys() if k.startswith("epoch_"))
            if not epochs:
                continue
            if m in graphs:
                reference = f["data"][()]
                names = [*LUND_FEATURES, "parent-edge weight"][:reference.shape[1]]
            else:
                reference, names = x_train, data["feature_names"]
            best = histories[m].get("best_epoch")
            chosen = dict.fromkeys(e for e in (epochs[0], best, epochs[-1]) if e in epochs)
            for e in chosen:
                tag = "selected epoch" if e == best else "epoch"
                neg = f[f"epoch_{e:03d}"][()]
                cols, note = _panels(names, reference, neg, max_panels)
                figures += plot_negative_samples(reference[:, cols], neg[:, cols], [names[c] for c in cols],
                                                 f"{m}, {tag} {e}{note}", stem(f"negatives_{m}_epoch{e:03d}"))
    return figures
