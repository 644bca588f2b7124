"""Physics of the generated samples: signal grids (s- and t-channel), W/Z+jets, QCD pT-hat bins, the
detector response and its truth-level switch, the sample catalogue grids. Small samples, MPI off."""
from __future__ import annotations

import warnings

import awkward as ak
import numpy as np
import pytest
import yaml

from analysis.config import CONFIG_DIR, ConfigError, load_config
from analysis.generation import generate_sample
from analysis.generation.catalogue import expand_grids
from analysis.generation.detector import reconstruct
from analysis.generation.detector_settings import DEFAULT_DETECTOR, resolve_detector
from analysis.generation.pythia import final_state, generate_records, make_pythia
from analysis.io.nanoaod import TREE, read_events
from analysis.plotting.validation import VARIABLES, plot_validation, sample_distributions
from analysis.selection.variables import dijet_system
from tasks.generation import branch_seed

DARK = {"m_dark": 20, "n_c": 2, "n_f": 2}


def _svj(m_med: float, r_inv: float, process: str = "svj_schannel") -> dict:
    return {"process": process, "params": {"m_med": m_med, "r_inv": r_inv, **DARK}, "xsec_pb": 0.1, "mpi": False}


SAMPLES = {  # name: (sample, events, seed)
    "s2000_r0.1": (_svj(2000, 0.1), 150, 31),
    "s2000_r0.7": (_svj(2000, 0.7), 150, 32),
    "s3000_r0.3": (_svj(3000, 0.3), 150, 33),
    "t2000_r0.3": (_svj(2000, 0.3, "svj_tchannel"), 100, 34),
    "wjets": ({"process": "wjets", "pt_hat_min": 250, "mpi": False}, 200, 35),
    "zjets": ({"process": "zjets_nunu", "pt_hat_min": 250, "mpi": False}, 150, 36),
    "qcd_incl": ({"process": "qcd", "pt_hat_min": 300, "mpi": False}, 300, 37),
    "qcd_300_500": ({"process": "qcd", "pt_hat_min": 300, "pt_hat_max": 500, "mpi": False}, 300, 38),
    "qcd_500": ({"process": "qcd", "pt_hat_min": 500, "mpi": False}, 300, 39),
}


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> dict:
    """Every sample above generated once per session: name -> (path, metadata, event record)."""
    out = {}
    base = tmp_path_factory.mktemp("physics")
    for name, (sample, n, seed) in SAMPLES.items():
        path = str(base / f"{name}.root")
        out[name] = (path, generate_sample(sample, n, seed, path), read_events(path))
    return out


def _np(x) -> np.ndarray:
    return np.asarray(ak.to_numpy(x), dtype=np.float64)


def test_met_rises_with_r_inv(generated):
    low, high = (_np(generated[k][2].MET.pt) for k in ("s2000_r0.1", "s2000_r0.7"))
    err = np.hypot(low.std() / np.sqrt(len(low)), high.std() / np.sqrt(len(high)))
    assert high.mean() - low.mean() > 3 * err and high.mean() > 1.5 * low.mean()


def test_jet_rinv_follows_the_model(generated):
    means = {}
    for k in ("s2000_r0.1", "s2000_r0.7"):
        r = _np(ak.flatten(generated[k][2].FatJet.rinv))
        assert np.all((r == -1) | ((r >= 0) & (r <= 1)))
        means[k] = r[r >= 0].mean()
    # pT share of the invisible decays in the jet: follows r_inv, below it since a jet above the AK8 pT
    # threshold is preferentially the more visible one
    assert 0.0 < means["s2000_r0.1"] < 0.2 and 0.4 < means["s2000_r0.7"] < 0.8
    assert means["s2000_r0.7"] - means["s2000_r0.1"] > 0.3
    assert np.all(_np(ak.flatten(generated["qcd_incl"][2].FatJet.rinv)) == -1)


def test_zprime_resonance_in_transverse_mass(generated):
    edges = {}
    for k, m_med in (("s2000_r0.1", 2000), ("s3000_r0.3", 3000)):
        ev = generated[k][2]
        mt = dijet_system(ev[ak.num(ev.FatJet) >= 2])["mt"]
        # MT of (dijet + MET) has its Jacobian edge just below the mediator mass (FSR out of the cones
        # and the invisible longitudinal momentum only lower it): the upper decile sits at the edge
        edges[k] = np.percentile(mt, 90)
        assert 0.8 * m_med < edges[k] < 1.05 * m_med
        assert np.mean(mt > 1.1 * m_med) < 0.05
    assert edges["s3000_r0.3"] / edges["s2000_r0.1"] == pytest.approx(1.5, rel=0.15)


def test_tchannel_signal_pair_produces_mediators(generated):
    ev = generated["t2000_r0.3"][2]
    assert np.all(_np(ev.SVJ.model) == 2) and np.all(_np(ev.SVJ.mMed) == 2000)
    # Phi Phibar -> q qv q qv: two hard quark jets and two semi-visible dark jets
    hard_jets = _np(ak.sum(ev.Jet.pt > 100, axis=1))
    assert np.mean(hard_jets >= 3) > 0.7
    r = _np(ak.flatten(ev.FatJet.rinv))
    assert 0.1 < r[r >= 0].mean() < 0.5


def test_vector_boson_backgrounds(generated):
    w, z = generated["wjets"][2], generated["zjets"][2]
    n_lep = _np(ak.num(w.Electron) + ak.num(w.Muon))
    # W -> e/mu nu (2/3 of W -> l nu, the rest taus) with a 95% identification efficiency
    assert 0.35 < np.mean(n_lep == 1) < 0.8
    assert np.mean(_np(ak.num(z.Electron) + ak.num(z.Muon)) > 0) < 0.05
    # Z -> nu nu recoiling against a jet with pT-hat > 250 GeV: large true and reconstructed MET
    assert np.median(_np(z.GenMET.pt)) > 250 and np.corrcoef(_np(z.MET.pt), _np(z.GenMET.pt))[0, 1] > 0.9
    for ev in (w, z):
        assert np.all(_np(ev.SVJ.model) == -1)
    iso = _np(ak.flatten(w.Muon.pfRelIso03_all))
    assert np.all((iso >= -1e-6) & (iso < DEFAULT_DETECTOR["muon"]["iso_max"]))


def test_qcd_pt_hat_bins_join_without_a_step(generated):
    (_, md_lo, lo), (_, md_hi, hi), (_, md_in, inc) = (generated[k] for k in ("qcd_300_500", "qcd_500", "qcd_incl"))
    pt_lo, pt_hi, pt_in = (_np(e.Generator.binvar) for e in (lo, hi, inc))
    assert pt_lo.min() >= 300 and pt_lo.max() < 500 and pt_hi.min() >= 500
    # The bins' cross-sections add up to the inclusive one (Pythia's own errors)
    total, err = md_lo["xsec_pb"] + md_hi["xsec_pb"], np.sqrt(md_lo["xsec_err_pb"] ** 2 + md_hi["xsec_err_pb"] ** 2)
    assert abs(total - md_in["xsec_pb"]) < 4 * np.hypot(err, md_in["xsec_err_pb"]) + 0.05 * md_in["xsec_pb"]

    # Weighted by xsec / sum(genWeight), the pT-hat density just below 500 GeV (low bin) and just above
    # (high bin) lie on one falling spectrum: the inclusive sample's ratio of the same two windows.
    def density(pt, md, lo_edge, hi_edge):
        n = np.sum((pt >= lo_edge) & (pt < hi_edge))
        return md["xsec_pb"] * n / md["sum_genweight"] / (hi_edge - lo_edge), np.sqrt(max(n, 1)) / max(n, 1)

    (below, e_b), (above, e_a) = density(pt_lo, md_lo, 420, 500), density(pt_hi, md_hi, 500, 580)
    (below_in, e_bi), (above_in, e_ai) = density(pt_in, md_in, 420, 500), density(pt_in, md_in, 500, 580)
    step = (above / below) / (above_in / below_in)
    assert abs(np.log(step)) < 3 * np.sqrt(e_b**2 + e_a**2 + e_bi**2 + e_ai**2)
    assert 0.15 < above / below < 0.9  # falling, no jump


def test_coffea_reads_leptons_without_missing_links(generated):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    path, _, ev = generated["wjets"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        events = NanoEventsFactory.from_root({path: TREE}, schemaclass=NanoAODSchema, mode="eager").events()
    present = {"FatJet", "Jet", "PFCands", "Electron", "Muon", "Photon"}
    # coffea lists every NanoAOD cross-reference it cannot build; none may be between collections we write
    for w in caught:
        msg = str(w.message)
        if "cross-reference" in msg:
            src, dst = msg.rsplit(" ", 3)[-3], msg.rsplit(" ", 1)[-1]
            assert not (src.split("_")[0] in present and dst in present), msg
        else:
            pytest.fail(f"unexpected warning: {msg}")
    has_e = ak.num(events.Electron) > 0
    assert ak.sum(has_e) > 10
    matched = events.Electron[has_e].matched_jet  # coffea follows Electron_jetIdx to the Jet collection
    assert ak.all(ak.is_none(matched, axis=1) | (matched.pt >= 20))
    np.testing.assert_array_equal(_np(ak.flatten(events.Muon.pt)), _np(ak.flatten(ev.Muon.pt)))


@pytest.fixture(scope="module")
def particles() -> ak.Array:
    pythia = make_pythia({"process": "qcd", "pt_hat_min": 300, "mpi": False}, 41)
    return final_state(next(generate_records(pythia, 60)), pythia.particleData)


def test_tracking_efficiency_and_resolution(particles):
    flat = ak.flatten(particles)
    pt = np.hypot(_np(flat.px), _np(flat.py))
    eta = np.arcsinh(_np(flat.pz) / pt)
    charged = (_np(flat.charge) != 0) & (pt > 1.0)
    barrel_true = np.sum(charged & (np.abs(eta) < 1.5))
    reco = ak.flatten(reconstruct(particles, resolve_detector(None), np.random.default_rng(1)))
    barrel_reco = np.sum((_np(reco.charge) != 0) & (_np(reco.pt) > 1.0) & (np.abs(_np(reco.eta)) < 1.5))
    eff = DEFAULT_DETECTOR["tracks"]["efficiency"][0]
    # pT smearing moves a few tracks across 1 GeV; both counts are large, so the fraction is sharp
    assert abs(barrel_reco / barrel_true - eff) < 5 * np.sqrt(eff * (1 - eff) / barrel_true) + 0.01

    # Full efficiency: every charged particle in the tracker comes back, in order, with the stated resolution
    perfect = resolve_detector({"tracks": {"efficiency": [1.0, 1.0], "efficiency_low_pt": [1.0, 1.0]}})
    reco = ak.flatten(reconstruct(particles, perfect, np.random.default_rng(2)))
    tracks = _np(reco.charge) != 0
    truth = (_np(flat.charge) != 0) & (np.abs(eta) < 2.5) & (pt > 0.1)
    assert tracks.sum() == truth.sum()
    trk = perfect["tracks"]
    barrel = np.abs(eta[truth]) <= 1.5
    sigma = np.hypot(trk["resolution_constant"][0], trk["resolution_slope"][0] * pt[truth][barrel])
    pull = (_np(reco.pt)[tracks][barrel] / pt[truth][barrel] - 1) / sigma
    assert abs(pull.std() - 1) < 0.05 and abs(pull.mean()) < 0.05
    np.testing.assert_allclose(_np(reco.eta)[tracks], eta[truth], rtol=1e-9)


def test_calorimeter_resolution_and_truth_switch(particles):
    det = resolve_detector(None)
    reco = reconstruct(particles, det, np.random.default_rng(3))
    truth = reconstruct(particles, resolve_detector({"enabled": False}), np.random.default_rng(3))
    # truth level keeps every visible particle (|eta| < 5) untouched: the visible sum balances the invisible
    flat = ak.flatten(particles)
    vis = _np(flat.visible).astype(bool)
    assert int(ak.sum(ak.num(truth))) <= vis.sum()
    assert set(np.unique(_np(ak.flatten(reco.pdgId))).astype(int)) <= {-211, -13, -11, 11, 13, 22, 130, 211}
    # photons: ECAL resolution sqrt(a^2/E + b^2 + (c/E)^2) widens the per-event energy sums
    e_truth = _np(ak.sum(truth.E[abs(truth.pdgId) == 22], axis=1))
    e_reco = _np(ak.sum(reco.E[(reco.pdgId == 22) & (abs(reco.eta) < 3)], axis=1))
    assert np.all(e_reco > 0) and np.std(e_reco / e_truth) > 0.005
    # MET: the detector's response makes reconstructed MET differ from the truth-level one
    def met(c):
        return np.hypot(_np(ak.sum(c.px, axis=1)), _np(ak.sum(c.py, axis=1)))
    assert np.mean(met(reco)) > 2 * np.mean(met(truth))
    # a different seed smears differently; the same seed reproduces the same candidates
    again = reconstruct(particles, det, np.random.default_rng(3))
    other = reconstruct(particles, det, np.random.default_rng(4))
    assert ak.array_equal(reco.pt, again.pt) and not ak.array_equal(reco.pt, other.pt)


def test_no_detector_in_generation_changes_reco_not_truth(tmp_path):
    sample = {"process": "qcd", "pt_hat_min": 300, "mpi": False}
    paths = [str(tmp_path / f"{k}.root") for k in ("reco", "truth")]
    generate_sample(sample, 60, 5, paths[0])
    generate_sample(sample, 60, 5, paths[1], detector={"enabled": False})
    reco, truth = (read_events(p) for p in paths)
    np.testing.assert_array_equal(_np(reco.GenMET.pt), _np(truth.GenMET.pt))  # same Pythia events
    assert not np.array_equal(_np(reco.MET.pt), _np(truth.MET.pt))
    # truth-level MET only misses |eta| > 5: much closer to the true invisible momentum
    gap_reco = np.mean(np.abs(_np(reco.MET.pt) - _np(reco.GenMET.pt)))
    gap_truth = np.mean(np.abs(_np(truth.MET.pt) - _np(truth.GenMET.pt)))
    assert gap_truth < gap_reco


def test_branch_seeds_differ_per_branch():
    seeds = {branch_seed(1, s, c) for s in ("qcd", "ttbar", "svj_s_m2000_r0.3") for c in range(20)}
    assert len(seeds) == 60 and all(0 <= s < 900_000_000 for s in seeds)
    assert branch_seed(1, "qcd", 0) == branch_seed(1, "qcd", 0) != branch_seed(2, "qcd", 0)


def test_catalogue_grids_and_config_checks(tmp_path):
    samples, grids = expand_grids({"g": {"grid": {"name": "g_m{m_med}_r{r_inv}",
                                                  "params": {"m_med": [1000, 2000], "r_inv": [0.1, 0.5]}},
                                         "process": "svj_tchannel", "params": {"m_dark": 20}}})
    assert grids["g"] == ["g_m1000_r0.1", "g_m1000_r0.5", "g_m2000_r0.1", "g_m2000_r0.5"]
    assert samples["g_m2000_r0.5"]["params"] == {"m_dark": 20, "m_med": 2000, "r_inv": 0.5}

    cfg = load_config("default")
    assert cfg.generation["detector"]["enabled"] is True
    # the shipped grids cover the points, each a catalogue sample
    full, grids = expand_grids(yaml.safe_load((CONFIG_DIR / "samples.yaml").read_text()))
    assert len(grids["svj_s"]) == 16 and len(grids["svj_t"]) == 16
    assert {full[s]["params"]["m_med"] for s in grids["svj_t"]} == {1000, 2000, 3000, 4000}

    def write(text: str):
        path = tmp_path / "c.yaml"
        path.write_text("selection: ak8_dijet\nfeatures: hlf_basic\nmodels: [ae]\n" + text)
        return str(path)

    picked = load_config(write("samples: {qcd: {}, svj_t: {chunks: 2}}\n"))
    assert len(picked.signals) == 16 and all(picked.samples[s]["chunks"] == 2 for s in picked.signals)
    for text, match in (
        ("samples: {qcd: {pt_hat_maxx: 3}, svj_t: {}}\n", "samples.qcd.pt_hat_maxx"),
        ("generation: {detector: {tracks: {efficency: [1, 1]}}}\nsamples: {qcd: {}, svj_t: {}}\n",
         "generation.detector.tracks.efficency"),
        ("generation: {detector: {ecal: {stochastic: [0.1]}}}\nsamples: {qcd: {}, svj_t: {}}\n",
         "detector.ecal.stochastic"),
        ("generation: {seeed: 3}\nsamples: {qcd: {}, svj_t: {}}\n", "generation.seeed"),
    ):
        with pytest.raises(ConfigError, match=match) as err:
            load_config(write(text))
        assert "c.yaml" in str(err.value)
    (tmp_path / "samples.yaml").write_text("bad:\n  grid: {name: 'b_{m_med}', params: {r_inv: [0.1]}}\n  process: qcd\n")
    with pytest.raises(ConfigError, match=r"samples\.yaml: bad\.grid\.name"):
        load_config(write("samples: {qcd: {}}\n"))


def test_validation_figures_per_sample(generated, tmp_path):
    names = ("s2000_r0.1", "s2000_r0.7", "qcd_incl")
    summary = plot_validation({k: sample_distributions([generated[k][0]]) for k in names}, str(tmp_path))
    assert sorted(summary["figures"]) == sorted(str(tmp_path / f"{v}.{e}") for v in VARIABLES for e in ("png", "pdf"))
    assert all((tmp_path / f"{v}.png").stat().st_size > 10_000 for v in VARIABLES)
    s = summary["samples"]
    assert s["s2000_r0.7"]["met"]["mean"] > s["s2000_r0.1"]["met"]["mean"]
    assert s["s2000_r0.7"]["rinv"]["mean"] > s["s2000_r0.1"]["rinv"]["mean"]
    assert s["qcd_incl"]["rinv"]["entries"] == 0 and s["qcd_incl"]["met"]["entries"] == SAMPLES["qcd_incl"][1]
    n_jets = int(ak.sum(np.minimum(ak.num(generated["qcd_incl"][2].FatJet), 2)))
    assert s["qcd_incl"]["tau21"]["entries"] == s["qcd_incl"]["msoftdrop"]["entries"] == n_jets
