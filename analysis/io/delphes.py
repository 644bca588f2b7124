"""Delphes ROOT files (tree ``Delphes``) -> the event record, and the Delphes layout written from it.

Delphes stores each collection as a TClonesArray whose members uproot reads as ``<Coll>.<Member>``
(``Jet.PT``, ``Jet.Eta``, ..., ``MissingET.MET``, ``Event.Weight``). Delphes keeps no jet-constituent
links that survive a flat read, so the constituents of each FatJet are rebuilt as in autoencodeSVJ:
every energy-flow object (``EFlowTrack``, ``EFlowNeutralHadron``, ``EFlowPhoton``) within
Delta R < R of a jet belongs to the nearest such jet. These become ``PFCands`` with ``fatJetIdx``, and
the soft-drop mass is computed from them, the same way the generator does it.
"""
from __future__ import annotations

from collections.abc import Iterator

import awkward as ak
import numpy as np
import uproot

from analysis.io.nanoaod import InputError, jet_constituents, write_tree
from analysis.kinematics.clustering import softdrop_mass
from analysis.kinematics.matching import nearest_index
from analysis.kinematics.vectors import four_momentum

TREE = "Delphes"
ELECTRON_MASS, MUON_MASS, PION_MASS = 0.000511, 0.10566, 0.13957
PDG_NEUTRAL_HADRON, PDG_PHOTON = 130, 22
# record collection -> Delphes branch and {record field: Delphes member}
OBJECTS = {
    "FatJet": ("FatJet", {"pt": "PT", "eta": "Eta", "phi": "Phi", "mass": "Mass"}),
    "Jet": ("Jet", {"pt": "PT", "eta": "Eta", "phi": "Phi", "mass": "Mass", "btag": "BTag"}),
    "Electron": ("Electron", {"pt": "PT", "eta": "Eta", "phi": "Phi", "charge": "Charge"}),
    "Muon": ("Muon", {"pt": "PT", "eta": "Eta", "phi": "Phi", "charge": "Charge"}),
    "Photon": ("Photon", {"pt": "PT", "eta": "Eta", "phi": "Phi"}),
}
EFLOW = {"EFlowTrack": {"pt": "PT", "eta": "Eta", "phi": "Phi", "charge": "Charge", "pdgId": "PID"},
         "EFlowNeutralHadron": {"pt": "ET", "eta": "Eta", "phi": "Phi"},
         "EFlowPhoton": {"pt": "ET", "eta": "Eta", "phi": "Phi"}}
ONE_PER_EVENT = {"MET": ("MissingET", {"pt": "MET", "phi": "Phi"}),
                 "GenMET": ("GenMissingET", {"pt": "MET", "phi": "Phi"})}
LEPTON_MASS = {"Electron": ELECTRON_MASS, "Muon": MUON_MASS}
_INT = {"charge", "pdgId", "btag"}
OPTIONAL_MEMBERS = {"BTag"}  # a Delphes card without b-tagging; events written from generated ones


def _branches(path: str):
    """Open the file and map every member name (last path part, ``Jet.PT``) to its branch."""
    try:
        f = uproot.open(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Exception as e:
        raise InputError(f"{path}: not a readable ROOT file ({type(e).__name__}: {e})") from None
    if TREE not in f:
        f.close()
        raise InputError(f"{path}: no '{TREE}' tree (keys: {', '.join(f.keys()) or 'none'}): not a Delphes file")
    tree = f[TREE]
    return f, {k.rsplit("/", 1)[-1]: tree[k] for k in tree.keys(recursive=True)}


def _read(path: str, branches: dict, coll: str, members: dict[str, str], span: tuple = (None, None)) -> ak.Array:
    members = {k: m for k, m in members.items() if m not in OPTIONAL_MEMBERS or f"{coll}.{m}" in branches}
    missing = [f"{coll}.{m}" for m in members.values() if f"{coll}.{m}" not in branches]
    if missing:
        raise InputError(f"{path}: tree '{TREE}' has no branch {', '.join(missing)}")
    try:
        return ak.zip({k: ak.values_astype(branches[f"{coll}.{m}"].array(entry_start=span[0], entry_stop=span[1],
                                                                          library="ak"),
                                            np.int32 if k in _INT else np.float32)
                       for k, m in members.items()})
    except Exception as e:
        raise InputError(f"{path}: cannot read {coll} ({type(e).__name__}: {e})") from None


def _constituents(path: str, branches: dict, fatjets: ak.Array, r: float, span: tuple) -> ak.Array:
    """Energy-flow objects near a FatJet, as PFCands with fatJetIdx (unmatched ones are dropped)."""
    parts = []
    for coll, members in EFLOW.items():
        if f"{coll}.{members['pt']}" not in branches:
            continue
        c = _read(path, branches, coll, members, span)
        track = coll == "EFlowTrack"
        mass = branches.get("EFlowTrack.Mass") if track else None
        pdg = PDG_PHOTON if coll == "EFlowPhoton" else PDG_NEUTRAL_HADRON
        parts.append(ak.zip({
            "pt": c.pt, "eta": c.eta, "phi": c.phi,
            "mass": (ak.values_astype(mass.array(entry_start=span[0], entry_stop=span[1], library="ak"), np.float32) if mass is not None
                     else ak.full_like(c.pt, PION_MASS if track else 0.0)),
            "charge": c.charge if track else ak.zeros_like(c.pt, dtype=np.int32),
            "pdgId": c.pdgId if track else ak.full_like(c.pt, pdg, dtype=np.int32),
        }))
    if not parts:
        raise InputError(f"{path}: tree '{TREE}' has none of {', '.join(EFLOW)}: no FatJet constituents")
    cands = ak.concatenate(parts, axis=1)
    idx = ak.values_astype(nearest_index(cands, fatjets, r), np.int32)
    keep = idx >= 0
    return ak.with_field(cands[keep], idx[keep], "fatJetIdx")


def iterate_delphes(path: str, collections: list[str] | None = None, optional: tuple[str, ...] | list[str] = (),
                    jet_radius: float = 0.8, step_size: int | None = None) -> Iterator[ak.Array]:
    """Read a Delphes file as event records of at most ``step_size`` events (None: all at once);
    ``collections`` in record names: FatJet, Jet, PFCands, MET, GenMET, Electron, Muon, Photon,
    genWeight, event (default: all the file has).

    A requested collection whose branches are missing raises InputError naming the Delphes branch,
    unless it is in ``optional`` (then it is left out).
    """
    f, branches = _branches(path)
    with f:
        available = [c for c, (b, m) in {**OBJECTS, **ONE_PER_EVENT}.items()
                     if f"{b}.{next(iter(m.values()))}" in branches]
        available += ["genWeight", "event"] + (["PFCands"] if "FatJet" in available else [])
        wanted = available if collections is None else [c for c in collections if c in available or c not in optional]
        n_entries = f[TREE].num_entries
        step = max(int(step_size or n_entries), 1)
        for start in range(0, max(n_entries, 1), step):
            try:
                events = _read_span(path, branches, wanted, jet_radius, (start, min(start + step, n_entries)))
            except InputError:
                raise
            except Exception as e:  # a truncated or corrupt basket
                raise InputError(f"{path}: cannot read ({type(e).__name__}: {e})") from None
            yield events
            del events


def _read_span(path: str, branches: dict, wanted: list[str], jet_radius: float, span: tuple) -> ak.Array:
    out = {}
    for coll in wanted:
        if coll in OBJECTS:
            branch, members = OBJECTS[coll]
            obj = _read(path, branches, branch, members, span)
            if coll in LEPTON_MASS:
                obj = ak.with_field(obj, ak.full_like(obj.pt, LEPTON_MASS[coll]), "mass")
            out[coll] = obj
        elif coll in ONE_PER_EVENT:
            branch, members = ONE_PER_EVENT[coll]
            out[coll] = _read(path, branches, branch, members, span)[:, 0]
        elif coll in ("genWeight", "event"):
            member = "Event.Weight" if coll == "genWeight" else "Event.Number"
            if member not in branches:
                raise InputError(f"{path}: tree '{TREE}' has no branch {member}")
            out[coll] = ak.to_numpy(branches[member].array(entry_start=span[0], entry_stop=span[1], library="ak")[:, 0]
                                    ).astype(np.float32 if coll == "genWeight" else np.uint64)
        elif coll != "PFCands":
            raise InputError(f"{path}: no Delphes collection for '{coll}'")
    if "FatJet" in out or "PFCands" in wanted:
        fatjets = out["FatJet"] if "FatJet" in out else _read(path, branches, *OBJECTS["FatJet"], span)
        cands = _constituents(path, branches, fatjets, jet_radius, span)
        if "PFCands" in wanted:
            out["PFCands"] = cands
        if "FatJet" in out:
            per_jet = jet_constituents(ak.Array({"FatJet": fatjets, "PFCands": cands}))
            p4 = four_momentum(ak.values_astype(per_jet, np.float64))
            msd = softdrop_mass(ak.zip(dict(zip(("px", "py", "pz", "E"), p4))), r0=jet_radius)
            out["FatJet"] = ak.with_field(ak.with_field(fatjets, ak.values_astype(msd, np.float32), "msoftdrop"),
                                          ak.values_astype(ak.num(per_jet, axis=2), np.int32), "nConstituents")
    return ak.Array(out)


def write_delphes(path: str, events: ak.Array) -> None:
    """Write an event record in Delphes's layout (``<Coll>.<Member>`` branches, ``<Coll>_size``
    counters; PFCands split into EFlowTrack / EFlowNeutralHadron / EFlowPhoton by charge and pdgId).

    Used to make Delphes-layout inputs from generated events; writes ``path`` directly.
    """
    one = np.ones(len(events), np.int64)  # Delphes keeps MissingET and Event as one-entry arrays
    branches: dict[str, ak.Array] = {}
    for coll, (branch, members) in OBJECTS.items():
        if coll in events.fields:
            branches[branch] = ak.zip({m: events[coll][k] for k, m in members.items() if k in events[coll].fields})
    for coll, (branch, members) in ONE_PER_EVENT.items():
        if coll in events.fields:
            branches[branch] = ak.zip({m: ak.unflatten(ak.to_numpy(events[coll][k]), one) for k, m in members.items()})
    branches["Event"] = ak.zip({"Weight": ak.unflatten(ak.to_numpy(events.genWeight).astype(np.float32), one),
                                "Number": ak.unflatten(ak.to_numpy(events.event).astype(np.int64), one)})
    pf = events.PFCands
    groups = {"EFlowTrack": pf.charge != 0, "EFlowPhoton": (pf.charge == 0) & (pf.pdgId == PDG_PHOTON),
              "EFlowNeutralHadron": (pf.charge == 0) & (pf.pdgId != PDG_PHOTON)}
    for coll, mask in groups.items():
        c = pf[mask]
        fields = {m: c[k] for k, m in EFLOW[coll].items()}
        if coll == "EFlowTrack":
            fields["Mass"] = c.mass
        branches[coll] = ak.zip(fields)
    write_tree(path, branches, tree=TREE, field_name=lambda outer, inner: f"{outer}.{inner}",
               counter_name=lambda counted: f"{counted}_size")
