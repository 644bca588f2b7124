"""The h5 dataset: non-finite features dropped and counted, weights normalised, split by event, scaler."""
import h5py
import numpy as np
import pytest

from analysis.dataset import assign_split, build_dataset, load_dataset, scaled


def _table(n_events: int, seed: int, nan_rows=()):
    rng = np.random.default_rng(seed)
    n = 2 * n_events
    feats = rng.normal(size=(n, 3))
    feats[list(nan_rows), 1] = np.nan
    return {"features": feats, "genweight": np.ones(n), "event": np.repeat(np.arange(n_events, dtype=np.uint64), 2),
            "jet_index": np.tile([0, 1], n_events).astype(np.int32), "event_mjj": np.ones(n),
            "event_mt": np.ones(n), "event_met": np.ones(n)}


def test_nonfinite_dropped_counted_and_weights(tmp_path):
    path = str(tmp_path / "d.h5")
    samples = [
        {"name": "bkg", "label": 0, "table": _table(500, 1, nan_rows=(3, 10, 11)), "xsec_pb": 100.0,
         "sum_genweight": 2000.0},
        {"name": "sig", "label": 1, "table": _table(100, 2), "xsec_pb": 0.5, "sum_genweight": 400.0,
         "params": {"m_med": 2000, "r_inv": 0.3}},
    ]
    summary = build_dataset(samples, ["a", "b", "c"], [0.7, 0.15, 0.15], 4, "standard", path)
    assert summary["bkg"]["nonfinite_dropped"] == 3 and summary["bkg"]["jets"] == 997
    assert summary["sig"]["nonfinite_dropped"] == 0
    d = load_dataset(path)
    assert np.isfinite(d["features"]).all() and len(d["label"]) == 997 + 200
    bkg = d["label"] == 0
    assert d["weight"][bkg].sum() == pytest.approx(100.0 * 997 / 2000.0)   # xsec * kept genWeight / generated
    assert set(d["signal_rinv"][~bkg]) == {np.float32(0.3)} and set(d["signal_mmed"][bkg]) == {-1}
    train_bkg = bkg & (d["split"] == 0)
    x = scaled(d, train_bkg)
    assert np.allclose(x.mean(axis=0), 0, atol=1e-5) and np.allclose(x.std(axis=0), 1, atol=1e-4)
    with h5py.File(path) as f:
        assert [n.decode() for n in f["features"].attrs["names"]] == ["a", "b", "c"]


def test_split_keeps_events_together_and_is_reproducible():
    event = np.repeat(np.arange(5000, dtype=np.uint64), 2)
    s1, s2 = assign_split(event, [0.7, 0.15, 0.15], 9), assign_split(event, [0.7, 0.15, 0.15], 9)
    assert np.array_equal(s1, s2)
    assert (s1[0::2] == s1[1::2]).all()
    assert np.allclose(np.bincount(s1) / len(s1), [0.7, 0.15, 0.15], atol=0.02)
    assert not np.array_equal(s1, assign_split(event, [0.7, 0.15, 0.15], 10))


def test_sample_without_jets_is_named(tmp_path):
    empty = {k: v[:0] for k, v in _table(10, 3).items()}
    samples = [{"name": "bkg", "label": 0, "table": _table(50, 1), "xsec_pb": 1.0, "sum_genweight": 100.0},
               {"name": "sig_nothing_passes", "label": 1, "table": empty, "xsec_pb": 1.0, "sum_genweight": 10.0}]
    with pytest.raises(ValueError, match="sig_nothing_passes: no jet passes the selection"):
        build_dataset(samples, ["a", "b", "c"], [0.7, 0.15, 0.15], 1, "standard", str(tmp_path / "d.h5"))
