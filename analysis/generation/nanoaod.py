"""NanoAOD-like event content from generated particles, and its ROOT writer (uproot).

:func:`build_events` turns stable particles into the stored collections (AK8 ``FatJet`` with their
constituents as ``PFCands``, AK4 ``Jet``, reconstructed and true missing momentum);
:func:`write_nanoaod` writes them as the tree ``Events`` with NanoAOD's naming: jagged collections get
an ``n<Collection>`` counter and ``<Collection>_<field>`` branches, one-per-event groups are plain
``<Group>_<field>`` branches. Kinematics are float32, as in NanoAOD.
"""
from __future__ import annotations

import awkward as ak
import numpy as np

from analysis.generation.clustering import cluster_fatjets, cluster_jets, kinematics
from analysis.io.nanoaod import write_tree
FATJET_FIELDS = ("pt", "eta", "phi", "mass", "msoftdrop", "nConstituents")
JET_FIELDS = ("pt", "eta", "phi", "mass")
PFCANDS_FIELDS = ("pt", "eta", "phi", "mass", "charge", "pdgId", "fatJetIdx")
EVENT_BRANCHES = ("run", "luminosityBlock", "event", "genWeight", "xsec")
MET_BRANCHES = ("MET_pt", "MET_phi", "GenMET_pt", "GenMET_phi")
SIGNAL_BRANCHES = ("SVJ_mMed", "SVJ_rinv")  # -1 for backgrounds, so every file has the same branches
COLLECTIONS = {"FatJet": FATJET_FIELDS, "Jet": JET_FIELDS, "PFCands": PFCANDS_FIELDS}
BRANCHES = (EVENT_BRANCHES + MET_BRANCHES + SIGNAL_BRANCHES
            + tuple(f"n{c}" for c in COLLECTIONS)
            + tuple(f"{c}_{f}" for c, fields in COLLECTIONS.items() for f in fields))

MAX_ABS_ETA_PARTICLES = 5.0  # detector-like acceptance for clustering and MET
EVENTS_PER_SEED = 10**9  # event number = seed * EVENTS_PER_SEED + index: unique per (seed, event)

_INT_FIELDS = {"nConstituents", "charge", "pdgId", "fatJetIdx"}


def _float32_record(record: ak.Array, fields: tuple[str, ...]) -> ak.Array:
    return ak.zip({f: ak.values_astype(record[f], np.int32 if f in _INT_FIELDS else np.float32)
                   for f in fields})


def _vector_sum_pt_phi(px: ak.Array, py: ak.Array) -> tuple[np.ndarray, np.ndarray]:
    sx, sy = ak.to_numpy(ak.sum(px, axis=1)), ak.to_numpy(ak.sum(py, axis=1))
    return np.hypot(sx, sy), np.arctan2(sy, sx)


def build_events(particles: ak.Array, fatjet_min_pt: float = 170.0, fatjet_max_abs_eta: float = 2.5,
                 jet_min_pt: float = 20.0, jet_max_abs_eta: float = 4.7) -> dict[str, ak.Array | np.ndarray]:
    """Stored collections from stable particles ``[event][particle]`` (``px, py, pz, E, mass, pdgId,
    charge, visible``): FatJet, Jet, PFCands (FatJet constituents grouped by jet, in jet order), and
    MET = -(visible vector sum, |eta| < 5), GenMET = vector sum of the invisible particles."""
    counts = ak.num(particles)
    flat = ak.flatten(particles)
    kin = kinematics(*(ak.to_numpy(flat[k]) for k in ("px", "py", "pz", "E")))
    visible = ak.to_numpy(flat.visible)
    in_acceptance = ak.unflatten(visible & (np.abs(kin["eta"]) < MAX_ABS_ETA_PARTICLES), counts)
    invisible = ak.unflatten(~visible, counts)
    with_kin = ak.zip({**{f: flat[f] for f in flat.fields}, "pt": kin["pt"], "eta": kin["eta"], "phi": kin["phi"]})
    reco = ak.unflatten(with_kin, counts)[in_acceptance]

    fatjets, constituents = cluster_fatjets(reco, min_pt=fatjet_min_pt, max_abs_eta=fatjet_max_abs_eta)
    jets = cluster_jets(reco, min_pt=jet_min_pt, max_abs_eta=jet_max_abs_eta)
    jet_index = ak.broadcast_arrays(ak.local_index(constituents, axis=1), constituents.pt)[0]
    pfcands = ak.with_field(ak.flatten(constituents, axis=2), ak.flatten(jet_index, axis=2), "fatJetIdx")

    met_pt, met_phi = _vector_sum_pt_phi(-reco.px, -reco.py)
    inv = particles[invisible]
    genmet_pt, genmet_phi = _vector_sum_pt_phi(inv.px, inv.py)
    return {
        "FatJet": _float32_record(fatjets, FATJET_FIELDS),
        "Jet": _float32_record(jets, JET_FIELDS),
        "PFCands": _float32_record(pfcands, PFCANDS_FIELDS),
        "MET_pt": met_pt.astype(np.float32), "MET_phi": met_phi.astype(np.float32),
        "GenMET_pt": genmet_pt.astype(np.float32), "GenMET_phi": genmet_phi.astype(np.float32),
    }


def write_nanoaod(path: str, events: dict[str, ak.Array | np.ndarray], weights: np.ndarray, seed: int,
                  xsec_pb: float, m_med: float = -1.0, r_inv: float = -1.0) -> None:
    """Write ``events`` (from :func:`build_events`, concatenated) with the per-event bookkeeping
    branches (run 1, luminosityBlock 1, event = seed * 10^9 + index, genWeight, xsec in pb) and the
    signal-model scalars. Writes to ``path`` directly; callers make it atomic."""
    n = len(weights)
    if n >= EVENTS_PER_SEED:
        raise ValueError(f"n_events: at most {EVENTS_PER_SEED - 1} events per file, got {n}")
    branches = {
        "run": np.ones(n, dtype=np.uint32),
        "luminosityBlock": np.ones(n, dtype=np.uint32),
        "event": np.uint64(seed) * np.uint64(EVENTS_PER_SEED) + np.arange(n, dtype=np.uint64),
        "genWeight": np.asarray(weights, dtype=np.float32),
        "xsec": np.full(n, xsec_pb, dtype=np.float64),
        **events,
        "SVJ_mMed": np.full(n, m_med, dtype=np.float32),
        "SVJ_rinv": np.full(n, r_inv, dtype=np.float32),
    }
    write_tree(path, branches)
