"""Results in Python: the scores files Infer writes (self-describing h5) and one table of scores joined to events.

``scores.h5`` holds, row for row with the dataset's jets, ``score`` and the jet's ``sample_id``, ``event`` and
``jet_index``; under ``events/`` one row per event with the ``max`` and ``sum`` of its leading jets' scores
and its ``sample_id``, ``event``, ``weight``, ``split``, ``label``. Its attributes say what the codes and
units mean and which task (and config hash) produced it from which dataset and checkpoint (paths relative
to ``DATA_PATH``).
``tasks/results.py`` finds a study's files by config and version.
"""
from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd

from analysis.config import data_path
from analysis.codes import LABELS, SPLITS

SPLIT_CODES = dict(enumerate(SPLITS))
LABEL_CODES = dict(enumerate(LABELS))
UNITS = {
    "score": "anomaly score = the model's energy (mean squared reconstruction error of the scaled inputs)",
    "weight": "pb per event: cross-section x genWeight / sum of the sample's genWeight (every jet of an event "
              "carries its event's weight)",
}


def write_scores(path: str, jet_scores: np.ndarray, events: dict[str, np.ndarray], data: dict, meta: dict) -> None:
    """Write ``scores.h5``: jet scores with their event keys, the event-level table, and the attributes
    (``meta``: model, task, hash, dataset, checkpoint; plus codes, units, sample names)."""
    with h5py.File(path, "w") as f:
        f.create_dataset("score", data=np.asarray(jet_scores, dtype=np.float32))
        for k in ("sample_id", "event", "jet_index"):
            f.create_dataset(k, data=data[k])
        group = f.create_group("events")
        for k, v in events.items():
            group.create_dataset(k, data=v)
        for k, v in meta.items():
            f.attrs[k] = str(v)
        f.attrs["samples"] = json.dumps(list(data["sample_names"]))
        f.attrs["split_codes"] = json.dumps(SPLIT_CODES)
        f.attrs["label_codes"] = json.dumps(LABEL_CODES)
        f.attrs["units"] = json.dumps(UNITS)
        f.attrs["event_scores"] = "max and sum of the scores of the event's leading jets in the dataset"


def read_scores(path: str) -> dict:
    """Everything in a ``scores.h5``: arrays by name (event-level ones under ``events``) and ``attrs``."""
    with h5py.File(path, "r") as f:
        out = {k: f[k][()] for k in f if isinstance(f[k], h5py.Dataset)}
        out["events"] = {k: v[()] for k, v in f["events"].items()} if "events" in f else {}
        out["attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return out


def scores_table(scores_path: str, dataset_path: str | None = None, level: str = "jet") -> pd.DataFrame:
    """One row per jet (``level="jet"``: score) or per event (``"event"``: score_max, score_sum, n_jets), with
    sample (name), event, weight, split and label (names); ``dataset_path`` (default: the one the scores
    were computed from, under ``DATA_PATH``) supplies the jets' weight, split and label and is checked to match row for row."""
    s = read_scores(scores_path)
    attrs = s["attrs"]
    samples = np.array(json.loads(attrs["samples"]), dtype=object)
    splits, labels = np.array(SPLITS, dtype=object), np.array(LABELS, dtype=object)
    if level == "event":
        e = s["events"]
        return pd.DataFrame({"sample": samples[e["sample_id"]], "event": e["event"], "weight": e["weight"],
                             "split": splits[e["split"]], "label": labels[e["label"]], "n_jets": e["n_jets"],
                             "score_max": e["max"], "score_sum": e["sum"]})
    if level != "jet":
        raise ValueError(f"level: 'jet' or 'event', got {level!r}")
    dataset_path = dataset_path or str(data_path() / attrs["dataset"])
    with h5py.File(dataset_path, "r") as f:
        cols = {k: f[k][()] for k in ("sample_id", "event", "jet_index", "weight", "split", "label")}
    for k in ("sample_id", "event", "jet_index"):
        if not np.array_equal(cols[k], s[k]):
            raise ValueError(f"{scores_path}: its rows do not match {dataset_path} ({k} differs)")
    return pd.DataFrame({"sample": samples[cols["sample_id"]], "event": cols["event"], "jet_index": cols["jet_index"],
                         "weight": cols["weight"], "split": splits[cols["split"]], "label": labels[cols["label"]],
                         "score": s["score"]})
