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

Every parameter lives in the config (``generation.detector``, defaults :data:`DEFAULT_DETECTOR`);
``enabled: false`` (the ``--no-detector`` switch) gives truth level: every visible particle within
|eta| < 5 with its true momentum, and leptons/photons identified with full efficiency.

Reconstructed candidates carry particle-flow ids: +-11, +-13, +-211 for tracks, 22 for ECAL and 130
for HCAL deposits.
"""
from __future__ import annotations

import copy

import awkward as ak
import numpy as np

from analysis.generation.clustering import kinematics

# Regions are given by upper |eta| edges; the last edge is the acceptance. Each per-region parameter is
# a list with one value per edge.
DEFAULT_DETECTOR: dict = {
    "enabled": True,
    "tracks": {
        "eta_edges": [1.5, 2.5], "min_pt": 0.1,
        "low_pt": 1.0, "efficiency_low_pt": [0.70, 0.60], "efficiency": [0.95, 0.85],
        "resolution_constant": [0.01, 0.02], "resolution_slope": [1.5e-4, 3.0e-4],  # 1/GeV
    },
    "ecal": {"eta_edges": [1.5, 3.0], "stochastic": [0.07, 0.21], "constant": [0.007, 0.02],
             "noise": [0.35, 0.35]},  # GeV
    "hcal": {"eta_edges": [3.0, 5.0], "stochastic": [1.5, 2.7], "constant": [0.05, 0.13],
             "noise": [0.0, 0.0]},
    "calo_min_e": 0.5,  # GeV: deposits below are noise-suppressed
    "electron": {"eta_edges": [1.5, 2.5], "efficiency": [0.95, 0.85], "min_pt": 10.0,
                 "iso_cone": 0.3, "iso_max": 0.1},
    "muon": {"eta_edges": [1.5, 2.4], "efficiency": [0.95, 0.95], "min_pt": 10.0,
             "iso_cone": 0.3, "iso_max": 0.25},
    "photon": {"eta_edges": [1.5, 2.5], "efficiency": [0.95, 0.85], "min_pt": 10.0,
               "iso_cone": 0.3, "iso_max": 0.12},
}
TRUTH_MAX_ABS_ETA = 5.0  # truth level: every visible particle in this acceptance, unsmeared
LEPTON_FIELDS = ("pt", "eta", "phi", "mass", "charge", "pfRelIso03_all")
PHOTON_FIELDS = ("pt", "eta", "phi", "pfRelIso03_all")  # massless, as in NanoAOD
_PER_REGION = {"efficiency_low_pt", "efficiency", "resolution_constant", "resolution_slope",
               "stochastic", "constant", "noise"}
_OBJECT_PDGID = {"electron": 11, "muon": 13, "photon": 22}


def _check(cond: bool, key: str, why: str) -> None:
    if not cond:
        raise ValueError(f"detector.{key}: {why}")


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def resolve_detector(over: dict | None) -> dict:
    """Defaults merged with ``over`` and validated; raises ValueError naming ``detector.<key>``."""
    _check(over is None or isinstance(over, dict), "", "a mapping of detector settings")
    out = copy.deepcopy(DEFAULT_DETECTOR)
    for k, v in (over or {}).items():
        _check(k in out, k, f"unknown key (allowed: {', '.join(sorted(out))})")
        if isinstance(out[k], dict):
            _check(isinstance(v, dict), k, "a mapping")
            for kk, vv in v.items():
                _check(kk in out[k], f"{k}.{kk}", f"unknown key (allowed: {', '.join(sorted(out[k]))})")
                out[k][kk] = copy.deepcopy(vv)
        else:
            out[k] = v
    _check(isinstance(out["enabled"], bool), "enabled", "true or false")
    _check(_number(out["calo_min_e"]) and out["calo_min_e"] >= 0, "calo_min_e", "a number >= 0 (GeV)")
    for name, part in out.items():
        if not isinstance(part, dict):
            continue
        edges = part["eta_edges"]
        _check(isinstance(edges, list) and edges and all(_number(e) and e > 0 for e in edges)
               and edges == sorted(edges), f"{name}.eta_edges", "increasing positive |eta| edges")
        for k, v in part.items():
            if k in _PER_REGION:
                _check(isinstance(v, list) and len(v) == len(edges) and all(_number(x) and x >= 0 for x in v),
                       f"{name}.{k}", f"one non-negative number per eta region ({len(edges)})")
                if k.startswith("efficiency"):
                    _check(all(x <= 1 for x in v), f"{name}.{k}", "efficiencies are in [0, 1]")
            elif k != "eta_edges":
                _check(_number(v) and v >= 0, f"{name}.{k}", "a non-negative number")
    return out


def _per_region(abs_eta: np.ndarray, part: dict, key: str) -> np.ndarray:
    """The parameter ``key`` of each particle's eta region (NaN outside the acceptance)."""
    region = np.searchsorted(np.asarray(part["eta_edges"], dtype=np.float64), abs_eta, side="left")
    return np.append(np.asarray(part[key], dtype=np.float64), np.nan)[region]


def _in_acceptance(abs_eta: np.ndarray, part: dict) -> np.ndarray:
    return abs_eta < part["eta_edges"][-1]


def _calo_sigma(energy: np.ndarray, abs_eta: np.ndarray, part: dict) -> np.ndarray:
    """Relative energy resolution sqrt(a^2/E + b^2 + (c/E)^2)."""
    a, b, c = (_per_region(abs_eta, part, k) for k in ("stochastic", "constant", "noise"))
    e = np.maximum(energy, 1e-9)
    return np.sqrt(a * a / e + b * b + (c / e) ** 2)


def _pf_id(pdg: np.ndarray, charge: np.ndarray, tracked: np.ndarray, ecal: np.ndarray) -> np.ndarray:
    apdg = np.abs(pdg)
    track_id = np.where((apdg == 11) | (apdg == 13), apdg, 211) * np.sign(charge).astype(np.int32)
    return np.where(tracked, track_id, np.where(ecal, 22, 130)).astype(np.int32)


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
    kin = kinematics(px, py, pz, energy)
    abs_eta = np.abs(kin["eta"])
    event_of = np.repeat(np.arange(len(counts)), ak.to_numpy(counts))

    if not detector["enabled"]:
        keep = visible & (abs_eta < TRUTH_MAX_ABS_ETA)
        fields = {"px": px, "py": py, "pz": pz, "E": energy, "mass": mass, "pt": kin["pt"],
                  "eta": kin["eta"], "phi": kin["phi"], "charge": charge, "pdgId": pdg}
        fields = {k: v[keep] for k, v in fields.items()}
        return ak.unflatten(ak.zip(fields), np.bincount(event_of[keep], minlength=len(counts)))

    trk, ecal, hcal = detector["tracks"], detector["ecal"], detector["hcal"]
    apdg = np.abs(pdg)
    pt = kin["pt"]
    charged = visible & (charge != 0)
    eff = np.where(pt > trk["low_pt"], _per_region(abs_eta, trk, "efficiency"),
                   _per_region(abs_eta, trk, "efficiency_low_pt"))
    u_track, u_smear = rng.random(len(pt)), rng.standard_normal(len(pt))
    tracked = charged & _in_acceptance(abs_eta, trk) & (pt > trk["min_pt"]) & (u_track < np.nan_to_num(eff))

    # Tracks: pT smeared at fixed direction and mass.
    sig_pt = np.hypot(_per_region(abs_eta, trk, "resolution_constant"),
                      _per_region(abs_eta, trk, "resolution_slope") * pt)
    scale_trk = np.maximum(1.0 + np.nan_to_num(sig_pt) * u_smear, 0.0)

    # Calorimeter deposits: everything visible without a track except muons; EM showers in the ECAL.
    em = (apdg == 22) | (apdg == 11)
    to_calo = visible & ~tracked & (apdg != 13)
    in_ecal = em & _in_acceptance(abs_eta, ecal)
    calo_part_sigma = np.where(in_ecal, np.nan_to_num(_calo_sigma(energy, abs_eta, ecal)),
                               np.nan_to_num(_calo_sigma(energy, abs_eta, hcal)))
    in_calo = to_calo & (in_ecal | _in_acceptance(abs_eta, hcal))
    e_reco = np.maximum(energy * (1.0 + calo_part_sigma * u_smear), 0.0)
    in_calo &= e_reco > detector["calo_min_e"]
    p_abs = np.sqrt(px * px + py * py + pz * pz)
    scale_calo = e_reco / np.maximum(p_abs, 1e-12)  # massless deposit along the particle

    scale = np.where(tracked, scale_trk, scale_calo)
    keep = tracked | in_calo
    rpx, rpy, rpz = px * scale, py * scale, pz * scale
    rmass = np.where(tracked, mass, 0.0)
    rE = np.where(tracked, np.sqrt(rpx * rpx + rpy * rpy + rpz * rpz + rmass * rmass), e_reco)
    fields = {"px": rpx, "py": rpy, "pz": rpz, "E": rE, "mass": rmass, "pt": pt * scale,
              "eta": kin["eta"], "phi": kin["phi"], "charge": np.where(tracked, charge, 0).astype(np.int32),
              "pdgId": _pf_id(pdg, charge, tracked, em)}
    fields = {k: v[keep] for k, v in fields.items()}
    return ak.unflatten(ak.zip(fields), np.bincount(event_of[keep], minlength=len(counts)))


def _relative_isolation(objects: ak.Array, candidates: ak.Array, cone: float) -> ak.Array:
    """Scalar pT sum of the candidates within ``cone`` of each object, the object itself excluded,
    over the object's pT. The object is one of the candidates, so its own pT is subtracted."""
    pairs = ak.cartesian({"o": objects[["eta", "phi"]], "c": candidates[["pt", "eta", "phi"]]}, axis=1, nested=True)
    dphi = (pairs.o.phi - pairs.c.phi + np.pi) % (2 * np.pi) - np.pi
    near = (pairs.o.eta - pairs.c.eta) ** 2 + dphi**2 < cone * cone
    return (ak.sum(pairs.c.pt * near, axis=2) - objects.pt) / objects.pt


def identify(candidates: ak.Array, detector: dict, kind: str, rng: np.random.Generator) -> ak.Array:
    """Identified, isolated electrons, muons or photons (``kind``) among the candidates, pT-sorted,
    with their relative isolation ``pfRelIso03_all`` (the cone of the config). Truth level: full
    efficiency, the same isolation requirement."""
    part = detector[kind]
    pdg = _OBJECT_PDGID[kind]
    counts = ak.num(candidates)
    abs_eta = np.abs(ak.to_numpy(ak.flatten(candidates.eta)))
    pt = ak.to_numpy(ak.flatten(candidates.pt))
    is_kind = np.abs(ak.to_numpy(ak.flatten(candidates.pdgId))) == pdg
    if kind != "photon":  # a lepton is a track (its charge is measured)
        is_kind &= ak.to_numpy(ak.flatten(candidates.charge)) != 0
    eff = np.nan_to_num(_per_region(abs_eta, part, "efficiency")) if detector["enabled"] else 1.0
    u = rng.random(len(pt))
    found = is_kind & (pt > part["min_pt"]) & _in_acceptance(abs_eta, part) & (u < eff)
    objects = candidates[ak.unflatten(found, counts)]
    objects = ak.with_field(objects, _relative_isolation(objects, candidates, part["iso_cone"]), "pfRelIso03_all")
    objects = objects[objects.pfRelIso03_all < part["iso_max"]]
    return objects[ak.argsort(objects.pt, axis=1, ascending=False, stable=True)]
