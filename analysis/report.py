"""Summary tables of the metrics: strict JSON (NaN -> null) for machines, Markdown for people, and the report
page (index.html with its tables and figures in reading order, index.md beside it)."""
from __future__ import annotations

import html
import json
import math
import os
from importlib import metadata
from typing import NamedTuple

import numpy as np

PACKAGES = ("numpy", "torch", "awkward", "uproot", "coffea", "fastjet", "pythia8mc", "POT", "matplotlib", "mplhep",
            "law", "luigi")
META_ORDER = ("config", "config_hash", "version", "date")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that shape the numbers ("not installed" where absent), for ``meta``."""
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _jsonable(obj):
    """Plain JSON types: NaN/inf -> None, numpy scalars/arrays -> Python, non-string keys -> str."""
    if isinstance(obj, dict):
        return {k if isinstance(k, str) else repr(float(k)) if isinstance(k, (float, np.floating)) else str(k):
                _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def value_err(value: float | None, err: float | None, digits: int) -> str:
    """``value ± err`` with ``digits`` decimals; n/a for a missing or non-finite value."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if err is None or not math.isfinite(err):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} ± {err:.{digits}f}"


def _markdown(summary: dict, meta: dict) -> str:
    lines = ["# Anomaly-detection performance", ""]
    keys = [k for k in META_ORDER if k in meta] + [k for k in meta if k not in META_ORDER and k != "versions"]
    lines += [f"- **{k}**: {meta[k]}" for k in keys]
    if meta.get("versions"):
        lines.append("- **versions**: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    lines += ["", "AUC ± stat. (Hanley-McNeil, effective sample sizes). SI = ε_S/√ε_B at the loosest cut with "
              "ε_B ≤ target, ± binomial stat. error; n/a: fewer than one effective background jet at that ε_B.", ""]
    for model, per_signal in summary.items():
        targets = list(dict.fromkeys(t for r in per_signal.values() for t in r["si"]))
        lines += [f"## {model}", "",
                  "| signal | AUC | " + " | ".join(f"SI @ ε_B = {float(t):g}" for t in targets) + " |",
                  "|---|---|" + "---|" * len(targets)]
        for signal, r in per_signal.items():
            cells = [value_err(r["auc"], r.get("auc_err"), 4)]
            for t in targets:
                si = r["si"].get(t)
                cells.append("n/a" if si is None or not si["reachable"] else value_err(si["si"], si["si_err"], 2))
            lines.append(f"| {signal} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_summary(summary: dict, meta: dict, json_path: str, md_path: str, extra: dict | None = None) -> None:
    """Write ``{"meta": meta, "summary": summary, **extra}`` as strict JSON and one Markdown table per model.

    ``summary`` is what ``analysis.metrics.summarize`` returns; ``meta`` carries config name, config hash,
    package versions (``package_versions()``) and date, whatever of them the caller has.
    """
    if not summary:
        raise ValueError("summary: no models")
    for path in (json_path, md_path):
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
    with open(json_path, "w") as f:
        json.dump({"meta": _jsonable(meta), "summary": _jsonable(summary), **_jsonable(extra or {})}, f,
                  indent=1, allow_nan=False)
        f.write("\n")
    with open(md_path, "w") as f:
        f.write(_markdown(summary, meta))


WARNING = "⚠"


class Table(NamedTuple):
    """A table of the report page: cells are text; a cell holding WARNING is shown as a warning."""
    caption: str
    header: list[str]
    rows: list[list[str]]


class Section(NamedTuple):
    """A section of the report page: title, a paragraph, tables, then figures (PNG file names)."""
    title: str
    text: str
    tables: list[Table]
    figures: list[str]


def flag(cell: str, warn: bool) -> str:
    """The cell with the warning sign appended where ``warn``."""
    return f"{cell} {WARNING}" if warn else cell


def _html_table(t: Table) -> str:
    def cell(tag: str, c: str) -> str:
        cls = ' class="warn"' if WARNING in c else ""
        return f"<{tag}{cls}>{html.escape(c)}</{tag}>"

    head = "".join(cell("th", c) for c in t.header)
    body = "".join("<tr>" + "".join(cell("td", c) for c in r) + "</tr>\n" for r in t.rows)
    return f"<table><caption>{html.escape(t.caption)}</caption>\n<tr>{head}</tr>\n{body}</table>\n"


def _md_table(t: Table) -> str:
    def esc(c: str) -> str:
        return c.replace("|", "\\|")

    lines = [f"**{t.caption}**", "", "| " + " | ".join(map(esc, t.header)) + " |",
             "|" + "---|" * len(t.header)]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in t.rows]
    return "\n".join(lines) + "\n\n"


def _wide(png: str) -> str:
    """' class="wide"' for a figure more than twice as wide as high (two panels and a legend), read from the
    PNG header (width and height are the big-endian words at bytes 16-24)."""
    with open(png, "rb") as f:
        head = f.read(24)
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return ' class="wide"' if height and width > 2 * height else ""


def write_index(sections: list[Section], meta: dict, outdir: str) -> None:
    """index.html (static: no scripts, opens from disk; tables in the page, each figure linking its PDF) and
    index.md, the sections in the given order; empty sections are left out."""
    title = (f"Sensitivity report: config {meta.get('config')} ({meta.get('config_hash')}), "
             f"version {meta.get('version')}")
    sections = [s for s in sections if s.tables or s.figures]
    toc = "".join(f'<li><a href="#s{i}">{html.escape(s.title)}</a></li>' for i, s in enumerate(sections))
    parts, md = [], [f"# {title}\n\nMachine-readable: [summary.json](summary.json)\n\n"]
    for i, s in enumerate(sections):
        figs = "".join(f'<figure{_wide(os.path.join(outdir, p))}><a href="{p[:-4]}.pdf"><img src="{p}" '
                       f'alt="{html.escape(p[:-4])}"></a><figcaption>{html.escape(p[:-4])}</figcaption></figure>\n'
                       for p in s.figures)
        parts.append(f'<section id="s{i}"><h2>{html.escape(s.title)}</h2>\n<p>{html.escape(s.text)}</p>\n'
                     + "".join(_html_table(t) for t in s.tables) + figs + "</section>\n")
        md.append(f"## {s.title}\n\n{s.text}\n\n" + "".join(_md_table(t) for t in s.tables)
                  + "".join(f"![{p[:-4]}]({p})\n\n" for p in s.figures))
    with open(os.path.join(outdir, "index.md"), "w") as f:
        f.write("".join(md))
    with open(os.path.join(outdir, "index.html"), "w") as f:
        f.write(f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1600px}} figure{{display:inline-block;width:31%;margin:0.5%;
vertical-align:top}} img{{width:100%}} figcaption{{text-align:center;font-size:small}}
figure.wide{{width:63%}}
table{{border-collapse:collapse;margin:1em 0}} td,th{{border:1px solid #bbb;padding:2px 6px;text-align:right}}
caption{{text-align:left;font-weight:bold;padding:4px 0}} .warn{{background:#ffe0b3;color:#8a3b00}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Machine-readable tables: <a href="summary.json">summary.json</a>, <a href="summary.md">summary.md</a>.</p>
<ol>{toc}</ol>
{"".join(parts)}</body></html>
""")
