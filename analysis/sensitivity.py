"""The sensitivity report: metrics on the test split, every figure, and the tables of the report page.

Background is the weighted sum of all background samples (cross-section weights), each signal is
compared against it alone; metrics and figures use only the test split, which no model trained or
selected its epoch on. Jet-level scores are those of each jet; an event's score is the max (or the sum)
of its leading jets' scores (``analysis.event_scores``).
"""
from __future__ import annotations

import os

import h5py
import numpy as np

import torch

from analysis.challenge import TABLE_COLUMNS, TOTAL_COLUMNS, challenge_rows, total_improvement, write_csv
from analysis.codes import LABELS, SPLITS
from analysis.dataset import rows, scaled
from analysis.diagnostics import architecture, negative_samples, reconstructions
from analysis.event_scores import event_index, event_scores
from analysis.features.lund import LUND_FEATURES
from analysis.history import w_auc_correlation
from analysis.metrics import mass_sculpting, n_eff, roc_curve, sb_vs_cut, summarize
from analysis.models.registry import is_graph
from analysis.plotting.labels import OTHER_PARAMS, mediator_axis, model_label, plain, sample_label
from analysis.plotting.performance import (plot_auc_comparison, plot_auc_grid, plot_roc, plot_sb_vs_cut,
                                          plot_score_distributions, plot_si)
from analysis.plotting.sculpting import plot_mass_sculpting
from analysis.plotting.style import MIN_EFFECTIVE_EVENTS
from analysis.plotting.training import (plot_architecture, plot_history, plot_inputs_vs_reconstruction,
                                       plot_negative_samples, plot_w_vs_auc)
from analysis.report import Section, Table, flag, value_err, write_index, write_summary
from analysis.training import load_model

INJECTION_STYLES = ("-", "--", ":", "-.")


def test_scores(data: dict, scores: dict[str, np.ndarray]) -> dict:
    """{model: {"background": (s, w), "signals": {name: (s, w)}, "samples": {name: (s, w)}}} on the test split.

    ``data`` is the dataset (or the per-event table of ``event_scores``, with ``sample_names`` added)."""
    test = rows(data, "test")
    names = data["sample_names"]
    signal_ids = set(np.unique(data["sample_id"][rows(data, label="signal")]).tolist())
    out = {}
    for model, s in scores.items():
        per = {}
        for sid, name in enumerate(names):
            m = test & (data["sample_id"] == sid)
            if m.any():  # a small (data) sample may have no test jet
                per[name] = (s[m], data["weight"][m])
        bkg = rows(data, "test", "background")
        out[model] = {"background": (s[bkg], data["weight"][bkg]),
                      "signals": {n: per[n] for sid, n in enumerate(names) if sid in signal_ids and n in per},
                      "samples": per}
    return out


def test_fraction(data: dict) -> np.ndarray:
    """Per row: the weighted share of its sample that is in the test split (to scale test yields to the sample)."""
    sid = data["sample_id"]
    total = np.bincount(sid, weights=data["weight"], minlength=len(data["sample_names"]))
    test = np.bincount(sid, weights=np.where(rows(data, "test"), data["weight"], 0.0), minlength=total.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(total > 0, test / total, 0.0)
    return frac[sid]


def build_report(data: dict, scores: dict[str, np.ndarray], histories: dict[str, dict], plots_cfg: dict,
                 meta: dict, outdir: str, checkpoints: dict[str, str] | None = None,
                 negatives: dict[str, str] | None = None, samples: dict[str, dict] | None = None,
                 models: dict[str, dict] | None = None, cutflows: dict[str, list[dict]] | None = None,
                 training_weights: str = "xsec") -> dict:
    """Write figures, summary.json, summary.md and the report page (index.html, index.md) into ``outdir``.

    ``samples``/``models``: the config's sample and model specs (physics labels, signal parameters for the
    grids, cross-sections); ``cutflows``: per sample the cut flow summed over its files (``cut``, ``events``,
    ``weighted``, plus ``n_generated``/``sum_genweight``/``xsec_pb`` in the first row's keys);
    ``training_weights``: the config's ``training.weights`` (how the histories' monitor AUC is weighted).
    ``checkpoints`` (model -> best.pt) adds the model diagnostics: inputs vs reconstructions, negative
    samples against the training data, and the network drawn from its layers; ``negatives`` (model ->
    negatives.h5 from training) adds the validation negatives at the first, selected and last epochs.
    Returns the summary."""
    samples, models = samples or {}, models or {}
    labels = {n: sample_label(n, samples.get(n)) for n in data["sample_names"]}
    mlabels = {m: model_label(m, models.get(m)) for m in scores}
    colors = {m: f"C{i % 10}" for i, m in enumerate(scores)}
    lumi = float(plots_cfg["lumi_fb"])
    eps_points = tuple(plots_cfg["eps_b"])

    per_model = test_scores(data, scores)
    summary = summarize({m: {"background": v["background"], "signals": v["signals"]} for m, v in per_model.items()},
                        eps_b_points=eps_points)
    events = {m: event_scores(data, s) for m, s in scores.items()}
    ev_data = {**next(iter(events.values())), "sample_names": data["sample_names"]}
    for kind in ("max", "sum"):
        ev = test_scores(ev_data, {m: e[kind] for m, e in events.items()})
        ev_summary = summarize({m: {"background": v["background"], "signals": v["signals"]} for m, v in ev.items()},
                               eps_b_points=eps_points)
        for m, per_sig in ev_summary.items():
            for sig, r in per_sig.items():
                summary[m][sig][f"event_{kind}"] = r
    n_eff_bkg = next(iter(next(iter(summary.values())).values()))["n_eff_bkg"]
    few_below = MIN_EFFECTIVE_EVENTS / n_eff_bkg if n_eff_bkg > 0 else 1.0

    def stem(name: str) -> str:
        return os.path.join(outdir, name)

    perf, grids, sb, sculpt, dists, train = [], [], [], [], [], []
    signals = list(next(iter(per_model.values()))["signals"])
    for sig in signals:
        curves, styles = {}, {}
        for m, v in per_model.items():
            (sb_, wb), (ss, ws) = v["background"], v["signals"][sig]
            eps_b, eps_s, _ = roc_curve(sb_, ss, wb, ws)
            name = f"{mlabels[m]} (AUC {summary[m][sig]['auc']:.3f})"
            curves[name], styles[name] = (eps_b, eps_s), {"color": colors[m]}
        perf += plot_roc(curves, labels[sig], stem(f"roc_{sig}"), styles=styles, few_events_below=few_below)
        perf += plot_si(curves, labels[sig], stem(f"si_{sig}"), styles=styles, few_events_below=few_below)
    perf += plot_auc_comparison({mlabels[m]: {plain(labels[s]): r["auc"] for s, r in summary[m].items()}
                                 for m in summary}, stem("auc_comparison"))
    grids += _auc_grids(data, summary, samples, mlabels, stem)
    sb += _sb_figures(data, per_model, summary, plots_cfg, labels, mlabels, colors, few_below, stem)
    sculpting, sculpt_figs = _sculpting(data, scores, events, plots_cfg, mlabels, stem)
    sculpt += sculpt_figs
    for m, v in per_model.items():
        dists += plot_score_distributions({labels[n]: sw for n, sw in v["samples"].items()}, mlabels[m],
                                          stem(f"scores_{m}"))
    train += _training_figures(data, histories, checkpoints or {}, negatives or {}, plots_cfg, mlabels, stem)
    monitor = monitor_description(data, labels, training_weights)
    w_auc = {m: c for m, c in ((m, w_auc_correlation(h)) for m, h in histories.items()) if c is not None}
    w_auc_figs = [f for m in w_auc for f in plot_w_vs_auc(histories[m], mlabels[m], monitor, stem(f"w_vs_auc_{m}"))]

    extra = {"mass_sculpting": sculpting, "statistics": statistics(data, ev_data),
             "w_auc_correlation": {"monitor": plain(monitor), "models": w_auc},
             "labels": {"samples": {n: plain(lab) for n, lab in labels.items()}, "models": mlabels}}
    if plots_cfg.get("challenge_channel"):  # Dark Machines tables, in the challenge's csv layouts
        table = challenge_rows(summary, str(plots_cfg["challenge_channel"]))
        write_csv(stem("challenge.csv"), table, TABLE_COLUMNS)
        write_csv(stem("challenge_total_improvement.csv"), total_improvement(table), TOTAL_COLUMNS)
        extra["challenge"] = table
    write_summary(summary, meta, stem("summary.json"), stem("summary.md"), extra=extra)

    def pngs(files: list[str]) -> list[str]:
        return [os.path.basename(f) for f in files if f.endswith(".png")]

    sections = [
        Section("Summary", _summary_text(extra["statistics"], lumi),
                [t for t in (_summary_table(summary, labels, mlabels, eps_points),
                             _w_auc_table(w_auc, mlabels, monitor), _statistics_table(extra["statistics"])) if t], []),
        Section("Samples", "Cut flow (events after each cut) and yields per sample; expected events at "
                f"{lumi:g} fb⁻¹ from the cross-section and the selection efficiency.",
                [t for t in (_yield_table(data, ev_data, samples, cutflows or {}, labels, lumi),
                             _cutflow_table(cutflows or {}, labels)) if t], []),
        Section("ROC curves and significance improvement", "Test split, jet level, all backgrounds weighted by "
                "cross-section. Grey hatched: fewer than 10 effective background jets remain.", [], pngs(perf)),
        Section("Signal grids", "Jet-level AUC over the mediator mass and r_inv, one grid per signal process and "
                "per value of the other dark-sector parameters.", [], pngs(grids)),
        Section("S/B and S/√B", f"Signal injected at fixed fractions of the background and at the signal's "
                f"cross-section; yields are expected jets at {lumi:g} fb⁻¹ (the test split scaled to the whole "
                "sample).", [], pngs(sb)),
        Section("Background sculpting", "Background jet mass, dijet mass and MT after score cuts (mjj and MT: one "
                "entry per event, cut on the event's max score). Dotted: fewer than 10 effective events pass.",
                [_sculpting_table(sculpting, mlabels)], pngs(sculpt)),
        Section("Score distributions", "", [], pngs(dists)),
        Section("Validation W against the AUC over the epochs", "The NAE and WNAE keep the epoch with the lowest "
                "validation Wasserstein distance between data and negative samples; the CMS WNAE study "
                "(arXiv:2510.02168) finds it anti-correlated with the AUC over the epochs. Left: both against the "
                "epoch (band: the W's standard error over its draws); right: one point per epoch. If W is a good "
                "guide, the points fall from upper left to lower right (Spearman ρ near -1) and the kept epoch "
                f"(star) sits among the highest AUCs. The AUC is the training's monitor ({plain(monitor)}), "
                "which plays no part in keeping the epoch.", [], pngs(w_auc_figs)),
        Section("Training diagnostics", "Histories (the monitor AUC is computed during training on the test "
                "split's jets as the training loop defines it; the report's AUCs above are cross-section weighted "
                "over all backgrounds, so the two can differ), inputs against reconstructions, negative samples "
                "and the networks.", [], pngs(train)),
    ]
    write_index(sections, meta, outdir)
    return summary


def _summary_text(stats: dict, lumi: float) -> str:
    few = [f"{k} ({v['n_eff_events']:.1f})" for k, v in stats["background"].items()
           if v["n_eff_events"] < MIN_EFFECTIVE_EVENTS]
    text = ("AUC ± stat. (Hanley-McNeil, effective sample sizes) on the test split, jet level and event level "
            "(an event scores the max or the sum of its leading jets' scores). SI = ε_S/√ε_B at the loosest cut "
            "with ε_B ≤ target. ⚠ marks a working point that rests on fewer than "
            f"{MIN_EFFECTIVE_EVENTS} effective background jets; n/a: fewer than one. "
            f"Max S/√B: expected jets at {lumi:g} fb⁻¹.")
    if few:
        text += (" ⚠ Too few effective background events in split(s) " + ", ".join(few) +
                 ": the background sample is too small for this selection; read every number as a format check.")
    return text


def _summary_table(summary: dict, labels: dict, mlabels: dict, eps_points: tuple) -> Table:
    header = ["signal", "model", "AUC (jets)", "AUC (events, max)", "AUC (events, sum)",
              *[f"SI @ ε_B = {float(t):g}" for t in eps_points], "max S/√B"]
    body = []
    for sig in next(iter(summary.values())):
        for m, per_sig in summary.items():
            r = per_sig[sig]
            cells = [plain(labels[sig]), mlabels[m], value_err(r["auc"], r["auc_err"], 3),
                     value_err(r["event_max"]["auc"], r["event_max"]["auc_err"], 3),
                     value_err(r["event_sum"]["auc"], r["event_sum"]["auc_err"], 3)]
            for t in eps_points:
                si = r["si"][float(t)]
                cell = "n/a" if not si["reachable"] else value_err(si["si"], si["si_err"], 2)
                cells.append(flag(cell, si["n_eff_bkg_pass"] < MIN_EFFECTIVE_EVENTS))
            cells.append(value_err(r.get("max_s_over_sqrt_b_lumi"), None, 2))
            body.append(cells)
    return Table("AUC and significance improvement per signal and model", header, body)


def monitor_description(data: dict, labels: dict[str, str], training_weights: str) -> str:
    """What the training histories' monitor AUC is measured on (tasks/training.py: the test split's jets, every
    signal against every background, weighted as the training draws its batches)."""
    signals = [labels[data["sample_names"][sid]] for sid in np.unique(data["sample_id"][rows(data, "test", "signal")])]
    what = signals[0] if len(signals) == 1 else f"all {len(signals)} signals together"
    weighted = "cross-section weighted" if training_weights == "xsec" else "unweighted"
    return f"test split, {what} against all backgrounds, {weighted}"


def _w_auc_table(w_auc: dict, mlabels: dict, monitor: str) -> Table | None:
    def rho(c: dict, suffix: str) -> str:
        if f"spearman{suffix}" not in c:
            return ""
        value = c[f"spearman{suffix}"]
        return f"{'n/a' if value is None else f'{value:+.2f}'} ({c[f'n_epochs{suffix}']} epochs)"

    if not w_auc:
        return None
    body = [[mlabels[m], rho(c, ""), rho(c, "_after_pretraining"), "n/a" if c["best_epoch"] is None else
             str(c["best_epoch"]), value_err(c["auc_at_best"], None, 3),
             f"{value_err(c['max_auc'], None, 3)} (epoch {c['epoch_max_auc']})"] for m, c in w_auc.items()]
    return Table(f"Validation W against the monitor AUC ({plain(monitor)}) over the epochs",
                 ["model", "Spearman ρ(W, AUC)", "ρ after pre-training", "kept epoch",
                  "monitor AUC at the kept epoch", "highest monitor AUC of the epochs it is kept from"], body)


def statistics(data: dict, ev: dict) -> dict:
    """Jets, events and their effective numbers (Kish) per split, for background and signal."""
    out = {}
    for role in ("background", "signal"):
        out[role] = {}
        for split in SPLITS:
            jets, evs = rows(data, split, role), rows(ev, split, role)
            out[role][split] = {"jets": int(jets.sum()), "n_eff_jets": n_eff(data["weight"][jets]),
                                "events": int(evs.sum()), "n_eff_events": n_eff(ev["weight"][evs])}
    return out


def _statistics_table(stats: dict) -> Table:
    body = [[role, split, str(v["jets"]), flag(f"{v['n_eff_jets']:.1f}", v["n_eff_jets"] < MIN_EFFECTIVE_EVENTS),
             str(v["events"]), flag(f"{v['n_eff_events']:.1f}", v["n_eff_events"] < MIN_EFFECTIVE_EVENTS)]
            for role, per in stats.items() for split, v in per.items()]
    return Table("Statistics: entries and effective entries (Kish, (Σw)²/Σw²) per split",
                 ["", "split", "jets", "effective jets", "events", "effective events"], body)


def _yield_table(data: dict, ev: dict, samples: dict, cutflows: dict, labels: dict, lumi: float) -> Table | None:
    body = []
    for sid, name in enumerate(data["sample_names"]):
        flow = cutflows.get(name)
        jets = [int(((data["sample_id"] == sid) & rows(data, split)).sum()) for split in SPLITS]
        test_ev = (ev["sample_id"] == sid) & rows(ev, "test")
        cells = [plain(labels[name]), LABELS[int(data["label"][data["sample_id"] == sid][0])]]
        if flow:
            first, last = flow[0], flow[-1]
            xsec = float(samples.get(name, {}).get("xsec_pb") or first.get("xsec_pb", float("nan")))
            eff = last["weighted"] / first["weighted"] if first["weighted"] else float("nan")
            cells += [f"{xsec:.4g}", str(first["events"]), str(last["events"]), f"{eff:.3g}",
                      f"{xsec * eff * 1000 * lumi:.4g}"]
        else:
            cells += ["", "", "", "", ""]
        n_test = n_eff(ev["weight"][test_ev])
        cells += [" / ".join(map(str, jets)), flag(f"{n_test:.1f}", n_test < MIN_EFFECTIVE_EVENTS)]
        body.append(cells)
    return Table(f"Yields per sample (expected events after the selection at {lumi:g} fb⁻¹)",
                 ["sample", "", "σ [pb]", "generated (read)", "selected", "weighted eff.",
                  f"events at {lumi:g} fb⁻¹", "jets train / val / test", "effective test events"], body)


def _cutflow_table(cutflows: dict, labels: dict) -> Table | None:
    if not cutflows:
        return None
    cuts = list(dict.fromkeys(r["cut"] for flow in cutflows.values() for r in flow))
    names = list(cutflows)
    body = []
    for cut in cuts:
        cells = [cut]
        for name in names:
            row = next((r for r in cutflows[name] if r["cut"] == cut), None)
            total = cutflows[name][0]["weighted"] if cutflows[name] else 0
            cells.append("" if row is None else
                         f"{row['events']} ({row['weighted'] / total:.3g})" if total else str(row["events"]))
        body.append(cells)
    return Table("Cut flow: events after each cut (weighted fraction of all)", ["cut", *(plain(labels.get(n, n))
                 for n in names)], body)


def _sculpting_table(sculpting: dict, mlabels: dict) -> Table:
    body = []
    for m, per_var in sculpting.items():
        for var, cuts in per_var.items():
            for eps, c in cuts.items():
                body.append([mlabels[m], var, f"{float(eps):g}", value_err(c["jsd"], None, 3),
                             flag(f"{c['n_eff']:.1f}", c["n_eff"] < MIN_EFFECTIVE_EVENTS)])
    return Table("Jensen-Shannon divergence of the background shape after the cut to the uncut shape",
                 ["model", "variable", "ε_B", "JSD", "effective bkg. entries passing"], body)


def _sb_figures(data: dict, per_model: dict, summary: dict, plots_cfg: dict, labels: dict, mlabels: dict,
                colors: dict, few_below: float, stem) -> list[str]:
    """S/B and S/sqrt(B) vs cut per signal, in expected jets at ``plots.lumi_fb`` (the test split scaled to its
    sample): signal injected at fixed fractions of the background (one line style per fraction), and at
    the signal's own cross-section. One colour per model."""
    lumi = float(plots_cfg["lumi_fb"])
    test = rows(data, "test")
    scale = np.zeros(len(data["weight"]))
    frac = test_fraction(data)
    scale[test] = 1.0 / frac[test]
    figures = []
    for sig in next(iter(per_model.values()))["signals"]:
        sid = data["sample_names"].index(sig)
        s_scale = scale[test & (data["sample_id"] == sid)]
        b_scale = scale[rows(data, "test", "background")]
        injected, at_lumi, styles_inj, styles_lumi = {}, {}, {}, {}
        for m, v in per_model.items():
            (sb_, wb), (ss, ws) = v["background"], v["signals"][sig]
            yb, ys = wb * b_scale * 1000 * lumi, ws * s_scale * 1000 * lumi
            for i, f in enumerate(plots_cfg["injections"]):
                name = f"{mlabels[m]}, S = {f:.1%} B"
                injected[name] = sb_vs_cut(sb_, ss, yb, ys, injection=f)
                styles_inj[name] = {"color": colors[m], "linestyle": INJECTION_STYLES[i % len(INJECTION_STYLES)]}
            at_lumi[mlabels[m]] = sb_vs_cut(sb_, ss, wb * b_scale, ws * s_scale, lumi_fb=lumi)
            styles_lumi[mlabels[m]] = {"color": colors[m]}
            summary[m][sig]["max_s_over_sqrt_b_lumi"] = float(np.nanmax(at_lumi[mlabels[m]]["s_over_sqrt_b"]))
            summary[m][sig]["lumi_fb"] = lumi
        figures += plot_sb_vs_cut(injected, f"{labels[sig]}, injected", stem(f"sb_injected_{sig}"), styles=styles_inj,
                                  lumi_fb=lumi, few_events_below=few_below)
        figures += plot_sb_vs_cut(at_lumi, f"{labels[sig]}, at its cross-section", stem(f"sb_lumi_{sig}"),
                                  styles=styles_lumi, lumi_fb=lumi, few_events_below=few_below)
    return figures


def _auc_grids(data: dict, summary: dict, samples: dict, mlabels: dict, stem) -> list[str]:
    """AUC over (mediator mass, r_inv) per model, one grid per signal process and value of the other signal
    parameters (m_dark, n_c, n_f), where a grid has two points or more."""
    grids: dict[tuple, dict[str, tuple[float, float]]] = {}
    for sid, name in enumerate(data["sample_names"]):
        sample = data["sample_id"] == sid
        if not (sample & rows(data, label="signal")).any():
            continue
        params = (samples.get(name) or {}).get("params") or {}
        point = (float(data["signal_mmed"][sample][0]), float(data["signal_rinv"][sample][0]))
        others = tuple((k, float(params[k])) for k in OTHER_PARAMS if k in params)
        grids.setdefault((data["sample_processes"][sid], others), {})[name] = point
    figures = []
    for (process, others), points in grids.items():
        if len(set(points.values())) < 2:
            continue
        tag = "_".join(f"{k}{v:g}" for k, v in others)
        extra = ", ".join(OTHER_PARAMS[k].format(v) for k, v in others)
        for m, per_sig in summary.items():
            grid = {points[s]: r["auc"] for s, r in per_sig.items() if s in points}
            title = ", ".join(x for x in (mlabels[m], process, extra) if x)
            figures += plot_auc_grid(grid, title, stem(f"auc_grid_{process}{'_' + tag if tag else ''}_{m}"),
                                     xlabel=mediator_axis(process))
    return figures


def _sculpting(data: dict, scores: dict, events: dict, plots_cfg: dict, mlabels: dict, stem) -> tuple[dict, list[str]]:
    """Background jet (soft-drop) mass per jet, and dijet mass and MT per event (cut on the event's max
    score, so each event counts once), after score cuts, with their JSD to the uncut shape and the effective
    number of background entries each cut keeps."""
    names = data["feature_names"]
    test_bkg = rows(data, "test", "background")
    first = next(iter(events.values()))
    ev_bkg = rows(first, "test", "background")
    lead = np.flatnonzero(test_bkg)
    first_rows, _ = event_index(data)  # per event: the row of its first jet carries the event variables
    variables = {}
    for var, xlabel in (("event_mt", "Dijet+MET $m_T$ [GeV]"), ("event_mjj", "Dijet mass $m_{jj}$ [GeV]")):
        if var in data:
            variables[var] = (data[var][first_rows][ev_bkg], xlabel, "event")
    for feat, transform, xlabel in (("msoftdrop", None, "Soft-drop mass [GeV]"),
                                    ("log_msoftdrop", np.exp, "Soft-drop mass [GeV]"),
                                    ("mass", None, "Jet mass [GeV]")):
        if feat in names:
            x = data["features"][lead, names.index(feat)].astype(np.float64)
            variables["jet_mass"] = (transform(x) if transform else x, xlabel, "jet")
            break
    out, figures = {}, []
    eps = tuple(plots_cfg["sculpting_eps_b"])
    for m, s in scores.items():
        out[m] = {}
        for var, (x, xlabel, level) in variables.items():
            score, w = (events[m]["max"][ev_bkg], first["weight"][ev_bkg]) if level == "event" else \
                (s[lead], data["weight"][lead])
            has = np.isfinite(x)  # e.g. no dijet mass in an event with one jet: sculpting of the others
            if has.sum() < 2:
                continue
            res = mass_sculpting(score[has], x[has], w[has], eps_b_points=eps, bins=20)
            for c in res["cuts"].values():
                c["n_eff"] = n_eff(w[has][score[has] >= c["threshold"]])
            out[m][var] = {str(e): {"jsd": c["jsd"], "n_eff": c["n_eff"]} for e, c in res["cuts"].items()}
            figures += plot_mass_sculpting(res, f"{mlabels[m]} ({level} level)", xlabel, stem(f"sculpting_{var}_{m}"))
    return out, figures


def _training_figures(data: dict, histories: dict, checkpoints: dict, negatives: dict, plots_cfg: dict,
                      mlabels: dict, stem) -> list[str]:
    """Histories, then the per-feature diagnostics of the models on flat features (a graph model's rows are
    nodes), then the negatives by epoch."""
    figures = []
    for m, h in histories.items():
        figures += plot_history(h, mlabels[m], stem(f"history_{m}"))
    x_train = scaled(data, rows(data, "train", "background"))
    max_panels = int(plots_cfg["max_feature_panels"])
    graphs = {m for m, path in checkpoints.items()
              if is_graph(torch.load(path, map_location="cpu", weights_only=True)["cfg"])}
    figures += _model_figures(data, x_train, {m: p for m, p in checkpoints.items() if m not in graphs},
                              stem, max_panels)
    figures += _negatives_by_epoch(data, x_train, negatives, histories, stem, max_panels, graphs)
    return figures


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
