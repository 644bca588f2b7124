"""The model-kind plug-ins: the registry loads without torch, every kind owns its defaults and training task,
and a new kind added as one module plus one registry line trains on generated jets."""
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from analysis.models import registry

TOY = "tests.kinds.toy_dae"


def test_registry_lists_and_validates_without_torch():
    code = ("import sys; from analysis.models import registry as r; "
            "c = [r.resolve_config({'kind': k}) for k in r.kinds()]; "
            "assert not r.is_graph(c[0]) and r.is_graph(c[-1]); "
            "print(sorted(m for m in ('torch', 'numba', 'torch_geometric') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_kind_has_its_defaults_and_training_task():
    from tasks.training import TRAIN_TASKS

    assert list(registry.kinds()) == ["ae", "nae", "wnae", "graph_ae", "graph_nae", "graph_wnae"]
    assert {k: t.__name__ for k, t in TRAIN_TASKS.items()} == {k: kind.task for k, kind in registry.kinds().items()}
    assert TRAIN_TASKS["graph_wnae"].__name__ == "TrainGraphWNAE" and TRAIN_TASKS["graph_wnae"].kind == "graph_wnae"
    for name, kind in registry.kinds().items():
        d = registry.defaults(name)
        assert d["kind"] == name and registry.resolve_config({"kind": name}) == d
        assert ("sampler" in d) == kind.uses_sampler and ("adjacency" in d) == kind.graph
    assert registry.defaults("graph_nae")["sampler"]["buffer_size"] == 100000  # node rows
    assert registry.defaults("nae")["sampler"]["buffer_size"] == 10000
    with pytest.raises(ValueError, match="'kind' = 'toy_dae'"):
        registry.get_kind("toy_dae")


@pytest.fixture(scope="module")
def qcd_jets(tmp_path_factory):
    """Standardised features of the two leading AK8 jets of a small Pythia QCD sample (MPI off)."""
    from analysis.config import load_config
    from analysis.dataset import jet_table
    from analysis.generation import generate_sample
    from analysis.io.nanoaod import read_events

    path = str(tmp_path_factory.mktemp("toy") / "qcd.root")
    generate_sample({"process": "qcd", "pt_hat_min": 300, "mpi": False}, 120, 5, path)
    events = read_events(path, ["FatJet", "PFCands", "MET", "genWeight", "event"])
    x = jet_table(events, load_config("tiny").selection, ["log_msoftdrop", "n_constituents", "tau21", "c2_b1"],
                  2, [])["features"]
    x = x[np.isfinite(x).all(axis=1)]
    return ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)


def test_a_kind_added_as_one_module_and_one_registry_line_trains(qcd_jets, tmp_path, monkeypatch):
    import torch

    from analysis.training import load_model, score, train_model
    from tasks.training import make_train_task

    monkeypatch.setitem(registry.KINDS, "toy_dae", TOY)  # the one registry line
    assert registry.resolve_config({"kind": "toy_dae"})["input_noise"] == 0.3  # the kind's own key and default
    with pytest.raises(ValueError, match="'input_noise' = -1"):
        registry.resolve_config({"kind": "toy_dae", "input_noise": -1})
    with pytest.raises(ValueError, match="unknown model config key 'sampler'"):
        registry.resolve_config({"kind": "toy_dae", "sampler": {}})

    n_train = 2 * len(qcd_jets) // 3
    x_train, x_val = qcd_jets[:n_train], qcd_jets[n_train:]
    cfg = {"kind": "toy_dae", "input_noise": 1.0, "hidden": [8], "latent": 2, "epochs": 10, "batch_size": 32,
           "lr": 1e-2}
    hist = train_model(cfg, x_train, x_val, str(tmp_path), seed=1, device="cpu")
    assert hist["phase"] == ["ae"] * 10 and hist["best_epoch"] == int(np.argmin(hist["val_loss"]))
    assert min(hist["val_loss"]) < 0.8 * hist["val_loss"][0]
    model = load_model(str(tmp_path / "model.pt"))
    assert model.input_noise == 1.0
    clean = score(model, x_train)
    assert clean.shape == (len(x_train),) and np.isfinite(clean).all()
    torch.manual_seed(0)
    with torch.no_grad():
        noisy = model.reconstruction_loss(torch.as_tensor(x_train), None)[0].item()
    assert noisy > 1.1 * clean.mean()  # it trains on noisy copies; its score is the clean reconstruction error

    task = make_train_task("toy_dae", registry.get_kind("toy_dae").task)
    cfg = SimpleNamespace(models={"a": {"kind": "ae"}, "d": {"kind": "toy_dae"}, "w": {"kind": "wnae"}}, path="x")
    assert task.__name__ == "TrainToyDAE" and task.kind_models(cfg) == ["d"] and task.branch_of(cfg, "d") == 0
