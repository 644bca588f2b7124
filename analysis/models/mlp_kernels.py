"""Compiled CPU kernels for the MLP autoencoder's input gradient, the inner loop of the Langevin chain.

On the CPU a Langevin step of the default WNAE (input -> 10 -> 10 -> 6 -> 10 -> 10 -> input, batch 256)
is a few hundred thousand multiply-adds spread over ~60 tiny torch ops, so its time is per-op overhead,
not arithmetic. These numba kernels do the same arithmetic in one call per step, with the batch as the
contiguous (SIMD) axis: activations are stored transposed, (features, batch).

- ``energy``: E(x) = mean_d (x - f(x))^2 (the energies the loop reads without a graph).
- ``energy_grad``: E(x) and grad_x E = (2/d) (r - J^T r), r = x - f(x) (the detached chain steps).
- ``energy_grad_vjp``: the backward of that map, i.e. the gradient of Phi = sum_s (G_s . grad_x E(x_s)
  + Ebar_s E(x_s)) with respect to the weights, biases and x, for the chain step that keeps its graph.
  G . grad_x E(x) is the directional derivative of E along G, so Phi is computed in forward mode (a
  tangent G carried through the layers) and differentiated in reverse mode: one first-order pass over
  a twice-as-wide network instead of autograd's double backward. It needs the activations' second
  derivatives (zero for relu / leaky_relu).

Layers are given as tuples of (out, in) weights and (out,) biases in network order; ``n_enc`` is the
number of encoder layers (the last encoder layer and the last decoder layer have no activation).

Compiled with the fast-math flags that allow reassociation and contraction (vectorised sums, fused
multiply-adds) but not ``nnan``/``ninf``: a NaN or infinity (a diverged weight, a bad input) propagates to
the energies and gradients as it does in torch, and comparisons with NaN are written so that NaN passes
through (ReLU, the clamp at the bounds).
"""
from __future__ import annotations

import math

import numba
import numpy as np

ACTIVATION_CODES = {"relu": 0, "leaky_relu": 1, "elu": 2, "silu": 3, "gelu": 4, "tanh": 5, "softplus": 6}
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}  # LLVM's fast flags without nnan and ninf


@numba.njit(cache=True, fastmath=FASTMATH, inline="always")
def _act(code, h):
    """(sigma(h), sigma'(h), sigma''(h)) for the activation with the given code."""
    if code == 0:  # NaN is neither > 0 nor <= 0: it passes through, as in torch.relu
        if h > 0:
            return h, 1.0, 0.0
        return (0.0, 0.0, 0.0) if h <= 0 else (h, h, h)
    if code == 1:  # nn.LeakyReLU's default slope
        return (h, 1.0, 0.0) if h > 0 else (0.01 * h, 0.01, 0.0)
    if code == 2:
        if h > 0:
            return h, 1.0, 0.0
        e = math.exp(h)
        return e - 1.0, e, e
    if code == 3:
        s = 1.0 / (1.0 + math.exp(-h))
        return h * s, s * (1.0 + h * (1.0 - s)), s * (1.0 - s) * (2.0 + h * (1.0 - 2.0 * s))
    if code == 4:
        pdf = math.exp(-0.5 * h * h) / math.sqrt(2.0 * math.pi)
        cdf = 0.5 * (1.0 + math.erf(h / math.sqrt(2.0)))
        return h * cdf, cdf + h * pdf, pdf * (2.0 - h * h)
    if code == 5:
        a = math.tanh(h)
        return a, 1.0 - a * a, -2.0 * a * (1.0 - a * a)
    s = 1.0 / (1.0 + math.exp(-h))
    return max(h, 0.0) + math.log1p(math.exp(-abs(h))), s, s * (1.0 - s)


@numba.njit(cache=True, fastmath=FASTMATH)
def _linear(w, b, a):
    """h = W a + b for a batch stored as columns: a (in, n) -> h (out, n)."""
    m, k_in = w.shape
    n = a.shape[1]
    h = np.empty((m, n), np.float32)
    for j in range(m):
        for s in range(n):
            h[j, s] = b[j]
        for k in range(k_in):
            wjk = w[j, k]
            for s in range(n):
                h[j, s] += wjk * a[k, s]
    return h


@numba.njit(cache=True, fastmath=FASTMATH)
def _linear_t(w, back):
    """W^T back: back (out, n) -> (in, n)."""
    m, k_in = w.shape
    n = back.shape[1]
    out = np.zeros((k_in, n), np.float32)
    for j in range(m):
        for k in range(k_in):
            wjk = w[j, k]
            for s in range(n):
                out[k, s] += wjk * back[j, s]
    return out


@numba.njit(cache=True, fastmath=FASTMATH)
def _forward(xt, weights, biases, n_enc, code):
    """Reconstruction (d, n) of the batch xt (d, n), and sigma'(h) of every activated layer (empty
    arrays for the layers without activation)."""
    n_layers = len(weights)
    a = xt
    slopes = []
    for layer in range(n_layers):
        h = _linear(weights[layer], biases[layer], a)
        if layer == n_enc - 1 or layer == n_layers - 1:
            slopes.append(np.empty((0, 0), np.float32))
        else:
            sl = np.empty_like(h)
            for j in range(h.shape[0]):
                for s in range(h.shape[1]):
                    h[j, s], sl[j, s], _ = _act(code, h[j, s])
            slopes.append(sl)
        a = h
    return a, slopes


@numba.njit(cache=True, fastmath=FASTMATH)
def energy(x, weights, biases, n_enc, code):
    """E(x) of the MLP autoencoder for x (n, d) float32."""
    n, d = x.shape
    xt = np.ascontiguousarray(x.T)
    reco, _ = _forward(xt, weights, biases, n_enc, code)
    e = np.zeros(n, np.float32)
    for j in range(d):
        for s in range(n):
            r = xt[j, s] - reco[j, s]
            e[s] += r * r
    return e / d


@numba.njit(cache=True, fastmath=FASTMATH)
def energy_grad(x, weights, biases, n_enc, code):
    """(E(x), grad_x E(x)) of the MLP autoencoder for x (n, d) float32, no graph."""
    n, d = x.shape
    xt = np.ascontiguousarray(x.T)
    reco, slopes = _forward(xt, weights, biases, n_enc, code)
    r = xt - reco
    back = r.copy()
    for layer in range(len(weights) - 1, -1, -1):
        sl = slopes[layer]
        if sl.shape[0]:
            back *= sl
        back = _linear_t(weights[layer], back)
    e = np.zeros(n, np.float32)
    g = np.empty((n, d), np.float32)
    for j in range(d):
        for s in range(n):
            e[s] += r[j, s] * r[j, s]
            g[s, j] = (r[j, s] - back[j, s]) * (2.0 / d)
    return e / d, g


@numba.njit(cache=True, fastmath=FASTMATH)
def energy_grad_vjp(x, g_bar, e_bar, weights, biases, n_enc, code, w_grads, b_grads):
    """Backward of (E, grad_x E): writes dPhi/dW, dPhi/db into w_grads, b_grads and returns dPhi/dx, for
    Phi = sum_s g_bar_s . grad_x E(x_s) + e_bar_s E(x_s)."""
    n, d = x.shape
    n_layers = len(weights)
    xt = np.ascontiguousarray(x.T)
    gt = np.ascontiguousarray(g_bar.T)
    # forward with the tangent g_bar: inputs (a, t) of each layer, sigma', sigma'' and tangent pre-activations
    ins_a = [xt]
    ins_t = [gt]
    s1s = []
    s2t = []  # sigma''(h) * tangent of h
    a, t = xt, gt
    for layer in range(n_layers):
        h = _linear(weights[layer], biases[layer], a)
        ht = _linear(weights[layer], np.zeros(weights[layer].shape[0], np.float32), t)
        if layer == n_enc - 1 or layer == n_layers - 1:
            s1s.append(np.empty((0, 0), np.float32))
            s2t.append(np.empty((0, 0), np.float32))
        else:
            s1 = np.empty_like(h)
            s2 = np.empty_like(h)
            for j in range(h.shape[0]):
                for s in range(n):
                    h[j, s], s1[j, s], s2[j, s] = _act(code, h[j, s])
                    s2[j, s] *= ht[j, s]
                    ht[j, s] *= s1[j, s]
            s1s.append(s1)
            s2t.append(s2)
        a, t = h, ht
        ins_a.append(a)
        ins_t.append(t)
    # Phi = (2/d) sum r . (G - t_L) + (1/d) sum e_bar r^2 with r = x - a_L
    a_bar = np.empty((d, n), np.float32)
    t_bar = np.empty((d, n), np.float32)
    x_bar = np.empty((d, n), np.float32)
    for j in range(d):
        for s in range(n):
            r = xt[j, s] - a[j, s]
            direct = (2.0 / d) * (gt[j, s] - t[j, s] + e_bar[s] * r)
            x_bar[j, s] = direct
            a_bar[j, s] = -direct
            t_bar[j, s] = -(2.0 / d) * r
    for layer in range(n_layers - 1, -1, -1):
        s1 = s1s[layer]
        if s1.shape[0]:  # h_bar = a_bar s' + t_bar s'' h_t ; ht_bar = t_bar s'
            a_bar = a_bar * s1 + t_bar * s2t[layer]
            t_bar = t_bar * s1
        a_in, t_in = ins_a[layer], ins_t[layer]
        wg, bg = w_grads[layer], b_grads[layer]
        m, k_in = wg.shape
        for j in range(m):
            acc = np.float32(0.0)
            for s in range(n):
                acc += a_bar[j, s]
            bg[j] = acc
            for k in range(k_in):
                acc = np.float32(0.0)
                for s in range(n):
                    acc += a_bar[j, s] * a_in[k, s] + t_bar[j, s] * t_in[k, s]
                wg[j, k] = acc
        a_bar = _linear_t(weights[layer], a_bar)
        t_bar = _linear_t(weights[layer], t_bar)
    return np.ascontiguousarray((x_bar + a_bar).T)


@numba.njit(cache=True, fastmath=FASTMATH)
def langevin_steps(x0, eps, noises, drift, lo, hi, clamp, weights, biases, n_enc, code):
    """Detached Langevin steps x <- clamp(x - drift grad_x E(x) + noise_i eps_i) for i < len(noises),
    from x0 (n, d) float32 with eps (steps, n, d); returns the last state."""
    x = x0.copy()
    drift32 = np.float32(drift)  # float32 arithmetic, as the torch step
    for i in range(noises.shape[0]):
        _, g = energy_grad(x, weights, biases, n_enc, code)
        for s in range(x.shape[0]):
            for j in range(x.shape[1]):
                y = x[s, j] - drift32 * g[s, j] + noises[i] * eps[i, s, j]
                if clamp:  # as torch.clamp: NaN stays NaN
                    if y < lo:
                        y = np.float32(lo)
                    elif y > hi:
                        y = np.float32(hi)
                x[s, j] = y
    return x
