"""Event variables that selections cut on, computed columnar from the (object-selected) event record.

Each variable is a function ``events -> numpy array (one value per event)``; events lacking the
objects a variable needs get NaN, which fails every ``min``/``max`` cut.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from analysis.io.files import OPTIONAL_COLLECTIONS

if TYPE_CHECKING:
    import awkward as ak
    import numpy as np

# numpy and awkward load inside the functions: the config checks cuts against this module's variable names
# (VARIABLES, COUNTS) before any task runs, and building the task graph then needs neither


def _leading_pair(events: ak.Array, coll: str = "FatJet") -> tuple[ak.Array, ak.Array]:
    """The two leading objects, padded with None where an event has fewer."""
    import awkward as ak

    j = ak.pad_none(events[coll], 2, axis=1, clip=True)
    return j[:, 0], j[:, 1]


def _np(x: ak.Array) -> np.ndarray:
    import awkward as ak
    import numpy as np

    return np.asarray(ak.to_numpy(ak.fill_none(x, np.nan)), dtype=np.float64)


def dijet_system(events: ak.Array) -> dict[str, np.ndarray]:
    """mjj, pT of the pair and the transverse mass of (dijet + MET), as in the s-channel SVJ search."""
    import numpy as np

    from analysis.kinematics.vectors import four_momentum

    j1, j2 = _leading_pair(events)
    a, b = four_momentum(j1), four_momentum(j2)
    px, py, pz, e = (x + y for x, y in zip(a, b))
    mjj2 = e**2 - px**2 - py**2 - pz**2
    mjj = np.sqrt(np.maximum(_np(mjj2), 0.0))
    ptjj = _np(np.hypot(px, py))
    met, metphi = _np(events.MET.pt), _np(events.MET.phi)
    mex, mey = met * np.cos(metphi), met * np.sin(metphi)
    etjj = np.sqrt(mjj**2 + ptjj**2)
    mt2 = (etjj + met) ** 2 - ((_np(px) + mex) ** 2 + (_np(py) + mey) ** 2)
    return {"mjj": mjj, "pt_jj": ptjj, "mt": np.sqrt(np.maximum(mt2, 0.0))}


def _abs_deta_jj(events):
    import numpy as np

    j1, j2 = _leading_pair(events)
    return np.abs(_np(j1.eta - j2.eta))


def _dphi_min(events):
    import numpy as np

    from analysis.kinematics.vectors import delta_phi

    j1, j2 = _leading_pair(events)
    phi = _np(events.MET.phi)
    return np.fmin(np.abs(delta_phi(_np(j1.phi), phi)), np.abs(delta_phi(_np(j2.phi), phi)))


def _ht(events):
    """Scalar pT sum of the AK4 jets (b-jets included), of the AK8 jets where a record has no AK4."""
    import awkward as ak

    coll = "Jet" if "Jet" in events.fields else "FatJet"
    return _np(ak.sum(events[coll].pt, axis=1))


# object counts: variable -> (collections, which jets); a cut may add ``pt_above`` to count only
# objects above a pT threshold (e.g. Dark Machines ch1: >= 4 jets with pT > 50 GeV)
COUNTS: dict[str, tuple[tuple[str, ...], str]] = {
    "n_fatjet": (("FatJet",), "all"), "n_jet": (("Jet",), "all"), "n_bjet": (("Jet",), "b"),
    "n_electron": (("Electron",), "all"), "n_muon": (("Muon",), "all"),
    "n_lepton": (("Electron", "Muon"), "all"), "n_photon": (("Photon",), "all"),
}


def count_objects(events: ak.Array, var: str, pt_above: float | None = None) -> np.ndarray:
    """Objects per event of a COUNTS variable, optionally only those with pT > ``pt_above``.

    An absent lepton or photon collection counts zero; an absent jet collection is an error.
    """
    import awkward as ak
    import numpy as np

    colls, which = COUNTS[var]
    total = np.zeros(len(events))
    for coll in colls:
        if coll not in events.fields:
            if coll in OPTIONAL_COLLECTIONS:
                continue
            raise ValueError(f"variable {var}: the events have no collection '{coll}' (they have {', '.join(events.fields)})")
        obj = events[coll]
        keep = ak.ones_like(obj.pt, dtype=bool) if pt_above is None else obj.pt > pt_above
        if which == "b":  # jets without btag: generated events (no b tagging; NanoAOD's: analysis/btag.py)
            keep = keep & (obj.btag > 0.5) if "btag" in obj.fields else keep & False
        total += _np(ak.sum(keep, axis=1))
    return total


VARIABLES: dict[str, Callable[[ak.Array], np.ndarray]] = {
    **{name: (lambda ev, name=name: count_objects(ev, name)) for name in COUNTS},
    "met": lambda ev: _np(ev.MET.pt),
    "ht": _ht,
    "met_over_ht": lambda ev: _np(ev.MET.pt) / _ht(ev),
    "abs_deta_jj": _abs_deta_jj,
    "dphi_min_met": _dphi_min,
    "mjj": lambda ev: dijet_system(ev)["mjj"],
    "mt": lambda ev: dijet_system(ev)["mt"],
    "met_over_mt": lambda ev: _np(ev.MET.pt) / dijet_system(ev)["mt"],
}
