"""Angular matching within events, compiled (numba): nearest target, cone sums, first members.

Objects and targets are flat arrays with event offsets (event i owns ``off[i]:off[i + 1]``); the loops
over each event's object x target pairs replace awkward cartesian products, which built every pair
as an array (most of the matching time of generation). Distances are Delta R^2 = deta^2 + dphi^2 with
dphi wrapped into [-pi, pi), the same arithmetic as the awkward expressions they replace.
"""
from __future__ import annotations

import awkward as ak
import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def delta_r2(eta1: float, phi1: float, eta2: float, phi2: float) -> float:
    dphi = (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi
    return (eta1 - eta2) ** 2 + dphi**2


def offsets_of(counts: np.ndarray) -> np.ndarray:
    """Event offsets (length n + 1) from per-event counts."""
    off = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=off[1:])
    return off


@numba.njit(cache=True, nogil=True)
def nearest(o_off: np.ndarray, o_eta: np.ndarray, o_phi: np.ndarray, t_off: np.ndarray, t_eta: np.ndarray,
            t_phi: np.ndarray, max_dr: float) -> np.ndarray:
    """Per object, the index within its event of the nearest target (the first on a tie) if closer
    than max_dr, else -1."""
    out = np.full(len(o_eta), -1, dtype=np.int64)
    for ev in range(len(o_off) - 1):
        for o in range(o_off[ev], o_off[ev + 1]):
            best, best_d = -1, np.inf
            for t in range(t_off[ev], t_off[ev + 1]):
                d = delta_r2(o_eta[o], o_phi[o], t_eta[t], t_phi[t])
                if d < best_d:
                    best, best_d = t - t_off[ev], d
            if best_d < max_dr * max_dr:
                out[o] = best
    return out


@numba.njit(cache=True, nogil=True)
def cone_sums(o_off: np.ndarray, o_eta: np.ndarray, o_phi: np.ndarray, c_off: np.ndarray, c_eta: np.ndarray,
              c_phi: np.ndarray, weights: np.ndarray, cone: float) -> np.ndarray:
    """Per object, the sums of each column of ``weights`` (candidates x k) over the candidates of its
    event closer than ``cone`` (summed in candidate order)."""
    out = np.zeros((len(o_eta), weights.shape[1]))
    for ev in range(len(o_off) - 1):
        for o in range(o_off[ev], o_off[ev + 1]):
            for c in range(c_off[ev], c_off[ev + 1]):
                if delta_r2(o_eta[o], o_phi[o], c_eta[c], c_phi[c]) < cone * cone:
                    for k in range(weights.shape[1]):
                        out[o, k] += weights[c, k]
    return out


@numba.njit(cache=True, nogil=True)
def first_two(j_off: np.ndarray, m_off: np.ndarray, member_of: np.ndarray) -> np.ndarray:
    """Per jet, the indices within the event of the first two members whose ``member_of`` is that
    jet's index within the event (-1: none)."""
    out = np.full((j_off[-1], 2), -1, dtype=np.int64)
    for ev in range(len(j_off) - 1):
        for m in range(m_off[ev], m_off[ev + 1]):
            j = member_of[m]
            if 0 <= j < j_off[ev + 1] - j_off[ev]:
                row = j_off[ev] + j
                if out[row, 0] < 0:
                    out[row, 0] = m - m_off[ev]
                elif out[row, 1] < 0:
                    out[row, 1] = m - m_off[ev]
    return out


def flat_eta_phi(objects: ak.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event offsets and the flat float64 eta, phi of ``[event][object]`` records."""
    off = offsets_of(ak.to_numpy(ak.num(objects)))
    return off, *(np.ascontiguousarray(ak.to_numpy(ak.flatten(objects[k])), dtype=np.float64)
                  for k in ("eta", "phi"))


def nearest_index(objects: ak.Array, targets: ak.Array, max_dr: float) -> ak.Array:
    """Per object, the index of the nearest target within ``max_dr`` in (eta, phi), -1 for none."""
    o_off, o_eta, o_phi = flat_eta_phi(objects)
    t_off, t_eta, t_phi = flat_eta_phi(targets)
    return ak.unflatten(nearest(o_off, o_eta, o_phi, t_off, t_eta, t_phi, float(max_dr)), np.diff(o_off))
