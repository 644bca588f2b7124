"""Tests of analysis.features on hand-built toy jets: physics identities, references, edge cases."""

import itertools

import awkward as ak
import fastjet
import numpy as np
import pytest

from analysis.features import available_features
from analysis.features.registry import compute_features
from analysis.features import registry
from analysis.features.efp_graphs import EFP_GRAPHS, efp_graphs

ECF_RATIOS = ["c2_b1", "d2_b1", "c2_b2", "d2_b2", "m2_b1", "n2_b1", "m2_b2", "n2_b2"]
PAIRWISE = [*ECF_RATIOS, *efp_graphs()]
# computed from constituents (the nano_* features pass NanoAOD's stored jet branches through)
COMPUTED = [name for name in available_features() if not name.startswith("nano_")]
WITHOUT_SOFTDROP = [name for name in COMPUTED if "msoftdrop" not in name]


def _wrap(phi):
    return (np.asarray(phi) + np.pi) % (2 * np.pi) - np.pi


def make_jets(particle_lists, msoftdrop=None):
    """Jets from lists of (pt, eta, phi[, pdgId]) tuples; the jet record is the constituents' 4-vector sum."""
    records, jets = [], []
    for particles in particle_lists:
        pt, eta, phi = (np.array([p[i] for p in particles], dtype=float) for i in range(3))
        pdg = np.array([p[3] if len(p) > 3 else 211 for p in particles])
        lepton_sign = np.where(np.abs(pdg) < 20, -1, 1)  # an e-/mu- has positive pdgId
        charge = np.where(np.isin(np.abs(pdg), [22, 130, 12, 14, 16]), 0, np.sign(pdg) * lepton_sign)
        mass = np.zeros_like(pt)
        records.append({"pt": pt, "eta": eta, "phi": _wrap(phi), "mass": mass, "charge": charge, "pdgId": pdg})
        px, py, pz = (pt * np.cos(phi)).sum(), (pt * np.sin(phi)).sum(), (pt * np.sinh(eta)).sum()
        energy = (pt * np.cosh(eta)).sum()
        jet_pt = np.hypot(px, py)
        jets.append({"pt": jet_pt, "eta": np.arcsinh(pz / jet_pt), "phi": np.arctan2(py, px),
                     "mass": np.sqrt(max(energy**2 - px**2 - py**2 - pz**2, 0.0)),
                     "met_phi": _wrap(np.arctan2(py, px) + 2.5)})  # recoil-like MET, |dphi| = 2.5
    constituents = ak.Array([{k: r[k].tolist() for k in r} for r in records])
    constituents = ak.zip({k: constituents[k] for k in ("pt", "eta", "phi", "mass", "charge", "pdgId")})
    jet_array = {k: np.array([j[k] for j in jets]) for k in ("pt", "eta", "phi", "mass", "met_phi")}
    if msoftdrop is not None:
        jet_array["msoftdrop"] = np.asarray(msoftdrop, dtype=float)
    return ak.zip(jet_array), constituents


def prongs(centres, n_per_prong=1, spread=0.0, seed=0, pt=100.0):
    """A jet made of prongs at (eta, phi) centres, each with n particles scattered by ``spread``."""
    rng = np.random.default_rng(seed)
    particles = []
    for eta, phi in centres:
        for _ in range(n_per_prong):
            particles.append((pt / n_per_prong * rng.uniform(0.5, 1.5), eta + spread * rng.normal(),
                              phi + spread * rng.normal()))
    return particles


def random_jets(n_jets, seed, phi_centre=0.0, size=(5, 40)):
    rng = np.random.default_rng(seed)
    jets = []
    for _ in range(n_jets):
        n = rng.integers(*size)
        jets.append(list(zip(rng.exponential(20, n) + 1, rng.normal(0, 0.25, n), phi_centre + rng.normal(0, 0.25, n),
                             rng.choice([211, -211, 22, 130, 11, -13], n))))
    return jets


def test_output_lengths_dtypes_and_order():
    jets, constituents = make_jets(random_jets(7, seed=1), msoftdrop=np.linspace(0, 80, 7))
    names = COMPUTED[::-1]
    out = compute_features(jets, constituents, names)
    assert list(out) == names
    assert len(names) >= 24 + 12
    for name, values in out.items():
        assert values.dtype == np.float64 and values.shape == (7,), name
        assert np.all(np.isfinite(values)), name


def test_unknown_name_and_bad_input_raise():
    jets, constituents = make_jets(random_jets(3, seed=2))
    with pytest.raises(ValueError, match="unknown features.*'tau6'.*available.*tau21"):
        compute_features(jets, constituents, ["pt", "tau6"])
    with pytest.raises(ValueError, match="msoftdrop"):
        compute_features(jets, constituents, ["log_msoftdrop"])
    with pytest.raises(ValueError, match="constituents: 2 entries but 3 jets"):
        compute_features(jets, constituents[:2], ["ptd"])
    with pytest.raises(ValueError, match="pdgId"):
        compute_features(jets, constituents[["pt", "eta", "phi", "mass", "charge"]], ["photon_fraction"])


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_tau_n_vanishes_for_n_hard_partons(n):
    centres = [(0.35 * np.cos(2 * np.pi * k / n), 0.35 * np.sin(2 * np.pi * k / n)) for k in range(n)]
    jets, constituents = make_jets([prongs(centres, n_per_prong=1) if n > 1 else [(100.0, 0.1, 0.2)]])
    out = compute_features(jets, constituents, [f"tau{k}" for k in range(1, 6)])
    assert out[f"tau{n}"][0] < 1e-12
    if n > 1:
        assert out[f"tau{n - 1}"][0] > 0.04  # 5 prongs: tau4 0.048 (fastjet-contrib OnePass_KT_Axes too)


def test_two_prong_has_smaller_tau21_and_d2_than_diffuse_one_prong():
    two = prongs([(-0.2, 0.0), (0.2, 0.0)], n_per_prong=15, spread=0.02, seed=3)
    diffuse = prongs([(0.0, 0.0)], n_per_prong=30, spread=0.2, seed=4)
    out = compute_features(*make_jets([two, diffuse]), ["tau21", "d2_b1", "c2_b1", "n2_b1", "c2_b2"])
    assert out["tau21"][0] < 0.3 * out["tau21"][1]
    assert out["d2_b1"][0] < 0.5 * out["d2_b1"][1]
    assert out["c2_b1"][0] < 0.5 * out["c2_b1"][1] and out["c2_b2"][0] < 0.5 * out["c2_b2"][1]
    assert out["n2_b1"][0] < 0.5 * out["n2_b1"][1]


def test_tau_and_ecf_match_fastjet_contrib():
    """Independent references: fastjet-contrib Nsubjettiness (normalised measure; KT axes exactly, the default
    one-pass minimised KT axes, as CMSSW's NanoAOD, to 1%) and EnergyCorrelator."""
    from analysis.features.substructure import nsubjettiness

    jets, constituents = make_jets(random_jets(6, seed=5, phi_centre=3.0))  # crosses phi = pi
    ours = compute_features(jets, constituents, ["tau1", "tau2", "tau3", "tau4", "c2_b1", "d2_b2"])
    c = constituents
    pz = c.pt * np.sinh(c.eta)
    events = ak.zip({"px": c.pt * np.cos(c.phi), "py": c.pt * np.sin(c.phi), "pz": pz, "E": np.hypot(c.pt, pz)})
    sequence = fastjet.ClusterSequence(events, fastjet.JetDefinition(fastjet.cambridge_algorithm, 1000.0))
    contrib = {axes: np.array(sequence.njettiness(njets=[1, 2, 3, 4], axes_definition=axes,
                                                  measure_definition="NormalizedMeasure", beta=1.0, R0=0.8).to_list())
               for axes in ("KT_Axes", "OnePass_KT_Axes")}
    flat = {f: ak.to_numpy(ak.flatten(c[f])).astype(np.float64) for f in ("pt", "eta", "phi", "mass")}
    kt = nsubjettiness(flat["pt"], flat["eta"], flat["phi"], flat["mass"], ak.to_numpy(ak.num(c)), 4, 0.8, axes="kt")
    np.testing.assert_allclose(kt, contrib["KT_Axes"], rtol=1e-9, atol=1e-12)
    default = np.stack([ours[f"tau{n}"] for n in (1, 2, 3, 4)], axis=1)
    np.testing.assert_allclose(default, contrib["OnePass_KT_Axes"], rtol=0.01)
    assert (default <= kt + 1e-12).all()  # the minimisation only lowers tau_N
    c2 = np.asarray(sequence.exclusive_jets_energy_correlator(njets=1, func="c2", beta=1.0))
    d2 = np.asarray(sequence.exclusive_jets_energy_correlator(njets=1, func="d2", beta=2.0))
    np.testing.assert_allclose(ours["c2_b1"], c2, rtol=1e-9)
    np.testing.assert_allclose(ours["d2_b2"], d2, rtol=1e-9)
    generalized = compute_features(jets, constituents, ["m2_b1", "n2_b1", "m2_b2", "n2_b2"])
    for name, values in generalized.items():
        func, beta = name.split("_b")
        reference = np.asarray(sequence.exclusive_jets_energy_correlator(njets=1, func=func, beta=float(beta)))
        np.testing.assert_allclose(values, reference, rtol=1e-9, err_msg=name)


def _brute_force_efp(z, theta, edges):
    n_vertices = 1 + max(max(e) for e in edges)
    total = 0.0
    for idx in itertools.product(range(len(z)), repeat=n_vertices):
        term = np.prod([z[i] for i in idx])
        for a, b in edges:
            term *= theta[idx[a], idx[b]]
        total += term
    return total


@pytest.mark.parametrize("particles", [
    [(50.0, 0.1, 3.1), (30.0, -0.2, -3.0), (10.0, 0.3, 2.8), (7.0, 0.0, -2.9), (3.0, -0.1, 3.0)],  # across pi
    [(50.0, 0.0, 0.0), (30.0, 0.2, 2.0), (10.0, -0.3, -2.0), (7.0, 0.1, 1.0)],  # spans more than pi in phi
])
def test_efps_match_brute_force_sums(particles):
    jets, constituents = make_jets([particles])
    out = compute_features(jets, constituents, list(EFP_GRAPHS) + ["c2_b2"])
    pt = np.array([p[0] for p in particles])
    z = pt / pt.sum()
    eta, phi = np.array([p[1] for p in particles]), np.array([p[2] for p in particles])
    theta = np.hypot(eta[:, None] - eta[None, :], _wrap(phi[:, None] - phi[None, :]))
    # the d=1 EFP is sum_ij z_i z_j theta_ij
    assert out["efp_d1_0"][0] == pytest.approx(np.einsum("i,j,ij->", z, z, theta), rel=1e-12)
    for name, edges in EFP_GRAPHS.items():
        assert out[name][0] == pytest.approx(_brute_force_efp(z, theta, edges), rel=1e-10), name
    triples = list(itertools.combinations(range(len(z)), 3))
    e2 = sum(z[i] * z[j] * theta[i, j] ** 2 for i, j in itertools.combinations(range(len(z)), 2))
    e3 = sum(z[i] * z[j] * z[k] * (theta[i, j] * theta[i, k] * theta[j, k]) ** 2 for i, j, k in triples)
    assert out["c2_b2"][0] == pytest.approx(e3 / e2**2, rel=1e-10)


def test_ecfs_and_efps_use_the_hardest_constituents(monkeypatch):
    particles = [(40.0, 0.0, 0.0), (30.0, 0.3, 0.1), (20.0, -0.2, 0.2), (1.0, 0.5, -0.4), (0.5, -0.4, 0.3)]
    full = compute_features(*make_jets([particles]), ["efp_d2_1"])
    hardest = compute_features(*make_jets([particles[:3]]), ["efp_d2_1"])
    monkeypatch.setattr(registry, "MAX_CONSTITUENTS", 3)
    truncated = compute_features(*make_jets([particles[::-1]]), ["efp_d2_1"])
    assert truncated["efp_d2_1"][0] == pytest.approx(hardest["efp_d2_1"][0], rel=1e-12)
    assert abs(full["efp_d2_1"][0] - hardest["efp_d2_1"][0]) > 1e-3


def test_single_constituent_jet():
    out = compute_features(*make_jets([[(120.0, 0.5, -3.1, 22)]]), WITHOUT_SOFTDROP)
    assert out["ptd"][0] == 1.0 and out["n_constituents"][0] == 1.0
    assert out["photon_fraction"][0] == 1.0 and out["charged_fraction"][0] == 0.0
    for name in ("tau1", "tau2", "tau3", "tau4", "tau5", "tau21", "tau32", "tau43", "tau54", "axis_major",
                 "axis_minor", *efp_graphs()):
        assert out[name][0] == 0.0, name
    assert out["girth"][0] == pytest.approx(0.0, abs=1e-12)
    assert {name for name, v in out.items() if np.isnan(v[0])} == set(ECF_RATIOS)


def test_jet_without_constituents_gives_nan_only_where_undefined():
    jets, constituents = make_jets([[(10.0, 0.0, 0.0)], [(20.0, 0.1, 0.1), (5.0, 0.0, 0.2)]])
    constituents = ak.concatenate([constituents[:1, :0], constituents[1:]])
    out = compute_features(jets, constituents, WITHOUT_SOFTDROP)
    nan = {name for name, v in out.items() if np.isnan(v[0])}
    assert nan == {"ptd", "axis_major", "axis_minor", "charged_fraction", "photon_fraction",
                   "neutral_hadron_fraction", "lepton_fraction", *PAIRWISE}
    assert out["n_constituents"][0] == 0 and out["tau1"][0] == 0 and out["girth"][0] == 0
    assert all(np.isfinite(v[1]) for v in out.values())


def test_ptd_fractions_and_axes_values():
    particles = [(40.0, 0.1, 0.0, 211), (30.0, -0.1, 0.0, 22), (20.0, 0.0, 0.05, 130), (10.0, 0.0, -0.05, 11)]
    symmetric = [(50.0, 0.2, 1.0), (50.0, -0.2, 1.0)]
    out = compute_features(*make_jets([particles, symmetric]), [
        "ptd", "charged_fraction", "photon_fraction", "neutral_hadron_fraction", "lepton_fraction",
        "axis_major", "axis_minor"])
    assert out["ptd"][0] == pytest.approx(np.sqrt(40**2 + 30**2 + 20**2 + 10**2) / 100)
    assert out["ptd"][1] == pytest.approx(1 / np.sqrt(2))
    assert out["charged_fraction"][0] == pytest.approx(0.5)  # pion + electron
    assert out["photon_fraction"][0] == pytest.approx(0.3)
    assert out["neutral_hadron_fraction"][0] == pytest.approx(0.2)
    assert out["lepton_fraction"][0] == pytest.approx(0.1)
    # two equal constituents at eta = +-0.2: the pT^2-weighted spread is 0.2 along eta and 0 across
    assert out["axis_major"][1] == pytest.approx(0.2)
    assert out["axis_minor"][1] == pytest.approx(0.0, abs=1e-9)


def test_features_invariant_under_phi_rotation_across_pi():
    base = random_jets(4, seed=6, phi_centre=0.0)
    names = [name for name in WITHOUT_SOFTDROP if name != "phi"]
    reference = compute_features(*make_jets(base), names)
    for shift in (1.0, np.pi, -np.pi + 0.05, 2.9):  # pi and 2.9 put the jets across the wrap
        shifted = [[(pt, eta, phi + shift, pdg) for pt, eta, phi, pdg in jet] for jet in base]
        out = compute_features(*make_jets(shifted), names)
        for name in names:
            np.testing.assert_allclose(out[name], reference[name], rtol=1e-9, atol=1e-11, err_msg=f"{name} {shift}")
    assert reference["girth"].min() > 0.05


def test_chunked_and_blocked_evaluation_agree(monkeypatch):
    jets, constituents = make_jets(random_jets(9, seed=7))
    names = ["tau21", "tau43", "girth", "c2_b1", "d2_b2", "efp_d3_4", "efp_d3_6", "ptd"]
    whole = compute_features(jets, constituents, names)
    monkeypatch.setattr(registry, "CHUNK_SIZE", 4)
    monkeypatch.setattr(registry, "PAIRWISE_BLOCK", 3)
    chunked = compute_features(jets, constituents, names)
    for name in names:
        np.testing.assert_allclose(chunked[name], whole[name], rtol=1e-12, err_msg=name)


def test_passthrough_and_log_msoftdrop():
    jets, constituents = make_jets(random_jets(3, seed=8), msoftdrop=[0.3, 1.0, 90.0])
    out = compute_features(jets, constituents, ["pt", "mass", "msoftdrop", "log_msoftdrop", "n_constituents", "dphi_met"])
    np.testing.assert_allclose(out["dphi_met"], 2.5, rtol=1e-12)  # make_jets puts MET at phi_jet + 2.5
    np.testing.assert_array_equal(out["pt"], ak.to_numpy(jets.pt))
    np.testing.assert_allclose(out["log_msoftdrop"], [0.0, 0.0, np.log(90.0)])
    np.testing.assert_array_equal(out["n_constituents"], ak.to_numpy(ak.num(constituents)))
