"""EFPs up to d = 5 against energyflow 1.4.0 on real Pythia jets (reference values in tests/data)."""
import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from analysis.features.registry import compute_features
from analysis.features.efp_graphs import EFP_GRAPHS, canonical_form, connected_components, efp_graphs

REFERENCE = Path(__file__).resolve().parent / "data" / "efp_reference.json"


@pytest.fixture(scope="module")
def reference():
    return json.loads(REFERENCE.read_text())


def test_graph_set_is_energyflows(reference):
    ours = {canonical_form(g): name for name, g in efp_graphs().items()}
    theirs = [canonical_form(tuple(tuple(e) for e in g)) for g in reference["graphs"]]
    assert len(ours) == len(efp_graphs()) == 101 == len(set(theirs))
    assert set(ours) == set(theirs)
    # the hand-written d <= 3 names keep their graphs; connected graphs per d: 1, 2, 5, 12, 33
    assert all(efp_graphs()[name] == graph for name, graph in EFP_GRAPHS.items())
    n_connected = [sum(1 for n, g in efp_graphs().items() if n.startswith(f"efp_d{d}_")
                       and len(connected_components(g)) == 1) for d in range(1, 6)]
    assert n_connected == [1, 2, 5, 12, 33]


def test_values_equal_energyflow_to_1e6(reference):
    jets = reference["jets"]
    rows = [np.asarray(j) for j in jets]
    constituents = ak.zip({"pt": ak.Array([r[:, 0] for r in rows]), "eta": ak.Array([r[:, 1] for r in rows]),
                           "phi": ak.Array([r[:, 2] for r in rows]),
                           "mass": ak.Array([np.zeros(len(r)) for r in rows])})  # massless: eta = rapidity
    names = list(efp_graphs())
    ours = compute_features(ak.zip({"pt": np.ones(len(rows))}), constituents, names)
    by_form = {canonical_form(g): name for name, g in efp_graphs().items()}
    for graph, values in zip(reference["graphs"], reference["values"]):
        name = by_form[canonical_form(tuple(tuple(e) for e in graph))]
        np.testing.assert_allclose(ours[name], values, rtol=1e-6, atol=0, err_msg=f"{name} {graph}")
    assert len(rows) > 20 and max(len(r) for r in rows) == 50


def test_normed_energy_fractions_sum_to_one_and_composites_factorise(reference):
    """The one-vertex EFP (sum of z) is 1 for normed EFPs; a disconnected graph is its factors' product."""
    from analysis.features import substructure as sub

    rows = [np.asarray(j) for j in reference["jets"]]
    counts = np.array([len(r) for r in rows])
    pt, y, phi = (np.concatenate([r[:, k] for r in rows]) for k in range(3))
    z, _, _ = sub.padded_hardest(pt, y, phi, counts, 50)
    np.testing.assert_allclose(z.sum(axis=1), 1.0, rtol=1e-12)
    constituents = ak.zip({"pt": ak.Array([r[:, 0] for r in rows]), "eta": ak.Array([r[:, 1] for r in rows]),
                           "phi": ak.Array([r[:, 2] for r in rows]), "mass": ak.Array([np.zeros(len(r)) for r in rows])})
    out = compute_features(ak.zip({"pt": np.ones(len(rows))}), constituents, ["efp_d1_0", "efp_d2_1", "efp_d3_6"])
    np.testing.assert_allclose(out["efp_d3_6"], out["efp_d1_0"] * out["efp_d2_1"], rtol=1e-12)
