"""Event-level features: the objects of every event in a fixed order and number per type.

The Dark Machines challenge (arXiv:2105.14027) describes an event by its reconstructed objects (jets,
b-jets, electrons, muons, photons) and the missing transverse momentum. A dense model needs a fixed
length, so each type contributes its ``n`` hardest objects as (E, pT, eta, phi) plus a presence flag,
zero-padded where an event has fewer; MET, MET phi, HT and the object counts follow. The table has the
same keys as :func:`analysis.dataset.jet_table` (one row per event instead of per jet), so the dataset
builder, the split, the scaler and every later stage are shared with the jet-level path.
"""
from __future__ import annotations

import awkward as ak
import numpy as np

from analysis.io.darkmachines import energy
from analysis.io.nanoaod import as_numpy
from analysis.selection.cuts import select_objects
from analysis.selection.variables import COUNTS, VARIABLES, dijet_system

# object type -> (collection in the event record, which of its objects: all, b-tagged or not b-tagged)
OBJECT_TYPES: dict[str, tuple[str, str]] = {
    "jet": ("Jet", "light"),
    "bjet": ("Jet", "b"),
    "electron": ("Electron", "all"),
    "muon": ("Muon", "all"),
    "photon": ("Photon", "all"),
}
# what an event-level table reads from a skim (absent ones are empty)
EVENT_COLLECTIONS = ("FatJet", "Jet", "Electron", "Muon", "Photon")
OBJECT_FIELDS = ("e", "pt", "eta", "phi", "present")
EVENT_FIELDS = ("met", "met_phi", "ht")


def validate_event_spec(spec: dict) -> None:
    """``spec['objects']`` maps object types to how many of each are kept; raises ValueError naming the key."""
    objects = spec.get("objects")
    if not isinstance(objects, dict) or not objects:
        raise ValueError("objects: a mapping of object type to count, e.g. {jet: 6, electron: 2}")
    for kind, n in objects.items():
        if kind not in OBJECT_TYPES:
            raise ValueError(f"objects.{kind}: unknown object type (known: {', '.join(OBJECT_TYPES)})")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"objects.{kind}: a positive number of objects, got {n!r}")


def event_feature_names(spec: dict) -> list[str]:
    """Column names in table order: per type and slot (E, pT, eta, phi, present), then MET, MET phi, HT, counts."""
    validate_event_spec(spec)
    names = [f"{kind}{i}_{f}" for kind, n in spec["objects"].items() for i in range(n) for f in OBJECT_FIELDS]
    return names + list(EVENT_FIELDS) + [f"n_{kind}" for kind in spec["objects"]]


def btag_needed_by(selection: dict, features: dict) -> str | None:
    """Why a study reads ``Jet.btag`` (None: it does not): a cut on a b-jet count, or event-level objects whose
    jets are split into b and light jets. A NanoAOD file without the b-tag branch is refused only then
    (analysis/btag.py)."""
    for cut in selection.get("cuts") or []:
        if COUNTS.get(cut.get("var"), ((), "all"))[1] == "b":
            return f"the selection's cut '{cut.get('name')}' on {cut['var']}"
    if features.get("level") == "event":
        split = [kind for kind in features.get("objects") or {} if OBJECT_TYPES[kind][1] != "all"]
        if split:
            return f"the event-level features ({features.get('name')}: {', '.join(split)} split by b tag)"
    return None


def _objects(events: ak.Array, kind: str) -> ak.Array:
    """The objects of one type, pT-ordered; an absent collection (e.g. no photons in a file) is empty."""
    coll, which = OBJECT_TYPES[kind]
    if coll not in events.fields:
        empty = ak.unflatten(np.zeros(0), np.zeros(len(events), np.int64))
        return ak.zip({f: empty for f in ("pt", "eta", "phi", "mass")})
    objs = events[coll]
    if which != "all":  # jets without btag (generated events: no b tagging) are all light
        btag = objs.btag > 0.5 if "btag" in objs.fields else ak.zeros_like(objs.pt, dtype=bool)
        objs = objs[btag if which == "b" else ~btag]
    return objs[ak.argsort(objs.pt, axis=1, ascending=False)]


def _padded(x: ak.Array, n: int) -> np.ndarray:
    return as_numpy(ak.fill_none(ak.pad_none(x, n, axis=1, clip=True), 0.0)).reshape(-1, n)


def _slots(objs: ak.Array, n: int) -> np.ndarray:
    """(events, n, 5): E, pT, eta, phi, present of the n leading objects, zeros where absent."""
    cols = [energy(objs), objs.pt, objs.eta, objs.phi, ak.ones_like(objs.pt)]
    return np.stack([_padded(c, n) for c in cols], axis=2)


def event_table(events: ak.Array, selection: dict, spec: dict) -> dict:
    """One row of event features per (skimmed) event, built from the objects passing the selection's
    object requirements (see module docstring), with the bookkeeping keys of jet_table."""
    validate_event_spec(spec)
    events = select_objects(events, selection.get("objects"))
    n_ev = len(events)
    blocks, counts = [], []
    for kind, n in spec["objects"].items():
        objs = _objects(events, kind)
        blocks.append(_slots(objs, n).reshape(n_ev, -1))
        counts.append(as_numpy(ak.num(objs), np.float64))
    ht = VARIABLES["ht"](events)  # the selection's HT (all selected jets), whichever types are kept
    met, met_phi = as_numpy(events.MET.pt, np.float64), as_numpy(events.MET.phi, np.float64)
    feats = np.concatenate([*blocks, np.stack([met, met_phi, ht], axis=1), np.stack(counts, axis=1)], axis=1)
    if "FatJet" in events.fields:  # mjj and MT for the sculpting figures: AK8 jets, else the AK4 jets
        dijet = dijet_system(events)
    elif "Jet" in events.fields:
        ordered = events.Jet[ak.argsort(events.Jet.pt, axis=1, ascending=False)]
        dijet = dijet_system(ak.with_field(events, ordered, "FatJet"))
    else:
        dijet = {"mjj": np.full(n_ev, np.nan), "mt": np.full(n_ev, np.nan)}
    return {
        "features": feats.astype(np.float64),
        "genweight": as_numpy(events.genWeight, np.float64),
        "event": as_numpy(events.event, np.uint64),
        "jet_index": np.zeros(n_ev, np.int32),
        "event_mjj": dijet["mjj"],
        "event_mt": dijet["mt"],
        "event_met": met,
    }
