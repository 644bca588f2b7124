"""Preselection from config: object selection, ordered event cuts, and the cut flow.

A selection is ``{"objects": {Coll: {min_pt, max_abs_eta}}, "cuts": [{name, var, min?, max?, pt_above?}]}``
(see config/selections.yaml); ``pt_above`` makes an object count (``n_jet``, ``n_lepton``, ...) count
only objects above that pT. The cut flow counts events and summed event weights after each cut,
starting from all events, so its rows can be checked to add up. Lepton and photon collections a
file lacks count as empty (a lepton veto passes), so older generated files still select.
"""
from __future__ import annotations

import awkward as ak
import numpy as np

from analysis.io.files import OPTIONAL_COLLECTIONS
from analysis.selection.variables import COUNTS, VARIABLES, count_objects

OBJECT_KEYS = {"min_pt", "max_abs_eta"}
CUT_KEYS = {"name", "var", "min", "max", "pt_above"}


def validate_selection(selection: dict) -> None:
    """Raise ValueError naming the bad key; run before any event is read."""
    for coll, req in (selection.get("objects") or {}).items():
        bad = set(req) - OBJECT_KEYS
        if bad:
            raise ValueError(f"selection.objects.{coll}: unknown keys {sorted(bad)} (allowed {sorted(OBJECT_KEYS)})")
    for i, cut in enumerate(selection.get("cuts") or []):
        bad = set(cut) - CUT_KEYS
        if bad:
            raise ValueError(f"selection.cuts[{i}]: unknown keys {sorted(bad)} (allowed {sorted(CUT_KEYS)})")
        if cut.get("var") not in VARIABLES:
            raise ValueError(f"selection.cuts[{i}] ({cut.get('name')}): unknown variable '{cut.get('var')}' "
                             f"(known: {', '.join(sorted(VARIABLES))})")
        if "min" not in cut and "max" not in cut:
            raise ValueError(f"selection.cuts[{i}] ({cut.get('name')}): needs 'min' and/or 'max'")
        if "pt_above" in cut and cut["var"] not in COUNTS:
            raise ValueError(f"selection.cuts[{i}] ({cut.get('name')}): 'pt_above' only applies to object counts "
                             f"({', '.join(COUNTS)})")


def required_collections(selection: dict) -> list[str]:
    """What an input must have for this selection: its selected objects (leptons and photons may
    be absent), MET and the event weight."""
    objects = [c for c in selection.get("objects") or {} if c not in OPTIONAL_COLLECTIONS]
    return [*objects, "MET", "genWeight"]


def object_masks(events: ak.Array, objects: dict) -> dict[str, ak.Array]:
    """Per collection, which objects pass their kinematic requirements."""
    masks = {}
    for coll, req in (objects or {}).items():
        if coll not in events.fields:
            if coll in OPTIONAL_COLLECTIONS:
                continue
            raise ValueError(f"selection.objects: the events have no collection '{coll}'")
        obj = events[coll]
        mask = ak.ones_like(obj.pt, dtype=bool)
        if "min_pt" in req:
            mask = mask & (obj.pt > req["min_pt"])
        if "max_abs_eta" in req:
            mask = mask & (abs(obj.eta) < req["max_abs_eta"])
        masks[coll] = mask
    return masks


def select_objects(events: ak.Array, objects: dict) -> ak.Array:
    """Keep only the objects passing their kinematic requirements (order is preserved)."""
    for coll, mask in object_masks(events, objects).items():
        events = ak.with_field(events, events[coll][mask], coll)
    return events


def apply_selection(events: ak.Array, selection: dict, weights: np.ndarray | None = None
                    ) -> tuple[np.ndarray, list[dict]]:
    """Event mask after all cuts and the cut flow [{cut, events, weighted}] (first row: all events)."""
    validate_selection(selection)
    sel = select_objects(events, selection.get("objects"))
    n = len(events)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    mask = np.ones(n, dtype=bool)
    flow = [{"cut": "all", "events": int(n), "weighted": float(w.sum())}]
    for cut in selection.get("cuts") or []:
        x = count_objects(sel, cut["var"], cut["pt_above"]) if "pt_above" in cut else VARIABLES[cut["var"]](sel)
        if "min" in cut:
            mask &= x >= cut["min"]
        if "max" in cut:
            mask &= x <= cut["max"]
        flow.append({"cut": cut["name"], "events": int(mask.sum()), "weighted": float(w[mask].sum())})
    return mask, flow
