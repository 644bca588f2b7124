"""The one training loop for the AE, NAE and WNAE: device-agnostic, resumable, signal-agnostic.

Per step everything stays on the device: batches are gathered from the training set held on the
device, the replay buffer is a device tensor, and epoch sums are accumulated as tensors, so the only
host syncs are one per epoch (plus the CPU assignment of ``wasserstein.method: exact``).

Event weights (``w_train``, e.g. cross-section weights that make a mixed background its physical mixture)
enter by the draw, not by the loss: each epoch's batches are drawn with replacement with probability
proportional to the weight, so every batch is a uniformly weighted sample of the weighted distribution and
the exact W between equal, uniform batches stays valid. The validation rows are drawn the same way from
``w_val``, and the ``monitor`` AUC is weighted by its weights (analysis/metrics.py, as the report).

Model selection never looks at signal: the AE keeps the epoch with the lowest (weighted) validation loss,
the NAE/WNAE the epoch with the lowest EXACT Wasserstein distance (W_2^2) between validation rows and as
many negatives drawn by the sampler (own RNG stream, nothing pushed to the buffer), averaged over
``val_draws`` fixed draws of ``val_samples`` rows ("all": the whole validation set in chunks); the
standard error of that mean (spread of the draws / sqrt(draws)) is recorded as ``val_wasserstein_err``.
The ``monitor`` AUC is recorded in the history only.

Files in ``workdir``: checkpoint.pt (after every epoch: model, optimiser, scheduler, replay buffer,
every RNG state, history, early-stopping state), best.pt (selected epoch), model.pt (final epoch),
history.json. best.pt and model.pt hold {cfg, n_features, state_dict, epoch} and load with
`load_model`.
"""
from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Callable

import numpy as np
import torch

from analysis.atomic import write_bytes, write_json
from analysis.metrics import auc as weighted_auc
from analysis.models.adversary import Adversary
from analysis.models.ae import weighted_mean
from analysis.models.distances import exact
from analysis.models.graphs import LundGraphs
from analysis.models.registry import build_model, build_sampler, get_kind, resolve_config

HISTORY_KEYS = ("loss", "val_loss", "e_pos", "e_neg", "val_wasserstein", "val_wasserstein_err", "monitor_auc", "adv_loss", "acceptance",
                "lr", "time_s", "phase")


def _as_features(x: np.ndarray, name: str, n_features: int | None = None) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0 or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must be a non-empty 2-D float array (n, d), got shape {x.shape} dtype {x.dtype}")
    if n_features is not None and x.shape[1] != n_features:
        raise ValueError(f"{name} has {x.shape[1]} features, x_train has {n_features}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains non-finite values")
    return np.ascontiguousarray(x, dtype=np.float32)


def _as_inputs(x, name: str, n_features: int | None = None) -> np.ndarray | LundGraphs:
    """Flat features (checked by ``_as_features``) or Lund graphs (checked when built) with n_features columns."""
    if not isinstance(x, LundGraphs):
        return _as_features(x, name, n_features)
    if len(x) == 0 or (n_features is not None and x.n_features != n_features):
        raise ValueError(f"{name}: {len(x)} graphs with {x.n_features} node features; expected graphs with "
                         f"{n_features} node features")
    return x


def _n_features(x: np.ndarray | LundGraphs) -> int:
    return x.n_features if isinstance(x, LundGraphs) else x.shape[1]


def _as_weights(w, n: int, name: str) -> np.ndarray | None:
    if w is None:
        return None
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"{name} must be finite, >= 0 and not all zero (batches are drawn with probability "
                         f"proportional to the weight; {int((w < 0).sum())} negative): for samples with negative "
                         "(NLO) weights set training.weights: none")
    return w


def _check_inputs(x_train, x_val, w_train, w_val, monitor, mass_train):
    x_train = _as_inputs(x_train, "x_train")
    n_train = len(x_train)
    if mass_train is not None:
        mass_train = np.asarray(mass_train, dtype=np.float64)
        if mass_train.shape != (n_train,) or not np.isfinite(mass_train).all() or mass_train.std() == 0:
            raise ValueError(f"mass_train must be finite, not constant and of shape ({n_train},), "
                             f"got shape {mass_train.shape}")
        mass_train = ((mass_train - mass_train.mean()) / mass_train.std()).astype(np.float32)
    x_val = _as_inputs(x_val, "x_val", _n_features(x_train))
    w_train = _as_weights(w_train, n_train, "w_train")
    w_val = _as_weights(w_val, len(x_val), "w_val")
    if monitor is not None:
        x_mon = _as_inputs(monitor[0], "monitor[0]", _n_features(x_train))
        y_mon = np.asarray(monitor[1])
        if y_mon.shape != (len(x_mon),) or not np.isin(y_mon, (0, 1)).all() or len(np.unique(y_mon)) != 2:
            raise ValueError("monitor[1] must be labels in {0, 1} with both classes, one per row of monitor[0]")
        w_mon = _as_weights(monitor[2], len(x_mon), "monitor[2]") if len(monitor) > 2 else None
        monitor = (x_mon, y_mon, w_mon)
    return x_train, x_val, w_train, w_val, monitor, mass_train


def weighted_draw(w: np.ndarray | None, n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """`size` row indices of n rows: with weights `w`, drawn with replacement with probability w / sum(w)
    (a uniformly weighted sample of the weighted distribution); without, permutations of the rows (every
    row once before any twice)."""
    if w is not None:
        return torch.multinomial(torch.as_tensor(w, dtype=torch.float64), size, replacement=True,
                                 generator=generator)
    return torch.cat([torch.randperm(n, generator=generator) for _ in range(-(-size // n))])[:size]


def validation_draws(n_val: int, val_samples: int, val_draws: int | str) -> tuple[int, int]:
    """(rows per draw, number of draws) of the validation W: ``val_draws`` "all" covers the validation set."""
    size = min(val_samples, n_val)
    return size, max(1, n_val // size) if val_draws == "all" else int(val_draws)


def _seeds(seed: int) -> list[int]:
    """Independent seeds for: weights, batching, the sampler, the validation sampler."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(4, dtype=np.uint32)]


ENERGY_CHUNK = 16384  # samples per forward pass when scoring (a graph chunk holds ~max_nodes times more rows)


@torch.no_grad()
def _energies(model: torch.nn.Module, x, batch_size: int = ENERGY_CHUNK) -> torch.Tensor:
    """Energies of every sample of a device set (rows tensor or GraphSet), chunk by chunk."""
    return torch.cat([model.energy(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def score(model: torch.nn.Module, x: np.ndarray | LundGraphs, batch_size: int = ENERGY_CHUNK) -> np.ndarray:
    """Anomaly score = energy (per-sample reconstruction error), float64, one per sample of x (feature rows
    for a dense model, Lund graphs for a graph model)."""
    device = next(model.parameters()).device
    model.eval()
    return _energies(model, model.prepare(_as_inputs(x, "x"), device), batch_size).double().cpu().numpy()


def _snapshot(model: torch.nn.Module, x) -> np.ndarray:
    """Samples as saved for the report: the rows the model's chain moves (a graph model's nodes)."""
    return model.chain_view(x).state.detach().cpu().numpy()


def load_model(path: str, device: str = "cpu") -> torch.nn.Module:
    """A model from best.pt, model.pt or checkpoint.pt, in eval mode on `device`."""
    blob = torch.load(path, map_location=device, weights_only=True)
    model = build_model(blob["cfg"], blob["n_features"]).to(device)
    model.load_state_dict(blob["state_dict"] if "state_dict" in blob else blob["model"])
    return model.eval()


def jet_mass(data: dict) -> np.ndarray:
    """Raw jet mass per dataset row, for the adversary: the dataset's ``mass`` column, else the ``mass``
    feature (unscaled). Raises ValueError when the dataset has neither."""
    if "mass" in data:
        return np.asarray(data["mass"], dtype=np.float64)
    names = list(data.get("feature_names", []))
    if "mass" in names:
        return np.asarray(data["features"][:, names.index("mass")], dtype=np.float64)
    raise ValueError("adversary.lambda > 0 needs the jet mass: the dataset has no 'mass' column and no 'mass' "
                     f"feature (features: {', '.join(names)})")


NEGATIVES_DIR = "negatives"


def _save(obj: dict, path: str) -> None:
    """Serialised in memory, then written atomically: a full disk is a WriteError naming ``path`` (torch's
    own file writer would say only "unexpected pos") and a kill never leaves a truncated file."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(path, buf.getbuffer())


def _save_array(x: np.ndarray, path: str) -> None:
    buf = io.BytesIO()
    np.save(buf, x)
    write_bytes(path, buf.getbuffer())


def negative_snapshots(workdir: str) -> dict[str, np.ndarray]:
    """``epoch_NNN`` -> the validation negatives drawn after that epoch, and ``data`` -> the validation rows they
    are drawn against (sampler models; empty for an AE). Rows as the chain moves them: a graph model's nodes."""
    folder = os.path.join(workdir, NEGATIVES_DIR)
    if not os.path.isdir(folder):
        return {}
    files = sorted(f for f in os.listdir(folder) if (f.startswith("epoch_") or f == "data.npy") and f.endswith(".npy"))
    return {f[:-4]: np.load(os.path.join(folder, f)) for f in files}


def _model_file(model, cfg, n_features, epoch) -> dict:
    return {"cfg": cfg, "n_features": n_features, "epoch": epoch,
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}


def _json_value(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


class StaleCheckpoint(ValueError):
    """The checkpoint in the work folder belongs to another config, seed or data set."""


def train_model(cfg: dict, x_train: np.ndarray, x_val: np.ndarray, workdir: str, seed: int,
                device: str | None = None, w_train: np.ndarray | None = None, resume: bool = True,
                monitor: tuple | None = None, mass_train: np.ndarray | None = None,
                w_val: np.ndarray | None = None, on_epoch: Callable[[int, int, dict], None] | None = None) -> dict:
    """Train the model of `cfg` on standardised features; write checkpoint/best/model/history to `workdir`.

    `w_train`, `w_val`: event weights of the training and validation rows (None: unweighted); `monitor`:
    (inputs, labels) or (inputs, labels, weights) for the recorded AUC.
    Returns the history: per-epoch lists (loss, val_loss, e_pos, e_neg, val_wasserstein (the mean over the
    draws), val_wasserstein_err (its standard error; None with one draw), monitor_auc, adv_loss, acceptance (of the sampler's MH / boundary rejection), lr, time_s (wall clock of
    the epoch with its validation and monitor), phase;
    None where not applicable) and 'best_epoch', the 0-based index of the selected epoch in those lists.
    `mass_train` (jet mass per training row, any unit: it is standardised here) is needed when
    ``adversary.lambda`` > 0. ``on_epoch(epoch, n_epochs, row)`` is called after each epoch with that epoch's
    history row (to report progress). Resuming from checkpoint.pt (same cfg apart from
    `epochs`) gives bit-identical results on the CPU. Raises RuntimeError on a diverging training,
    leaving the files of the last good epoch.
    """
    cfg = resolve_config(cfg)
    kind = get_kind(cfg["kind"])
    x_train, x_val, w_train, w_val, monitor, mass_train = _check_inputs(x_train, x_val, w_train, w_val, monitor,
                                                                        mass_train)
    lam = cfg["adversary"]["lambda"]
    if lam and mass_train is None:
        raise ValueError(f"adversary.lambda = {lam} needs the jet mass of the training jets (mass_train)")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    n, n_features = len(x_train), _n_features(x_train)
    os.makedirs(workdir, exist_ok=True)
    ckpt_path = os.path.join(workdir, "checkpoint.pt")
    seed_model, seed_batch, seed_sample, seed_val = _seeds(seed)

    torch.manual_seed(seed_model)
    model = build_model(cfg, n_features)
    model.fit_inputs(x_train)  # e.g. a graph model's node standardisation (a resume reloads the same values)
    model = model.to(device)
    sampler = build_sampler(cfg, n_features, device)
    adv = Adversary(n_features, cfg["adversary"]["hidden"], cfg["adversary"]["input"]).to(device) if lam else None
    adv_opt = None if adv is None else torch.optim.AdamW(adv.parameters(), lr=cfg["adversary"]["lr"], fused=True)
    # fused: one kernel for all parameters (~20x faster than the per-tensor loop for these small MLPs)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"], fused=True)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=cfg["lr_factor"],
                                                       patience=cfg["lr_patience"], threshold=cfg["lr_threshold"],
                                                       cooldown=cfg["lr_cooldown"])
    g_batch = torch.Generator().manual_seed(seed_batch)
    g_sample = torch.Generator(device=device).manual_seed(seed_sample)
    state = {"epoch": 0, "best": math.inf, "best_epoch": None, "bad_epochs": 0, "stopped": False,
             "history": {k: [] for k in HISTORY_KEYS}}

    if resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        same = {k: v for k, v in ck["cfg"].items() if k != "epochs"} == {k: v for k, v in cfg.items() if k != "epochs"}
        if not same or ck["n_features"] != n_features or ck["seed"] != seed or ck["n_train"] != n:
            raise StaleCheckpoint(f"{ckpt_path} was written for another config, seed or data; use resume=False "
                                  "or another workdir")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        if sampler is not None:
            sampler.load_state_dict(ck["sampler"])
        if adv is not None:
            adv.load_state_dict(ck["adversary"])
            adv_opt.load_state_dict(ck["adv_optimizer"])
        torch.set_rng_state(ck["rng"]["torch"])
        if torch.cuda.is_available() and "cuda" in ck["rng"]:
            torch.cuda.set_rng_state_all(ck["rng"]["cuda"])
        g_batch.set_state(ck["rng"]["batch"])
        g_sample.set_state(ck["rng"]["sample"])
        state = ck["state"]

    xt = model.prepare(x_train, device)
    mt = None if adv is None else torch.as_tensor(mass_train, device=device)
    xv = model.prepare(x_val, device)
    wv = None if w_val is None else torch.as_tensor(w_val, dtype=torch.float32, device=device)
    xv_subs = []  # fixed validation draws for the sampler-based metrics (the AE's loss uses all of x_val)
    if kind.uses_sampler:
        size, n_draws = validation_draws(len(x_val), cfg["val_samples"], cfg["val_draws"])
        val_idx = weighted_draw(w_val, len(x_val), size * n_draws, torch.Generator().manual_seed(seed_val))
        xv_subs = [xv[val_idx[j * size:(j + 1) * size].to(device)] for j in range(n_draws)]
        # what the (first draw's) validation negatives are drawn against, for the report
        _save_array(_snapshot(model, xv_subs[0]), os.path.join(workdir, NEGATIVES_DIR, "data.npy"))
    xm = None if monitor is None else model.prepare(monitor[0], device)
    bs = min(cfg["batch_size"], n)
    n_batches = n // bs  # the partial last batch is dropped: static shapes, equal-size W batches
    hist = state["history"]

    for epoch in range(state["epoch"], kind.epochs(cfg)):
        if state["stopped"]:
            break
        phase = kind.phase(cfg, epoch)
        t0 = time.perf_counter()
        model.train()
        perm = weighted_draw(w_train, n, n_batches * bs, g_batch).to(device)
        sums = torch.zeros(5, device=device)
        no_neg = torch.tensor(math.nan, device=device)
        for b in range(n_batches):
            idx = perm[b * bs:(b + 1) * bs]
            xb = xt[idx]
            wb = None  # the weights are in the draw: every batch is uniformly weighted
            if phase.negatives:
                x_neg = sampler.sample(model, xb, g_sample, differentiable=model.chain_grad)
                loss, e_pos, e_neg = model.loss(xb, x_neg, wb)
                acc = sampler.acceptance
            else:
                loss, e_pos, e_neg = model.reconstruction_loss(xb, wb)
                acc = no_neg
            loss = loss + model.weight_penalty(cfg["l1_weights"], cfg["l2_weights"])
            adv_loss = no_neg
            if adv is not None:  # fit the adversary on the detached output, then penalise the detector
                seen = adv.features(model, xb)
                adv_opt.zero_grad(set_to_none=True)
                adv.loss(seen.detach(), mt[idx], wb).backward()
                adv_opt.step()
                adv_loss = adv.loss(seen, mt[idx], wb)
                loss = loss - lam * adv_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sums += torch.stack([loss.detach(), e_pos, no_neg if e_neg is None else e_neg, adv_loss.detach(), acc])

        model.eval()
        val_w, val_w_err = math.nan, math.nan
        if not phase.negatives:
            val_loss = weighted_mean(_energies(model, xv), wv).item()
        if kind.uses_sampler:
            g_val = torch.Generator(device=device).manual_seed(seed_val + epoch)
            draws, losses = [], []
            for j, xs in enumerate(xv_subs):
                x_neg = sampler.sample(model, xs, g_val, differentiable=False, push=False)
                x_neg_val = x_neg if j == 0 else x_neg_val  # the first draw's negatives go to the report
                with torch.no_grad():
                    draws.append(exact(model.descriptor(xs), model.descriptor(x_neg)).item())
                    if phase.negatives:
                        losses.append(model.validation_loss(xs, x_neg, draws[-1]))
            val_w = float(np.mean(draws))
            val_w_err = float(np.std(draws, ddof=1) / math.sqrt(len(draws))) if len(draws) > 1 else math.nan
            if phase.negatives:
                val_loss = float(np.mean(losses))
        loss_m, e_pos_m, e_neg_m, adv_m, acc_m = (sums / n_batches).tolist()
        bad = [k for k, v in (("loss", loss_m), ("e_pos", e_pos_m), ("val_loss", val_loss)) if not math.isfinite(v)]
        if phase.negatives:
            bad += [k for k, v in (("e_neg", e_neg_m), ("val_wasserstein", val_w)) if not math.isfinite(v)]
        if bad:
            raise RuntimeError(f"training diverged in epoch {epoch} ({cfg['kind']}, phase {phase.name}): non-finite "
                               f"{', '.join(bad)}; {workdir} keeps best.pt/checkpoint.pt of the last good epoch. "
                               "Lower lr or sampler.step_size, or set sampler.clip_grad / loss.gamma.")
        if kind.uses_sampler:  # the validation negatives of every epoch, for the report
            _save_array(_snapshot(model, x_neg_val), os.path.join(workdir, NEGATIVES_DIR, f"epoch_{epoch:03d}.npy"))
        auc = math.nan
        if monitor is not None:
            s_mon, (_, y_mon, w_mon) = _energies(model, xm).double().cpu().numpy(), monitor
            auc = weighted_auc(s_mon[y_mon == 0], s_mon[y_mon == 1], None if w_mon is None else w_mon[y_mon == 0],
                               None if w_mon is None else w_mon[y_mon == 1])

        selectable = phase.negatives or not kind.uses_sampler  # the pre-training epochs are never kept
        metric = {"val_loss": val_loss, "val_wasserstein": val_w}[kind.selection_metric]
        for key, value in zip(HISTORY_KEYS, (loss_m, val_loss, e_pos_m, e_neg_m, val_w, val_w_err, auc, adv_m,
                                             acc_m, opt.param_groups[0]["lr"], time.perf_counter() - t0, phase.name)):
            hist[key].append(_json_value(value))
        if on_epoch is not None:
            on_epoch(epoch, kind.epochs(cfg), {k: hist[k][-1] for k in HISTORY_KEYS})
        state["epoch"] = epoch + 1
        if selectable:
            sched.step(loss_m if cfg["lr_metric"] == "train" else metric)
            if metric < state["best"]:
                state.update(best=metric, best_epoch=epoch, bad_epochs=0)
                _save(_model_file(model, cfg, n_features, epoch), os.path.join(workdir, "best.pt"))
            else:
                state["bad_epochs"] += 1
            state["stopped"] = state["bad_epochs"] >= cfg["patience"]
        rng = {"torch": torch.get_rng_state(), "batch": g_batch.get_state(), "sample": g_sample.get_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        _save({"cfg": cfg, "n_features": n_features, "seed": seed, "n_train": n,
               "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
               "sampler": None if sampler is None else sampler.state_dict(), "rng": rng, "state": state,
               "adversary": None if adv is None else adv.state_dict(),
               "adv_optimizer": None if adv is None else adv_opt.state_dict()}, ckpt_path)

    _save(_model_file(model, cfg, n_features, state["epoch"] - 1), os.path.join(workdir, "model.pt"))
    result = {**hist, "best_epoch": state["best_epoch"]}
    write_json(os.path.join(workdir, "history.json"), result)
    return result
