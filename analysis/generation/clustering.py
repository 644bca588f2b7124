"""Jet clustering vectorised over events with fastjet: AK8 "FatJet" (with constituents and soft-drop
mass) and AK4 "Jet".

Input is one jagged record array ``[event][particle]`` with at least ``px, py, pz, E`` (the visible
particles in acceptance). Jets come back pT-sorted (fastjet's inclusive jets are not) and selected in
pT and |eta|, as records ``pt, eta, phi, mass, px, py, pz, E``.
"""
from __future__ import annotations

import awkward as ak
import fastjet
import numpy as np

# fastjet's own choice when SoftDrop reclusters with C/A: a radius that never merges with the beam,
# so exclusive_jets(1) of a jet's constituents is the whole jet.
_RECLUSTER_R = fastjet.JetDefinition.max_allowable_R


def kinematics(px: np.ndarray, py: np.ndarray, pz: np.ndarray, E: np.ndarray) -> dict[str, np.ndarray]:
    """pt, eta, phi, mass of four-vectors; eta is +-inf along the beam, mass 0 where m^2 < 0 from
    rounding."""
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(pt > 0, np.arcsinh(pz / pt), np.copysign(np.inf, pz))
    mass = np.sqrt(np.maximum(E * E - px * px - py * py - pz * pz, 0.0))
    return {"pt": pt, "eta": eta, "phi": np.arctan2(py, px), "mass": mass}


def _flat(x: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(x, axis=None))


def _momenta(particles: ak.Array) -> ak.Array:
    return ak.zip({k: particles[k] for k in ("px", "py", "pz", "E")}, with_name="Momentum4D")


def _jets_record(jets: ak.Array) -> ak.Array:
    counts = ak.num(jets)
    p = {k: _flat(jets[k]) for k in ("px", "py", "pz", "E")}
    return ak.unflatten(ak.zip({**kinematics(**p), **p}), counts)


def _sort_and_select(jets: ak.Array, min_pt: float, max_abs_eta: float) -> ak.Array:
    """Indices into ``jets`` per event: pT-descending, pT > min_pt, |eta| < max_abs_eta."""
    order = ak.argsort(jets.pt, axis=1, ascending=False, stable=True)
    ordered = jets[order]
    return order[(ordered.pt > min_pt) & (np.abs(ordered.eta) < max_abs_eta)]


def cluster_jets(particles: ak.Array, r: float = 0.4, min_pt: float = 20.0,
                 max_abs_eta: float = 4.7) -> ak.Array:
    """Anti-kT jets of radius ``r`` (AK4 by default), pT-sorted, pT > min_pt and |eta| < max_abs_eta."""
    seq = fastjet.ClusterSequence(_momenta(particles), fastjet.JetDefinition(fastjet.antikt_algorithm, r))
    jets = _jets_record(seq.inclusive_jets(min_pt))
    return jets[_sort_and_select(jets, min_pt, max_abs_eta)]


def softdrop_mass(constituents: ak.Array, beta: float = 0.0, z_cut: float = 0.1, r0: float = 0.8) -> ak.Array:
    """Soft-drop groomed mass of each jet ``[event][jet]`` from its constituents ``[event][jet][particle]``.

    Every jet becomes a pseudo-event of one vectorised C/A ClusterSequence; its single exclusive jet
    carries the full C/A history that fastjet-contrib's SoftDrop declusters (beta, z_cut, R0).
    """
    n_jets = ak.num(constituents, axis=1)
    per_jet = ak.flatten(constituents, axis=1)
    if len(per_jet) == 0:
        return ak.unflatten(np.zeros(0, dtype=np.float64), n_jets)
    seq = fastjet.ClusterSequence(_momenta(per_jet),
                                  fastjet.JetDefinition(fastjet.cambridge_algorithm, _RECLUSTER_R))
    groomed = seq.exclusive_jets_softdrop_grooming(njets=1, beta=beta, symmetry_cut=z_cut, R0=r0)
    return ak.unflatten(ak.to_numpy(groomed.msoftdrop), n_jets)


def cluster_fatjets(particles: ak.Array, r: float = 0.8, min_pt: float = 170.0, max_abs_eta: float = 2.5,
                    sd_beta: float = 0.0, sd_z_cut: float = 0.1) -> tuple[ak.Array, ak.Array]:
    """Anti-kT jets of radius ``r`` (AK8 by default) with their constituents.

    Returns ``(jets, constituents)``: jets ``[event][jet]`` pT-sorted and selected, with ``msoftdrop``
    (R0 = r) and ``nConstituents``; constituents ``[event][jet][particle]`` with every field of
    ``particles``, in the same jet order.
    """
    seq = fastjet.ClusterSequence(_momenta(particles), fastjet.JetDefinition(fastjet.antikt_algorithm, r))
    jets = _jets_record(seq.inclusive_jets(min_pt))
    keep = _sort_and_select(jets, min_pt, max_abs_eta)
    jets = jets[keep]
    index = seq.constituent_index(min_pt)[keep]  # [event][jet][i] into the event's particles
    # Gather constituents with flat numpy indices: event offset + particle index.
    n_particles = ak.to_numpy(ak.num(particles))
    offsets = np.concatenate([[0], np.cumsum(n_particles)[:-1]])
    n_const = ak.num(index, axis=2)
    per_event = ak.to_numpy(ak.sum(n_const, axis=1))
    flat_index = _flat(index) + np.repeat(offsets, per_event)
    flat_particles = ak.flatten(particles)[flat_index]
    constituents = ak.unflatten(ak.unflatten(flat_particles, _flat(n_const)), ak.num(index))
    jets = ak.with_field(jets, softdrop_mass(constituents, sd_beta, sd_z_cut, r), "msoftdrop")
    jets = ak.with_field(jets, n_const, "nConstituents")
    return jets, constituents
