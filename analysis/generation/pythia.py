"""Pythia 8 process cards and batch generation of whole events as awkward arrays.

A sample (one entry of ``config/samples.yaml``) names a ``process``; :func:`pythia_settings` turns it
into the list of Pythia setting strings, :func:`make_pythia` initialises a generator from it, and
:func:`generate_records` yields the full event records batch by batch (``pythia.nextBatch``, which
costs no more than plain generation). :func:`final_state` reduces a record to the stable particles
with the per-species properties (charge, visibility) looked up once per distinct PDG id.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import awkward as ak
    import numpy as np
    import pythia8mc

MB_TO_PB = 1e9
MAX_PYTHIA_SEED = 900_000_000  # Random:seed accepts 0..900000000, and 0 means "seed from the clock"

# Hidden-Valley ids: pseudoscalar (111, 211) and vector (113, 213) dark mesons, their invisible
# decay products (stable dark states 51 scalar, 53 vector), and the s-channel mediator Z'.
DARK_PSEUDOSCALARS = (4900111, 4900211)
DARK_VECTORS = (4900113, 4900213)
DARK_MESONS = DARK_PSEUDOSCALARS + DARK_VECTORS
DARK_STABLE = (51, 53)
ZPRIME = 4900023
# Bi-fundamental mediators Phi of the t-channel model: Pythia's HV partners of the d and u quarks
# (Dv, Uv), pair-produced through QCD (gg, qqbar -> Fv Fvbar) and decaying Fv -> q qv.
TCHANNEL_MEDIATORS = (4900001, 4900002)
HV_PARTNERS = (*range(4900001, 4900007), *range(4900011, 4900017))

SVJ_PARAMS = ("m_med", "r_inv", "m_dark", "n_c", "n_f")
# a sample's generator settings when unset (the config schema fills them in from here)
SAMPLE_DEFAULTS = {"sqrt_s": 13000.0, "mpi": True, "pythia": []}
# quark masses (GeV, PDG id 1..5) for building a card without a generator, e.g. to check a config
NOMINAL_QUARK_MASS = {1: 0.33, 2: 0.33, 3: 0.5, 4: 1.5, 5: 4.8}


def pythia_seed(seed: int) -> int:
    """Map any non-negative integer seed onto Pythia's allowed range 1..900000000 (0 would mean 'use
    the clock', so it is avoided); deterministic, and the identity shifted by one below the limit."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:  # numpy integers too
        raise ValueError(f"seed: must be a non-negative integer, got {seed!r}")
    return int(seed) % MAX_PYTHIA_SEED + 1


def dark_lambda(m_dark: float, n_c: int, n_f: int) -> float:
    """Dark confinement scale from the one-loop running used by the CMS SVJ searches: the coupling
    at 1 TeV is alpha_dark = pi / (b0 ln(1000 / Lambda_peak)) with Lambda_peak = 3.2 m_dark^0.8, and
    Lambda = 1000 exp(-pi / (b0 alpha_dark)), b0 = 11/6 n_c - 2/6 n_f."""
    b0 = 11.0 / 6.0 * n_c - 2.0 / 6.0 * n_f
    if b0 <= 0:
        raise ValueError(f"params: n_c={n_c}, n_f={n_f} give b0={b0:.3g} <= 0 (no confinement)")
    lambda_peak = 3.2 * m_dark ** 0.8
    if lambda_peak >= 1000.0:
        raise ValueError(f"params.m_dark: {m_dark} GeV gives Lambda_peak >= 1 TeV, outside the running formula")
    alpha_dark = math.pi / (b0 * math.log(1000.0 / lambda_peak))
    return 1000.0 * math.exp(-math.pi / (b0 * alpha_dark))


def _svj_params(sample: dict) -> dict:
    process = sample.get("process")
    params = sample.get("params")
    if not isinstance(params, dict):
        raise ValueError(f"params: process '{process}' needs a mapping with " + ", ".join(SVJ_PARAMS))
    missing = [k for k in SVJ_PARAMS if k not in params]
    if missing:
        raise ValueError(f"params: missing {', '.join(missing)} for process '{process}'")
    unknown = sorted(set(params) - set(SVJ_PARAMS))
    if unknown:
        raise ValueError(f"params: unknown keys {', '.join(unknown)} (known: {', '.join(SVJ_PARAMS)})")
    p = {k: params[k] for k in SVJ_PARAMS}
    for k in ("m_med", "m_dark"):
        if not isinstance(p[k], (int, float)) or not p[k] > 0:
            raise ValueError(f"params.{k}: mass must be > 0 GeV, got {p[k]!r}")
    if not isinstance(p["r_inv"], (int, float)) or not 0.0 <= p["r_inv"] <= 1.0:
        raise ValueError(f"params.r_inv: must be in [0, 1], got {p['r_inv']!r}")
    for k in ("n_c", "n_f"):
        if isinstance(p[k], bool) or not isinstance(p[k], int) or p[k] < 1:
            raise ValueError(f"params.{k}: must be a positive integer, got {p[k]!r}")
    if p["m_med"] <= 2 * p["m_dark"]:
        raise ValueError(f"params.m_med: {p['m_med']} GeV cannot decay to two dark hadrons of {p['m_dark']} GeV")
    return p


def _need_pt_hat_min(sample: dict, why: str) -> None:
    if sample.get("pt_hat_min") is None:
        raise ValueError(f"pt_hat_min: process '{sample.get('process')}' needs a pT-hat threshold ({why})")


def _qcd_card(sample: dict, quark_mass: dict[int, float]) -> list[str]:
    """2 -> 2 QCD; a pT-hat bin is [pt_hat_min, pt_hat_max), each bin its own sample and cross-section."""
    _need_pt_hat_min(sample, "2->2 QCD diverges at 0")
    return ["HardQCD:all = on"]


def _ttbar_card(sample: dict, quark_mass: dict[int, float]) -> list[str]:
    """Inclusive ttbar: all W decays, so semi- and di-leptonic events (lost-lepton MET) are included."""
    return ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on"]


def _wjets_card(sample: dict, quark_mass: dict[int, float]) -> list[str]:
    """W + jet (q qbar' -> W g, q g -> W q') with W -> l nu (e, mu, tau)."""
    _need_pt_hat_min(sample, "W + jet diverges at pT 0")
    return ["WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on",
            "24:onMode = off", "24:onIfAny = 11 13 15"]


def _zjets_card(sample: dict, quark_mass: dict[int, float]) -> list[str]:
    """Z + jet (q qbar -> Z g, q g -> Z q), pure Z (no gamma*), with Z -> nu nu."""
    _need_pt_hat_min(sample, "Z + jet diverges at pT 0")
    return ["WeakBosonAndParton:qqbar2gmZg = on", "WeakBosonAndParton:qg2gmZq = on",
            "WeakZ0:gmZmode = 2", "23:onMode = off", "23:onIfAny = 12 14 16"]


def _dark_sector(p: dict, quark_mass: dict[int, float]) -> list[str]:
    """The Hidden-Valley dark QCD shared by both signal models: SU(n_c) with n_f flavours, running
    coupling from m_dark, dark quarks of mass m_dark/2, dark mesons of mass m_dark decaying invisibly
    with probability r_inv (see shared physics notes)."""
    r_inv, m_dark = float(p["r_inv"]), float(p["m_dark"])
    lam = dark_lambda(m_dark, p["n_c"], p["n_f"])
    card = [
        f"4900101:m0 = {m_dark / 2}",
        *(f"{i}:m0 = {m_dark}" for i in DARK_MESONS),
        *(f"{i}:{k}" for i in DARK_STABLE for k in ("m0 = 0", "isResonance = false")),
        f"HiddenValley:Ngauge = {p['n_c']}", "HiddenValley:spinFv = 0", "HiddenValley:FSR = on",
        "HiddenValley:fragment = on", "HiddenValley:alphaOrder = 1",
        "HiddenValley:setLambda = on", f"HiddenValley:Lambda = {lam:.6g}",
        f"HiddenValley:nFlav = {p['n_f']}", "HiddenValley:probVector = 0.75",
        f"HiddenValley:pTminFSR = {1.1 * lam:.6g}",
    ]
    # r_inv is the invisible branching ratio of every dark meson; the visible rest goes to quarks,
    # pseudoscalars with helicity suppression (BR ~ m_q^2, s c b), vectors democratically (d..b).
    heavy = (3, 4, 5)
    m2 = [quark_mass[q] ** 2 for q in heavy]
    total = sum(m2)
    br_pseudo = [(1.0 - r_inv) * m / total for m in m2]
    for meson in DARK_PSEUDOSCALARS:
        card.append(f"{meson}:oneChannel = 1 {r_inv} 0 51 -51")
        card += [f"{meson}:addChannel = 1 {br:.8g} 91 {q} -{q}" for q, br in zip(heavy, br_pseudo)]
    for meson in DARK_VECTORS:
        card.append(f"{meson}:oneChannel = 1 {r_inv} 0 53 -53")
        card += [f"{meson}:addChannel = 1 {(1.0 - r_inv) / 5:.8g} 91 {q} -{q}" for q in range(1, 6)]
    return card


def _svj_schannel_card(sample: dict, quark_mass: dict[int, float]) -> list[str]:
    """Hidden-Valley Z' -> dark quarks (arXiv:2112.11125 setup, see shared physics notes)."""
    p = _svj_params(sample)
    m_med = float(p["m_med"])
    return [
        "HiddenValley:ffbar2Zv = on",
        f"{ZPRIME}:m0 = {m_med}", f"{ZPRIME}:mMin = {m_med - 1}", f"{ZPRIME}:mMax = {m_med + 1}",
        f"{ZPRIME}:mWidth = 0.01",
        f"{ZPRIME}:oneChannel = 1 0.982 102 4900101 -4900101",
        *(f"{ZPRIME}:addChannel = 1 0.003 102 {q} -{q}" for q in range(1, 7)),
        *(f"{i}:m0 = 50000" for i in HV_PARTNERS),
        *_dark_sector(p, quark_mass),
    ]


def _svj_tchannel_card(sample: dict, quark_mass: dict[int, float]) -> list[str]:
    """t-channel model: a scalar bi-fundamental mediator Phi (SM colour triplet and dark-colour
    fundamental; Pythia's Dv and Uv with spinFv = 0) of mass m_med, pair-produced by QCD
    (gg, qqbar -> Phi Phibar; Pythia has no t-channel exchange diagram) and decaying Phi -> q qv (Pythia's
    default and only channel), so each
    event has two dark showers, each beside a hard quark jet. The other HV partners are decoupled."""
    p = _svj_params(sample)
    m_med = float(p["m_med"])
    card = [f"{i}:m0 = {m_med if i in TCHANNEL_MEDIATORS else 50000}" for i in HV_PARTNERS]
    for i in TCHANNEL_MEDIATORS:
        name = {4900001: "Dv", 4900002: "Uv"}[i]
        card += [f"HiddenValley:gg2{name}{name}bar = on", f"HiddenValley:qqbar2{name}{name}bar = on"]
    return card + [f"{ZPRIME}:m0 = 50000", *_dark_sector(p, quark_mass)]


PROCESSES = {"qcd": _qcd_card, "ttbar": _ttbar_card, "wjets": _wjets_card, "zjets_nunu": _zjets_card,
             "svj_schannel": _svj_schannel_card, "svj_tchannel": _svj_tchannel_card}
# Stored in the SVJ_model branch: which signal model a file holds (-1 for backgrounds).
SIGNAL_MODELS = {"svj_schannel": 1, "svj_tchannel": 2}


def is_signal_process(sample: dict) -> bool:
    return sample.get("process") in SIGNAL_MODELS


def pythia_settings(sample: dict, seed: int, quark_mass: dict[int, float]) -> list[str]:
    """All Pythia setting strings for ``sample``: beams, process card, MPI switch, seed, quiet output,
    then the sample's own ``pythia`` strings last so they can override anything.

    ``quark_mass`` maps PDG id 1..5 to the quark masses the generator uses (BR of dark pseudoscalars).
    """
    process = sample.get("process")
    if process not in PROCESSES:
        raise ValueError(f"process: unknown process {process!r} (known: {', '.join(PROCESSES)})")
    sqrt_s = sample.get("sqrt_s", SAMPLE_DEFAULTS["sqrt_s"])
    if not isinstance(sqrt_s, (int, float)) or not sqrt_s > 0:
        raise ValueError(f"sqrt_s: must be > 0 GeV, got {sqrt_s!r}")
    mpi = sample.get("mpi", SAMPLE_DEFAULTS["mpi"])
    if not isinstance(mpi, bool):
        raise ValueError(f"mpi: must be true or false, got {mpi!r}")
    extra = sample.get("pythia", SAMPLE_DEFAULTS["pythia"])
    if not isinstance(extra, list) or not all(isinstance(s, str) for s in extra):
        raise ValueError(f"pythia: must be a list of setting strings, got {extra!r}")
    settings = [f"Beams:eCM = {float(sqrt_s)}", *PROCESSES[process](sample, quark_mass)]
    pt_hat_min = sample.get("pt_hat_min")
    if pt_hat_min is not None:
        if not isinstance(pt_hat_min, (int, float)) or not pt_hat_min > 0:
            raise ValueError(f"pt_hat_min: must be > 0 GeV, got {pt_hat_min!r}")
        settings.append(f"PhaseSpace:pTHatMin = {float(pt_hat_min)}")
    pt_hat_max = sample.get("pt_hat_max")
    if pt_hat_max is not None:
        if not isinstance(pt_hat_max, (int, float)) or not pt_hat_max > (pt_hat_min or 0):
            raise ValueError(f"pt_hat_max: must be a number above pt_hat_min ({pt_hat_min}), got {pt_hat_max!r}")
        settings.append(f"PhaseSpace:pTHatMax = {float(pt_hat_max)}")
    settings += [
        f"PartonLevel:MPI = {'on' if mpi else 'off'}",
        "Random:setSeed = on", f"Random:seed = {pythia_seed(seed)}",
        "Next:numberCount = 0", "Print:quiet = on",
        *extra,
    ]
    return settings


def make_pythia(sample: dict, seed: int) -> pythia8mc.Pythia:
    """An initialised Pythia for ``sample``; a setting Pythia rejects raises ValueError naming it."""
    import pythia8mc  # here, not at import: the config reads this module's process tables before any task runs

    pythia = pythia8mc.Pythia("", False)
    quark_mass = {q: pythia.particleData.m0(q) for q in range(1, 6)}
    for s in pythia_settings(sample, seed, quark_mass):
        if not pythia.readString(s):
            raise ValueError(f"pythia: setting {s!r} rejected by Pythia")
    if not pythia.init():
        raise ValueError(f"process: Pythia failed to initialise sample {sample!r}")
    return pythia


def generate_records(pythia: pythia8mc.Pythia, n_events: int, batch_size: int = 500) -> Iterator[ak.Array]:
    """Yield full event records (``pythia.nextBatch``) until ``n_events`` have been produced.

    Failed events are skipped by Pythia and replaced by asking for more, so the total is exact.
    """
    if n_events < 1:
        raise ValueError(f"n_events: must be >= 1, got {n_events}")
    done = 0
    while done < n_events:
        batch = pythia.nextBatch(min(batch_size, n_events - done))
        if len(batch) == 0:
            raise RuntimeError("Pythia produced no event in a whole batch (every event failed)")
        done += len(batch)
        yield batch


def cross_section_pb(pythia: pythia8mc.Pythia) -> tuple[float, float]:
    """Pythia's estimate of the generated cross-section and its error, in pb."""
    info = pythia.infoPython()
    return info.sigmaGen() * MB_TO_PB, info.sigmaErr() * MB_TO_PB


def event_weights(record: ak.Array) -> np.ndarray:
    """The nominal (first) event weight of each event; 1 for unweighted generation."""
    import awkward as ak  # here, not at import: the config reads this module's process tables
    import numpy as np

    return ak.to_numpy(record.info.weights[:, 0]).astype(np.float64)


def final_state(record: ak.Array, particle_data: pythia8mc.ParticleData) -> ak.Array:
    """Stable particles of each event: ``px, py, pz, E, mass, pdgId, charge, visible``.

    Charge and visibility are looked up once per distinct PDG id and broadcast. Invisible are
    neutrinos and the stable dark states (51, 53, 4900xxx): Pythia's ``isVisible``. Each field is
    flattened once and masked as a numpy array (masking the jagged record copied all its 14 fields).
    """
    import awkward as ak
    import numpy as np

    prt = record.prt
    stable = ak.to_numpy(ak.flatten(prt.status)) > 0
    event = np.repeat(np.arange(len(prt)), ak.to_numpy(ak.num(prt)))[stable]
    pid = ak.to_numpy(ak.flatten(prt.id))[stable]
    import pandas as pd

    inverse, species = pd.factorize(pid)  # a hash table: np.unique's sort took most of this function's time
    charge = np.array([particle_data.charge(int(i)) for i in species], dtype=np.int32)[inverse]
    visible = np.array([particle_data.isVisible(int(i)) for i in species], dtype=bool)[inverse]
    p = prt.p
    fields = {
        **{k: ak.to_numpy(ak.flatten(p[f]))[stable] for k, f in (("px", "px"), ("py", "py"), ("pz", "pz"), ("E", "e"))},
        "mass": ak.to_numpy(ak.flatten(prt.m))[stable],
        "pdgId": pid.astype(np.int32), "charge": charge, "visible": visible,
    }
    return ak.unflatten(ak.zip(fields), np.bincount(event, minlength=len(prt)))


def dark_meson_decays(record: ak.Array) -> ak.Array:
    """The decaying dark mesons (4900111/211/113/213) of each event: ``[event][meson]`` records of
    ``pt, eta, phi`` and ``invisible`` (decayed into the stable dark states 51/53).

    A meson whose first daughter is a copy of itself (recoil bookkeeping) is not a decay. The share
    of invisible decays estimates r_inv of the card; their pT share per jet is the jet's truth r_inv.
    """
    import awkward as ak
    import numpy as np

    prt = record.prt
    counts = ak.to_numpy(ak.num(prt))
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pid = ak.to_numpy(ak.flatten(prt.id))
    d1 = ak.to_numpy(ak.flatten(prt.daughter1))
    event_offset = np.repeat(offsets, counts)
    is_meson = np.isin(np.abs(pid), DARK_MESONS) & (d1 > 0)
    daughter_id = np.abs(pid[(event_offset + d1)[is_meson]])
    decays = daughter_id != np.abs(pid[is_meson])
    chosen = np.flatnonzero(is_meson)[decays]
    p = ak.flatten(prt.p)
    px, py, pz = (ak.to_numpy(p[k])[chosen] for k in ("px", "py", "pz"))
    pt = np.hypot(px, py)
    event_of = np.repeat(np.arange(len(counts)), counts)[chosen]
    per_event = np.bincount(event_of, minlength=len(counts))
    fields = {"pt": pt, "eta": np.arcsinh(pz / np.maximum(pt, 1e-12)), "phi": np.arctan2(py, px),
              "invisible": np.isin(daughter_id[decays], DARK_STABLE)}
    return ak.unflatten(ak.zip(fields), per_event)
