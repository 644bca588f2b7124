"""Event generation: Pythia cards, clustering, NanoAOD-like files (small samples, MPI off for speed)."""
from __future__ import annotations

import warnings

import awkward as ak
import numpy as np
import pytest
import uproot

from analysis.generation import generate_sample
from analysis.generation.nanoaod import BRANCHES
from analysis.io.nanoaod import TREE
from analysis.generation.detector import identify, reconstruct
from analysis.generation.detector_settings import resolve_detector
from analysis.generation.nanoaod import first_two_members, jet_rinv
from analysis.generation.pythia import (
    dark_lambda, dark_meson_decays, final_state, generate_records, make_pythia, pythia_seed,
)
from analysis.kinematics.clustering import cluster_fatjets, cluster_jets, softdrop_mass
from analysis.kinematics.matching import nearest_index

SVJ = {"process": "svj_schannel", "params": {"m_med": 2000, "r_inv": 0.3, "m_dark": 20, "n_c": 2, "n_f": 2},
       "xsec_pb": 0.1, "mpi": False}
QCD = {"process": "qcd", "pt_hat_min": 300, "mpi": False}
N = 200


def _read(path: str) -> dict[str, ak.Array]:
    with uproot.open(path) as f:
        return f[TREE].arrays(library="ak", how=dict)


@pytest.fixture(scope="module")
def svj(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("gen") / "svj.root")
    return path, generate_sample(SVJ, N, 11, path), _read(path)


@pytest.fixture(scope="module")
def qcd(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("gen") / "qcd.root")
    return path, generate_sample(QCD, N, 12, path), _read(path)


def test_metadata_and_bookkeeping_branches(svj, qcd):
    _, md_s, ev_s = svj
    _, md_q, ev_q = qcd
    for md, ev, seed in ((md_s, ev_s, 11), (md_q, ev_q, 12)):
        assert set(ev) == set(BRANCHES)
        assert md["n_events"] == N == len(ev["event"]) and md["seed"] == seed
        assert md["sum_genweight"] == pytest.approx(float(np.sum(ev["genWeight"])))
        assert len(np.unique(ak.to_numpy(ev["event"]))) == N
        assert np.all(ak.to_numpy(ev["xsec"]) == md["xsec_pb"])
    assert md_s["xsec_pb"] == 0.1 and md_s["xsec_err_pb"] == 0.0  # stated benchmark wins
    # Pythia's QCD cross-section above pT-hat 300 GeV at 13 TeV is O(10 nb) = O(1e4 pb).
    assert 1e3 < md_q["xsec_pb"] < 1e5 and 0 < md_q["xsec_err_pb"] < 0.2 * md_q["xsec_pb"]
    assert np.all(ak.to_numpy(ev_s["SVJ_mMed"]) == 2000) and np.allclose(ak.to_numpy(ev_s["SVJ_rinv"]), 0.3)
    assert np.all(ak.to_numpy(ev_s["SVJ_model"]) == 1) and np.all(ak.to_numpy(ev_s["SVJ_nc"]) == 2)
    for b in ("SVJ_model", "SVJ_mMed", "SVJ_rinv", "SVJ_mDark"):
        assert np.all(ak.to_numpy(ev_q[b]) == -1)
    assert np.all(ak.to_numpy(ev_q["Generator_binvar"]) >= 300)  # pT-hat of the 2 -> 2 process


def test_jets_sorted_and_selected(svj):
    ev = svj[2]
    for coll, min_pt, max_eta in (("FatJet", 170, 2.5), ("Jet", 20, 4.7)):
        pt = ev[f"{coll}_pt"]
        assert ak.all(pt[:, 1:] <= pt[:, :-1])
        assert ak.all(pt > min_pt) and ak.all(abs(ev[f"{coll}_eta"]) < max_eta)
    assert ak.mean(ak.num(ev["FatJet_pt"])) > 1.5  # a 2 TeV Z' gives two hard dark jets


def test_fatjet_four_vector_from_pfcands(svj):
    ev = svj[2]
    idx = ev["PFCands_fatJetIdx"]
    assert ak.all(idx[:, 1:] >= idx[:, :-1])  # grouped by jet, in jet order
    n_jets = ak.num(ev["FatJet_pt"])
    counts = np.bincount(ak.to_numpy(ak.flatten(idx + np.cumsum(n_jets) - n_jets)), minlength=int(ak.sum(n_jets)))
    assert np.array_equal(counts, ak.to_numpy(ak.flatten(ev["FatJet_nConstituents"])))
    pt, eta, phi, m = (ak.to_numpy(ak.flatten(ev[f"PFCands_{k}"])).astype(np.float64)
                       for k in ("pt", "eta", "phi", "mass"))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    jet_of = np.repeat(np.arange(len(counts)), counts)
    sums = [np.bincount(jet_of, weights=c, minlength=len(counts)) for c in (px, py, pz, e)]
    mass = np.sqrt(np.maximum(sums[3]**2 - sums[0]**2 - sums[1]**2 - sums[2]**2, 0))
    jet_mass = ak.to_numpy(ak.flatten(ev["FatJet_mass"]))
    jet_pt = ak.to_numpy(ak.flatten(ev["FatJet_pt"]))
    np.testing.assert_allclose(np.hypot(sums[0], sums[1]), jet_pt, rtol=1e-5)
    np.testing.assert_allclose(mass, jet_mass, rtol=1e-3, atol=0.05)


def test_softdrop_grooms_and_keeps_the_top(qcd, tmp_path):
    for ev in (qcd[2],):
        assert ak.all(ev["FatJet_msoftdrop"] <= ev["FatJet_mass"] * (1 + 1e-6))
        assert ak.all(ev["FatJet_msoftdrop"] >= 0)
    ttbar = _read(_generate(tmp_path, {"process": "ttbar", "pt_hat_min": 500, "mpi": False}, 300, 3))

    def top_window(ev):
        msd = ak.to_numpy(ak.flatten(ev["FatJet_msoftdrop"][:, :2]))
        return np.mean((msd > 140) & (msd < 200)), np.mean(msd < 50)

    top_t, light_t = top_window(ttbar)
    top_q, light_q = top_window(qcd[2])
    # Boosted tops keep their mass after grooming; QCD jets are groomed towards low mass.
    assert top_t > 0.25 and top_t > 3 * top_q
    assert light_q > 0.4 and light_q > light_t


@pytest.fixture(scope="module")
def reco_particles():
    """Reconstructed candidates of 60 SVJ events (MPI off) and of 20 QCD events with MPI (~500 each)."""
    out = []
    for sample, n in ((SVJ, 60), ({**QCD, "mpi": True}, 20)):
        pythia = make_pythia(sample, 8)
        out.append(reconstruct(final_state(next(generate_records(pythia, n)), pythia.particleData),
                               resolve_detector(None), np.random.default_rng(0)))
    return out


@pytest.mark.parametrize("r, min_pt", [(0.4, 20.0), (0.8, 170.0), (1.2, 5.0)])
def test_compiled_antikt_equals_fastjet(reco_particles, r, min_pt):
    """The compiled clustering gives FastJet's anti-kT jets to the last bit, and the same constituents."""
    import fastjet

    for particles in reco_particles:
        momenta = ak.zip({k: particles[k] for k in ("px", "py", "pz", "E")}, with_name="Momentum4D")
        seq = fastjet.ClusterSequence(momenta, fastjet.JetDefinition(fastjet.antikt_algorithm, r))
        ref = seq.inclusive_jets(min_pt)
        order = ak.argsort(np.hypot(ref.px, ref.py), axis=1, ascending=False)
        ref, ref_index = ref[order], seq.constituent_index(min_pt)[order]
        jets, constituents = cluster_fatjets(particles, r=r, min_pt=min_pt, max_abs_eta=np.inf)
        assert ak.sum(ak.num(jets)) > len(particles)
        assert ak.array_equal(ak.num(constituents, axis=2), ak.num(ref_index, axis=2))
        offsets = np.cumsum(ak.to_numpy(ak.num(particles))) - ak.to_numpy(ak.num(particles))
        flat_index = ak.to_numpy(ak.flatten(ref_index + offsets, axis=None))
        for k in ("px", "py", "pz", "E"):
            assert ak.array_equal(jets[k], ref[k])
            assert np.array_equal(ak.to_numpy(ak.flatten(constituents[k], axis=None)),
                                  ak.to_numpy(ak.flatten(particles[k]))[flat_index])
        ak4 = cluster_jets(particles, r=r, min_pt=min_pt, max_abs_eta=np.inf)
        assert all(ak.array_equal(ak4[k], jets[k]) for k in ("pt", "eta", "phi", "mass"))


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_compiled_softdrop_equals_fastjet_contrib(reco_particles, beta):
    """The compiled C/A declustering gives fastjet-contrib SoftDrop's groomed mass, jet by jet."""
    import fastjet

    _, constituents = cluster_fatjets(reco_particles[0])
    ours = ak.to_numpy(ak.flatten(softdrop_mass(constituents, beta=beta, z_cut=0.1, r0=0.8)))
    per_jet = ak.flatten(constituents, axis=1)
    momenta = ak.zip({k: per_jet[k] for k in ("px", "py", "pz", "E")}, with_name="Momentum4D")
    seq = fastjet.ClusterSequence(momenta, fastjet.JetDefinition(fastjet.cambridge_algorithm,
                                                                 fastjet.JetDefinition.max_allowable_R))
    ref = ak.to_numpy(seq.exclusive_jets_softdrop_grooming(njets=1, beta=beta, symmetry_cut=0.1, R0=0.8).msoftdrop)
    assert len(ours) > 80 and np.mean(ours < 0.9 * ak.to_numpy(ak.flatten(_jet_mass(constituents)))) > 0.2
    np.testing.assert_allclose(ours, ref, rtol=1e-7, atol=1e-6)


def test_compiled_matching_equals_awkward_pairs(reco_particles):
    """Isolation, nearest-jet indices, first members and jet r_inv equal the awkward cartesian-product
    expressions they replaced, value for value."""
    particles = reco_particles[0]
    jets = cluster_jets(particles)
    loose = resolve_detector({"enabled": False, "muon": {"min_pt": 1.0, "iso_max": 1e9}})  # non-isolated too
    muons = identify(particles, loose, "muon", np.random.default_rng(0))
    objects = particles[particles.pt > 5]
    assert ak.sum(ak.num(objects)) > 500 and ak.sum(ak.num(muons)) > 10

    def dr2(a, b):
        pairs = ak.cartesian({"a": a[["eta", "phi"]], "b": b}, axis=1, nested=True)
        dphi = (pairs.a.phi - pairs.b.phi + np.pi) % (2 * np.pi) - np.pi
        return pairs, (pairs.a.eta - pairs.b.eta) ** 2 + dphi**2

    _, d = dr2(objects, jets[["eta", "phi"]])
    best = ak.argmin(d, axis=2, keepdims=True)
    found = ak.fill_none(ak.firsts(d[best], axis=2), np.inf) < 0.4**2
    old = ak.where(found, ak.fill_none(ak.firsts(best, axis=2), -1), -1)
    new = nearest_index(objects, jets, 0.4)
    assert ak.array_equal(new, old) and ak.sum(new >= 0) > 100
    pairs, d = dr2(muons, particles[["pt", "eta", "phi"]])
    iso = (ak.sum(pairs.b.pt * (d < 0.3**2), axis=2) - muons.pt) / muons.pt
    assert ak.array_equal(muons.pfRelIso03_all, iso)
    members = [[[i for i, m in enumerate(ev_m) if m == k] for k in range(n)]
               for ev_m, n in zip(ak.to_list(new), ak.to_list(ak.num(jets)))]
    for got, rank in zip(first_two_members(jets, new), (0, 1)):
        assert ak.to_list(got) == [[(m[rank] if len(m) > rank else -1) for m in ev] for ev in members]
    dark = ak.zip({"pt": objects.pt, "eta": objects.eta, "phi": objects.phi, "invisible": objects.charge == 0})
    pairs, d = dr2(jets, dark)
    near = d < 0.8**2
    total, invisible = ak.sum(pairs.b.pt * near, axis=2), ak.sum(pairs.b.pt * (near & pairs.b.invisible), axis=2)
    old = ak.where(total > 0, invisible / ak.where(total > 0, total, 1.0), -1.0)
    assert ak.array_equal(jet_rinv(jets, dark), old) and ak.any(old > 0)


def _jet_mass(constituents):
    s = {k: ak.sum(constituents[k], axis=2) for k in ("px", "py", "pz", "E")}
    return np.sqrt(np.maximum(s["E"] ** 2 - s["px"] ** 2 - s["py"] ** 2 - s["pz"] ** 2, 0))


def _generate(tmp_path, sample, n, seed, name="s.root"):
    path = str(tmp_path / name)
    generate_sample(sample, n, seed, path)
    return path


def test_same_seed_identical_different_seed_differs(tmp_path):
    a = _read(_generate(tmp_path, QCD, 40, 5, "a.root"))
    b = _read(_generate(tmp_path, QCD, 40, 5, "b.root"))
    c = _read(_generate(tmp_path, QCD, 40, 6, "c.root"))
    assert all(ak.array_equal(a[k], b[k]) for k in BRANCHES)
    assert not ak.array_equal(a["PFCands_pt"], c["PFCands_pt"])


def test_svj_has_real_missing_momentum(svj, qcd):
    ev_s, ev_q = svj[2], qcd[2]
    gen_s, gen_q = ak.to_numpy(ev_s["GenMET_pt"]), ak.to_numpy(ev_q["GenMET_pt"])
    assert gen_s.mean() > 100 and gen_s.mean() > 4 * gen_q.mean()
    # The reconstructed recoil (detector response, |eta| < 5) measures the invisible momentum.
    met_s = ak.to_numpy(ev_s["MET_pt"])
    assert np.corrcoef(met_s, gen_s)[0, 1] > 0.8
    assert np.median(np.abs(met_s - gen_s)) < 0.25 * np.median(gen_s)


@pytest.mark.parametrize("r_inv", [0.0, 0.3, 0.6])
def test_invisible_share_of_dark_meson_decays_is_r_inv(r_inv):
    sample = {**SVJ, "params": {**SVJ["params"], "r_inv": r_inv}}
    pythia = make_pythia(sample, 21)
    n_decays = n_invisible = 0
    for record in generate_records(pythia, 100):
        mesons = dark_meson_decays(record)
        n_decays += int(ak.sum(ak.num(mesons)))
        n_invisible += int(ak.sum(mesons.invisible))
    assert n_decays > 1000  # ~20 dark mesons per event
    sigma = np.sqrt(max(r_inv * (1 - r_inv), 1e-12) / n_decays)
    assert abs(n_invisible / n_decays - r_inv) < 4 * sigma + 1e-12


def test_coffea_nanoaod_schema_opens_file(svj):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    path, _, ev = svj
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # cross-references to collections we do not write
        events = NanoEventsFactory.from_root({path: TREE}, schemaclass=NanoAODSchema, mode="eager").events()
    assert len(events) == N
    assert ak.array_equal(ak.num(events.FatJet), ak.num(ev["FatJet_pt"]))
    for got, want in ((events.FatJet.msoftdrop, ev["FatJet_msoftdrop"]),
                      (events.PFCands.fatJetIdx, ev["PFCands_fatJetIdx"])):
        assert np.array_equal(ak.to_numpy(ak.flatten(got)), ak.to_numpy(ak.flatten(want)))
    assert np.array_equal(ak.to_numpy(events.GenMET.pt), ak.to_numpy(ev["GenMET_pt"]))


def test_dark_lambda_matches_cms_benchmark():
    assert dark_lambda(20, 2, 2) == pytest.approx(35.154, abs=2e-3)
    with pytest.raises(ValueError, match="b0"):
        dark_lambda(20, 1, 6)


def test_seed_mapping_stays_in_pythia_range():
    assert pythia_seed(0) == 1 and pythia_seed(5) == 6
    big = pythia_seed(10**15 + 7)
    assert 1 <= big <= 900_000_000 and big == pythia_seed(10**15 + 7)
    with pytest.raises(ValueError, match="seed"):
        pythia_seed(-1)


@pytest.mark.parametrize("sample, match", [
    ({"process": "nope"}, "nope"),
    ({"process": "qcd"}, "pt_hat_min"),
    ({**SVJ, "params": {**SVJ["params"], "r_inv": 1.5}}, "r_inv"),
    ({**SVJ, "params": {**SVJ["params"], "m_dark": -1}}, "m_dark"),
    ({**SVJ, "params": {**SVJ["params"], "m_med": 0}}, "m_med"),
    ({**SVJ, "params": {"m_med": 2000}}, "missing"),
    ({**QCD, "pythia": ["NotA:setting = 3"]}, "NotA:setting"),
])
def test_bad_samples_raise(sample, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        generate_sample(sample, 10, 1, str(tmp_path / "x.root"))
