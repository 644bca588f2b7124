"""The sensitivity report: metrics on the test split, every figure, and the summary tables.

Background is the weighted sum of all background samples (cross-section weights), each signal is
compared against it alone; metrics and figures use only the test split, which no model trained or
selected its epoch on.
"""
from __future__ import annotations

import html
import os

import numpy as np

from analysis.metrics import roc_curve, summarize
from analysis.plotting.performance import plot_auc_comparison, plot_roc, plot_score_distributions, plot_si
from analysis.plotting.training import plot_history
from analysis.report import write_summary


def test_scores(data: dict, scores: dict[str, np.ndarray]) -> dict:
    """{model: {"background": (s, w), "signals": {name: (s, w)}, "samples": {name: (s, w)}}} on the test split."""
    test = data["split"] == 2
    names = data["sample_names"]
    out = {}
    for model, s in scores.items():
        per = {}
        for sid, name in enumerate(names):
            m = test & (data["sample_id"] == sid)
            per[name] = (s[m], data["weight"][m])
        bkg = test & (data["label"] == 0)
        out[model] = {
            "background": (s[bkg], data["weight"][bkg]),
            "signals": {n: per[n] for sid, n in enumerate(names)
                        if (data["label"][data["sample_id"] == sid] == 1).any()},
            "samples": per,
        }
    return out


def build_report(data: dict, scores: dict[str, np.ndarray], histories: dict[str, dict], plots_cfg: dict,
                 meta: dict, outdir: str) -> dict:
    """Write figures, summary.json, summary.md and index.md into ``outdir``; return the summary."""
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
    write_summary(summary, meta, stem("summary.json"), stem("summary.md"))
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
