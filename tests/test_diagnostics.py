"""Model diagnostics: reconstructions match the energy, the layer list, fresh-chain negatives, figures."""
import numpy as np
import pytest
import torch

from analysis.diagnostics import architecture, negative_samples, reconstructions
from analysis.models.registry import build_model
from analysis.plotting.training import plot_architecture, plot_inputs_vs_reconstruction, plot_negative_samples
from analysis.training import load_model, score, train_model
from tests.figures import check_figure

RNG = np.random.default_rng(5)
X3 = RNG.normal(0.0, 1.0, (1200, 3)).astype(np.float32)
X3[:, 2] = 0.6 * X3[:, 0] + 0.4 * X3[:, 2]  # some correlation for the AE to learn
SIG3 = (RNG.normal(1.5, 1.3, (400, 3))).astype(np.float32)
BLOB = (RNG.normal(0.0, 0.5, (512, 2))).astype(np.float32)
SAMPLER = {"n_steps": 5, "buffer_size": 512}


@pytest.fixture(scope="module")
def ae(tmp_path_factory):
    work = tmp_path_factory.mktemp("ae")
    train_model({"kind": "ae", "epochs": 3, "batch_size": 128}, X3[:1000], X3[1000:], str(work), seed=1, device="cpu")
    return load_model(str(work / "best.pt"))


def _train_ebm(kind, work):
    cfg = {"kind": kind, "epochs": 2, "batch_size": 128, "val_samples": 128, "sampler": SAMPLER,
           "ae_pretrain_epochs": 1 if kind == "nae" else 0}
    train_model(cfg, BLOB[:384], BLOB[384:], str(work), seed=3, device="cpu")
    blob = torch.load(work / "best.pt", weights_only=True)
    return load_model(str(work / "best.pt")), blob["cfg"]


@pytest.fixture(scope="module")
def wnae(tmp_path_factory):
    return _train_ebm("wnae", tmp_path_factory.mktemp("wnae"))


@pytest.fixture(scope="module")
def nae(tmp_path_factory):
    return _train_ebm("nae", tmp_path_factory.mktemp("nae"))


@pytest.fixture(params=["wnae", "nae"])
def ebm(request):
    return request.getfixturevalue(request.param)


def test_reconstructions_give_the_energy(ae):
    r = reconstructions(ae, X3)
    assert r.shape == X3.shape and r.dtype == np.float64 and np.isfinite(r).all()
    mse = ((X3.astype(np.float64) - r) ** 2).mean(axis=1)
    np.testing.assert_allclose(mse, score(ae, X3), rtol=0, atol=1e-5)
    assert not np.allclose(r, X3)  # a 3 -> 6 latent AE after 3 epochs is no identity
    with pytest.raises(ValueError, match="features"):
        reconstructions(ae, X3[:, :2])


def test_architecture_of_the_default_model():
    layers = architecture(build_model({"kind": "ae"}, 8))
    assert [(i, o) for _, i, o in layers] == [(8, 10), (10, 10), (10, 6), (6, 10), (10, 10), (10, 8)]
    assert [n for n, _, _ in layers] == ["encoder.0", "encoder.2", "encoder.4", "decoder.0", "decoder.2", "decoder.4"]
    assert architecture(build_model({"kind": "wnae", "hidden": [5], "latent": 2}, 3)) == [
        ("encoder.0", 3, 5), ("encoder.2", 5, 2), ("decoder.0", 2, 5), ("decoder.2", 5, 3)]


def test_negative_samples(ebm):
    model, cfg = ebm
    neg = negative_samples(model, cfg, BLOB, 300, seed=0)
    lo, hi = cfg["sampler"]["bounds"]
    assert neg.shape == (300, 2) and neg.dtype == np.float64
    assert np.isfinite(neg).all() and (neg >= lo).all() and (neg <= hi).all()
    np.testing.assert_array_equal(neg, negative_samples(model, cfg, BLOB, 300, seed=0))
    assert not np.allclose(neg, negative_samples(model, cfg, BLOB, 300, seed=1))
    # the chain moved the fresh uniform starts: one relaxation differs from five
    assert not np.allclose(neg, negative_samples(model, cfg, BLOB, 300, seed=0, relax=1))
    # the model is untouched (no gradients accumulated on its parameters)
    assert all(p.grad is None for p in model.parameters())


def test_negative_samples_refuse_an_ae(ae):
    with pytest.raises(ValueError, match="no sampler"):
        negative_samples(ae, {"kind": "ae"}, X3, 10, seed=0)


def test_figures(ae, wnae, tmp_path):
    names = ["pt", "mass", "tau21"]
    stem = str(tmp_path / "reco")
    check_figure(plot_inputs_vs_reconstruction(X3, reconstructions(ae, X3), SIG3, reconstructions(ae, SIG3), names,
                                         "AE", stem), stem)
    model, cfg = wnae
    stem = str(tmp_path / "neg")
    check_figure(plot_negative_samples(BLOB, negative_samples(model, cfg, BLOB, 256, seed=0), ["a", "b"], "WNAE", stem), stem)
    stem = str(tmp_path / "arch")
    check_figure(plot_architecture(architecture(build_model({"kind": "ae"}, 8)), "AE", stem), stem)
    stem = str(tmp_path / "wide")  # wider layers than drawn nodes
    check_figure(plot_architecture([("l0", 40, 64), ("l1", 64, 3), ("l2", 3, 40)], "wide", stem), stem)
    with pytest.raises(ValueError, match="takes 5 inputs"):
        plot_architecture([("a", 3, 4), ("b", 5, 3)], "bad", stem)
    with pytest.raises(ValueError, match="names"):
        plot_negative_samples(BLOB, BLOB, ["a"], "x", stem)
