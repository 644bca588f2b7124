"""Event weights in training (batches drawn with probability proportional to the weight) and the model
selection on the validation W averaged over draws."""
import numpy as np
import torch

from analysis.training import score, load_model, train_model, validation_draws, weighted_draw


def test_weighted_draws_reproduce_weighted_means():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 3)) + np.array([0.0, 2.0, -1.0])
    w = rng.exponential(1.0, 500) * (1 + 50 * (x[:, 0] > 1))  # weights strongly correlated with x0
    idx = weighted_draw(w, 500, 200_000, torch.Generator().manual_seed(1)).numpy()
    drawn = x[idx].mean(0)
    exact = (w[:, None] * x).sum(0) / w.sum()
    n_eff = w.sum() ** 2 / (w**2).sum()
    assert abs(drawn - x.mean(0)).max() > 0.5  # the weights matter here
    assert np.allclose(drawn, exact, atol=5 * x.std(0).max() / np.sqrt(200_000) * np.sqrt(500 / n_eff) + 0.01)
    # without weights: permutations, every row once before any twice
    idx = weighted_draw(None, 500, 1200, torch.Generator().manual_seed(1)).numpy()
    assert np.array_equal(np.sort(idx[:500]), np.arange(500)) and np.array_equal(np.sort(idx[500:1000]), np.arange(500))
    assert validation_draws(1100, 512, "all") == (512, 2) and validation_draws(300, 512, 3) == (300, 3)


def test_training_sees_the_weighted_mixture_and_records_the_validation_noise(tmp_path):
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((1500, 2)) * 0.3 + [2.0, 0.0]).astype(np.float32)
    b = (rng.standard_normal((1500, 2)) * 0.3 + [-2.0, 0.0]).astype(np.float32)
    x = np.concatenate([a, b])
    w = np.r_[np.zeros(1500), np.ones(1500)]  # population a weighs nothing: the model never sees it
    x_val, w_val = np.concatenate([a[:300], b[:300]]), np.r_[np.zeros(300), np.ones(300)]
    y_mon = np.r_[np.zeros(300), np.ones(300)]
    cfg = {"kind": "wnae", "hidden": [16], "latent": 1, "epochs": 2, "batch_size": 128, "lr": 5e-3,
           "val_samples": 100, "val_draws": 4, "wasserstein": {"grad_through_chain": False},  # the cheap estimator
           "sampler": {"noise": 0.05, "step_size": 0.2, "temperature": 1.0, "bounds": [-4.0, 4.0]}}
    hist = train_model(cfg, x, x_val, str(tmp_path), seed=3, w_train=w, w_val=w_val,
                       monitor=(np.concatenate([b[300:600], a[300:600]]), y_mon, np.ones(600)))
    assert all(e is not None and e > 0 for e in hist["val_wasserstein_err"])
    model = load_model(str(tmp_path / "model.pt"))
    assert score(model, a[:300]).mean() > 5 * score(model, b[:300]).mean()
    assert hist["monitor_auc"][-1] > 0.9  # the unseen population a is the anomaly
    one = train_model({**cfg, "val_draws": 1, "epochs": 1}, x[1500:2000], x_val, str(tmp_path / "one"), seed=3,
                      w_train=w[1500:2000], w_val=w_val)
    assert one["val_wasserstein_err"] == [None]
