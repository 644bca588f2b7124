"""The plain clustering beside the compiled one (clustering.py), selected with SVJ_PLAIN=1: anti-kT through
FastJet's Python interface and soft drop through fastjet-contrib's SoftDrop, one ClusterSequence per call over
all events (or jets). Same arguments and results as the compiled ``_antikt_events`` and ``_softdrop``: jets to
the last bit, soft-drop masses to rounding (tests/test_accelerated.py)."""
from __future__ import annotations

import awkward as ak
import fastjet
import numpy as np

_FIELDS = ("px", "py", "pz", "E")


def _momenta(offsets: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray) -> ak.Array:
    flat = ak.zip(dict(zip(_FIELDS, (px, py, pz, e))), with_name="Momentum4D")
    return ak.unflatten(flat, np.diff(offsets))


def antikt_events(offsets: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray,
                  r: float, min_pt: float, with_constituents: bool
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(jets per event, jet four-momenta (n, 4), constituents per jet, constituent indices within the event, jet
    by jet, ascending) of the anti-kT jets with pT >= min_pt of every event (particles offsets[i]:offsets[i + 1])."""
    seq = fastjet.ClusterSequence(_momenta(offsets, px, py, pz, e), fastjet.JetDefinition(fastjet.antikt_algorithm, r))
    jets = seq.inclusive_jets(min_pt)
    p4 = np.stack([np.asarray(ak.to_numpy(ak.flatten(jets[k])), dtype=np.float64) for k in _FIELDS], axis=1)
    counts = ak.to_numpy(ak.num(jets)).astype(np.int64)
    if not with_constituents:
        return counts, p4.reshape(-1, 4), np.zeros(0, np.int64), np.zeros(0, np.int64)
    index = ak.sort(seq.constituent_index(min_pt), axis=2)
    return (counts, p4.reshape(-1, 4), ak.to_numpy(ak.flatten(ak.num(index, axis=2))).astype(np.int64),
            ak.to_numpy(ak.flatten(index, axis=None)).astype(np.int64))


def softdrop(offsets: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray,
             beta: float, z_cut: float, r0: float) -> np.ndarray:
    """Soft-drop mass of every jet (constituents offsets[k]:offsets[k + 1]): C/A with no radius, then
    fastjet-contrib's SoftDrop (0 for a jet without constituents)."""
    msd = np.zeros(len(offsets) - 1)
    filled = np.flatnonzero(np.diff(offsets) > 0)
    if len(filled):
        momenta = _momenta(offsets, px, py, pz, e)[filled]
        seq = fastjet.ClusterSequence(momenta, fastjet.JetDefinition(fastjet.cambridge_algorithm,
                                                                     fastjet.JetDefinition.max_allowable_R))
        groomed = seq.exclusive_jets_softdrop_grooming(njets=1, beta=beta, symmetry_cut=z_cut, R0=r0)
        msd[filled] = ak.to_numpy(groomed.msoftdrop)
    return msd
