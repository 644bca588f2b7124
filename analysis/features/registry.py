"""``compute_features`` over awkward jets and constituents: each feature (``names.FEATURES``) by its kind.

Jets are processed in chunks of ``CHUNK_SIZE`` (angle matrices in blocks of ``PAIRWISE_BLOCK``) so memory
stays bounded for any input size. Within a chunk every shared intermediate (flattened constituents,
rapidities, kT axes and tau_N, padded arrays, theta, graph contractions) is computed once, whichever and
however many features need it.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Callable

import awkward as ak
import numpy as np

from . import substructure as sub
from .efp import GraphEvaluator, energy_flow_polynomials
from .names import FEATURES, available_features

# ECFs/EFPs use the hardest MAX_CONSTITUENTS constituents per jet: the triangle graph (e3) is O(N^3)
MAX_CONSTITUENTS = 50
# jets per chunk (awkward -> numpy, one fastjet ClusterSequence) and per block of (J, N, N) angle matrices:
# blocks of 256 jets x 50 x 50 float64 (5 MB) stay in cache, which makes the elementwise work ~2x faster
CHUNK_SIZE = 4096
PAIRWISE_BLOCK = 256

_LEPTONS = (11, 13)


class _Chunk:
    """One chunk of jets plus the intermediates that several features share (each built at most once)."""

    def __init__(self, jets: ak.Array, constituents: ak.Array, names: list[str], R: float) -> None:
        self.jets = jets
        self.constituents = constituents
        self.names = names
        self.R = R
        self._jet_fields: dict[str, np.ndarray] = {}
        self._constituent_fields: dict[str, np.ndarray] = {}

    def jet(self, field: str) -> np.ndarray:
        if field not in self._jet_fields:
            self._jet_fields[field] = _to_float(self.jets[field], f"jets.{field}")
        return self._jet_fields[field]

    def constituent(self, field: str) -> np.ndarray:
        if field not in self._constituent_fields:
            self._constituent_fields[field] = _to_float(ak.flatten(self.constituents[field], axis=1),
                                                        f"constituents.{field}")
        return self._constituent_fields[field]

    @cached_property
    def counts(self) -> np.ndarray:
        return ak.to_numpy(ak.num(self.constituents, axis=1)).astype(np.int64)

    @cached_property
    def jet_index(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.counts)), self.counts)

    @cached_property
    def rapidity(self) -> np.ndarray:
        return sub.rapidity(self.constituent("pt"), self.constituent("eta"), self.constituent("mass"))

    def pt_fraction(self, selected: np.ndarray) -> np.ndarray:
        return sub.pt_fraction(self.constituent("pt"), selected, self.jet_index, len(self.counts))

    @cached_property
    def taus(self) -> np.ndarray:
        n_max = max(FEATURES[name].arg for name in self.names if FEATURES[name].kind in ("tau", "tau_ratio"))
        return sub.nsubjettiness(self.constituent("pt"), self.constituent("eta"), self.constituent("phi"),
                                 self.constituent("mass"), self.counts, n_max, self.R)

    @cached_property
    def axes(self) -> tuple[np.ndarray, np.ndarray]:
        return sub.axis_lengths(self.constituent("pt"), self.constituent("eta"), self.constituent("phi"),
                                self.jet_index, self.jet("eta"), self.jet("phi"))

    @cached_property
    def pairwise(self) -> dict[str, np.ndarray]:
        """Every requested ECF ratio and EFP, from one padded array set and one theta matrix."""
        z, y, phi = sub.padded_hardest(self.constituent("pt"), self.rapidity, self.constituent("phi"),
                                       self.counts, MAX_CONSTITUENTS)
        efp_names = [name for name in self.names if FEATURES[name].kind == "efp"]
        ecf_betas = sorted({FEATURES[name].arg for name in self.names if FEATURES[name].kind == "ecf"})
        blocks: list[dict[str, np.ndarray]] = []
        for start in range(0, len(z), PAIRWISE_BLOCK):
            block = slice(start, start + PAIRWISE_BLOCK)
            theta = sub.pairwise_delta_r(y[block], phi[block])
            out = energy_flow_polynomials(GraphEvaluator(z[block], theta), efp_names)
            if ecf_betas:
                out.update(sub.energy_correlation_ratios(z[block], theta, ecf_betas))
            blocks.append(out)
        empty = self.counts == 0  # z = pT / sum pT is undefined
        return {name: np.where(empty, np.nan, np.concatenate([b[name] for b in blocks])) for name in blocks[0]}


def _is_neutral_hadron(c: _Chunk) -> np.ndarray:
    abs_id = np.abs(c.constituent("pdgId"))
    # neutral, not a photon, not a lepton (neutrinos, should any reach the jet)
    return (c.constituent("charge") == 0) & (abs_id != 22) & ((abs_id < 11) | (abs_id > 16))


_SELECTIONS: dict[str, Callable[[_Chunk], np.ndarray]] = {  # constituents counted by the *_fraction features
    "charged": lambda c: c.constituent("charge") != 0,
    "photon": lambda c: c.constituent("pdgId") == 22,
    "neutral_hadron": _is_neutral_hadron,
    "lepton": lambda c: np.isin(np.abs(c.constituent("pdgId")), _LEPTONS),
}

# feature kind (names.FEATURES) -> its computation from the chunk, the feature's name and its argument
_KINDS: dict[str, Callable[[_Chunk, str, Any], np.ndarray]] = {
    "jet": lambda c, name, field: c.jet(field),
    "log_msoftdrop": lambda c, name, _: np.log(np.maximum(c.jet("msoftdrop"), 1.0)),
    "n_constituents": lambda c, name, _: c.counts.astype(np.float64),
    "tau": lambda c, name, n: c.taus[:, n - 1],
    "tau_ratio": lambda c, name, n: sub.safe_ratio(c.taus[:, n - 1], c.taus[:, n - 2], 0.0),
    "ptd": lambda c, name, _: sub.ptd(c.constituent("pt"), c.jet_index, len(c.counts)),
    "girth": lambda c, name, _: sub.girth(c.constituent("pt"), c.constituent("eta"), c.constituent("phi"),
                                          c.jet_index, c.jet("pt"), c.jet("eta"), c.jet("phi")),
    "axis": lambda c, name, i: c.axes[i],
    "fraction": lambda c, name, which: c.pt_fraction(_SELECTIONS[which](c)),
    "dphi_met": lambda c, name, _: np.abs(sub.delta_phi(c.jet("phi"), c.jet("met_phi"))),
    "ecf": lambda c, name, _: c.pairwise[name],
    "efp": lambda c, name, _: c.pairwise[name],
    "jet_tau_ratio": lambda c, name, n: sub.safe_ratio(c.jet(f"tau{n}"), c.jet(f"tau{n - 1}"), 0.0),
}


def _to_float(array: ak.Array, what: str) -> np.ndarray:
    try:
        values = ak.to_numpy(array, allow_missing=False)
    except ValueError as err:
        raise ValueError(f"{what}: expected a flat numeric array without missing values ({err})") from err
    if values.dtype.kind not in "biuf":
        raise ValueError(f"{what}: expected numbers, got dtype {values.dtype}")
    return values.astype(np.float64)


def _validate(jets: ak.Array, constituents: ak.Array, names: list[str], R: float) -> None:
    unknown = [name for name in names if name not in FEATURES]
    if unknown:
        raise ValueError(f"names: unknown features {unknown}; available: {available_features()}")
    if not R > 0:
        raise ValueError(f"R: jet radius must be positive, got {R}")
    if len(jets) != len(constituents):
        raise ValueError(f"constituents: {len(constituents)} entries but {len(jets)} jets")
    if constituents.ndim != 2:
        raise ValueError(f"constituents: expected [jet][constituent] records (ndim 2), got ndim {constituents.ndim}")
    for array, what, attribute in ((jets, "jets", "jet_fields"), (constituents, "constituents", "constituent_fields")):
        for name in names:
            missing = [f for f in getattr(FEATURES[name], attribute) if f not in array.fields]
            if missing:
                raise ValueError(f"{what}: missing field(s) {missing} needed by feature '{name}'")
    if "pt" in constituents.fields and ak.any(constituents.pt < 0):
        raise ValueError("constituents.pt: negative transverse momentum")


def compute_features(jets: ak.Array, constituents: ak.Array, names: list[str], R: float = 0.8) -> dict[str, np.ndarray]:
    """Compute the named per-jet features; float64 arrays of len(jets), keyed in the order of ``names``.

    jets: one record per jet (pt, eta, phi, mass, optional msoftdrop, and met_phi, the event's MET
    azimuth, for dphi_met); constituents: [jet][constituent] records (pt, eta, phi, mass, charge, pdgId);
    R: jet radius, the N-subjettiness normalisation R0.
    Only the fields the requested features use are required (ValueError names any missing one).

    NaN marks values that are undefined, nothing else:
      - c2_b*, d2_b*, m2_b*, n2_b*: e2 = 0, i.e. fewer than two constituents (or all at one point in y-phi);
      - ptd, axis_major, axis_minor, *_fraction, efp_*: jets without constituents (sum pT = 0);
      - girth: jets with pt = 0.
    A one-constituent jet has tau_N = 0, tau ratios 0, ptd 1, axes 0, EFPs 0 (no pair of particles).
    ECFs (C2, D2, M2, N2) and EFPs use the hardest MAX_CONSTITUENTS constituents, z normalised over those.
    """
    names = list(names)
    _validate(jets, constituents, names, R)
    pieces: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for start in range(0, len(jets), CHUNK_SIZE):
        chunk = _Chunk(jets[start:start + CHUNK_SIZE], constituents[start:start + CHUNK_SIZE], names, R)
        for name in pieces:
            spec = FEATURES[name]
            pieces[name].append(np.asarray(_KINDS[spec.kind](chunk, name, spec.arg), dtype=np.float64))
    return {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in pieces.items()}
