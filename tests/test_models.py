"""Models, sampler, Wasserstein distances and the training loop, on small toys (CPU, seconds)."""
import json
import os

import numpy as np
import ot
import pytest
import torch
from sklearn.metrics import roc_auc_score

from scipy.optimize import linear_sum_assignment

from analysis.models.ae import AutoEncoder
from analysis.models.distances import assignment, exact, pair_costs, sinkhorn, squared_distances
from analysis.models.mlp_kernels import ACTIVATION_CODES
from analysis.models.registry import build_model, build_sampler, resolve_config
from analysis.models.sampler import Chain, LangevinSampler, langevin
from analysis.training import load_model, score, train_model

TOY_SAMPLER = {"noise": 0.05, "step_size": 0.2, "temperature": 1.0, "bounds": [-4.0, 4.0], "buffer_size": 2000}
TOY_ARCH = {"hidden": [16, 16], "latent": 1, "lr": 5e-3, "val_samples": 400}


def _blobs(n, rng):
    centres = np.array([[-1.5, 0.0], [1.5, 0.0]])
    return (centres[rng.integers(0, 2, n)] + 0.3 * rng.standard_normal((n, 2))).astype(np.float32)


def _ring(radius=3.5, n=200):
    phi = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return (radius * np.stack([np.cos(phi), np.sin(phi)], 1)).astype(np.float32)


def test_unknown_and_bad_config_keys_raise():
    with pytest.raises(ValueError, match="'hiden'"):
        build_model({"kind": "ae", "hiden": [10]}, 4)
    with pytest.raises(ValueError, match="'sampler.nsteps'"):
        build_model({"kind": "wnae", "sampler": {"nsteps": 5}}, 4)
    with pytest.raises(ValueError, match="'sampler'"):  # an AE has no sampler
        build_model({"kind": "ae", "sampler": {}}, 4)
    with pytest.raises(ValueError, match="grad_steps"):  # a fully detached chain gives W no gradient
        build_model({"kind": "wnae", "wasserstein": {"grad_through_chain": False, "grad_steps": 0}}, 4)
    with pytest.raises(ValueError, match="'sampler.bound_mode'"):
        build_model({"kind": "nae", "sampler": {"bound_mode": "reflect"}}, 4)
    with pytest.raises(ValueError, match="'adversary.lambda'"):
        build_model({"kind": "ae", "adversary": {"lambda": -1.0}}, 4)
    with pytest.raises(ValueError, match="'kind'"):
        build_model({"kind": "vae"}, 4)
    c = resolve_config({"kind": "wnae"})
    assert c["hidden"] == [10, 10] and c["latent"] == 6 and c["sampler"]["bounds"] == [-3.0, 3.0]
    assert c["wasserstein"]["method"] == "exact"
    # the CMS WNAE study's sampler: 10 steps, noise 0.22, step noise^2/2, T = 0.063, PCD from a Gaussian
    assert {k: c["sampler"][k] for k in ("n_steps", "noise", "step_size", "temperature", "init", "fresh")} == \
        {"n_steps": 10, "noise": 0.22, "step_size": None, "temperature": 0.063, "init": "pcd", "fresh": "gaussian"}
    sizes = [m.out_features for m in build_model(c, 8).modules() if isinstance(m, torch.nn.Linear)]
    assert sizes == [10, 10, 6, 10, 10, 8]  # the CMS WNAE architecture


def test_exact_wasserstein_equals_pot_emd2_value_and_gradient():
    rng = np.random.default_rng(3)
    for n, d in ((30, 2), (64, 5)):
        x = torch.tensor(rng.standard_normal((n, d)), requires_grad=True)
        y = torch.tensor(rng.standard_normal((n, d)) + 0.5)
        ours = exact(x, y)
        ours.backward()
        m = squared_distances(x.detach(), y).numpy()
        a = np.full(n, 1.0 / n)
        assert abs(ours.item() - ot.emd2(a, a, m)) < 1e-6
        # POT differentiates emd2 through the cost matrix with the plan fixed, like `exact`
        x2 = x.detach().clone().requires_grad_(True)
        ot.emd2(torch.tensor(a), torch.tensor(a), squared_distances(x2, y)).backward()
        assert torch.allclose(x.grad, x2.grad, atol=1e-9)


def test_assignment_is_optimal_like_scipy_on_random_tied_and_point_cloud_costs():
    rng = np.random.default_rng(5)
    for trial in range(120):
        n = int(rng.integers(1, 90))
        kind = trial % 4
        if kind == 0:
            cost = rng.random((n, n))
        elif kind == 1:  # many equal costs: ties in the duals and the paths
            cost = rng.integers(0, 4, (n, n)).astype(float)
        elif kind == 2:  # point clouds with a clamped (bound-sharing) side, as the Langevin negatives
            a, b = rng.standard_normal((n, 6)), np.clip(1.5 * rng.standard_normal((n, 6)), -1, 1)
            cost = pair_costs(a.astype(np.float32), b.astype(np.float32))
        else:
            cost = np.zeros((n, n))
        cols = assignment(cost)
        assert sorted(cols.tolist()) == list(range(n))
        rows, best = linear_sum_assignment(cost)
        assert cost[np.arange(n), cols].sum() == pytest.approx(cost[rows, best].sum(), rel=1e-12, abs=1e-12)
    x, y = rng.standard_normal((40, 5)).astype(np.float32), rng.standard_normal((30, 5)).astype(np.float32)
    assert np.allclose(pair_costs(x, y), ((x[:, None].astype(float) - y[None]) ** 2).sum(-1), atol=1e-12)
    y = torch.randn(30, 5)
    y[3, 1] = float("nan")  # a diverged negative: a non-finite loss for the training loop to report
    assert torch.isnan(exact(torch.randn(30, 5), y))


@pytest.mark.parametrize("activation", sorted(ACTIVATION_CODES))
def test_compiled_energy_and_differentiable_input_gradient_equal_autograd(activation):
    """The CPU kernels (float32) and the torch ops (float64) give E, grad_x E and, with create_graph, the
    gradient of <G, grad_x E> + <b, E> w.r.t. the weights and x that autograd's double backward gives."""
    torch.manual_seed(0)
    for dtype, tol in ((torch.float32, 2e-5), (torch.float64, 1e-10)):
        model = AutoEncoder(5, [7, 6], 3, activation).to(dtype)
        x = torch.randn(40, 5, dtype=dtype, requires_grad=True)
        g_bar, e_bar = torch.randn(40, 5, dtype=dtype), torch.randn(40, dtype=dtype)
        e_ref = ((x - model.decoder(model.encoder(x))) ** 2).mean(1)
        (g_ref,) = torch.autograd.grad(e_ref.sum(), x, create_graph=True)
        params = list(model.parameters())
        ref = torch.autograd.grad((g_bar * g_ref).sum() + (e_bar * e_ref).sum(), [x, *params])
        with torch.no_grad():
            assert torch.allclose(model.energy(x), e_ref, atol=tol)
        e, g = model.energy_grad(x)
        assert not g.requires_grad and torch.allclose(g, g_ref, atol=tol) and torch.allclose(e, e_ref, atol=tol)
        e, g = model.energy_grad(x, create_graph=True)
        ours = torch.autograd.grad((g_bar * g).sum() + (e_bar * e).sum(), [x, *params])
        scale = max(r.abs().max().item() for r in ref)
        assert all(torch.allclose(a, b, atol=tol * scale) for a, b in zip(ours, ref))


def test_fused_detached_steps_follow_the_sampler_loop():
    """The compiled detached steps (ChainView.steps) give the loop's chain, with the same draws."""
    torch.manual_seed(2)
    model = build_model({"kind": "wnae"}, 6)
    x0 = torch.randn(200, 6) * 2
    for chain, grad_steps in ((Chain(10, 0.02, 0.2, 0.063, bounds=(-3.0, 3.0)), 1),
                              (Chain(6, 0.02, 0.2, 0.063, noise_final=0.05), 0)):
        out = [langevin(model.energy, x0, chain, torch.Generator().manual_seed(5), grad_steps, model.energy_grad,
                        steps=steps)[0] for steps in (None, model.langevin_steps)]
        assert torch.allclose(out[0], out[1], atol=1e-5) and out[1].requires_grad == (grad_steps > 0)
    assert model.double().langevin_steps(x0.double(), torch.zeros(2, 200, 6), [0.1, 0.1], 0.3, None) is None


def test_sinkhorn_approaches_exact_as_epsilon_shrinks():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(48, 2, generator=g, dtype=torch.float64)
    y = torch.randn(48, 2, generator=g, dtype=torch.float64) * 0.7 + 1.0
    w = exact(x, y).item()
    errors = [abs(sinkhorn(x, y, epsilon=eps, n_iter=1000).item() - w) for eps in (1.0, 0.1, 0.02)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.01 * w


def test_langevin_step_rule_and_ring_buffer():
    # E = |x|^2 / 2, grad = x: without noise each step scales x by (1 - step / T)
    s = LangevinSampler(3, "cpu", n_steps=10, step_size=0.1, noise=0.0, temperature=2.0, bounds=None,
                        buffer_size=5, init="pcd", fresh="gaussian")
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 3, generator=g)
    x = s.run_chain(lambda v: 0.5 * (v**2).sum(1), x0, g, differentiable=False)
    assert torch.allclose(x, x0 * 0.95**10, atol=1e-6)
    assert s.noise == 0.0 and LangevinSampler(3, "cpu", noise=0.02).step_size == pytest.approx(2e-4)
    s.push(torch.arange(12.0).reshape(4, 3))
    s.push(torch.full((3, 3), -1.0))  # wraps around: rows 4, 0, 1 overwritten
    assert s.n_filled == 5 and s.ptr == 2
    assert s.buffer[:, 0].tolist() == [-1.0, -1.0, 6.0, 9.0, -1.0]
    init = s.initial(torch.zeros(1000, 3), g)  # replay_ratio 0.95: most rows come from the buffer
    from_buffer = (init[:, None, :] == s.buffer[None]).all(-1).any(-1).float().mean().item()
    assert 0.9 < from_buffer < 0.99
    cd = LangevinSampler(3, "cpu", init="cd")
    assert torch.equal(cd.initial(x0, g), x0) and cd.buffer.shape == (0, 3)
    # clamped to the bounds
    b = LangevinSampler(3, "cpu", n_steps=3, noise=5.0, bounds=(-1.0, 1.0))
    assert b.run_chain(lambda v: (v**2).sum(1), x0, g, False).abs().max() <= 1.0


def test_wnae_gradient_flows_through_the_chain():
    torch.manual_seed(0)
    cfg = {"kind": "wnae", "wasserstein": {"method": "exact"}}
    model = build_model(cfg, 4)
    sampler = build_sampler(cfg, 4, "cpu")
    x = torch.randn(64, 4)
    x_neg = sampler.sample(model, x, torch.Generator().manual_seed(1), differentiable=True)
    loss = model.loss(x, x_neg, None)[0]
    loss.backward()
    assert model.encoder[0].weight.grad.abs().sum() > 0  # the model reaches W only through x-


def test_ae_loss_decreases_and_flags_points_off_a_1d_manifold(tmp_path):
    rng = np.random.default_rng(1)

    def curve(n, off=0.0):
        t = rng.uniform(-2, 2, n)
        x = np.stack([t, np.sin(1.5 * t), 0.5 * t**2 - 0.7], 1) + 0.03 * rng.standard_normal((n, 3))
        return (x + off * rng.standard_normal((n, 3))).astype(np.float32)

    x_train, x_val = curve(3000), curve(600)
    x_sig = curve(600, off=0.5)
    x_mon = np.concatenate([x_val[:300], x_sig[:300]])
    y_mon = np.r_[np.zeros(300), np.ones(300)]
    cfg = {"kind": "ae", "hidden": [16, 16], "latent": 1, "epochs": 15, "lr": 1e-2, "batch_size": 128}
    hist = train_model(cfg, x_train, x_val, str(tmp_path), seed=7, monitor=(x_mon, y_mon))
    assert hist["loss"][-1] < 0.3 * hist["loss"][0]
    assert hist["best_epoch"] == int(np.argmin(hist["val_loss"]))  # selection by val loss only
    assert len(hist["monitor_auc"]) == 15 and hist["e_neg"] == [None] * 15
    model = load_model(str(tmp_path / "best.pt"))
    s_bkg, s_sig = score(model, x_val[300:]), score(model, x_sig[300:])
    assert s_bkg.dtype == np.float64 and s_bkg.shape == (300,)
    assert roc_auc_score(np.r_[np.zeros(300), np.ones(300)], np.r_[s_bkg, s_sig]) > 0.8
    on_disk = json.loads((tmp_path / "history.json").read_text())
    assert on_disk["best_epoch"] == hist["best_epoch"] and on_disk["val_loss"] == hist["val_loss"]
    assert {"checkpoint.pt", "best.pt", "model.pt", "history.json"} <= set(os.listdir(tmp_path))


@pytest.mark.parametrize("kind,extra", [
    ("nae", {"ae_pretrain_epochs": 2, "epochs": 8}),
    ("wnae", {"epochs": 12, "wasserstein": {"method": "exact"}}),
])
def test_nae_and_wnae_energy_low_on_data_high_far_away(tmp_path, kind, extra):
    rng = np.random.default_rng(0)
    x_train, x_val = _blobs(2048, rng), _blobs(600, rng)
    cfg = {"kind": kind, **TOY_ARCH, "sampler": TOY_SAMPLER, **extra}
    hist = train_model(cfg, x_train, x_val, str(tmp_path), seed=2)
    sampler_epochs = [i for i, p in enumerate(hist["phase"]) if p == kind]
    assert hist["best_epoch"] == sampler_epochs[int(np.argmin([hist["val_wasserstein"][i] for i in sampler_epochs]))]
    assert all(e is not None for e in hist["e_neg"][sampler_epochs[0]:])
    model = load_model(str(tmp_path / "best.pt"))
    e_data, e_far = score(model, x_val).mean(), score(model, _ring()).mean()
    assert e_far > 3 * e_data
    # the negatives moved towards the data: the selected epoch beats the first sampler epoch
    assert hist["val_wasserstein"][hist["best_epoch"]] < hist["val_wasserstein"][sampler_epochs[0]]


def test_kill_and_resume_gives_identical_weights(tmp_path):
    rng = np.random.default_rng(5)
    x_train, x_val = _blobs(512, rng), _blobs(200, rng)
    mass = x_train[:, 0] ** 2  # adversary state (weights, optimiser) is checkpointed too
    cfg = {"kind": "wnae", **TOY_ARCH, "batch_size": 128, "ae_pretrain_epochs": 1, "adversary": {"lambda": 0.1},
           "sampler": {**TOY_SAMPLER, "mh": True}, "wasserstein": {"n_iter": 20, "method": "sinkhorn"}}
    full = train_model({**cfg, "epochs": 3}, x_train, x_val, str(tmp_path / "a"), seed=4, mass_train=mass)
    train_model({**cfg, "epochs": 1}, x_train, x_val, str(tmp_path / "b"), seed=4, mass_train=mass)  # "killed"
    resumed = train_model({**cfg, "epochs": 3}, x_train, x_val, str(tmp_path / "b"), seed=4, mass_train=mass)
    a = torch.load(tmp_path / "a" / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b" / "model.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ck_a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    ck_b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert torch.equal(ck_a["sampler"]["buffer"], ck_b["sampler"]["buffer"])
    for key in ("loss", "val_loss", "e_neg", "val_wasserstein", "adv_loss", "acceptance", "lr", "phase"):
        assert full[key] == resumed[key]
    assert all(0 < a <= 1 for a in full["acceptance"][1:])  # MH acceptance in the WNAE epochs
    with pytest.raises(ValueError, match="another config"):
        train_model({**cfg, "epochs": 3, "lr": 1e-3}, x_train, x_val, str(tmp_path / "b"), seed=4, mass_train=mass)


def test_diverging_training_raises(tmp_path):
    rng = np.random.default_rng(6)
    x = _blobs(256, rng)
    with pytest.raises(RuntimeError, match="diverged in epoch 0"):
        train_model({"kind": "ae", "lr": 1e30, "epochs": 2, "batch_size": 64}, x, x, str(tmp_path), seed=0)
    assert not (tmp_path / "best.pt").exists() and not (tmp_path / "checkpoint.pt").exists()


def _mass_toy(n, rng):
    """3-D toy whose unpredictable noise grows with the 'mass' m: a plain AE's energy rises with m."""
    m = rng.uniform(-1.7, 1.7, n)
    x = np.stack([m + 0.05 * rng.standard_normal(n), (0.05 + 0.6 * (m + 1.7) / 3.4) * rng.standard_normal(n),
                  0.1 * rng.standard_normal(n)], 1)
    return x.astype(np.float32), m


def _rank_corr(a, b):
    return np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1]


def test_adversary_decorrelates_the_score_from_the_mass(tmp_path):
    rng = np.random.default_rng(0)
    (x, m), (x_val, m_val) = _mass_toy(3000, rng), _mass_toy(1000, rng)
    cfg = {"kind": "ae", "hidden": [16], "latent": 1, "epochs": 15, "batch_size": 128, "lr": 5e-3,
           "adversary": {"hidden": [16], "lr": 1e-2}}
    scores = {}
    for lam in (0.0, 0.3):
        work = str(tmp_path / f"lam{lam}")
        hist = train_model({**cfg, "adversary": {**cfg["adversary"], "lambda": lam}}, x, x_val, work, seed=1,
                           mass_train=m)
        scores[lam] = score(load_model(os.path.join(work, "model.pt")), x_val)
        assert (hist["adv_loss"][-1] is None) == (lam == 0)
    plain, decor = _rank_corr(scores[0.0], m_val), _rank_corr(scores[0.3], m_val)
    assert plain > 0.35 and abs(decor) < 0.4 * plain
    assert scores[0.3].mean() < 2 * scores[0.0].mean()  # still an autoencoder
    with pytest.raises(ValueError, match="needs the jet mass"):
        train_model({**cfg, "adversary": {"lambda": 0.3}}, x, x_val, str(tmp_path / "x"), seed=1)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_nan_propagates_through_the_compiled_kernels_as_in_torch(activation):
    torch.manual_seed(0)
    model = build_model({"kind": "wnae", "activation": activation}, 5)
    with torch.no_grad():
        model.encoder[0].weight[3, 1] = float("nan")  # a diverged weight
    x = torch.randn(64, 5)
    x[7, 2] = float("nan")  # and a bad input row
    assert model._compiled(x)
    assert np.isnan(score(model, x[:7].numpy())).all()  # a NaN weight: NaN scores, as in torch
    with torch.no_grad():
        compiled = model.energy(x).numpy()
        reference = model.double().energy(x.double()).numpy()  # float64: the plain torch path
    assert np.isnan(reference).all() and np.array_equal(np.isnan(compiled), np.isnan(reference))
    model.float()
    with torch.no_grad():
        model.encoder[0].weight[3, 1] = 1.0
    e, g = model.energy_grad(x)  # compiled; only the NaN row is NaN, as in torch
    e_ref, g_ref = model.double().energy_grad(x.double())
    assert np.array_equal(torch.isnan(e).numpy(), torch.isnan(e_ref).numpy()) and torch.isnan(e).sum() == 1
    assert np.array_equal(torch.isnan(g).numpy(), torch.isnan(g_ref).numpy())
    model.float()
    steps = model.langevin_steps(x, torch.randn(2, 64, 5), [0.1, 0.1], 0.5, (-3.0, 3.0))
    assert torch.isnan(steps[7]).all() and torch.isfinite(steps[:7]).all()  # the clamp keeps NaN


def test_reference_preset_gradient_equals_the_full_chain_reference_computation():
    """The reference WNAE's step (Eble's sample_langevin + ot.emd2), written out with autograd: the same
    start and noise give the same negatives, W and parameter gradient as the tool's reference preset."""
    cfg = {"kind": "wnae", "preset": "reference"}
    c = resolve_config(cfg)
    assert (c["lr"], c["batch_size"], c["epochs"], c["lr_factor"], c["lr_patience"], c["lr_metric"]) == \
        (2e-4, 2048, 500, 0.8, 20, "train") and c["wasserstein"]["grad_through_chain"] and c["patience"] >= 500
    assert resolve_config({**cfg, "lr": 1e-3})["lr"] == 1e-3  # the config's own keys win
    assert resolve_config({"kind": "nae", "preset": "reference"})["loss"]["gamma"] == 0.0
    with pytest.raises(ValueError, match="'preset'"):
        resolve_config({"kind": "ae", "preset": "reference"})
    torch.manual_seed(0)
    model = build_model(cfg, 5)
    s = c["sampler"]
    x = torch.randn(64, 5)
    neg = build_sampler(cfg, 5, "cpu").sample(model, x, torch.Generator().manual_seed(3), differentiable=model.chain_grad)
    model.zero_grad()
    model.loss(x, neg, None)[0].backward()
    tool = [p.grad.clone() for p in model.parameters()]

    g = torch.Generator().manual_seed(3)  # the same start (fresh Gaussian, clamped) and chain noise
    x_n = torch.randn(64, 5, generator=g).clamp(*s["bounds"]).requires_grad_(True)
    eps = torch.randn(s["n_steps"], 64, 5, generator=g)
    step = s["noise"] ** 2 / 2

    def energy(v):
        return ((v - model.decoder(model.encoder(v))) ** 2).mean(1)

    grad = torch.autograd.grad(energy(x_n).sum(), x_n, create_graph=True)[0]
    for i in range(s["n_steps"]):
        x_n = (x_n + (-step * grad) / s["temperature"] + eps[i] * s["noise"]).clamp(*s["bounds"])
        grad = torch.autograd.grad(energy(x_n).sum(), x_n, create_graph=True)[0]
    w = torch.ones(64) / 64
    loss = ot.emd2(w, w, ot.dist(x, x_n), numItermax=int(1e6))
    model.zero_grad()
    loss.backward()
    assert torch.allclose(neg, x_n, atol=1e-5)
    assert abs(model.loss(x, neg, None)[0].item() - loss.item()) < 1e-5
    for a, b in zip(tool, (p.grad for p in model.parameters())):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)
