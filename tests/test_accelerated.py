"""Each compiled path against the plain implementation beside it, selected at run time with SVJ_PLAIN=1."""
import awkward as ak
import numpy as np
import pytest
import torch

from analysis.accelerated import PLAIN_ENV, plain


def test_the_switch_reads_the_environment(monkeypatch):
    monkeypatch.delenv(PLAIN_ENV, raising=False)
    assert not plain()
    for value, expected in (("1", True), ("yes", True), ("0", False), ("false", False), ("", False)):
        monkeypatch.setenv(PLAIN_ENV, value)
        assert plain() is expected


@pytest.fixture(scope="module")
def particles():
    """Reconstructed candidates of 25 SVJ events (MPI off)."""
    from analysis.generation.detector import reconstruct
    from analysis.generation.detector_settings import resolve_detector
    from analysis.generation.pythia import final_state, generate_records, make_pythia

    svj = {"process": "svj_schannel", "params": {"m_med": 2000, "r_inv": 0.3, "m_dark": 20, "n_c": 2, "n_f": 2},
           "xsec_pb": 0.1, "mpi": False}
    pythia = make_pythia(svj, 11)
    return reconstruct(final_state(next(generate_records(pythia, 25)), pythia.particleData),
                       resolve_detector(None), np.random.default_rng(0))


def test_compiled_clustering_and_soft_drop_equal_fastjet(particles, monkeypatch):
    from analysis.kinematics.clustering import cluster_fatjets, cluster_jets

    runs = {}
    for value in ("0", "1"):
        monkeypatch.setenv(PLAIN_ENV, value)
        runs[value] = cluster_fatjets(particles), cluster_jets(particles)
    (jets, constituents, ak4), (ref, ref_constituents, ref_ak4) = ((*runs[v][0], runs[v][1]) for v in ("0", "1"))
    assert ak.sum(ak.num(jets)) > 30 and ak.sum(ak.num(ak4)) > 100
    for k in ("pt", "eta", "phi", "mass", "nConstituents"):
        assert ak.array_equal(jets[k], ref[k])
    for k in ("px", "py", "pz", "E"):
        assert ak.array_equal(constituents[k], ref_constituents[k]) and ak.array_equal(ak4[k], ref_ak4[k])
    msd, msd_ref = (ak.to_numpy(ak.flatten(j.msoftdrop)) for j in (jets, ref))
    assert np.mean(msd < 0.9 * ak.to_numpy(ak.flatten(jets.mass))) > 0.2  # grooming removes mass
    np.testing.assert_allclose(msd, msd_ref, rtol=1e-7, atol=1e-6)


def test_compiled_assignment_equals_scipy(monkeypatch):
    from analysis.models.assignment import match

    rng = np.random.default_rng(4)
    for x, y in ((rng.normal(size=(200, 6)), rng.normal(size=(200, 6))),
                 (np.round(rng.normal(size=(64, 2))), np.round(rng.normal(size=(64, 2))))):  # many ties
        costs = {}
        for value in ("0", "1"):
            monkeypatch.setenv(PLAIN_ENV, value)
            cols = match(x, y)
            assert sorted(cols) == list(range(len(y)))
            costs[value] = ((x - y[cols]) ** 2).sum()
        assert costs["0"] == pytest.approx(costs["1"], rel=1e-12)
    monkeypatch.setenv(PLAIN_ENV, "0")
    x[0, 0] = np.nan
    assert list(match(x, y)) == list(range(len(y)))  # a diverged point: matched in order, the loss non-finite


def test_compiled_mlp_equals_torch_ops_in_a_wnae_training(monkeypatch, tmp_path):
    from analysis.models.registry import build_model
    from analysis.training import train_model

    rng = np.random.default_rng(2)
    x = rng.normal(size=(256, 5)).astype(np.float32)
    torch.manual_seed(0)
    model = build_model({"kind": "wnae", "hidden": [8], "latent": 3, "activation": "silu"}, 5)
    xt = torch.as_tensor(x)
    out = {}
    for value in ("0", "1"):
        monkeypatch.setenv(PLAIN_ENV, value)
        assert model._compiled(xt) is (value == "0")
        with torch.no_grad():
            e = model.energy(xt)
        e2, g = model.energy_grad(xt)
        out[value] = e, e2, g
    for a, b in zip(out["0"], out["1"]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)

    cfg = {"kind": "wnae", "hidden": [8], "latent": 3, "epochs": 2, "batch_size": 64, "val_samples": 64,
           "sampler": {"n_steps": 5}}
    hist = {}
    for value in ("0", "1"):
        monkeypatch.setenv(PLAIN_ENV, value)
        hist[value] = train_model(cfg, x[:192], x[192:], str(tmp_path / value), seed=1, device="cpu")
    for key in ("loss", "e_pos", "e_neg", "val_wasserstein"):
        np.testing.assert_allclose(hist["0"][key], hist["1"][key], rtol=1e-3)
