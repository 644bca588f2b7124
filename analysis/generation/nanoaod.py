"""NanoAOD-like event content from generated particles, and its ROOT writer (uproot).

:func:`build_events` passes stable particles through the detector response (analysis.generation.detector)
and turns the reconstructed candidates into the stored collections (AK8 ``FatJet`` with their
constituents as ``PFCands``, AK4 ``Jet``, identified ``Electron``, ``Muon``, ``Photon``, reconstructed
and true missing momentum); :func:`write_nanoaod` writes them as the tree ``Events`` with NanoAOD's
naming: jagged collections get an ``n<Collection>`` counter and ``<Collection>_<field>`` branches,
one-per-event groups are plain ``<Group>_<field>`` branches. Kinematics are float32, as in NanoAOD.
"""
from __future__ import annotations

import awkward as ak
import numpy as np

from analysis.generation.detector import LEPTON_FIELDS, PHOTON_FIELDS as PHOTON_KINEMATICS, identify, reconstruct
from analysis.io.nanoaod import runs_tree, write_tree
from analysis.kinematics.clustering import cluster_fatjets, cluster_jets
from analysis.kinematics.matching import cone_sums, first_two, flat_eta_phi, nearest_index, offsets_of

# Cross-reference indices (NanoAOD's, -1: none) so coffea's NanoAODSchema finds every link between the
# collections written (subjets and FSR photons are not written, nor their links).
FATJET_FIELDS = ("pt", "eta", "phi", "mass", "msoftdrop", "nConstituents", "rinv")
JET_FIELDS = ("pt", "eta", "phi", "mass", "electronIdx1", "electronIdx2", "muonIdx1", "muonIdx2")
ELECTRON_FIELDS = LEPTON_FIELDS + ("jetIdx", "photonIdx")
MUON_FIELDS = LEPTON_FIELDS + ("jetIdx",)
PHOTON_FIELDS = PHOTON_KINEMATICS + ("jetIdx", "electronIdx")
PFCANDS_FIELDS = ("pt", "eta", "phi", "mass", "charge", "pdgId", "fatJetIdx")
EVENT_BRANCHES = ("run", "luminosityBlock", "event", "genWeight", "xsec", "Generator_binvar")
MET_BRANCHES = ("MET_pt", "MET_phi", "GenMET_pt", "GenMET_phi")
# -1 for backgrounds, so every file has the same branches; SVJ_model: 1 s-channel Z', 2 t-channel Phi
SIGNAL_BRANCHES = ("SVJ_model", "SVJ_mMed", "SVJ_rinv", "SVJ_mDark", "SVJ_nc", "SVJ_nf")
COLLECTIONS = {"FatJet": FATJET_FIELDS, "Jet": JET_FIELDS, "PFCands": PFCANDS_FIELDS,
               "Electron": ELECTRON_FIELDS, "Muon": MUON_FIELDS, "Photon": PHOTON_FIELDS}
BRANCHES = (EVENT_BRANCHES + MET_BRANCHES + SIGNAL_BRANCHES
            + tuple(f"n{c}" for c in COLLECTIONS)
            + tuple(f"{c}_{f}" for c, fields in COLLECTIONS.items() for f in fields))

EVENTS_PER_SEED = 10**9  # event number = seed * EVENTS_PER_SEED + index: unique per (seed, event)
NO_RINV = -1.0  # FatJet_rinv of a jet without dark hadrons (and of every background jet)

_INT_FIELDS = {"nConstituents", "charge", "pdgId", "fatJetIdx", "electronIdx1", "electronIdx2", "muonIdx1",
               "muonIdx2", "jetIdx", "photonIdx", "electronIdx"}
JET_MATCH_DR = 0.4  # an electron/muon/photon belongs to the nearest AK4 jet within this distance
EM_MATCH_DR = 0.05  # an electron and a photon this close are the same ECAL cluster
_INT_SIGNAL = {"SVJ_model", "SVJ_nc", "SVJ_nf"}


def _float32_record(record: ak.Array, fields: tuple[str, ...]) -> ak.Array:
    return ak.zip({f: ak.values_astype(record[f], np.int32 if f in _INT_FIELDS else np.float32)
                   for f in fields})


def _vector_sum_pt_phi(px: ak.Array, py: ak.Array) -> tuple[np.ndarray, np.ndarray]:
    sx, sy = ak.to_numpy(ak.sum(px, axis=1)), ak.to_numpy(ak.sum(py, axis=1))
    return np.hypot(sx, sy), np.arctan2(sy, sx)


def first_two_members(jets: ak.Array, member_jet: ak.Array) -> tuple[ak.Array, ak.Array]:
    """Per jet, the indices of the first two objects whose ``member_jet`` index is that jet (-1: none)."""
    j_counts = ak.to_numpy(ak.num(jets))
    pair = first_two(offsets_of(j_counts), offsets_of(ak.to_numpy(ak.num(member_jet))),
                     np.asarray(ak.to_numpy(ak.flatten(member_jet)), dtype=np.int64))
    return ak.unflatten(pair[:, 0], j_counts), ak.unflatten(pair[:, 1], j_counts)


def jet_rinv(jets: ak.Array, dark: ak.Array | None, r: float = 0.8) -> ak.Array:
    """Truth r_inv of each jet: the pT share of the decaying dark mesons within ``r`` of the jet axis
    that decayed invisibly; -1 for a jet with none (and for every jet when ``dark`` is None)."""
    counts = ak.to_numpy(ak.num(jets))
    if dark is None:
        return ak.unflatten(np.full(int(counts.sum()), NO_RINV), counts)
    j_off, j_eta, j_phi = flat_eta_phi(jets)
    d_off, d_eta, d_phi = flat_eta_phi(dark)
    pt = ak.to_numpy(ak.flatten(dark.pt))
    weights = np.stack([pt, pt * ak.to_numpy(ak.flatten(dark.invisible))], axis=1)
    total, invisible = cone_sums(j_off, j_eta, j_phi, d_off, d_eta, d_phi, weights, float(r)).T
    return ak.unflatten(np.where(total > 0, invisible / np.where(total > 0, total, 1.0), NO_RINV), counts)


def build_events(particles: ak.Array, detector: dict, rng: np.random.Generator, dark: ak.Array | None = None,
                 fatjet_min_pt: float = 170.0, fatjet_max_abs_eta: float = 2.5,
                 jet_min_pt: float = 20.0, jet_max_abs_eta: float = 4.7) -> dict[str, ak.Array | np.ndarray]:
    """Stored collections from stable particles ``[event][particle]`` (``px, py, pz, E, mass, pdgId,
    charge, visible``) seen through ``detector`` (resolved config, see detector.py): FatJet (with the
    truth ``rinv`` from the decaying dark mesons ``dark``, see :func:`jet_rinv`), Jet, PFCands (FatJet
    constituents grouped by jet, in jet order), Electron, Muon, Photon, MET = -(vector sum of the
    reconstructed candidates), GenMET = vector sum of the invisible particles."""
    reco = reconstruct(particles, detector, rng)
    electrons, muons, photons = (identify(reco, detector, k, rng) for k in ("electron", "muon", "photon"))

    fatjets, constituents = cluster_fatjets(reco, min_pt=fatjet_min_pt, max_abs_eta=fatjet_max_abs_eta)
    fatjets = ak.with_field(fatjets, jet_rinv(fatjets, dark), "rinv")
    jets = cluster_jets(reco, min_pt=jet_min_pt, max_abs_eta=jet_max_abs_eta)
    electrons, muons, photons = (ak.with_field(o, nearest_index(o, jets, JET_MATCH_DR), "jetIdx")
                                 for o in (electrons, muons, photons))
    electrons = ak.with_field(electrons, nearest_index(electrons, photons, EM_MATCH_DR), "photonIdx")
    photons = ak.with_field(photons, nearest_index(photons, electrons, EM_MATCH_DR), "electronIdx")
    for name, objects in (("electron", electrons), ("muon", muons)):
        first, second = first_two_members(jets, objects.jetIdx)
        jets = ak.with_field(ak.with_field(jets, first, f"{name}Idx1"), second, f"{name}Idx2")
    n_const = ak.to_numpy(ak.flatten(fatjets.nConstituents))
    jet_index = np.repeat(ak.to_numpy(ak.flatten(ak.local_index(fatjets.pt, axis=1))), n_const)
    pfcands = ak.flatten(constituents, axis=2)
    pfcands = ak.with_field(pfcands, ak.unflatten(jet_index, ak.num(pfcands)), "fatJetIdx")

    met_pt, met_phi = _vector_sum_pt_phi(-reco.px, -reco.py)
    genmet_pt, genmet_phi = _vector_sum_pt_phi(*(particles[k][~particles.visible] for k in ("px", "py")))
    return {
        "FatJet": _float32_record(fatjets, FATJET_FIELDS),
        "Jet": _float32_record(jets, JET_FIELDS),
        "PFCands": _float32_record(pfcands, PFCANDS_FIELDS),
        "Electron": _float32_record(electrons, ELECTRON_FIELDS),
        "Muon": _float32_record(muons, MUON_FIELDS),
        "Photon": _float32_record(photons, PHOTON_FIELDS),
        "MET_pt": met_pt.astype(np.float32), "MET_phi": met_phi.astype(np.float32),
        "GenMET_pt": genmet_pt.astype(np.float32), "GenMET_phi": genmet_phi.astype(np.float32),
    }


def write_nanoaod(path: str, events: dict[str, ak.Array | np.ndarray], weights: np.ndarray, seed: int,
                  xsec_pb: float, pt_hat: np.ndarray, signal: dict[str, float] | None = None) -> None:
    """Write ``events`` (from :func:`build_events`, concatenated) with the per-event bookkeeping
    branches (run 1, luminosityBlock 1, event = seed * 10^9 + index, genWeight, xsec in pb,
    Generator_binvar = pT-hat as in NanoAOD), the signal-model scalars ``signal`` (SIGNAL_BRANCHES
    without the prefix; -1 when absent) and a ``Runs`` tree. Writes to ``path`` directly; callers make it atomic."""
    n = len(weights)
    if n >= EVENTS_PER_SEED:
        raise ValueError(f"n_events: at most {EVENTS_PER_SEED - 1} events per file, got {n}")
    branches = {
        "run": np.ones(n, dtype=np.uint32),
        "luminosityBlock": np.ones(n, dtype=np.uint32),
        "event": np.uint64(seed) * np.uint64(EVENTS_PER_SEED) + np.arange(n, dtype=np.uint64),
        "genWeight": np.asarray(weights, dtype=np.float32),
        "xsec": np.full(n, xsec_pb, dtype=np.float64),
        "Generator_binvar": np.asarray(pt_hat, dtype=np.float32),
        **events,
        **{b: np.full(n, (signal or {}).get(b.split("_", 1)[1], -1), dtype=np.int32 if b in _INT_SIGNAL else np.float32)
           for b in SIGNAL_BRANCHES},
    }
    w = np.asarray(weights, dtype=np.float64)
    write_tree(path, branches, extra_trees={"Runs": runs_tree(len(w), w.sum(), (w * w).sum())})
