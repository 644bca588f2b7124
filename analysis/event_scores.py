"""Event-level anomaly scores from the jet-level ones: per event, the max and the sum of its leading jets' scores.

An event is the set of dataset rows with the same (sample_id, event); all its jets share weight, split and
label, so the event takes them from its first row.
"""
from __future__ import annotations

import numpy as np

EVENT_COLUMNS = ("sample_id", "event", "weight", "split", "label")


def event_index(data: dict) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each event, event number of every row), events in order of first appearance."""
    keys = np.stack([data["sample_id"].astype(np.int64), data["event"].astype(np.int64)], axis=1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # events in the order of the rows
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return first[order], rank[inverse.reshape(-1)]


def event_scores(data: dict, jet_scores: np.ndarray) -> dict[str, np.ndarray]:
    """{"max", "sum", "n_jets"} of the jets' scores per event and the event's sample_id, event, weight,
    split, label (one entry per event, in the order of the events' first rows)."""
    s = np.asarray(jet_scores, dtype=np.float64)
    if s.shape != data["sample_id"].shape:
        raise ValueError(f"jet_scores: {s.size} scores for {data['sample_id'].size} dataset rows")
    first, idx = event_index(data)
    n = first.size
    maxima = np.full(n, -np.inf)
    np.maximum.at(maxima, idx, s)
    return {"max": maxima, "sum": np.bincount(idx, weights=s, minlength=n),
            "n_jets": np.bincount(idx, minlength=n), **{k: data[k][first] for k in EVENT_COLUMNS}}
