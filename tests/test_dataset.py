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
    assert (d.rows("train", "background") == train_bkg).all() and 600 < train_bkg.sum() < 800  # named rows
    assert (d.rows(label="signal") == ~bkg).all() and d.rows("test").sum() + d.rows("val").sum() > 200
    with pytest.raises(ValueError, match="'tset': one of train, val, test"):
        d.rows("tset")
    x = scaled(d, train_bkg)
    assert np.allclose(x.mean(axis=0), 0, atol=1e-5) and np.allclose(x.std(axis=0), 1, atol=1e-4)
    with h5py.File(path) as f:
        assert [n.decode() for n in f["features"].attrs["names"]] == ["a", "b", "c"]


def test_split_keeps_events_together_and_is_reproducible():
    event = np.repeat(np.arange(5000, dtype=np.uint64), 2)
    split = lambda ev, seed=9, sample="qcd": assign_split(sample, ev, [0.7, 0.15, 0.15], seed)  # noqa: E731
    s1, s2 = split(event), split(event)
    assert np.array_equal(s1, s2)
    assert (s1[0::2] == s1[1::2]).all()
    assert np.allclose(np.bincount(s1) / len(s1), [0.7, 0.15, 0.15], atol=0.02)
    assert not np.array_equal(s1, split(event, seed=10))
    assert not np.array_equal(s1, split(event, sample="ttbar"))
    # a jet's split is its own: the same events in another order, or among others, keep theirs
    assert np.array_equal(split(event[::-1]), s1[::-1])
    more = np.concatenate([event, np.arange(5000, 9000, dtype=np.uint64)])
    assert np.array_equal(split(more)[:len(event)], s1)


def test_adding_a_sample_keeps_the_training_rows(tmp_path):
    """What a background-only model trains on (rows, split, scaler) is the same with another signal added."""
    bkg = {"name": "bkg", "label": 0, "table": _table(300, 1), "xsec_pb": 1.0, "sum_genweight": 300.0}
    sig = {"name": "sig", "label": 1, "table": _table(100, 2), "xsec_pb": 1.0, "sum_genweight": 100.0}
    sig2 = {"name": "sig2", "label": 1, "table": _table(80, 3), "xsec_pb": 1.0, "sum_genweight": 80.0}
    out = []
    for i, samples in enumerate(([sig, bkg], [sig2, bkg, sig])):
        path = str(tmp_path / f"d{i}.h5")
        build_dataset(samples, ["a", "b", "c"], [0.7, 0.15, 0.15], 1, "standard", path)
        d = load_dataset(path)
        rows = d["label"] == 0
        out.append((d["features"][rows], d["split"][rows], d["scaler_offset"], d["scaler_scale"]))
    for a, b in zip(*out):
        assert np.array_equal(a, b)


def test_sample_without_jets_is_named(tmp_path):
    empty = {k: v[:0] for k, v in _table(10, 3).items()}
    samples = [{"name": "bkg", "label": 0, "table": _table(50, 1), "xsec_pb": 1.0, "sum_genweight": 100.0},
               {"name": "sig_nothing_passes", "label": 1, "table": empty, "xsec_pb": 1.0, "sum_genweight": 10.0}]
    with pytest.raises(ValueError, match="sig_nothing_passes: no jet passes the selection"):
        build_dataset(samples, ["a", "b", "c"], [0.7, 0.15, 0.15], 1, "standard", str(tmp_path / "d.h5"))


# -- real generated jets: representations, event view, per-file tables --------------------------------

REPRESENTATIONS = ["image40", "constituents20", "lund_graph", "lund_primary"]


@pytest.fixture(scope="module")
def real_tables(tmp_path_factory):
    """Jet tables of small Pythia ttbar and QCD samples (MPI off), with every representation."""
    from analysis.config import load_config
    from analysis.dataset import jet_table
    from analysis.generation import generate_sample
    from analysis.io.nanoaod import read_events

    tmp = tmp_path_factory.mktemp("real")
    selection = load_config("tiny").selection
    names = ["log_msoftdrop", "n_constituents", "tau21", "c2_b1", "m2_b1", "dphi_met"]
    tables = {}
    for sample, spec, seed in (("ttbar", {"process": "ttbar", "pt_hat_min": 500, "mpi": False}, 3),
                               ("qcd", {"process": "qcd", "pt_hat_min": 300, "mpi": False}, 4)):
        generate_sample(spec, 150, seed, str(tmp / f"{sample}.root"))
        events = read_events(str(tmp / f"{sample}.root"), ["FatJet", "PFCands", "MET", "genWeight", "event"])
        tables[sample] = jet_table(events, selection, names, 2, REPRESENTATIONS)
    return names, tables


def test_ttbar_softdrop_mass_peaks_near_the_top_mass(real_tables):
    names, tables = real_tables
    column = names.index("log_msoftdrop")

    def window(sample):
        msd = np.exp(tables[sample]["features"][:, column])
        return np.mean((msd > 140) & (msd < 200)), np.median(msd)

    (top_t, median_t), (top_q, median_q) = window("ttbar"), window("qcd")
    hist, edges = np.histogram(np.exp(tables["ttbar"]["features"][:, column]), bins=np.arange(20, 320, 20))
    assert 140 <= edges[np.argmax(hist)] <= 180  # the peak bin holds 173 GeV
    assert top_t > 0.3 and top_t > 3 * top_q and median_q < 100


def test_representations_keep_the_feature_rows(real_tables, tmp_path):
    from analysis.dataset import event_view, load_representation, read_table, write_table

    names, tables = real_tables
    bkg = dict(tables["qcd"])
    bkg["features"] = bkg["features"].copy()
    bkg["features"][[0, 5], 1] = np.nan  # dropped rows must leave every representation too
    write_table(str(tmp_path / "t.h5"), bkg, {"sum_genweight": 1.0})
    bkg, _ = read_table(str(tmp_path / "t.h5"))
    samples = [{"name": "qcd", "label": 0, "table": bkg, "xsec_pb": 1.0, "sum_genweight": 150.0},
               {"name": "ttbar", "label": 1, "table": tables["ttbar"], "xsec_pb": 1.0, "sum_genweight": 150.0}]
    path = str(tmp_path / "d.h5")
    summary = build_dataset(samples, names, [0.6, 0.2, 0.2], 1, "standard", path)
    assert summary["qcd"]["nonfinite_dropped"] >= 2
    d = load_dataset(path)
    n = len(d["label"])
    assert d["representations"] == REPRESENTATIONS
    n_const = d["features"][:, names.index("n_constituents")].astype(int)
    constituents = load_representation(path, "constituents20")
    assert constituents["features"].shape == (n, 20, 6)
    np.testing.assert_array_equal(constituents["mask"].sum(axis=1), np.minimum(n_const, 20))
    image = load_representation(path, "image40")["image"]
    assert image.shape == (n, 40, 40) and np.allclose(image.sum(axis=(1, 2)), 1, atol=1e-5)
    graph = load_representation(path, "lund_graph")
    np.testing.assert_array_equal(np.diff(graph["nodes_offsets"]), n_const - 1)
    part = load_representation(path, "lund_graph", d["split"] == 2)
    np.testing.assert_array_equal(np.diff(part["nodes_offsets"]), n_const[d["split"] == 2] - 1)
    with h5py.File(path) as f:
        assert [c.decode() for c in f["representations/lund_graph/nodes"].attrs["columns"]][:2] == ["ln_inv_delta", "ln_kt"]
    with pytest.raises(ValueError, match="no representation 'image20'"):
        load_representation(path, "image20")

    view = event_view(d)
    rows = view["rows"]
    assert len(rows) > 100 and (d["jet_index"][rows] == [0, 1]).all()
    assert (d["event"][rows[:, 0]] == d["event"][rows[:, 1]]).all()
    assert (d["sample_id"][rows[:, 0]] == d["sample_id"][rows[:, 1]]).all()
    assert (d["split"][rows[:, 0]] == d["split"][rows[:, 1]]).all()  # whole events share a split
    pairs_expected = sum(len(set(d["event"][(d["sample_id"] == s) & (d["jet_index"] == 0)])
                             & set(d["event"][(d["sample_id"] == s) & (d["jet_index"] == 1)])) for s in (0, 1))
    assert len(rows) == pairs_expected
    assert d["features"][rows].shape == (len(rows), 2, len(names))


def test_skipped_file_table_round_trip(tmp_path):
    from analysis.dataset import read_table, write_table

    write_table(str(tmp_path / "s.h5"), None, {"skipped": "bad file", "xsec_pb": 1.0})
    assert read_table(str(tmp_path / "s.h5")) == (None, {"skipped": "bad file", "xsec_pb": 1.0})


def test_config_names_bad_representation(tmp_path):
    import yaml

    from analysis.config import CONFIG_DIR, ConfigError, load_config

    raw = yaml.safe_load((CONFIG_DIR / "tiny.yaml").read_text())
    raw["dataset"]["representations"] = ["image40", "lund_tree"]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="dataset.representations.*'lund_tree'.*lund_graph"):
        load_config(str(tmp_path / "c.yaml"))
    raw["dataset"]["representations"] = ["image40", "constituents50", "lund_graph"]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    assert load_config(str(tmp_path / "c.yaml")).dataset["representations"][2] == "lund_graph"
