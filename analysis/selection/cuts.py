"""Preselection from config: object selection, ordered event cuts, and the cut flow.

A selection is ``{"objects": {Coll: {min_pt, max_abs_eta}}, "cuts": [{name, var, min?, max?, pt_above?}]}``
(see config/selections.yaml); ``pt_above`` makes an object count (``n_jet``, ``n_lepton``, ...) count
only objects above that pT. The cut flow counts events and summed event weights after each cut,
starting from all events, so its rows can be checked to add up. Lepton and photon collections a
file lacks count as empty (a lepton veto passes), so older generated files still select.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from analysis.io.files import OPTIONAL_COLLECTIONS
from analysis.schema import Section, resolve_section
from analysis.selection.variables import COUNTS, VARIABLES, count_objects

if TYPE_CHECKING:
    import awkward as ak
    import numpy as np

# the collections a selection may require objects of (those the event variables count)
OBJECT_COLLECTIONS = tuple(sorted({c for colls, _ in COUNTS.values() for c in colls}))


class ObjectCuts(Section):
    min_pt: float | None = Field(None, ge=0, description="GeV; null: no pT requirement")
    max_abs_eta: float | None = Field(None, gt=0, description="null: no |eta| requirement")


class Cut(Section):
    name: str = Field(description="the cut flow's row name")
    var: Literal[tuple(VARIABLES)] = Field(description="event variable (analysis/selection/variables.py)")
    min: float | None = Field(None, description="keep events with var >= min")
    max: float | None = Field(None, description="keep events with var <= max")
    pt_above: float | None = Field(None, description="object counts only: count objects above this pT (GeV)")

    @model_validator(mode="after")
    def _bounds(self) -> "Cut":
        if self.min is None and self.max is None:
            raise ValueError("needs 'min' and/or 'max'")
        if self.pt_above is not None and self.var not in COUNTS:
            raise ValueError(f"'pt_above' only applies to object counts ({', '.join(COUNTS)})")
        return self


class Selection(Section):
    """The schema of a selection (config/selections.yaml entries, a study's ``selection``)."""

    name: str | None = Field(None, description="the catalogue entry (config/selections.yaml)")
    objects: dict[Literal[OBJECT_COLLECTIONS], ObjectCuts] = Field(
        {}, description=f"object requirements per collection ({', '.join(OBJECT_COLLECTIONS)})")
    cuts: list[Cut] = Field([], description="applied in order; the cut flow counts events after each")


def validate_selection(selection: dict) -> dict:
    """The selection checked against its schema (unset keys left out); ValueError naming the key and value."""
    return resolve_section(Selection, selection, "selection", exclude_none=True)


def required_collections(selection: dict) -> list[str]:
    """What an input must have for this selection: its selected objects (leptons and photons may
    be absent), MET and the event weight."""
    objects = [c for c in selection.get("objects") or {} if c not in OPTIONAL_COLLECTIONS]
    return [*objects, "MET", "genWeight"]


def object_masks(events: ak.Array, objects: dict) -> dict[str, ak.Array]:
    """Per collection, which objects pass their kinematic requirements."""
    import awkward as ak  # here, not at import: the config validates selections with this module's schema

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
    import awkward as ak

    for coll, mask in object_masks(events, objects).items():
        events = ak.with_field(events, events[coll][mask], coll)
    return events


def apply_selection(events: ak.Array, selection: dict, weights: np.ndarray | None = None
                    ) -> tuple[np.ndarray, list[dict]]:
    """Event mask after all cuts and the cut flow [{cut, events, weighted}] (first row: all events)."""
    import numpy as np

    selection = validate_selection(selection)
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
