"""A parametrised detector response in the spirit of Delphes' CMS card, vectorised over all particles.

Stable generator particles become reconstructed particle-flow candidates:

- charged particles inside the tracker (|eta| < 2.5) are found with a pT- and eta-dependent tracking
  efficiency and get a Gaussian pT resolution sigma/pT = sqrt(c^2 + (s pT)^2); their direction is kept.
- photons, electrons without a track and everything else electromagnetic (pdgId 22, 11) deposit in the
  ECAL (|eta| < 3), hadrons in the HCAL (|eta| < 5, forward calorimeter beyond 3): energy resolution
  sigma/E = sqrt(a^2/E + b^2 + (c/E)^2) by eta region; a deposit is massless along the particle.
  A charged hadron the tracker missed (efficiency, |eta| > 2.5) is measured as a calorimeter deposit.
- muons without a track are lost (minimum ionising in the calorimeters); neutrinos and dark states
  are never seen.

Electrons, muons and photons are identified from the candidates with an eta-dependent efficiency and a
relative isolation (scalar pT sum of the other candidates within a cone over the object's pT). MET is
then the negative vector sum of all candidates, as in Delphes (no pile-up: the default is pile-up free).

Every parameter lives in the config (``generation.detector``, defaults ``detector_settings.DEFAULT_DETECTOR``);
``enabled: false`` (the ``--no-detector`` switch) gives truth level: every visible particle within
|eta| < 5 with its true momentum, and leptons/photons identified with full efficiency.

Reconstructed candidates carry particle-flow ids: +-11, +-13, +-211 for tracks, 22 for ECAL and 130
for HCAL deposits.
"""
from __future__ import annotations

import math

import awkward as ak
import numba
import numpy as np

from analysis.kinematics.matching import cone_sums, offsets_of
from analysis.kinematics.vectors import polar

TRUTH_MAX_ABS_ETA = 5.0  # truth level: every visible particle in this acceptance, unsmeared
LEPTON_FIELDS = ("pt", "eta", "phi", "mass", "charge", "pfRelIso03_all")
PHOTON_FIELDS = ("pt", "eta", "phi", "pfRelIso03_all")  # massless, as in NanoAOD
_OBJECT_PDGID = {"electron": 11, "muon": 13, "photon": 22}


def _per_region(abs_eta: np.ndarray, part: dict, key: str) -> np.ndarray:
    """The parameter ``key`` of each particle's eta region (NaN outside the acceptance)."""
    region = np.searchsorted(np.asarray(part["eta_edges"], dtype=np.float64), abs_eta, side="left")
    return np.append(np.asarray(part[key], dtype=np.float64), np.nan)[region]


def _in_acceptance(abs_eta: np.ndarray, part: dict) -> np.ndarray:
    return abs_eta < part["eta_edges"][-1]


def reconstruct(particles: ak.Array, detector: dict, rng: np.random.Generator) -> ak.Array:
    """Reconstructed candidates ``[event][candidate]`` (``px, py, pz, E, mass, pt, eta, phi, charge,
    pdgId``) from stable particles (``px, py, pz, E, mass, pdgId, charge, visible``).

    With ``detector["enabled"]`` false: the visible particles within |eta| < 5, unchanged (truth level).
    """
    counts = ak.num(particles)
    flat = ak.flatten(particles)
    px, py, pz, energy, mass = (ak.to_numpy(flat[k]).astype(np.float64) for k in ("px", "py", "pz", "E", "mass"))
    pdg, charge = ak.to_numpy(flat.pdgId), ak.to_numpy(flat.charge)
    visible = ak.to_numpy(flat.visible)
    kin = polar(px, py, pz, energy)
    abs_eta = np.abs(kin["eta"])
    event_of = np.repeat(np.arange(len(counts)), ak.to_numpy(counts))

    if not detector["enabled"]:
        keep = visible & (abs_eta < TRUTH_MAX_ABS_ETA)
        fields = {"px": px, "py": py, "pz": pz, "E": energy, "mass": mass, "pt": kin["pt"],
                  "eta": kin["eta"], "phi": kin["phi"], "charge": charge, "pdgId": pdg}
        fields = {k: v[keep] for k, v in fields.items()}
        return ak.unflatten(ak.zip(fields), np.bincount(event_of[keep], minlength=len(counts)))

    trk, ecal, hcal = detector["tracks"], detector["ecal"], detector["hcal"]
    u_track, u_smear = rng.random(len(px)), rng.standard_normal(len(px))
    table = {name: (np.asarray(part["eta_edges"], dtype=np.float64),
                    np.array([part[k] for k in keys], dtype=np.float64))
             for name, part, keys in (("trk", trk, ("efficiency", "efficiency_low_pt", "resolution_constant",
                                                     "resolution_slope")),
                                      ("ecal", ecal, _CALO_KEYS), ("hcal", hcal, _CALO_KEYS))}
    keep, out = _respond(px, py, pz, energy, mass, pdg, charge, visible, kin["pt"], abs_eta, u_track, u_smear,
                         *table["trk"], float(trk["min_pt"]), float(trk["low_pt"]), *table["ecal"], *table["hcal"],
                         float(detector["calo_min_e"]))
    fields = {"px": out[0], "py": out[1], "pz": out[2], "E": out[3], "mass": out[4], "pt": out[5],
              "eta": kin["eta"], "phi": kin["phi"], "charge": charge, "pdgId": pdg}
    fields = {k: v[keep] for k, v in fields.items()}
    fields["charge"], fields["pdgId"] = out[6][keep].astype(np.int32), out[7][keep].astype(np.int32)
    return ak.unflatten(ak.zip(fields), np.bincount(event_of[keep], minlength=len(counts)))


_CALO_KEYS = ("stochastic", "constant", "noise")


@numba.njit(cache=True, inline="always")
def _region(abs_eta: float, edges: np.ndarray) -> int:
    """Index of the eta region (len(edges): outside the acceptance), numpy's searchsorted(side='left')."""
    r = 0
    while r < len(edges) and edges[r] < abs_eta:
        r += 1
    return r


@numba.njit(cache=True, inline="always")
def _calo_sigma(energy: float, region: int, params: np.ndarray) -> float:
    """Relative energy resolution sqrt(a^2/E + b^2 + (c/E)^2); 0 outside the calorimeter's acceptance."""
    if region >= params.shape[1]:
        return 0.0
    a, b, c = params[0, region], params[1, region], params[2, region]
    e = max(energy, 1e-9)
    return math.sqrt(a * a / e + b * b + (c / e) ** 2)


@numba.njit(cache=True, nogil=True)
def _respond(px, py, pz, energy, mass, pdg, charge, visible, pt, abs_eta, u_track, u_smear,
             trk_edges, trk, trk_min_pt, low_pt, ecal_edges, ecal, hcal_edges, hcal, calo_min_e):
    """The detector response of every particle in one pass: kept or not, and the reconstructed
    px, py, pz, E, mass, pt, charge and particle-flow id (rows of the returned array)."""
    n = len(px)
    keep = np.zeros(n, dtype=np.bool_)
    out = np.zeros((8, n))
    for i in range(n):
        apdg = abs(pdg[i])
        rt = _region(abs_eta[i], trk_edges)
        inside = rt < len(trk_edges)
        eff = 0.0
        if inside:
            eff = trk[0, rt] if pt[i] > low_pt else trk[1, rt]
        tracked = visible[i] and charge[i] != 0 and inside and pt[i] > trk_min_pt and u_track[i] < eff
        em = apdg == 22 or apdg == 11
        if tracked:  # pT smeared at fixed direction and mass
            sig_pt = math.hypot(trk[2, rt], trk[3, rt] * pt[i])
            scale = max(1.0 + sig_pt * u_smear[i], 0.0)
            out[4, i] = mass[i]
            keep[i] = True
        else:  # calorimeter deposit, massless along the particle; EM showers in the ECAL, muons lost
            re, rh = _region(abs_eta[i], ecal_edges), _region(abs_eta[i], hcal_edges)
            in_ecal = em and re < len(ecal_edges)
            sigma = _calo_sigma(energy[i], re, ecal) if in_ecal else _calo_sigma(energy[i], rh, hcal)
            e_reco = max(energy[i] * (1.0 + sigma * u_smear[i]), 0.0)
            keep[i] = visible[i] and apdg != 13 and (in_ecal or rh < len(hcal_edges)) and e_reco > calo_min_e
            scale = e_reco / max(math.sqrt(px[i] * px[i] + py[i] * py[i] + pz[i] * pz[i]), 1e-12)
            out[3, i] = e_reco
        out[0, i], out[1, i], out[2, i] = px[i] * scale, py[i] * scale, pz[i] * scale
        out[5, i] = pt[i] * scale
        if tracked:
            out[3, i] = math.sqrt(out[0, i] * out[0, i] + out[1, i] * out[1, i] + out[2, i] * out[2, i]
                                  + out[4, i] * out[4, i])
            out[6, i] = charge[i]
            out[7, i] = (apdg if apdg == 11 or apdg == 13 else 211) * (1 if charge[i] > 0 else -1)
        else:
            out[7, i] = 22 if em else 130
    return keep, out


def identify(candidates: ak.Array, detector: dict, kind: str, rng: np.random.Generator) -> ak.Array:
    """Identified, isolated electrons, muons or photons (``kind``) among the candidates, pT-sorted,
    with their relative isolation ``pfRelIso03_all`` (the cone of the config): the scalar pT sum of
    the other candidates within the cone over the object's pT. Truth level: full efficiency, the same
    isolation requirement."""
    part = detector[kind]
    pdg = _OBJECT_PDGID[kind]
    counts = ak.to_numpy(ak.num(candidates))
    flat = {k: ak.to_numpy(ak.flatten(candidates[k])) for k in candidates.fields}
    eta, phi, pt = flat["eta"], flat["phi"], flat["pt"]
    abs_eta = np.abs(eta)
    is_kind = np.abs(flat["pdgId"]) == pdg
    if kind != "photon":  # a lepton is a track (its charge is measured)
        is_kind &= flat["charge"] != 0
    eff = np.nan_to_num(_per_region(abs_eta, part, "efficiency")) if detector["enabled"] else 1.0
    u = rng.random(len(pt))
    found = np.flatnonzero(is_kind & (pt > part["min_pt"]) & _in_acceptance(abs_eta, part) & (u < eff))
    event = np.repeat(np.arange(len(counts)), counts)[found]
    c_off = offsets_of(counts)
    # the object is one of the candidates: the cone sum includes its own pT, subtracted here
    cone = cone_sums(offsets_of(np.bincount(event, minlength=len(counts))), eta[found], phi[found],
                     c_off, eta, phi, pt[:, np.newaxis], float(part["iso_cone"]))[:, 0]
    iso = (cone - pt[found]) / pt[found]
    keep = iso < part["iso_max"]
    found, event, iso = found[keep], event[keep], iso[keep]
    order = np.lexsort((-pt[found], event))  # by event, then pT descending (stable)
    fields = {**{k: v[found[order]] for k, v in flat.items()}, "pfRelIso03_all": iso[order]}
    return ak.unflatten(ak.zip(fields), np.bincount(event, minlength=len(counts)))
