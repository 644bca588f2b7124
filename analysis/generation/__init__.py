"""Event generation: Pythia 8 samples (QCD, ttbar, W/Z+jets, Hidden-Valley SVJ), a parametrised detector
response -> NanoAOD-like ROOT files."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["generate_sample", "detector_rng"]


def detector_rng(seed: int) -> np.random.Generator:
    """The detector's random stream of a branch: seeded from the branch seed, independent of Pythia's."""
    import numpy as np

    return np.random.default_rng([int(seed), 0xDE7EC7])


def generate_sample(sample: dict, n_events: int, seed: int, path: str, batch_size: int = 500,
                    detector: dict | None = None, progress: Callable[[int, int], None] | None = None) -> dict:
    """Generate n_events of ``sample`` with Pythia 8, pass them through ``detector`` (a
    ``generation.detector`` config, defaults when None; ``{"enabled": False}`` for truth level) and
    write one NanoAOD-like ROOT file at ``path``.

    Events are generated, reconstructed, clustered and reduced batch by batch (memory stays bounded by
    one batch of full Pythia records) and written once at the end, when Pythia's cross-section is
    final. Returns ``{"n_events", "xsec_pb", "xsec_err_pb", "sum_genweight", "seed"}``; ``xsec_pb`` is
    the sample's stated ``xsec_pb`` when it has one (error 0), else Pythia's sigmaGen.
    ``progress(done, n_events)`` is called after each batch.
    """
    # Pythia, the detector's compiled kernels and the clustering load here, not when the package is imported
    # (the config reads its catalogue and detector defaults from this package before any task runs)
    import awkward as ak
    import numpy as np

    from analysis.generation.detector_settings import resolve_detector
    from analysis.generation.nanoaod import build_events, write_nanoaod
    from analysis.generation.pythia import (
        SIGNAL_MODELS, cross_section_pb, dark_meson_decays, event_weights, final_state, generate_records,
        is_signal_process, make_pythia, pythia_seed,
    )

    if isinstance(n_events, bool) or not isinstance(n_events, (int, np.integer)) or n_events < 1:
        raise ValueError(f"n_events: must be a positive integer, got {n_events!r}")
    stated = sample.get("xsec_pb")
    if stated is not None and (not isinstance(stated, (int, float)) or not stated > 0):
        raise ValueError(f"xsec_pb: must be > 0 pb, got {stated!r}")
    detector = resolve_detector(detector)
    signal = is_signal_process(sample)
    pythia = make_pythia(sample, seed)
    rng = detector_rng(seed)
    parts, weights, pt_hat = [], [], []
    for record in generate_records(pythia, int(n_events), batch_size):
        weights.append(event_weights(record))
        pt_hat.append(np.sqrt(ak.to_numpy(record.info.pT2Hat)))
        dark = dark_meson_decays(record) if signal else None
        parts.append(build_events(final_state(record, pythia.particleData), detector, rng, dark))
        if progress is not None:
            progress(sum(len(w) for w in weights), int(n_events))
    events = {k: (ak.concatenate([p[k] for p in parts]) if isinstance(parts[0][k], ak.Array)
                  else np.concatenate([p[k] for p in parts])) for k in parts[0]}
    weights = np.concatenate(weights)
    xsec, xsec_err = (float(stated), 0.0) if stated is not None else cross_section_pb(pythia)
    params = {}
    if signal:
        p = sample["params"]
        params = {"model": SIGNAL_MODELS[sample["process"]], "mMed": p["m_med"], "rinv": p["r_inv"],
                  "mDark": p["m_dark"], "nc": p["n_c"], "nf": p["n_f"]}
    write_nanoaod(path, events, weights, pythia_seed(seed), xsec, np.concatenate(pt_hat), params)
    return {"n_events": int(len(weights)), "xsec_pb": float(xsec), "xsec_err_pb": float(xsec_err),
            "sum_genweight": float(weights.sum()), "seed": int(seed)}
