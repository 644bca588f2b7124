"""Dark Machines challenge metrics (arXiv:2105.14027) in the challenge's own table layouts.

Per signal and channel the challenge quotes the AUC and the signal efficiency at background
efficiencies 1e-2, 1e-3 and 1e-4, in a csv with the columns ``Signal,Model,Chan,AUC,1e-2,1e-3,1e-4``
(the layout of the per-method files of the challenge's results repository), so a user can put the
published numbers of any method beside ours row by row. Signals that appear in several channels are
combined into a total improvement: the channels' significance improvements eps_S / sqrt(eps_B) are
added in quadrature (independent signal regions), taking in each channel the best of the three
working points; the summary gives its minimum, median and maximum over signals per model, the
columns of the challenge's ``TotalImprovements.csv``.
"""
from __future__ import annotations

import csv
import math

import numpy as np

CHALLENGE_EPS_B = (1e-2, 1e-3, 1e-4)
TABLE_COLUMNS = ("Signal", "Model", "Chan", "AUC", "1e-2", "1e-3", "1e-4")
EPS_COLUMNS = dict(zip(CHALLENGE_EPS_B, TABLE_COLUMNS[4:]))  # working point -> its column
TOTAL_COLUMNS = ("Model", "MinTotalImprovement", "MedianTotalImprovement", "MaxTotalImprovement")


def challenge_rows(summary: dict, channel: str) -> list[dict]:
    """Table rows from :func:`analysis.metrics.summarize` output computed with CHALLENGE_EPS_B among its points.

    An unreachable working point (fewer than one effective background event left) is written as NaN.
    """
    rows = []
    for model, per_signal in summary.items():
        for signal, m in per_signal.items():
            missing = [e for e in CHALLENGE_EPS_B if e not in m["si"]]
            if missing:
                raise ValueError(f"model {model!r}, signal {signal!r}: no efficiency at eps_B {missing}; "
                                 f"add them to plots.eps_b")
            row = {"Signal": signal, "Model": model, "Chan": channel, "AUC": m["auc"]}
            for e, col in EPS_COLUMNS.items():
                p = m["si"][e]
                row[col] = p["eps_s"] if p["reachable"] else math.nan
            rows.append(row)
    return rows


def total_improvement(rows: list[dict]) -> list[dict]:
    """Per model: min / median / max over signals of the channels' best SI combined in quadrature."""
    per: dict[str, dict[str, float]] = {}
    for r in rows:
        si = [r[col] / math.sqrt(e) for e, col in EPS_COLUMNS.items() if not math.isnan(r[col])]
        best = max(si, default=0.0)
        per.setdefault(r["Model"], {}).setdefault(r["Signal"], 0.0)
        per[r["Model"]][r["Signal"]] += best**2
    out = []
    for model, sig in per.items():
        ti = np.sqrt(np.fromiter(sig.values(), float))
        out.append({"Model": model, "MinTotalImprovement": float(ti.min()),
                    "MedianTotalImprovement": float(np.median(ti)), "MaxTotalImprovement": float(ti.max())})
    return sorted(out, key=lambda r: -r["MedianTotalImprovement"])


def write_csv(path: str, rows: list[dict], columns: tuple[str, ...]) -> None:
    """Rows as csv with a header, numbers with 6 significant digits (as the challenge files)."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
