"""Graph autoencoders on Lund graphs: batching, the per-graph Langevin chain, training and separation on real jets."""
import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from analysis.features.representations import graph_batch
from analysis.models.graphs import LundGraphs
from analysis.models.registry import build_model, build_sampler
from analysis.models.sampler import Chain, langevin


def random_trees(n_jets: int, seed: int, max_nodes: int = 14) -> dict[str, np.ndarray]:
    """A lund_graph-layout representation of random trees (children after their parent), some of one node."""
    rng = np.random.default_rng(seed)
    node_offsets, edges, edge_offsets = [0], [], [0]
    for _ in range(n_jets):
        n = int(rng.integers(1, max_nodes))
        edges += [[int(rng.integers(0, child)), child] for child in range(1, n)]
        node_offsets.append(node_offsets[-1] + n)
        edge_offsets.append(len(edges))
    return {"nodes": rng.normal(size=(node_offsets[-1], 5)).astype(np.float32),
            "nodes_offsets": np.array(node_offsets), "edges": np.array(edges, dtype=np.int32).reshape(-1, 2),
            "edges_offsets": np.array(edge_offsets)}


def test_batches_equal_graph_batch_and_truncation_keeps_a_rooted_tree():
    rep = random_trees(40, seed=1)
    graphs = LundGraphs.from_representation(rep)
    model = build_model({"kind": "graph_ae"}, 5)
    rows = np.array([7, 3, 3, 30, 0])
    batch = model.prepare(graphs, torch.device("cpu"))[torch.as_tensor(rows)]
    ref = graph_batch(rep, rows)
    np.testing.assert_array_equal(batch.x.numpy(), ref["x"])  # the default scaler is the identity
    np.testing.assert_array_equal(batch.batch.numpy(), ref["batch"])
    assert {tuple(e) for e in batch.edge_index.T.tolist()} == {tuple(e) for e in ref["edge_index"].T.tolist()}

    cut = LundGraphs.from_representation(rep, max_nodes=4)
    assert cut.counts.max() == 4 and (cut.counts == np.minimum(np.diff(rep["nodes_offsets"]), 4)).all()
    assert (cut.parent_gap[np.r_[0, np.cumsum(cut.counts)[:-1]]] == 0).all()  # every jet keeps its root
    local = np.arange(len(cut.nodes)) - np.repeat(np.r_[0, np.cumsum(cut.counts)[:-1]], cut.counts)
    assert (local - cut.parent_gap >= 0).all()  # every kept edge ends at a kept parent
    depth = np.expm1(cut.structure()[:, 0])
    parent = np.arange(len(cut.nodes)) - cut.parent_gap
    np.testing.assert_allclose(depth[cut.parent_gap > 0], depth[parent[cut.parent_gap > 0]] + 1, rtol=1e-5)


def test_energy_of_a_graph_does_not_depend_on_its_batch():
    graphs = LundGraphs.from_representation(random_trees(30, seed=2))
    torch.manual_seed(0)
    model = build_model({"kind": "graph_ae", "adjacency": {"chain": True, "reconstruct": True}}, 5)
    data = model.prepare(graphs, torch.device("cpu"))
    together = model.energy(data[torch.arange(30)])
    alone = torch.stack([model.energy(data[torch.tensor([k])])[0] for k in (0, 11, 29)])
    torch.testing.assert_close(together[[0, 11, 29]], alone, rtol=1e-5, atol=1e-6)
    assert torch.isfinite(together).all() and (together >= 0).all()


def test_rejection_and_metropolis_act_on_whole_graphs():
    graphs = LundGraphs.from_representation(random_trees(60, seed=3))
    torch.manual_seed(1)
    model = build_model({"kind": "graph_nae"}, 5)
    batch = model.prepare(graphs, torch.device("cpu"))[torch.arange(60)]
    view = model.chain_view(batch)
    for chain in (Chain(1, 0.02, 0.2, 1.0, bounds=(-1.8, 1.8), bound_mode="reject"), Chain(1, 0.5, 1.0, 0.3, mh=True)):
        x0 = view.state.clamp(-2.0, 2.0)
        x, acceptance = langevin(view.energy, x0, chain, torch.Generator().manual_seed(4), groups=view.groups,
                                 n_samples=view.n_samples)
        moved = (x != x0).any(dim=1).numpy()
        starts = np.r_[0, np.cumsum(graphs.counts)[:-1]]
        any_moved, all_moved = np.maximum.reduceat(moved, starts), np.minimum.reduceat(moved, starts)
        assert (any_moved == all_moved).all()  # a graph moves as a whole or stays
        assert 0.05 < acceptance.item() < 0.95
        assert acceptance.item() == pytest.approx(any_moved.mean(), abs=1e-6)


@pytest.fixture(scope="module")
def lund_jets(tmp_path_factory):
    """Lund graphs of the two leading AK8 jets of small Pythia QCD and s-channel SVJ samples (MPI off)."""
    from analysis.config import load_config
    from analysis.dataset import jet_table
    from analysis.generation import generate_sample
    from analysis.io.nanoaod import read_events

    tmp = tmp_path_factory.mktemp("lund")
    selection = load_config("tiny").selection
    svj = {"process": "svj_schannel", "params": {"m_med": 2000, "r_inv": 0.3, "m_dark": 20, "n_c": 2, "n_f": 2},
           "xsec_pb": 0.1, "mpi": False}
    out = {}
    for name, spec, n, seed in (("qcd", {"process": "qcd", "pt_hat_min": 300, "mpi": False}, 600, 11),
                                ("svj", svj, 150, 12)):
        path = str(tmp / f"{name}.root")
        generate_sample(spec, n, seed, path)
        events = read_events(path, ["FatJet", "PFCands", "MET", "genWeight", "event"])
        rep = jet_table(events, selection, [], 2, ["lund_graph"])["representations"]["lund_graph"]
        out[name] = LundGraphs.from_representation(rep, max_nodes=24)
    return out


@pytest.mark.parametrize("kind", ["graph_nae", "graph_wnae"])
def test_graph_nae_and_wnae_separate_a_signal_never_seen(lund_jets, tmp_path, kind):
    from analysis.training import load_model, score, train_model

    qcd, svj = lund_jets["qcd"], lund_jets["svj"]
    order = np.random.default_rng(0).permutation(len(qcd))
    train, val, test = np.split(order, [int(0.6 * len(qcd)), int(0.75 * len(qcd))])
    cfg = {"kind": kind, "epochs": 12, "batch_size": 64, "hidden": [24, 24], "latent": 6, "max_nodes": 24,
           "val_samples": 128, "val_draws": 1, **({"ae_pretrain_epochs": 2} if kind == "graph_nae" else {})}
    hist = train_model(cfg, qcd.select(train), qcd.select(val), str(tmp_path), seed=3, device="cpu")
    assert hist["best_epoch"] is not None and all(np.isfinite(hist["val_wasserstein"][2:]))
    model = load_model(str(tmp_path / "best.pt"))
    s_bkg, s_sig = score(model, qcd.select(test)), score(model, svj)
    auc = roc_auc_score(np.r_[np.zeros(len(s_bkg)), np.ones(len(s_sig))], np.r_[s_bkg, s_sig])
    assert auc > 0.62, f"{kind}: AUC {auc:.3f} on QCD vs SVJ (m 2 TeV, r_inv 0.3)"


def test_graph_training_resumes_to_identical_weights_with_the_adjacency_chain(tmp_path):
    from analysis.training import negative_snapshots, train_model

    rep = random_trees(300, seed=6)
    graphs = LundGraphs.from_representation(rep, max_nodes=10)
    x_train, x_val = graphs.select(np.arange(200)), graphs.select(np.arange(200, 300))
    cfg = {"kind": "graph_nae", "hidden": [8, 8], "latent": 3, "batch_size": 50, "ae_pretrain_epochs": 1,
           "val_samples": 50, "adjacency": {"chain": True, "reconstruct": True, "noise_scale": 0.5},
           "sampler": {"n_steps": 3, "mh": True, "buffer_size": 2000}}
    full = train_model({**cfg, "epochs": 3}, x_train, x_val, str(tmp_path / "a"), seed=2)
    train_model({**cfg, "epochs": 1}, x_train, x_val, str(tmp_path / "b"), seed=2)  # "killed"
    resumed = train_model({**cfg, "epochs": 3}, x_train, x_val, str(tmp_path / "b"), seed=2)
    a = torch.load(tmp_path / "a" / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b" / "model.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["input_scale"], torch.ones(5))  # the node scaler travels with the weights
    for key in ("loss", "e_neg", "val_wasserstein", "acceptance"):
        assert full[key] == resumed[key]
    assert all(np.isfinite(full["val_wasserstein"])) and full["e_neg"][0] is None and full["e_neg"][-1] is not None
    saved = negative_snapshots(str(tmp_path / "a"))  # node rows with the edge-weight column, for the report
    assert saved["data"].shape[1] == saved["epoch_002"].shape[1] == 6 and (saved["data"][:, 5] == 1.0).all()
