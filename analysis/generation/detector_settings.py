"""The detector response's settings: the Delphes-CMS-like defaults and their check.

The config resolves ``generation.detector`` with :func:`resolve_detector` before any task runs; this module
loads neither awkward nor numba (``detector`` applies the response).
"""
from __future__ import annotations

import copy

# Regions are given by upper |eta| edges; the last edge is the acceptance. Each per-region parameter is
# a list with one value per edge.
DEFAULT_DETECTOR: dict = {
    "enabled": True,
    "tracks": {
        "eta_edges": [1.5, 2.5], "min_pt": 0.1,
        "low_pt": 1.0, "efficiency_low_pt": [0.70, 0.60], "efficiency": [0.95, 0.85],
        "resolution_constant": [0.01, 0.02], "resolution_slope": [1.5e-4, 3.0e-4],  # 1/GeV
    },
    "ecal": {"eta_edges": [1.5, 3.0], "stochastic": [0.07, 0.21], "constant": [0.007, 0.02],
             "noise": [0.35, 0.35]},  # GeV
    "hcal": {"eta_edges": [3.0, 5.0], "stochastic": [1.5, 2.7], "constant": [0.05, 0.13],
             "noise": [0.0, 0.0]},
    "calo_min_e": 0.5,  # GeV: deposits below are noise-suppressed
    "electron": {"eta_edges": [1.5, 2.5], "efficiency": [0.95, 0.85], "min_pt": 10.0,
                 "iso_cone": 0.3, "iso_max": 0.1},
    "muon": {"eta_edges": [1.5, 2.4], "efficiency": [0.95, 0.95], "min_pt": 10.0,
             "iso_cone": 0.3, "iso_max": 0.25},
    "photon": {"eta_edges": [1.5, 2.5], "efficiency": [0.95, 0.85], "min_pt": 10.0,
               "iso_cone": 0.3, "iso_max": 0.12},
}
_PER_REGION = {"efficiency_low_pt", "efficiency", "resolution_constant", "resolution_slope",
               "stochastic", "constant", "noise"}


def _check(cond: bool, key: str, why: str) -> None:
    if not cond:
        raise ValueError(f"detector.{key}: {why}")


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def resolve_detector(over: dict | None) -> dict:
    """Defaults merged with ``over`` and validated; raises ValueError naming ``detector.<key>``."""
    _check(over is None or isinstance(over, dict), "", "a mapping of detector settings")
    out = copy.deepcopy(DEFAULT_DETECTOR)
    for k, v in (over or {}).items():
        _check(k in out, k, f"unknown key (allowed: {', '.join(sorted(out))})")
        if isinstance(out[k], dict):
            _check(isinstance(v, dict), k, "a mapping")
            for kk, vv in v.items():
                _check(kk in out[k], f"{k}.{kk}", f"unknown key (allowed: {', '.join(sorted(out[k]))})")
                out[k][kk] = copy.deepcopy(vv)
        else:
            out[k] = v
    _check(isinstance(out["enabled"], bool), "enabled", "true or false")
    _check(_number(out["calo_min_e"]) and out["calo_min_e"] >= 0, "calo_min_e", "a number >= 0 (GeV)")
    for name, part in out.items():
        if not isinstance(part, dict):
            continue
        edges = part["eta_edges"]
        _check(isinstance(edges, list) and edges and all(_number(e) and e > 0 for e in edges)
               and edges == sorted(edges), f"{name}.eta_edges", "increasing positive |eta| edges")
        for k, v in part.items():
            if k in _PER_REGION:
                _check(isinstance(v, list) and len(v) == len(edges) and all(_number(x) and x >= 0 for x in v),
                       f"{name}.{k}", f"one non-negative number per eta region ({len(edges)})")
                if k.startswith("efficiency"):
                    _check(all(x <= 1 for x in v), f"{name}.{k}", "efficiencies are in [0, 1]")
            elif k != "eta_edges":
                _check(_number(v) and v >= 0, f"{name}.{k}", "a non-negative number")
    return out
