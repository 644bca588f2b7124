"""The jet features and representations by name, and what each feature reads: the one list of names.

The config and the task graph check names against this module, which loads neither awkward nor numba;
``registry.compute_features`` computes a feature by its ``kind`` (``representations`` a representation).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .efp_graphs import efp_graphs

_P4 = ("pt", "eta", "phi", "mass")


@dataclass(frozen=True)
class FeatureSpec:
    """How a feature is computed (``kind`` and its argument ``arg``, see ``registry``) and the jet and
    constituent fields it reads."""

    kind: str
    arg: str | int | float | None = None
    jet_fields: tuple[str, ...] = ()
    constituent_fields: tuple[str, ...] = ()


def _jet(field: str) -> FeatureSpec:
    return FeatureSpec("jet", field, jet_fields=(field,))


def _fraction(which: str, fields: tuple[str, ...]) -> FeatureSpec:
    return FeatureSpec("fraction", which, constituent_fields=("pt",) + fields)


FEATURES: dict[str, FeatureSpec] = {
    **{field: _jet(field) for field in ("pt", "eta", "phi", "mass", "msoftdrop")},
    "log_msoftdrop": FeatureSpec("log_msoftdrop", jet_fields=("msoftdrop",)),
    "n_constituents": FeatureSpec("n_constituents", constituent_fields=("pt",)),
    **{f"tau{n}": FeatureSpec("tau", n, constituent_fields=_P4) for n in (1, 2, 3, 4, 5)},
    **{f"tau{n}{n - 1}": FeatureSpec("tau_ratio", n, constituent_fields=_P4) for n in (2, 3, 4, 5)},
    "ptd": FeatureSpec("ptd", constituent_fields=("pt",)),
    "girth": FeatureSpec("girth", jet_fields=("pt", "eta", "phi"), constituent_fields=("pt", "eta", "phi")),
    "axis_major": FeatureSpec("axis", 0, jet_fields=("eta", "phi"), constituent_fields=("pt", "eta", "phi")),
    "axis_minor": FeatureSpec("axis", 1, jet_fields=("eta", "phi"), constituent_fields=("pt", "eta", "phi")),
    "charged_fraction": _fraction("charged", ("charge",)),
    "photon_fraction": _fraction("photon", ("pdgId",)),
    "neutral_hadron_fraction": _fraction("neutral_hadron", ("charge", "pdgId")),
    "lepton_fraction": _fraction("lepton", ("pdgId",)),
    "dphi_met": FeatureSpec("dphi_met", jet_fields=("phi", "met_phi")),
    # energy correlation ratios (arg: the angular exponent beta) and energy flow polynomials
    **{f"{ratio}_b{beta}": FeatureSpec("ecf", float(beta), constituent_fields=_P4)
       for beta in (1, 2) for ratio in ("c2", "d2", "m2", "n2")},
    **{name: FeatureSpec("efp", constituent_fields=_P4) for name in efp_graphs()},
    # NanoAOD's stored AK8 substructure (CMSSW: PUPPI constituents, N-subjettiness with one-pass kT axes,
    # beta 1, R0 0.8; N2/N3 energy correlation ratios at beta 1): plain NanoAOD needs no constituents
    **{f"nano_{b}": _jet(b) for b in ("tau1", "tau2", "tau3", "tau4", "n2b1", "n3b1")},
    **{f"nano_tau{n}{n - 1}": FeatureSpec("jet_tau_ratio", n, jet_fields=(f"tau{n}", f"tau{n - 1}"))
       for n in (2, 3, 4)},
}


def available_features() -> list[str]:
    """Every feature name ``compute_features`` accepts, in registry order."""
    return list(FEATURES)


def needs_constituents(names: list[str]) -> list[str]:
    """The features of ``names`` that are computed from jet constituents (not from stored jet branches)."""
    return [name for name in names if name in FEATURES and FEATURES[name].constituent_fields]


REPRESENTATION_PATTERNS = {"image": re.compile(r"image(\d+)$"), "constituents": re.compile(r"constituents(\d+)$")}
FIXED_REPRESENTATIONS = ("lund_graph", "lund_primary")


def available_representations() -> list[str]:
    """The representation name forms ``compute_representations`` accepts (<N>: any positive integer)."""
    return ["image<N>", "constituents<N>", *FIXED_REPRESENTATIONS]


def check_representation_name(name: str) -> None:
    """ValueError naming the accepted forms unless ``name`` is one of them."""
    match = next((p.match(name) for p in REPRESENTATION_PATTERNS.values() if p.match(name)), None)
    if name not in FIXED_REPRESENTATIONS and (match is None or int(match.group(1)) < 1):
        raise ValueError(f"representation '{name}': unknown; available: {', '.join(available_representations())}")
