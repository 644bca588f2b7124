"""NanoAOD-like ROOT files <-> one awkward event record.

The event record is an awkward Array with one field per collection (``FatJet``, ``Jet``,
``PFCands``, ... as jagged records) and one per scalar branch group (``MET`` as a record of
``pt, phi``; ``genWeight``, ``event``, ... as plain numbers). Reading groups branches by their
``<Collection>_`` prefix and the ``n<Collection>`` counter, the convention NanoAOD uses, so files
from CMS, from the generator here, and skims of either read the same way.
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import types as types_module
import uuid
from collections import defaultdict

import awkward as ak
import numpy as np
import uproot

TREE = "Events"


class InputError(ValueError):
    """An input file that cannot be used; the message names the file and the reason."""


def _open_tree(path: str):
    try:
        f = uproot.open(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Exception as e:  # uproot raises many kinds for corrupt/truncated files
        raise InputError(f"{path}: not a readable ROOT file ({type(e).__name__}: {e})") from None
    if TREE not in f:
        f.close()
        raise InputError(f"{path}: no '{TREE}' tree (keys: {', '.join(f.keys()) or 'none'})")
    return f, f[TREE]


def read_events(path: str, collections: list[str] | None = None, require: tuple[str, ...] | list[str] = (),
                optional: tuple[str, ...] | list[str] = ()) -> ak.Array:
    """Read a NanoAOD-like file into one event record.

    ``collections`` restricts what is read (collection or scalar-group names, e.g. ``["FatJet",
    "PFCands", "MET", "genWeight"]``); a requested one that is missing raises InputError unless it
    is in ``optional`` (then it is left out). ``require`` names groups that must be present even when
    everything is read (a skim reads all but cannot select without ``FatJet``); a missing one raises
    InputError too.
    """
    f, tree = _open_tree(path)
    with f:
        names = list(tree.keys())
        prefixes = {x.split("_", 1)[0] for x in names if "_" in x}
        groups: dict[str, list[str]] = defaultdict(list)
        for b in names:
            if b.startswith("n") and b[1:] in prefixes:
                continue  # counter branch, implied by the jagged arrays
            groups[b.split("_", 1)[0] if "_" in b else b].append(b)
        wanted = list(groups) if collections is None else [c for c in collections if c in groups or c not in optional]
        missing = [c for c in dict.fromkeys([*wanted, *require]) if c not in groups]
        if missing:
            raise InputError(f"{path}: tree '{TREE}' has no branches for {', '.join(missing)} "
                             f"(found groups: {', '.join(sorted(groups))})")
        branches = [b for c in wanted for b in groups[c]]
        try:
            arrays = tree.arrays(branches, how=dict)
        except Exception as e:
            raise InputError(f"{path}: cannot read branches ({type(e).__name__}: {e})") from None
    fields = {}
    for c in wanted:
        members = groups[c]
        if members == [c]:
            fields[c] = arrays[c]
        else:
            fields[c] = ak.zip({b.split("_", 1)[1]: arrays[b] for b in members})
    return ak.Array(fields)


def write_events(path: str, events: ak.Array) -> None:
    """Write an event record as a NanoAOD-like tree (``n<Coll>`` counters + ``<Coll>_<field>``).

    Writes to ``path`` directly; callers make it atomic (tasks write to a temporary name and move).
    """
    flat = {}
    for name in events.fields:
        col = events[name]
        if col.fields and col.ndim > 1:  # jagged collection -> n<name> + <name>_<field>
            flat[name] = ak.zip({f: col[f] for f in col.fields})
        elif col.fields:  # one record per event (MET) -> <name>_<field>
            flat.update({f"{name}_{f}": ak.to_numpy(col[f]) for f in col.fields})
        else:
            flat[name] = ak.to_numpy(col)
    write_tree(path, flat)


def write_tree(path: str, branches: dict, tree: str = TREE, **naming) -> None:
    """Write flat branches (numpy arrays, or jagged awkward records -> ``n<name>`` + ``<name>_<field>``)
    as a TTree. mktree + extend keeps the NanoAOD naming; since uproot 5.7 ``f[name] = ...`` writes an RNTuple.
    ``naming`` (uproot's ``field_name``, ``counter_name``) gives other layouts (Delphes: ``Jet.PT``, ``Jet_size``).

    The file is byte-reproducible: ROOT headers hold creation times and UUIDs, so the clock is fixed
    while writing and the UUID is derived from the content (same events -> same bytes, same md5).
    """
    types = {k: v.type.content if isinstance(v, ak.Array) else v.dtype for k, v in branches.items()}
    n = len(next(iter(branches.values())))
    digest = hashlib.sha256(str(n).encode())
    for k in sorted(branches):
        v = branches[k]
        buffers = ak.to_buffers(ak.to_packed(v))[2].values() if isinstance(v, ak.Array) else [np.asarray(v)]
        digest.update(k.encode())
        for b in buffers:
            digest.update(np.ascontiguousarray(b).tobytes())
    file_uuid = uuid.UUID(bytes=digest.digest()[:16])
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    # through a file object: uproot would otherwise store the (temporary) file name in the header
    with _fixed_clock(), open(path, "w+b") as sink, uproot.recreate(sink, uuid_function=lambda: file_uuid) as f:
        f.mktree(tree, types, **naming)
        if n:
            f[tree].extend(branches)


class _FixedDatetime(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(2000, 1, 1)


@contextlib.contextmanager
def _fixed_clock():
    """uproot stamps files with datetime.now() (pinned uproot 5.7.7: writing._cascade, _cascadetree, writable)."""
    mods = (uproot.writing._cascade, uproot.writing._cascadetree, uproot.writing.writable)
    saved = [m.datetime for m in mods]
    shim = types_module.SimpleNamespace(datetime=_FixedDatetime)
    try:
        for m in mods:
            m.datetime = shim
        yield
    finally:
        for m, d in zip(mods, saved):
            m.datetime = d


ASSOCIATION = "FatJetPFCands"  # CMS PFNano: one row per (FatJet, PFCand) pair, jetIdx + pFCandsIdx


def read_pfnano(path: str, collections: list[str] | None = None, require: tuple[str, ...] | list[str] = (),
                optional: tuple[str, ...] | list[str] = ()) -> ak.Array:
    """Read a CMS PFNano file: as :func:`read_events`, with ``PFCands_fatJetIdx`` built from the
    ``FatJetPFCands`` association table (candidates in no FatJet get -1), which is then dropped."""
    wants_cands = collections is None or "PFCands" in collections or "PFCands" in require
    extra = [ASSOCIATION, "FatJet", "PFCands"] if wants_cands else []
    events = read_events(path, None if collections is None else list(dict.fromkeys([*collections, *extra])),
                         [*require, *extra], optional)
    if not wants_cands:
        return events
    table = events[ASSOCIATION]
    n_cands = ak.to_numpy(ak.num(events.PFCands)).astype(np.int64)
    n_rows = ak.to_numpy(ak.num(table))
    cand = ak.to_numpy(ak.flatten(table.pFCandsIdx)).astype(np.int64)
    jet = ak.to_numpy(ak.flatten(table.jetIdx)).astype(np.int32)
    row_event = np.repeat(np.arange(len(events)), n_rows)
    bad = (cand < 0) | (cand >= n_cands[row_event]) | (jet < 0) | (jet >= ak.to_numpy(ak.num(events.FatJet))[row_event])
    if bad.any():
        raise InputError(f"{path}: {ASSOCIATION}: {int(bad.sum())} rows point past their event's PFCands or "
                         f"FatJets (first in event {int(row_event[bad][0])})")
    idx = np.full(int(n_cands.sum()), -1, np.int32)
    idx[cand + np.concatenate([[0], np.cumsum(n_cands)[:-1]])[row_event]] = jet
    cands = ak.with_field(events.PFCands, ak.unflatten(idx, n_cands), "fatJetIdx")
    return ak.Array({**{f: events[f] for f in events.fields if f != ASSOCIATION}, "PFCands": cands})


def jet_constituents(events: ak.Array, jets: str = "FatJet", cands: str = "PFCands",
                     index: str = "fatJetIdx") -> ak.Array:
    """Constituents grouped per jet: [event][jet][constituent], from the candidates' jet index.

    Works whether or not the candidates are stored grouped by jet (PFNano does not promise it):
    candidates are sorted by jet index (stable) and cut into runs whose lengths are counted per jet.
    Candidates with index < 0 or beyond the event's jets are dropped.
    """
    n_jets = ak.num(events[jets])
    c = events[cands]
    idx = c[index]
    keep = (idx >= 0) & (idx < n_jets)
    c, idx = c[keep], idx[keep]
    order = ak.argsort(idx, axis=1, stable=True)
    c, idx = c[order], idx[order]
    offsets = np.concatenate([[0], np.cumsum(ak.to_numpy(n_jets))[:-1]])
    global_idx = ak.to_numpy(ak.flatten(idx + offsets))
    counts = np.bincount(global_idx, minlength=int(ak.sum(n_jets))).astype(np.int64)
    per_jet = ak.unflatten(ak.flatten(c), counts)
    return ak.unflatten(per_jet, n_jets)


def as_numpy(x: ak.Array, dtype=np.float64) -> np.ndarray:
    return np.asarray(ak.to_numpy(x), dtype=dtype)
