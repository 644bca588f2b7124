"""Summary tables of the metrics: strict JSON (NaN -> null) for machines, Markdown for people."""
from __future__ import annotations

import json
import math
import os
from importlib import metadata

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


def _value_err(value: float, err: float, digits: int) -> str:
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
            cells = [_value_err(r["auc"], r.get("auc_err"), 4)]
            for t in targets:
                si = r["si"].get(t)
                cells.append("n/a" if si is None or not si["reachable"] else _value_err(si["si"], si["si_err"], 2))
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
