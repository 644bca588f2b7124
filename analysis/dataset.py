"""Skimmed events -> one h5 dataset of per-jet features with labels, weights and a fixed split.

Layout of the h5 file (plain arrays, one row per jet; open it with h5py):
  features (n, d) float32 raw feature values, attrs["names"]
  weight           cross-section weight per jet in pb (xsec * genWeight / sum of genWeight generated)
  label            0 background, 1 signal;  sample_id -> attrs["samples"] (names), attrs["processes"]
                   (the generator process / signal model of each sample, e.g. svj_schannel)
  signal_mmed, signal_rinv   signal parameters (-1 for backgrounds)
  event, jet_index           event number and rank of the jet among the selected jets
  split            0 train, 1 validation, 2 test (whole events stay together; from a hash of the seed,
                   the sample name and the event number)
  event_mjj, event_mt, event_met   event variables for mass-sculpting studies
  representations/<name>/<field>   optional non-flat views of the SAME rows (config dataset.representations:
                   image40, constituents50, lund_graph, ...; analysis/features/representations.py):
                   fixed arrays with first dimension n_jets, ragged ones as <field> + <field>_offsets
and the scaler (kind, offset, scale; fitted on training background jets) as root attributes. Event view:
rows with equal (sample_id, event) are one event, jet_index 0 and 1 its two leading jets (``event_view``).
"""
from __future__ import annotations

import hashlib
import json
import os

import awkward as ak
import h5py
import numpy as np

from analysis.codes import LABELS, SPLITS
from analysis.features.registry import compute_features
from analysis.features.representations import (
    compute_representations, concat_representations, representation_attrs, select_rows,
)
from analysis.io.nanoaod import as_numpy, jet_constituents
from analysis.selection.cuts import object_masks
from analysis.selection.variables import dijet_system



def jet_table(events: ak.Array, selection: dict, feature_names: list[str], jets_per_event: int,
              representations: list[str] = ()) -> dict:
    """Features (and the named non-flat representations) of the leading selected AK8 jets of every event.

    Events without ``PFCands`` (plain NanoAOD) give jets without constituents: only features of stored jet
    branches (``hlf_nano``) are then meaningful, which the config check makes sure of."""
    if "PFCands" not in events.fields:
        empty = ak.unflatten(np.zeros(0, np.float32), np.zeros(len(events), np.int64))
        events = ak.with_field(events, ak.zip({f: empty for f in ("pt", "eta", "phi", "mass", "charge", "pdgId")}
                                              | {"fatJetIdx": ak.values_astype(empty, np.int32)}), "PFCands")
    cons = jet_constituents(events)
    mask = object_masks(events, selection.get("objects")).get("FatJet", ak.ones_like(events.FatJet.pt, dtype=bool))
    jets = events.FatJet[mask][:, :jets_per_event]
    jets = ak.with_field(jets, ak.broadcast_arrays(events.MET.phi, jets.pt)[0], "met_phi")  # for dphi_met
    cons = cons[mask][:, :jets_per_event]
    n_per_event = ak.to_numpy(ak.num(jets))
    flat_jets, flat_cons = ak.flatten(jets), ak.flatten(cons, axis=1)
    feats = compute_features(flat_jets, flat_cons, feature_names)
    dijet = dijet_system(ak.with_field(events, events.FatJet[mask], "FatJet"))
    rep = lambda x: np.repeat(np.asarray(x), n_per_event)  # noqa: E731 - event value per jet
    extra = {"representations": compute_representations(flat_jets, flat_cons, list(representations))} if representations else {}
    return extra | {
        "features": np.stack([feats[n] for n in feature_names], axis=1) if feature_names else np.zeros((len(flat_jets), 0)),
        "genweight": rep(as_numpy(events.genWeight)),
        "event": rep(ak.to_numpy(events.event).astype(np.uint64)),
        "jet_index": as_numpy(ak.flatten(ak.local_index(jets, axis=1)), np.int32),
        "event_mjj": rep(dijet["mjj"]),
        "event_mt": rep(dijet["mt"]),
        "event_met": rep(as_numpy(events.MET.pt)),
    }


def concat_tables(tables: list[dict]) -> dict:
    """Rows of several tables (files) one after another, representations included."""
    out = {k: np.concatenate([t[k] for t in tables]) for k in tables[0] if k != "representations"}
    if "representations" in tables[0]:
        out["representations"] = {name: concat_representations([t["representations"][name] for t in tables])
                                  for name in tables[0]["representations"]}
    return out


def write_table(path: str, table: dict | None, info: dict) -> None:
    """One file's jet table (None for a skipped input) and its cut-flow info (JSON attribute) as h5."""
    with h5py.File(path, "w", track_order=True) as f:
        f.attrs["info"] = json.dumps(info, sort_keys=True)
        for k, v in (table or {}).items():
            if k == "representations":
                _write_representations(f, v, compress=False)
            else:
                f.create_dataset(k, data=v)


def _write_representations(f: h5py.File, reps: dict[str, dict], compress: bool) -> dict[str, h5py.Group]:
    """``representations/<name>/<field>`` groups (gzip for arrays over 1 MB when ``compress``)."""
    groups = {}
    for name, rep in reps.items():
        groups[name] = f.create_group(f"representations/{name}")
        for k, v in rep.items():
            groups[name].create_dataset(k, data=v, compression="gzip" if compress and v.nbytes > 1 << 20 else None)
    return groups


def _read_group(group: h5py.Group) -> dict[str, np.ndarray]:
    return {k: v[()] for k, v in group.items()}


def read_table(path: str) -> tuple[dict | None, dict]:
    """(table or None for a skipped input, cut-flow info) written by ``write_table``."""
    with h5py.File(path, "r") as f:
        info = json.loads(f.attrs["info"])
        if "skipped" in info:
            return None, info
        table = {k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}
        if "representations" in f:
            table["representations"] = {name: _read_group(group) for name, group in f["representations"].items()}
    return table, info


def code(names: tuple[str, ...], name: str) -> int:
    """The code stored for a split or label name (its position in SPLITS or LABELS)."""
    if name not in names:
        raise ValueError(f"unknown name {name!r}: one of {', '.join(names)}")
    return names.index(name)


def rows(data: dict, split: str | None = None, label: str | None = None) -> np.ndarray:
    """Mask of the dataset rows in the named split (train, val, test) and with the named label (background,
    signal); None: any."""
    mask = np.ones(len(data["label"]), dtype=bool)
    if split is not None:
        mask &= data["split"] == code(SPLITS, split)
    if label is not None:
        mask &= data["label"] == code(LABELS, label)
    return mask


class Dataset(dict):
    """The loaded dataset: its stored arrays by name, and its rows by split and label name."""

    def rows(self, split: str | None = None, label: str | None = None) -> np.ndarray:
        """Mask of the rows in ``split`` with ``label`` (names; None: any)."""
        return rows(self, split, label)


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijective scramble of uint64 values (adjacent inputs give unrelated outputs)."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def assign_split(sample: str, event: np.ndarray, fractions: list[float], seed: int) -> np.ndarray:
    """The split code (position in SPLITS) per row from a hash of (seed, sample name, event number): the same
    for all jets of one event,
    and a jet's split does not depend on the other samples or events of the dataset, so adding a sample
    leaves every other row's split (and what the background-only models train on) unchanged."""
    key = int.from_bytes(hashlib.sha256(f"{seed}/{sample}".encode()).digest()[:8], "little")
    u = (_mix64(np.asarray(event, dtype=np.uint64) ^ np.uint64(key)) >> np.uint64(11)) * 2.0 ** -53
    edges = np.cumsum(fractions)[:-1]
    return np.searchsorted(edges, u, side="right").astype(np.int8)


def fit_scaler(x: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(offset, scale) with x_scaled = (x - offset) / scale; a constant feature gets scale 1."""
    if kind == "standard":
        off, scale = x.mean(axis=0), x.std(axis=0)
    elif kind == "minmax":
        off, scale = x.min(axis=0), x.max(axis=0) - x.min(axis=0)
    else:
        raise ValueError(f"dataset.scaler: unknown kind '{kind}' (use 'standard' or 'minmax')")
    return off, np.where(scale > 0, scale, 1.0)


def build_dataset(samples: list[dict], feature_names: list[str], split: list[float], seed: int,
                  scaler: str, path: str) -> dict:
    """Combine per-sample jet tables into the h5 file at ``path``; returns a summary per sample.

    ``samples``: [{name, label (0/1), table (from jet_table, concatenated over files), xsec_pb,
    sum_genweight (all generated events), params {m_med, r_inv}, process}]. Jets with a non-finite feature are
    dropped here and counted per sample, so nothing non-finite reaches training; the tables'
    representations (if any) keep exactly the same rows.
    """
    cols: dict[str, list] = {k: [] for k in ("features", "weight", "label", "sample_id", "signal_mmed",
                                             "signal_rinv", "event", "jet_index", "split",
                                             "event_mjj", "event_mt", "event_met")}
    summary = {}
    representations: dict[str, list] = {name: [] for name in samples[0]["table"].get("representations", {})}
    for sid, s in enumerate(samples):
        t = s["table"]
        finite = np.isfinite(t["features"]).all(axis=1)
        n = int(finite.sum())
        if n == 0:
            raise ValueError(f"sample {s['name']}: no jet passes the selection with finite features "
                             f"({int((~finite).sum())} non-finite); see the sample's cut flows (SkimEvents)")
        if s["sum_genweight"] <= 0:
            raise ValueError(f"sample {s['name']}: sum of generator weights is {s['sum_genweight']}, cannot normalise")
        params = s.get("params") or {}
        sp = assign_split(s["name"], t["event"], split, seed)
        cols["features"].append(t["features"][finite].astype(np.float32))
        cols["weight"].append(s["xsec_pb"] * t["genweight"][finite] / s["sum_genweight"])
        cols["label"].append(np.full(n, s["label"], np.int8))
        cols["sample_id"].append(np.full(n, sid, np.int16))
        cols["signal_mmed"].append(np.full(n, params.get("m_med", -1), np.float32))
        cols["signal_rinv"].append(np.full(n, params.get("r_inv", -1), np.float32))
        cols["split"].append(sp[finite])
        for k in ("event", "jet_index", "event_mjj", "event_mt", "event_met"):
            cols[k].append(t[k][finite])
        for name, parts in representations.items():
            parts.append(select_rows(t["representations"][name], finite))
        summary[s["name"]] = {"jets": n, "nonfinite_dropped": int((~finite).sum()),
                              **{f"jets_{name}": int((sp[finite] == i).sum()) for i, name in enumerate(SPLITS)}}
    data = {k: np.concatenate(v) for k, v in cols.items()}
    train_bkg = rows(data, "train", "background")
    if not train_bkg.any():
        raise ValueError("no background jets in the training split: check the samples and the selection")
    offset, scale = fit_scaler(data["features"][train_bkg].astype(np.float64), scaler)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with h5py.File(path, "w", track_order=True) as f:
        for k, v in data.items():
            f.create_dataset(k, data=v)
        f["features"].attrs["names"] = np.array(feature_names, dtype="S")
        f["sample_id"].attrs["samples"] = np.array([s["name"] for s in samples], dtype="S")
        f["sample_id"].attrs["processes"] = np.array([s.get("process", "") for s in samples], dtype="S")
        f.attrs["scaler"] = scaler
        f.attrs["scaler_offset"] = offset
        f.attrs["scaler_scale"] = scale
        f.attrs["event_view"] = "rows with equal (sample_id, event) are one event; jet_index 0, 1: its leading jets"
        # the file describes its codes and units itself (analysis.results reads them)
        f["split"].attrs["codes"] = json.dumps(dict(enumerate(SPLITS)))
        f["label"].attrs["codes"] = json.dumps(dict(enumerate(LABELS)))
        f["weight"].attrs["unit"] = "pb per event: xsec x genWeight / sum of the sample's genWeight (per jet)"
        f["event_mjj"].attrs["unit"] = f["event_mt"].attrs["unit"] = f["event_met"].attrs["unit"] = "GeV"
        f.attrs["representations"] = np.array(list(representations), dtype="S")
        reps = {name: concat_representations(parts) for name, parts in representations.items()}
        for name, group in _write_representations(f, reps, compress=True).items():
            for k, columns in representation_attrs(name).items():
                group[k].attrs["columns"] = np.array(columns, dtype="S")
    return summary


def load_dataset(path: str) -> Dataset:
    """The h5 dataset as numpy arrays plus names and scaler."""
    with h5py.File(path, "r") as f:
        out = Dataset({k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)})
        out["feature_names"] = [x.decode() for x in f["features"].attrs["names"]]
        out["sample_names"] = [x.decode() for x in f["sample_id"].attrs["samples"]]
        out["sample_processes"] = [x.decode() for x in f["sample_id"].attrs["processes"]]
        out["scaler_offset"] = f.attrs["scaler_offset"]
        out["scaler_scale"] = f.attrs["scaler_scale"]
        out["representations"] = [x.decode() for x in f.attrs.get("representations", [])]
    return out


def load_representation(path: str, name: str, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """One stored representation (all jets, or the jets ``rows``, aligned with the flat feature rows)."""
    with h5py.File(path, "r") as f:
        if f"representations/{name}" not in f:
            stored = [x.decode() for x in f.attrs.get("representations", [])]
            raise ValueError(f"{path}: no representation '{name}' (stored: {stored}; set dataset.representations)")
        rep = _read_group(f[f"representations/{name}"])
    return rep if rows is None else select_rows(rep, rows)


def event_view(data: dict) -> dict[str, np.ndarray]:
    """Events whose two leading jets are both in the dataset, as row pairs: the event-level view.

    Returns rows (n_events, 2) (jet_index 0, 1), and per event sample_id, event, label, split, weight
    (taken from the leading jet; all jets of an event share them). ``data["features"][rows]`` is then
    (n_events, 2, n_features); a representation's fixed arrays index the same way.
    """
    keys = np.stack([data["sample_id"].astype(np.uint64), data["event"].astype(np.uint64)], axis=1)
    _, ids = np.unique(keys, axis=0, return_inverse=True)
    ids = ids.reshape(-1)
    pairs = np.full((ids.max(initial=-1) + 1, 2), -1, dtype=np.int64)
    for k in (0, 1):
        rows = np.flatnonzero(data["jet_index"] == k)
        pairs[ids[rows], k] = rows
    pairs = pairs[(pairs >= 0).all(axis=1)]
    lead = pairs[:, 0]
    return {"rows": pairs, **{k: data[k][lead] for k in ("sample_id", "event", "label", "split", "weight")}}


def scaled(data: dict, mask: np.ndarray | None = None) -> np.ndarray:
    """Scaled float32 features (rows selected by ``mask``)."""
    x = data["features"] if mask is None else data["features"][mask]
    return ((x - data["scaler_offset"]) / data["scaler_scale"]).astype(np.float32)
