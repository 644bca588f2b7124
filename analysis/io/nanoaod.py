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
from collections.abc import Iterator

import awkward as ak
import numpy as np
import uproot

from analysis.btag import BTAG_BRANCH, BTAG_THRESHOLD, missing_branch

TREE = "Events"


class InputError(ValueError):
    """An input file that cannot be used; the message names the file and the reason."""


# NanoAOD v15 renamed these tables; the record keeps the v9-v14 names, so one selection and feature code
# reads every version (a file that has both keeps the older table under its own name)
ALIASES = {"PFMET": "MET", "PFCand": "PFCands", "FatJetPFCand": "FatJetPFCands"}
FIELD_ALIASES = {"FatJetPFCands": {"pfCandIdx": "pFCandsIdx"}}


def _open_tree(path: str):
    """The file and its ``Events`` tree: a TTree or an RNTuple (both answer keys/arrays/iterate)."""
    try:
        f = uproot.open(path, array_cache=None)  # chunks are read once: memory follows the chunk
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Exception as e:  # uproot raises many kinds for corrupt/truncated files
        raise InputError(f"{path}: not a readable ROOT file ({type(e).__name__}: {e})") from None
    try:
        if TREE not in f:
            raise InputError(f"{path}: no '{TREE}' tree (keys: {', '.join(f.keys()) or 'none'})")
        return f, f[TREE]
    except InputError:
        f.close()
        raise
    except Exception as e:  # a directory or tree header cut off by truncation
        f.close()
        raise InputError(f"{path}: not a readable ROOT file ({type(e).__name__}: {e})") from None


def branch_names(tree) -> list[str]:
    """The tree's branch names; an RNTuple's top-level field names (uproot's RNTuple.keys() walks every
    nested field and takes seconds on a PFNano file)."""
    if isinstance(tree, uproot.behaviors.RNTuple.RNTuple):
        return [f.name for f in tree.fields]
    return list(tree.keys())


def branch_groups(names: list[str]) -> dict[str, dict[str | None, str]]:
    """Record name -> {field: branch}: ``<Coll>_<field>`` branches grouped by prefix, a bare branch
    (``genWeight``, or a jagged array without sub-fields such as ``LHEScaleWeight``) under field None.

    ``n<Coll>`` counters are left out (the jagged arrays imply them); RNTuple's internal
    ``_collectionN.*`` names are left out (each field is also listed under its NanoAOD name).
    """
    names = [b for b in names if not b.startswith("_collection")]
    prefixes = {b.split("_", 1)[0] for b in names if "_" in b}
    bare = set(names)
    groups: dict[str, dict[str | None, str]] = defaultdict(dict)
    for b in names:
        if b.startswith("n") and (b[1:] in prefixes or b[1:] in bare):
            continue
        coll, field = b.split("_", 1) if "_" in b else (b, None)
        groups[coll][field] = b
    for old, new in ALIASES.items():
        if old in groups and new not in groups:
            groups[new] = groups.pop(old)
    for coll, renames in FIELD_ALIASES.items():
        for old, new in renames.items():
            if coll in groups and old in groups[coll] and new not in groups[coll]:
                groups[coll][new] = groups[coll].pop(old)
    return dict(groups)


def _record(groups: dict[str, dict[str | None, str]], arrays: dict, wanted: list[str]) -> ak.Array:
    fields = {}
    for c in wanted:
        members = groups[c]
        fields[c] = arrays[members[None]] if None in members else ak.zip({f: arrays[b] for f, b in members.items()})
    return ak.Array(fields)


def iterate_events(path: str, collections: list[str] | None = None, require: tuple[str, ...] | list[str] = (),
                   optional: tuple[str, ...] | list[str] = (), step_size: int | None = None) -> Iterator[ak.Array]:
    """Read a NanoAOD-like file (TTree or RNTuple) as event records of at most ``step_size`` events
    (None: the whole file at once), so memory is bounded by the chunk, not the file.

    ``collections`` restricts what is read (record names, e.g. ``["FatJet", "PFCands", "MET",
    "genWeight"]``); a requested one that is missing raises InputError unless it is in ``optional``
    (then it is left out). ``require`` names groups that must be present even when everything is read.
    Any failure while reading (a truncated or corrupt file) raises InputError naming the file.
    """
    f, tree = _open_tree(path)
    with f:
        try:
            groups = branch_groups(branch_names(tree))
            n_entries = tree.num_entries
        except Exception as e:
            raise InputError(f"{path}: cannot read the '{TREE}' tree's layout ({type(e).__name__}: {e})") from None
        wanted = list(groups) if collections is None else [c for c in collections if c in groups or c not in optional]
        missing = [c for c in dict.fromkeys([*wanted, *require]) if c not in groups]
        if missing:
            raise InputError(f"{path}: tree '{TREE}' has no branches for {', '.join(missing)} "
                             f"(found groups: {', '.join(sorted(groups))})")
        branches = [b for c in wanted for b in groups[c].values()]
        step = max(int(step_size or n_entries), 1)
        try:
            for start in range(0, max(n_entries, 1), step):
                stop = min(start + step, n_entries)
                if isinstance(tree, uproot.behaviors.RNTuple.RNTuple):  # field by field: RNTuple.arrays lists
                    arrays = {b: tree[b].array(entry_start=start, entry_stop=stop) for b in branches}  # all keys
                else:
                    arrays = tree.arrays(branches, entry_start=start, entry_stop=stop, how=dict)
                yield _record(groups, arrays, wanted)
                del arrays  # the next chunk is read without this one still held
        except Exception as e:
            raise InputError(f"{path}: cannot read branches ({type(e).__name__}: {e})") from None


def read_events(path: str, collections: list[str] | None = None, require: tuple[str, ...] | list[str] = (),
                optional: tuple[str, ...] | list[str] = ()) -> ak.Array:
    """Read a whole NanoAOD-like file into one event record (see :func:`iterate_events`)."""
    return next(iterate_events(path, collections, require, optional))


def runs_sum_weights(path: str) -> float | None:
    """The generator's sum of weights over the file's runs (``Runs`` tree, ``genEventSumw``; some
    NanoAOD versions name it ``genEventSumw_``), or None when the file has no such tree or branch."""
    try:
        with uproot.open(path) as f:
            if "Runs" not in f:
                return None
            runs = f["Runs"]
            for name in ("genEventSumw", "genEventSumw_"):
                if name in runs.keys():
                    return float(np.sum(runs[name].array(library="np")))
    except Exception as e:
        raise InputError(f"{path}: cannot read the 'Runs' tree ({type(e).__name__}: {e})") from None
    return None


def runs_tree(count: int, sumw: float, sumw2: float, run: int = 1) -> dict[str, np.ndarray]:
    """NanoAOD's ``Runs`` tree (one entry per run): the generator's event count and sums of weights
    before any selection, which is what a sample is normalised to."""
    return {"run": np.array([run], np.uint32), "genEventCount": np.array([count], np.int64),
            "genEventSumw": np.array([sumw], np.float64), "genEventSumw2": np.array([sumw2], np.float64)}


def flat_branches(events: ak.Array) -> dict:
    """An event record -> the branches :func:`write_tree` writes: a jagged collection as one awkward
    record (``n<Coll>`` + ``<Coll>_<field>``), a jagged array without fields (``LHEScaleWeight``) as
    itself (``n<name>`` + ``<name>``), a per-event record (MET) as ``<name>_<field>``, a number as is."""
    flat = {}
    for name in events.fields:
        col = events[name]
        if col.fields and col.ndim > 1:
            flat[name] = ak.zip({f: col[f] for f in col.fields})
        elif col.fields:
            flat.update({f"{name}_{f}": ak.to_numpy(col[f]) for f in col.fields})
        elif col.ndim > 1:
            flat[name] = ak.to_packed(col)
        else:
            flat[name] = ak.to_numpy(col)
    return flat


def write_events(path: str, events: ak.Array, extra_trees: dict[str, dict] | None = None) -> None:
    """Write an event record as a NanoAOD-like tree (see :func:`flat_branches`), and ``extra_trees``
    ({tree name: {branch: numpy array}}, e.g. ``Runs``) beside it.

    Writes to ``path`` directly; callers make it atomic (tasks write to a temporary name and move).
    """
    write_tree(path, flat_branches(events), extra_trees=extra_trees)


def write_tree(path: str, branches: dict, tree: str = TREE, extra_trees: dict[str, dict] | None = None,
               **naming) -> None:
    """Write flat branches (numpy arrays, or jagged awkward arrays -> ``n<name>`` + ``<name>_<field>``)
    as a TTree, and ``extra_trees`` beside it. ``naming`` (uproot's ``field_name``, ``counter_name``)
    gives other layouts (Delphes: ``Jet.PT``, ``Jet_size``).

    The file is byte-reproducible: the UUID in its header is derived from the content (same events ->
    same bytes, same md5), see :class:`TreeWriter`.
    """
    n = len(next(iter(branches.values())))
    digest = hashlib.sha256(str(n).encode())
    for k in sorted(branches):
        v = branches[k]
        buffers = ak.to_buffers(ak.to_packed(v))[2].values() if isinstance(v, ak.Array) else [np.asarray(v)]
        digest.update(k.encode())
        for b in buffers:
            digest.update(np.ascontiguousarray(b).tobytes())
    with TreeWriter(path, digest.hexdigest(), tree, **naming) as writer:
        writer.extend(branches)
        for name, extra in (extra_trees or {}).items():
            writer.add_tree(name, extra)


class TreeWriter:
    """Writes one tree chunk by chunk (``mktree`` on the first chunk, then ``extend``), so a skim never
    holds more than a chunk; small trees (``Runs``) go beside it with :meth:`add_tree`.

    mktree + extend keeps the NanoAOD naming (since uproot 5.7 ``f[name] = ...`` writes an RNTuple).
    ROOT headers hold creation times and UUIDs: the clock is fixed while writing and the UUID derived
    from ``key`` (the caller's digest of what determines the content), so files are byte-reproducible.
    """

    def __init__(self, path: str, key: str, tree: str = TREE, **naming):
        self.path, self.key, self.tree, self.naming = path, key, tree, naming
        self._created = False

    def __enter__(self) -> "TreeWriter":
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        file_uuid = uuid.UUID(bytes=hashlib.sha256(self.key.encode()).digest()[:16])
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(_fixed_clock())
        # through a file object: uproot would otherwise store the (temporary) file name in the header
        sink = self._stack.enter_context(open(self.path, "w+b"))
        self._file = self._stack.enter_context(uproot.recreate(sink, uuid_function=lambda: file_uuid))
        return self

    def extend(self, branches: dict) -> None:
        """Append a chunk ({branch: numpy or awkward array}; the first chunk fixes the types)."""
        if not self._created:
            types = {k: v.type.content if isinstance(v, ak.Array) else v.dtype for k, v in branches.items()}
            self._file.mktree(self.tree, types, **self.naming)
            self._created = True
        if len(next(iter(branches.values()))):
            self._file[self.tree].extend(branches)

    def add_tree(self, name: str, branches: dict) -> None:
        self._file.mktree(name, {k: np.asarray(v).dtype for k, v in branches.items()})
        self._file[name].extend({k: np.asarray(v) for k, v in branches.items()})

    def __exit__(self, *exc) -> None:
        self._stack.close()


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
_CHARGED_PDG = {11: -1, 13: -1, 211: 1, 321: 1, 2212: 1}  # |pdgId| -> charge of the positive-id particle


def iterate_nanoaod(path: str, collections: list[str] | None = None, require: tuple[str, ...] | list[str] = (),
                    optional: tuple[str, ...] | list[str] = (), step_size: int | None = None, puppi: bool = True,
                    pfnano: bool = False, btag: dict | None = None, need_btag: str | None = None) -> Iterator[ak.Array]:
    """Read CMS NanoAOD, PFNano or the tool's own files as :func:`iterate_events`; where the file has the
    ``FatJetPFCands`` association table (PFNano; NanoAOD v15's ``FatJetPFCand``), ``PFCands_fatJetIdx``
    is built from it and the table dropped. ``pfnano``: the table must be there.

    Then only candidates in a FatJet are kept (PFNano stores every candidate of the event; nothing
    downstream uses the others). ``puppi``: a candidate's pt and mass are multiplied by its
    ``puppiWeight``, as in the PUPPI jets CMS builds its AK8 jets and their tau_N from (the weight is
    kept as a field). Candidates without ``charge`` (v15 ``PFCand``) get it from the pdgId.

    Jets get ``btag`` (0/1) = ``Jet_<btag['branch']>`` > ``btag['threshold']`` (default: DeepJet medium,
    UL2018; see analysis/btag.py); the tool's own files keep their ``Jet_btag``. A file without the branch:
    InputError naming it and the discriminators the file has where ``need_btag`` (why the study needs b tags)
    is given, else jets without ``btag``.
    """
    btag = btag or {"branch": BTAG_BRANCH, "threshold": BTAG_THRESHOLD}
    wants_cands = collections is None or "PFCands" in collections or "PFCands" in require
    extra = [ASSOCIATION, "FatJet", "PFCands"] if wants_cands else []
    wanted = None if collections is None else list(dict.fromkeys([*collections, *extra]))
    required = [*require, *extra] if pfnano else list(require)
    optional = list(optional) + ([] if pfnano else [ASSOCIATION])
    for events in iterate_events(path, wanted, required, optional, step_size):
        events = _associate(path, events, puppi) if ASSOCIATION in events.fields else events
        yield _tag_bjets(path, events, btag, need_btag)
        del events  # each generator of the chain lets go of its chunk before the next is read


def _tag_bjets(path: str, events: ak.Array, btag: dict, need_btag: str | None) -> ak.Array:
    """``Jet.btag`` from the configured discriminator (see :func:`iterate_nanoaod`)."""
    if "Jet" not in events.fields or "btag" in events.Jet.fields:
        return events
    jets = events.Jet
    if btag["branch"] not in jets.fields:
        if need_btag:
            why = missing_branch({f"Jet_{f}" for f in jets.fields}, btag["branch"])
            raise InputError(f"{path}: {why}; {need_btag} needs b tags: set inputs.btag.branch to one of them "
                             "and inputs.btag.threshold to its working point")
        return events
    tagged = ak.values_astype(jets[btag["branch"]] > btag["threshold"], np.int32)
    return ak.with_field(events, ak.with_field(jets, tagged, "btag"), "Jet")


def _associate(path: str, events: ak.Array, puppi: bool) -> ak.Array:
    table = events[ASSOCIATION]
    if "PFCands" not in events.fields or "FatJet" not in events.fields:
        return events[[f for f in events.fields if f != ASSOCIATION]]
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
    if "charge" not in cands.fields and "pdgId" in cands.fields:
        pdg = ak.to_numpy(ak.flatten(cands.pdgId)).astype(np.int64)
        unit = np.zeros_like(pdg)
        for code, q in _CHARGED_PDG.items():
            unit[np.abs(pdg) == code] = q
        cands = ak.with_field(cands, ak.unflatten((unit * np.sign(pdg)).astype(np.int32), n_cands), "charge")
    if puppi and "puppiWeight" in cands.fields:
        for f in ("pt", "mass"):
            cands = ak.with_field(cands, cands[f] * cands.puppiWeight, f)
    cands = cands[cands.fatJetIdx >= 0]
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
