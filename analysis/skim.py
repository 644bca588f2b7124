"""Skim one input file: read it in chunks, apply the preselection, write the selected events.

What a skim keeps by default is what the later stages read (``DOWNSTREAM``: the objects, the
constituents, the weight and the event's identity ``run``, ``luminosityBlock``, ``event``); a config's
``inputs.keep`` adds record names (``[LHEScaleWeight, HLT]``) or ``all`` copies every branch. Reading
and writing go chunk by chunk (``inputs.step_size`` events), so memory is bounded by the chunk. The
skim carries a NanoAOD ``Runs`` tree with the sum of generator weights it was normalised to, and
``run``/``luminosityBlock`` even for Delphes and csv inputs, so coffea's NanoAODSchema reads it.
"""
from __future__ import annotations

import awkward as ak
import numpy as np

from analysis.io.files import OPTIONAL_COLLECTIONS
from analysis.io.inputs import iterate_input
from analysis.io.nanoaod import InputError, TreeWriter, flat_branches, runs_sum_weights, runs_tree, write_tree
from analysis.selection.cuts import apply_selection, required_collections

_OBJECT = ("pt", "eta", "phi", "mass")
_LEPTON = (*_OBJECT, "charge", "pdgId")
# what the later stages read, per record name (None: all of it): features, representations, selections,
# event-level objects, weights and the event's identity. uproot's tree writing grows faster than linearly
# with the number of branches, so a skim writes these fields, not the whole collections.
DOWNSTREAM: dict[str, tuple[str, ...] | None] = {
    "FatJet": (*_OBJECT, "msoftdrop", "tau1", "tau2", "tau3", "tau4", "n2b1", "n3b1", "nConstituents", "rinv"),
    "Jet": (*_OBJECT, "btag"),
    "PFCands": (*_LEPTON, "fatJetIdx", "puppiWeight"),
    **{c: _LEPTON for c in OPTIONAL_COLLECTIONS},
    "MET": ("pt", "phi"),
    **{name: None for name in ("genWeight", "run", "luminosityBlock", "event")},
}
DEFAULT_STEP_SIZE = 20_000


def skim_collections(selection: dict, keep: str | list[str] = ()) -> list[str] | None:
    """The record names a skim reads and writes (None: everything the file has)."""
    if keep == "all":
        return None
    return list(dict.fromkeys([*DOWNSTREAM, *required_collections(selection), *keep]))


def trim(events: ak.Array, keep: str | list[str] = ()) -> ak.Array:
    """The fields of ``DOWNSTREAM`` the events have; records named in ``keep`` (or all, ``keep: all``) whole."""
    if keep == "all":
        return events
    out = {}
    for name in events.fields:
        fields = DOWNSTREAM.get(name)
        col = events[name]
        out[name] = col if fields is None or name in keep else col[[f for f in fields if f in col.fields]]
    return ak.Array(out)


def skim_file(path: str, fmt: str, selection: dict, out_path: str, key: str, *, is_data: bool = False,
              keep: str | list[str] = (), step_size: int | None = DEFAULT_STEP_SIZE, on_bad_line: str = "fail",
              puppi: bool = True, btag: dict | None = None, need_btag: str | None = None) -> dict:
    """Skim ``path`` into ``out_path`` (written directly; ``key`` makes its bytes reproducible, see
    TreeWriter) and return its record: ``cutflow`` (events and weighted events after each cut, summed
    over chunks), ``n_generated``, ``sum_genweight`` (the ``Runs`` tree's genEventSumw when the file
    has one, else the sum of genWeight over all events before any cut), ``sum_genweight_from`` and the
    reader's notes under ``read``. Collision data (``is_data``) has no genWeight: every event weighs 1.
    ``btag``, ``need_btag``: NanoAOD's b tag and why the study needs it (analysis/btag.py).
    """
    require = [c for c in required_collections(selection) if not (is_data and c == "genWeight")]
    wanted = skim_collections(selection, keep)
    flow, n, sumw, sumw2, notes, first_run = None, 0, 0.0, 0.0, {}, 1
    with TreeWriter(out_path, key) as writer:
        for events, chunk_notes in iterate_input(path, fmt, wanted, require, on_bad_line, step_size, puppi,
                                                 optional=wanted or (), btag=btag, need_btag=need_btag):
            events = _bookkeeping(events, is_data)
            mask, chunk_flow = apply_selection(events, selection, events.genWeight)
            flow = chunk_flow if flow is None else [
                {**row, "events": row["events"] + new["events"], "weighted": row["weighted"] + new["weighted"]}
                for row, new in zip(flow, chunk_flow)]
            if n == 0 and len(events):
                first_run = int(events.run[0])
            w = ak.to_numpy(events.genWeight).astype(np.float64)
            n, sumw, sumw2 = n + len(w), sumw + w.sum(), sumw2 + (w * w).sum()
            notes |= chunk_notes
            writer.extend(flat_branches(trim(events[mask], keep)))
            del events, mask, w  # released before the next chunk is read
        runs = runs_sum_weights(path) if fmt in ("nanoaod", "pfnano") and not is_data else None
        info = {"n_generated": n, "sum_genweight": sumw if runs is None else runs,
                "sum_genweight_from": "data" if is_data else "genWeight" if runs is None else "Runs.genEventSumw"}
        writer.add_tree("Runs", runs_tree(n, info["sum_genweight"], sumw2, first_run))
    return info | ({"read": notes} if notes else {}) | {"cutflow": flow}


def skim_or_skip(path: str, fmt: str, selection: dict, out_path: str, key: str, on_bad_file: str = "fail",
                 **options) -> dict:
    """:func:`skim_file`, or with ``on_bad_file: skip`` an unreadable input (InputError) gives an empty
    skim and a record ``{"cutflow": [], "skipped": <the error>}``: counted, left out of the dataset and
    of its normalisation."""
    try:
        return skim_file(path, fmt, selection, out_path, key, **options)
    except InputError as e:
        if "genWeight" in str(e) and not options.get("is_data"):
            e = InputError(f"{e} (collision data? give the sample label: data)")
        if on_bad_file != "skip":
            raise e from None
        write_tree(out_path, {"event": np.zeros(0, np.uint64)})
        return {"cutflow": [], "skipped": str(e)}


def _bookkeeping(events: ak.Array, is_data: bool) -> ak.Array:
    """Weight 1 for collision data; run and luminosity block 1 where a format has none (Delphes, csv)."""
    n = len(events)
    if is_data:
        events = ak.with_field(events, np.ones(n, np.float32), "genWeight")
    for name in ("run", "luminosityBlock"):
        if name not in events.fields:
            events = ak.with_field(events, np.ones(n, np.uint32), name)
    return events
