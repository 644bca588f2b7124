"""Vectorised per-jet substructure observables from jet constituents.

Constituents arrive flattened over jets (1D numpy arrays) with ``jet_index`` giving each one's jet, so
per-jet sums are single ``np.bincount`` calls; quadratic/cubic observables use padded (J, N) arrays.

Angles: N-subjettiness, ECFs and EFPs use rapidity-azimuth distances (as fastjet-contrib and energyflow
do); girth and the axes use pseudorapidity and the jet axis from the jet record (CMS quark/gluon
definitions). Every azimuthal difference is wrapped into [-pi, pi].

Undefined values are NaN, and only those: see ``registry.compute_features`` for the list.
"""

from __future__ import annotations

import os
import sys
import warnings

import awkward as ak
import numba
import numpy as np

from analysis.forked import FASTJET_BANNER as _BANNER_SHOWN
from analysis.kinematics.vectors import cartesian, delta_phi, rapidity

# Nsubjettiness' ExclusiveJetAxes recluster with R = JetDefinition::max_allowable_R, so no particle is
# merged with the beam and all of them end up in the N exclusive axes.
_KT_AXES_R = 1000.0


def _fastjet():
    """The fastjet module, its banner printed at most once per run of forked processes (the flag is shared
    memory made before luigi forks: analysis/forked.py)."""
    import fastjet

    if getattr(_fastjet, "ready", False):
        return fastjet
    _fastjet.ready = True
    if _BANNER_SHOWN[0]:
        sys.stdout.flush()
        saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        try:  # FastJet prints the banner at its first clustering in a process
            one = ak.Array([[{"px": 1.0, "py": 0.0, "pz": 0.0, "E": 1.0}]])
            fastjet.ClusterSequence(one, fastjet.JetDefinition(fastjet.kt_algorithm, 0.4)).inclusive_jets()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
    _BANNER_SHOWN[0] = 1
    return fastjet


def per_jet_sum(values: np.ndarray, jet_index: np.ndarray, n_jets: int) -> np.ndarray:
    """Sum of per-constituent values within each jet (0 for jets without constituents)."""
    return np.bincount(jet_index, weights=values, minlength=n_jets)


def safe_ratio(numerator: np.ndarray, denominator: np.ndarray, fill: float) -> np.ndarray:
    """numerator / denominator, with ``fill`` where the denominator is 0 (no division warnings)."""
    out = np.full(np.shape(numerator), fill, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def ptd(pt: np.ndarray, jet_index: np.ndarray, n_jets: int) -> np.ndarray:
    """p_T^D = sqrt(sum pT^2) / sum pT: 1 for one constituent, ~1/sqrt(n) for n equal ones."""
    return safe_ratio(np.sqrt(per_jet_sum(pt**2, jet_index, n_jets)), per_jet_sum(pt, jet_index, n_jets), np.nan)


def pt_fraction(pt: np.ndarray, selected: np.ndarray, jet_index: np.ndarray, n_jets: int) -> np.ndarray:
    """Share of the jet's constituent pT carried by the ``selected`` constituents."""
    return safe_ratio(per_jet_sum(np.where(selected, pt, 0.0), jet_index, n_jets),
                       per_jet_sum(pt, jet_index, n_jets), np.nan)


def girth(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, jet_index: np.ndarray,
          jet_pt: np.ndarray, jet_eta: np.ndarray, jet_phi: np.ndarray) -> np.ndarray:
    """Girth g = sum pT_i dR(i, jet axis) / pT_jet (CMS linear radial moment)."""
    dr = np.hypot(eta - jet_eta[jet_index], delta_phi(phi, jet_phi[jet_index]))
    return safe_ratio(per_jet_sum(pt * dr, jet_index, len(jet_pt)), jet_pt, np.nan)


def axis_lengths(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, jet_index: np.ndarray,
                 jet_eta: np.ndarray, jet_phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Major and minor axes: sqrt of the eigenvalues of the pT^2-weighted (eta, phi) covariance.

    Central moments about the weighted centroid, relative to the jet axis so the azimuth never wraps
    (CMS QGTagger definition). 0 for one constituent; NaN only for a jet without constituents.
    """
    n_jets = len(jet_eta)
    weight = pt**2
    deta = eta - jet_eta[jet_index]
    dphi = delta_phi(phi, jet_phi[jet_index])
    sum_w = per_jet_sum(weight, jet_index, n_jets)

    def mean(values: np.ndarray) -> np.ndarray:
        return safe_ratio(per_jet_sum(weight * values, jet_index, n_jets), sum_w, np.nan)

    mean_eta, mean_phi = mean(deta), mean(dphi)
    var_eta = mean(deta**2) - mean_eta**2
    var_phi = mean(dphi**2) - mean_phi**2
    cov = mean(deta * dphi) - mean_eta * mean_phi
    half_trace = 0.5 * (var_eta + var_phi)
    root = np.sqrt(0.25 * (var_eta - var_phi) ** 2 + cov**2)
    # rounding can push a vanishing eigenvalue slightly below 0
    return np.sqrt(np.maximum(half_trace + root, 0.0)), np.sqrt(np.maximum(half_trace - root, 0.0))


TAU_AXES = ("onepass_kt", "kt")


def nsubjettiness(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray,
                  counts: np.ndarray, n_max: int, R0: float, axes: str = "onepass_kt") -> np.ndarray:
    """tau_1..tau_{n_max} per jet, shape (J, n_max): beta = 1, normalised by sum pT * R0.

    Axes: exclusive kT jets of each jet's constituents (every jet reclustered as its own pseudo-event in
    one vectorised fastjet.ClusterSequence), then with ``onepass_kt`` one pass of the axis minimisation,
    as fastjet-contrib's OnePass_KT_Axes, which CMSSW's NanoAOD tau_N use; ``kt``: the kT axes as they
    are. tau_N = 0 for jets with at most N constituents.
    """
    if n_max < 1:
        raise ValueError(f"n_max: need at least one axis, got {n_max}")
    if axes not in TAU_AXES:
        raise ValueError(f"axes: one of {', '.join(TAU_AXES)}, got {axes!r}")
    n_jets = len(counts)
    jet_index = np.repeat(np.arange(n_jets), counts)
    pseudo_events = ak.unflatten(ak.zip(dict(zip(("px", "py", "pz", "E"), cartesian(pt, eta, phi, mass)))), counts)
    fastjet = _fastjet()
    sequence = fastjet.ClusterSequence(pseudo_events, fastjet.JetDefinition(fastjet.kt_algorithm, _KT_AXES_R))
    y = rapidity(pt, eta, mass)
    norm = per_jet_sum(pt, jet_index, n_jets) * R0
    taus = np.zeros((n_jets, n_max))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    for n in range(1, n_max + 1):
        with warnings.catch_warnings():
            # fastjet 3.5.2 compares the JetDefinition with an algorithm enum and always warns
            warnings.filterwarnings("ignore", message="dcut and exclusive jets")
            kt_axes = sequence.exclusive_jets_up_to(n)
        px, py, pz, energy = (np.asarray(ak.to_numpy(ak.flatten(kt_axes[f])), dtype=np.float64)
                              for f in ("px", "py", "pz", "E"))
        axis_offsets = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(kt_axes)))])
        axis_y, axis_phi = 0.5 * np.log((energy + pz) / (energy - pz)), np.arctan2(py, px)
        if axes == "onepass_kt":
            axis_y, axis_phi = _one_pass(y, phi, pt, offsets, axis_y, axis_phi, axis_offsets)
        weighted = _min_distance_sums(y, phi, pt, offsets, axis_y, axis_phi, axis_offsets)
        # with at most n constituents each one is its own axis: tau_n = 0 exactly, not up to rounding
        taus[:, n - 1] = np.where(counts > n, safe_ratio(weighted, norm, 0.0), 0.0)
    return taus


@numba.njit(cache=True, nogil=True)
def _one_pass(y: np.ndarray, phi: np.ndarray, pt: np.ndarray, offsets: np.ndarray, axis_y: np.ndarray,
              axis_phi: np.ndarray, axis_offsets: np.ndarray, max_steps: int = 1000,
              accuracy: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """The beta = 1 axis minimisation from the given seeds (fastjet-contrib Nsubjettiness' one-pass
    minimisation, UpdateAxesFast): each particle goes to its nearest axis, each axis moves to the (y, phi)
    mean of its particles weighted by pT / Delta R (phi taken next to the old axis), repeated per jet until
    the axes move by less than ``accuracy`` (summed Delta R^2) or ``max_steps``; an axis without particles stays."""
    new_y, new_phi = axis_y.copy(), axis_phi.copy()
    for jet in range(len(offsets) - 1):
        first, n_axes = axis_offsets[jet], axis_offsets[jet + 1] - axis_offsets[jet]
        for _ in range(max_steps):
            sum_y, sum_phi, sum_w = np.zeros(n_axes), np.zeros(n_axes), np.zeros(n_axes)
            for i in range(offsets[jet], offsets[jet + 1]):
                best, nearest, nearest_dphi = np.inf, 0, 0.0
                for a in range(n_axes):
                    dphi = (phi[i] - new_phi[first + a] + np.pi) % (2.0 * np.pi) - np.pi
                    r2 = (y[i] - new_y[first + a]) ** 2 + dphi**2
                    if r2 < best:
                        best, nearest, nearest_dphi = r2, a, dphi
                w = pt[i] / np.sqrt(max(best, 1e-30))
                sum_y[nearest] += w * y[i]
                sum_phi[nearest] += w * (new_phi[first + nearest] + nearest_dphi)
                sum_w[nearest] += w
            moved = 0.0
            for a in range(n_axes):
                if sum_w[a] > 0:
                    ny, nphi = sum_y[a] / sum_w[a], sum_phi[a] / sum_w[a]
                    moved += (ny - new_y[first + a]) ** 2 + (nphi - new_phi[first + a]) ** 2
                    new_y[first + a], new_phi[first + a] = ny, nphi
            if moved < accuracy:
                break
    return new_y, new_phi


@numba.njit(cache=True, nogil=True)
def _min_distance_sums(y: np.ndarray, phi: np.ndarray, pt: np.ndarray, offsets: np.ndarray, axis_y: np.ndarray,
                       axis_phi: np.ndarray, axis_offsets: np.ndarray) -> np.ndarray:
    """Per jet: sum of pT times the (y, phi) distance to the nearest of the jet's axes (compiled loop)."""
    out = np.zeros(len(offsets) - 1)
    for jet in range(len(offsets) - 1):
        total = 0.0
        for i in range(offsets[jet], offsets[jet + 1]):
            best = np.inf
            for a in range(axis_offsets[jet], axis_offsets[jet + 1]):
                dphi = abs(phi[i] - axis_phi[a]) % (2.0 * np.pi)
                dphi = min(dphi, 2.0 * np.pi - dphi)
                best = min(best, (y[i] - axis_y[a]) ** 2 + dphi**2)
            total += pt[i] * np.sqrt(best)
        out[jet] = total
    return out


def pad_hardest(pt: np.ndarray, values: list[np.ndarray], counts: np.ndarray,
                width: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Each jet's ``width`` hardest constituents (by pT) as (J, width) arrays of ``values``, plus the mask.

    Constituents arrive flattened over jets (``counts`` per jet); padding is 0 with mask False.
    """
    if width < 1:
        raise ValueError(f"width: must be >= 1, got {width}")
    n_jets = len(counts)
    jet_index = np.repeat(np.arange(n_jets), counts)
    order = np.lexsort((-pt, jet_index))
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(pt)) - starts[jet_index]
    keep = rank < width
    rows, cols, source = jet_index[keep], rank[keep], order[keep]
    mask = np.zeros((n_jets, width), dtype=bool)
    mask[rows, cols] = True
    padded = []
    for value in values:
        out = np.zeros((n_jets, width), dtype=np.result_type(value, np.float64))
        out[rows, cols] = value[source]
        padded.append(out)
    return padded, mask


def padded_hardest(pt: np.ndarray, y: np.ndarray, phi: np.ndarray, counts: np.ndarray,
                   max_constituents: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hardest ``max_constituents`` constituents of each jet as (J, N) arrays (z, y, phi).

    z = pT / sum pT over the kept constituents (so sum z = 1, the 'normed' convention); padding has z = 0.
    N = min(max_constituents, largest multiplicity).
    """
    if max_constituents < 1:
        raise ValueError(f"max_constituents: must be >= 1, got {max_constituents}")
    width = int(min(max_constituents, counts.max(initial=0)))
    (z, y_pad, phi_pad), _ = pad_hardest(pt, [pt, y, phi], counts, max(width, 1))
    if width == 0:  # no constituents at all: keep the (J, 0) shapes
        z, y_pad, phi_pad = z[:, :0], y_pad[:, :0], phi_pad[:, :0]
    z = safe_ratio(z, z.sum(axis=1, keepdims=True), np.nan)
    return z, y_pad, phi_pad


def pairwise_delta_r(y: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """theta_ij = sqrt(dy^2 + dphi^2) for padded (J, N) arrays -> (J, N, N).

    The (J, N, N) arrays dominate the cost, so the azimuth is wrapped once per constituent (relative to
    the jet's first one, into [-pi, pi]); pairwise |dphi| then lies in [0, 2 pi] and min(d, 2 pi - d)
    finishes the wrap. Operations run in place to avoid (J, N, N) temporaries.
    """
    phi = delta_phi(phi, phi[:, :1])
    dphi = np.abs(phi[:, :, None] - phi[:, None, :])
    np.minimum(dphi, 2.0 * np.pi - dphi, out=dphi)
    theta = y[:, :, None] - y[:, None, :]
    theta *= theta
    dphi *= dphi
    theta += dphi
    return np.sqrt(theta, out=theta)


@numba.njit(cache=True, nogil=True)
def _ecf_sums(z: np.ndarray, theta: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """(J, n_betas, 4) sums e2, e3, 1e3, 2e3 over pairs/triples of each jet's non-padded constituents.

    A compiled triple loop: the O(N^3) min/max per triple has no einsum form, numpy gathers over all
    (jet, triple) pairs were 10x slower, and the plain e3 comes along at no cost (one pass for all four).
    """
    n_jets, width = z.shape
    out = np.zeros((n_jets, len(betas), 4))
    for jet in range(n_jets):
        n = width
        while n > 0 and z[jet, n - 1] == 0.0:  # padding sits at the end
            n -= 1
        t = theta[jet]
        for i in range(n):
            for j in range(i + 1, n):
                zij = z[jet, i] * z[jet, j]
                a = t[i, j]
                for b_index in range(len(betas)):
                    out[jet, b_index, 0] += zij * _power(a, betas[b_index])
                for b_index in range(len(betas)):
                    beta = betas[b_index]
                    sum_all, sum_smallest, sum_two_smallest = 0.0, 0.0, 0.0
                    for k in range(j + 1, n):
                        b, c = t[i, k], t[j, k]
                        product = a * b * c
                        smallest = min(a, b, c)
                        largest = max(a, b, c)
                        two_smallest = product / largest if largest > 0.0 else 0.0
                        sum_all += z[jet, k] * _power(product, beta)
                        sum_smallest += z[jet, k] * _power(smallest, beta)
                        sum_two_smallest += z[jet, k] * _power(two_smallest, beta)
                    out[jet, b_index, 1] += zij * sum_all
                    out[jet, b_index, 2] += zij * sum_smallest
                    out[jet, b_index, 3] += zij * sum_two_smallest
    return out


@numba.njit(cache=True, inline="always")
def _power(x: float, beta: float) -> float:
    """x**beta with the common exponents 1 and 2 as plain products (pow dominates the loop otherwise)."""
    if beta == 1.0:
        return x
    if beta == 2.0:
        return x * x
    return x**beta


def energy_correlation_ratios(z: np.ndarray, theta: np.ndarray, betas: list[float]) -> dict[str, np.ndarray]:
    """C2, D2, M2 and N2 at each beta from the normalised (generalised) energy correlation functions.

    e2 = sum_{i<j} z_i z_j theta_ij^beta, e3 = sum_{i<j<k} z_i z_j z_k (theta_ij theta_ik theta_jk)^beta:
    C2 = e3 / e2^2, D2 = e3 / e2^3. Generalised (Moult, Necib, Thaler, arXiv:1609.07483): ve_3 keeps the
    v smallest of a triple's three angles: M2 = 1e3 / e2, N2 = 2e3 / e2^2. Keys ``c2_b{beta}``, ``d2_b..``,
    ``m2_b..``, ``n2_b..``; NaN where e2 = 0 (fewer than two constituents).
    """
    sums = _ecf_sums(np.ascontiguousarray(z), np.ascontiguousarray(theta), np.asarray(betas, dtype=np.float64))
    out = {}
    for b_index, beta in enumerate(betas):
        e2, e3, e3_1, e3_2 = (sums[:, b_index, k] for k in range(4))
        out.update({f"c2_b{beta:g}": safe_ratio(e3, e2**2, np.nan), f"d2_b{beta:g}": safe_ratio(e3, e2**3, np.nan),
                    f"m2_b{beta:g}": safe_ratio(e3_1, e2, np.nan), f"n2_b{beta:g}": safe_ratio(e3_2, e2**2, np.nan)})
    return out
