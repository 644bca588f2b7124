"""Four-vectors and angles: (pt, eta, phi, m) <-> (px, py, pz, E), phi differences, rapidity.

Each conversion keeps the exact arithmetic of the code it replaced, so results are the same to the last bit:
``four_momentum`` (awkward records, in their own precision: the float32 of NanoAOD branches) takes E from |p|,
``cartesian`` (float64 arrays of constituents) from pT; the two energies differ in the last bit for ~7% of jets,
which would change the stored features if they were merged into one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import awkward as ak


def polar(px: np.ndarray, py: np.ndarray, pz: np.ndarray, E: np.ndarray) -> dict[str, np.ndarray]:
    """pt, eta, phi, mass of four-vectors; eta is +-inf along the beam, mass 0 where m^2 < 0 from
    rounding."""
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(pt > 0, np.arcsinh(pz / pt), np.copysign(np.inf, pz))
    mass = np.sqrt(np.maximum(E * E - px * px - py * py - pz * pz, 0.0))
    return {"pt": pt, "eta": eta, "phi": np.arctan2(py, px), "mass": mass}


def cartesian(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(px, py, pz, E) of arrays of (pt, eta, phi, m), E = sqrt(pT^2 + pz^2 + m^2)."""
    pz = pt * np.sinh(eta)
    return pt * np.cos(phi), pt * np.sin(phi), pz, np.sqrt(pt**2 + pz**2 + mass**2)


def four_momentum(j: ak.Array) -> tuple[ak.Array, ak.Array, ak.Array, ak.Array]:
    """(px, py, pz, E) of objects (records) with pt, eta, phi, mass; E = sqrt(|p|^2 + m^2)."""
    px, py = j.pt * np.cos(j.phi), j.pt * np.sin(j.phi)
    pz = j.pt * np.sinh(j.eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + j.mass**2)
    return px, py, pz, e


def delta_phi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a - b wrapped into [-pi, pi] (rint instead of %, which is slower on large arrays)."""
    difference = np.asarray(a) - np.asarray(b)
    return difference - 2.0 * np.pi * np.rint(difference / (2.0 * np.pi))


def rapidity(pt: np.ndarray, eta: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Rapidity from (pt, eta, m): y = asinh(pz / mT), equal to eta for massless particles."""
    return np.arcsinh(pt * np.sinh(eta) / np.sqrt(pt**2 + mass**2))
