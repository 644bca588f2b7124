"""Langevin sampler options: MALA correction, boundary rejection, noise annealing, on-manifold init,
truncated gradients, and the hand-written input gradient (CPU, seconds)."""
import numpy as np
import pytest
import torch

from analysis.models.ae import ACTIVATION_SLOPES, AutoEncoder
from analysis.models.nae import NAE
from analysis.models.registry import build_model, build_sampler
from analysis.models.sampler import Chain, langevin


def _gauss(x):
    """E = |x|^2 / 2: at T = 1 the target density is the standard normal."""
    return 0.5 * (x * x).sum(1)


def test_mala_keeps_the_exact_target_where_unadjusted_langevin_is_biased():
    # E = x^2/2, step = noise^2/2 = 1.125: the unadjusted chain x' = (1 - 1.125) x + 1.5 eps has the
    # stationary variance 2.25 / (1 - 0.125^2) = 2.29; MH restores the target's variance 1
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4000, 2, generator=g, dtype=torch.float64)
    ula = Chain(n_steps=60, step_size=1.125, noise=1.5, temperature=1.0)
    mala = Chain(n_steps=60, step_size=1.125, noise=1.5, temperature=1.0, mh=True)
    x_ula, acc_ula = langevin(_gauss, x0, ula, g)
    x_mala, acc_mala = langevin(_gauss, x0, mala, g)
    assert x_ula.var().item() == pytest.approx(2.25 / (1 - 0.125**2), rel=0.08)
    assert x_mala.var().item() == pytest.approx(1.0, rel=0.06)
    assert abs(x_mala.mean().item()) < 0.05
    assert acc_ula.item() == 1.0 and 0.0 < acc_mala.item() < 0.9
    # detailed balance: started in equilibrium, a small-step MALA chain accepts almost every move and
    # its samples stay standard normal; at T = 4 the variance becomes 4
    small, _ = langevin(_gauss, x0, Chain(20, 0.02, 0.2, 1.0, mh=True), g)
    assert small.var().item() == pytest.approx(1.0, rel=0.06)
    _, acc_small = langevin(_gauss, x0, Chain(20, 0.0002, 0.02, 1.0, mh=True), g)
    assert 0.99 < acc_small.item() <= 1.0
    hot, _ = langevin(_gauss, 2 * x0, Chain(60, 2.25, 3.0, 4.0, mh=True), g)
    assert hot.var().item() == pytest.approx(4.0, rel=0.08)


def test_bounds_clamp_piles_up_on_the_wall_reject_does_not():
    g = torch.Generator().manual_seed(1)
    x0 = torch.zeros(2000, 2)
    clamp = Chain(10, 0.5, 1.0, 1.0, bounds=(-1.0, 1.0))
    reject = Chain(10, 0.5, 1.0, 1.0, bounds=(-1.0, 1.0), bound_mode="reject")
    x_c, _ = langevin(_gauss, x0, clamp, g)
    x_r, acc = langevin(_gauss, x0, reject, g)
    assert x_c.abs().max() <= 1.0 and x_r.abs().max() <= 1.0
    assert (x_c.abs() == 1.0).float().mean() > 0.1  # clamped rows sit on the wall
    assert (x_r.abs() == 1.0).float().mean() == 0.0
    assert 0.1 < acc.item() < 0.9  # many proposals leave the box and are rejected


def test_noise_annealing_schedule():
    c = Chain(5, 0.1, 0.4, 1.0, noise_final=0.025)
    assert c.noises() == pytest.approx([0.4, 0.2, 0.1, 0.05, 0.025])
    assert Chain(3, 0.1, 0.4, 1.0).noises() == [0.4] * 3
    # without noise the chain is gradient descent on E: with annealing it still converges to the minimum
    g = torch.Generator().manual_seed(2)
    x, _ = langevin(_gauss, torch.full((500, 2), 3.0), Chain(40, 0.2, 0.5, 1.0, noise_final=1e-3), g)
    assert x.abs().mean() < 0.05


@pytest.mark.parametrize("activation", sorted(ACTIVATION_SLOPES))
def test_hand_written_input_gradient_equals_autograd(activation):
    torch.manual_seed(0)
    model = AutoEncoder(5, [7, 6], 3, activation).double()
    x = torch.randn(64, 5, dtype=torch.float64, requires_grad=True)
    e = model.energy(x)
    (g,) = torch.autograd.grad(e.sum(), x)
    e2, g2 = model.energy_grad(x.detach())
    assert torch.allclose(e, e2, atol=1e-12) and torch.allclose(g, g2, atol=1e-12)


def test_truncated_gradient_same_samples_and_reaches_the_weights():
    torch.manual_seed(3)
    model = build_model({"kind": "wnae"}, 4)
    x0 = torch.randn(128, 4)
    chain = Chain(6, 0.02, 0.2, 0.063, bounds=(-3.0, 3.0))
    out = {}
    for grad_steps in (0, 1, 3, None):
        x, _ = langevin(model.energy, x0, chain, torch.Generator().manual_seed(7), grad_steps, model.energy_grad)
        out[grad_steps] = x
        if grad_steps == 0:
            assert not x.requires_grad
            continue
        model.zero_grad()
        (x * x).sum().backward()
        assert model.decoder[-1].weight.grad.abs().sum() > 0
    # keeping the graph changes what is differentiated, not where the chain goes
    assert all(torch.allclose(out[0], out[k], atol=1e-5) for k in (1, 3, None))


def test_on_manifold_init_decodes_a_latent_chain_and_buffers_latents():
    torch.manual_seed(4)
    cfg = {"kind": "nae", "latent": 2, "sampler": {"init": "omi", "buffer_size": 300, "latent": {"n_steps": 5}}}
    model = build_model(cfg, 4)
    sampler = build_sampler(cfg, 4, "cpu")
    g = torch.Generator().manual_seed(0)
    x = sampler.sample(model, torch.randn(200, 4), g)
    assert x.shape == (200, 4) and x.abs().max() <= 3.0
    assert sampler.buffer.shape == (300, 2) and sampler.n_filled == 200  # latent points
    # the chain starts on the decoder's manifold: the decoded starts reconstruct (almost) perfectly
    start = sampler.initial(torch.randn(200, 4), g, model)
    assert model.energy(start).mean() < 0.1 * model.energy(torch.randn(200, 4)).mean()
    with pytest.raises(ValueError, match="needs the model"):
        sampler.initial(torch.randn(10, 4), g)
    # the latent chain takes the reference's z_* options: bounds, boundary mode, gradient clipping, MH
    bounded = {**cfg, "sampler": {**cfg["sampler"], "latent": {"n_steps": 5, "noise": 3.0, "bounds": [-0.5, 0.5],
                                                               "clip_grad": 0.1, "mh": True}}}
    s2 = build_sampler(bounded, 4, "cpu")
    assert s2.latent_chain.clip_grad == 0.1 and s2.latent_chain.mh
    s2.sample(model, torch.randn(200, 4), g)
    assert s2.buffer[:200].abs().max() <= 0.5  # the latent points stayed in their bounds
    with pytest.raises(ValueError, match="sampler.latent.bound_mode"):
        build_sampler({**cfg, "sampler": {"latent": {"bound_mode": "reflect"}}}, 4, "cpu")


def test_nae_loss_options():
    torch.manual_seed(5)
    x_pos, x_neg = torch.randn(32, 3), 2 * torch.randn(32, 3)
    plain = NAE(3, [5], 2, gamma=0.0)
    e_pos, e_neg = plain.energy(x_pos).mean(), plain.energy(x_neg).mean()
    variants = {"logcosh": (dict(logcosh=True), torch.log(torch.cosh(e_pos - e_neg))),
                "l1": (dict(l1_energy=0.5), e_pos - e_neg + 0.5 * (e_pos + e_neg)),
                "gamma": (dict(gamma=2.0), e_pos - e_neg + 2.0 * (plain.energy(x_neg) ** 2).mean())}
    for name, (kw, expected) in variants.items():
        model = NAE(3, [5], 2, **{"gamma": 0.0, **kw})
        model.load_state_dict(plain.state_dict())
        assert model.loss(x_pos, x_neg, None)[0].item() == pytest.approx(expected.item(), rel=1e-6), name
    pen = plain.weight_penalty(0.1, 0.01)
    ws = [m.weight for m in plain.modules() if isinstance(m, torch.nn.Linear)]
    assert pen.item() == pytest.approx(sum(0.1 * w.abs().sum() + 0.01 * (w**2).sum() for w in ws).item())
    assert np.isclose(plain.weight_penalty(0.0, 0.0), 0.0)


def test_preconditioned_mala_keeps_the_target_and_scales_each_column():
    # column 1 gets m = 0.04: noise x 0.2 and drift x 0.04; MH keeps the standard normal in both columns
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(4000, 2, generator=g, dtype=torch.float64)
    scale = torch.tensor([1.0, 0.04], dtype=torch.float64)
    x, acc = langevin(_gauss, x0, Chain(80, 1.125, 1.5, 1.0, mh=True), g, scale=scale)
    assert x.var(0).numpy() == pytest.approx([1.0, 1.0], rel=0.08) and 0.0 < acc.item() < 0.9
    one, _ = langevin(_gauss, torch.zeros(4000, 2, dtype=torch.float64), Chain(1, 0.02, 0.2, 1.0), g, scale=scale)
    assert one.std(0).numpy() == pytest.approx([0.2, 0.04], rel=0.05)  # the noise per column: b and k b
