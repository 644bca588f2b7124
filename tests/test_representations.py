"""Jet images, constituent lists and Lund graphs: physics identities and fastjet cross-checks."""
import awkward as ak
import fastjet
import numpy as np
import pytest

from analysis.features.lund import lund_trees
from analysis.features.representations import (
    PID_CLASSES, compute_representations, concat_representations, graph_batch, jet_images, select_rows,
)
from tests.test_features import make_jets, prongs, random_jets


def _flat(constituents, field):
    return ak.to_numpy(ak.flatten(constituents[field])).astype(np.float64)


def test_single_particle_image_is_one_pixel_at_the_origin():
    jets, constituents = make_jets([[(250.0, 1.3, -3.1)], [(40.0, -0.7, 2.0)]])
    image = compute_representations(jets, constituents, ["image40"])["image40"]["image"]
    assert image.shape == (2, 40, 40) and image.dtype == np.float32
    for k in range(2):
        assert np.argwhere(image[k] > 0).tolist() == [[20, 20]] and image[k, 20, 20] == 1.0


def test_image_centred_rotated_flipped_and_normalised():
    # two prongs along phi at phi ~ pi (the wrap), the harder one at negative eta
    hard = [(60.0, -0.1, np.pi - 0.3 + 0.01 * k) for k in range(3)]
    soft = [(20.0, 0.15, np.pi - 0.3 + 0.01 * k) for k in range(3)]
    jets, constituents = make_jets([hard + soft, random_jets(1, seed=3)[0]])
    image = compute_representations(jets, constituents, ["image40"])["image40"]["image"]
    np.testing.assert_allclose(image.sum(axis=(1, 2)), 1.0, rtol=1e-6)
    rows, cols = np.nonzero(image[0])
    assert len(np.unique(cols)) <= 2 and np.ptp(rows) >= 5  # the prong axis is vertical (along rows)
    upper = image[0][20:].sum()
    assert upper == pytest.approx(0.75, abs=1e-6)  # the harder prong (3/4 of pT) is on top
    # a jet's image does not depend on the other jets processed with it
    pt, eta, phi = (_flat(constituents[1:], f) for f in ("pt", "eta", "phi"))
    np.testing.assert_array_equal(jet_images(pt, eta, phi, np.array([len(pt)]))[0], image[1])


def test_constituent_lists_hardest_first_with_mask_and_pid():
    particles = [(5.0, 0.1, 0.0, 22), (50.0, 0.0, 0.1, 211), (20.0, -0.1, 0.0, 130), (10.0, 0.0, -0.2, 11),
                 (7.0, 0.2, 0.1, -13)]
    jets, constituents = make_jets([particles, particles[:2]])
    rep = compute_representations(jets, constituents, ["constituents4"])["constituents4"]
    values, mask = rep["features"], rep["mask"]
    assert values.shape == (2, 4, 6) and mask.tolist() == [[True] * 4, [True, True, False, False]]
    np.testing.assert_allclose(values[0, :, 0] * ak.to_numpy(jets.pt)[0], [50.0, 20.0, 10.0, 7.0], rtol=1e-5)
    assert values[0, :, 5].tolist() == [PID_CLASSES[k] for k in ("charged_hadron", "neutral_hadron", "electron", "muon")]
    assert values[0, :, 4].tolist() == [1.0, 0.0, -1.0, 1.0]
    np.testing.assert_allclose(values[0, 0, 3], 50.0 * np.cosh(0.0), rtol=1e-6)  # massless energy
    assert (values[1, 2:] == 0).all()


def _four_vectors(constituents):
    pt, eta, phi, mass = (_flat(constituents, f) for f in ("pt", "eta", "phi", "mass"))
    pz = pt * np.sinh(eta)
    return pt * np.cos(phi), pt * np.sin(phi), pz, np.sqrt(pt**2 + pz**2 + mass**2)


def test_lund_primary_equals_fastjet_and_graph_is_the_ca_tree():
    jets, constituents = make_jets(random_jets(12, seed=9, phi_centre=3.0) + [[(30.0, 0.0, 0.0)]])
    counts = ak.to_numpy(ak.num(constituents))
    lund = lund_trees(*_four_vectors(constituents), counts)
    px, py, pz, energy = _four_vectors(constituents)
    events = ak.unflatten(ak.zip({"px": px, "py": py, "pz": pz, "E": energy}), counts)[:-1]
    sequence = fastjet.ClusterSequence(events, fastjet.JetDefinition(fastjet.cambridge_algorithm, 1000.0))
    reference = sequence.exclusive_jets_lund_declusterings(njets=1)[:, 0]
    offsets = lund["primary_offsets"]
    for k in range(len(counts) - 1):
        ours = lund["primary"][offsets[k]:offsets[k + 1]]
        np.testing.assert_allclose(np.exp(-ours[:, 0]), ak.to_numpy(reference.Delta[k]), rtol=1e-5)
        np.testing.assert_allclose(np.exp(ours[:, 1]), ak.to_numpy(reference.kt[k]), rtol=1e-5)
    assert offsets[-1] - offsets[-2] == 0  # one constituent: no declustering
    # a tree: n - 1 nodes, n - 2 edges, every node but the root (0) has exactly one parent
    np.testing.assert_array_equal(np.diff(lund["nodes_offsets"]), np.maximum(counts - 1, 0))
    np.testing.assert_array_equal(np.diff(lund["edges_offsets"]), np.maximum(counts - 2, 0))
    for k in np.flatnonzero(counts > 2):
        edges = lund["edges"][lund["edges_offsets"][k]:lund["edges_offsets"][k + 1]]
        assert sorted(edges[:, 1].tolist()) == list(range(1, counts[k] - 1))
        assert (edges[:, 0] < edges[:, 1]).all()
    z = lund["nodes"][:, 2]
    assert (z > 0).all() and (z <= 0.5).all()


def test_two_hard_prongs_give_a_wide_hard_first_primary_declustering():
    jets, constituents = make_jets([prongs([(-0.25, 0.0), (0.25, 0.0)], n_per_prong=6, spread=0.01, seed=2)])
    primary = compute_representations(jets, constituents, ["lund_primary"])["lund_primary"]["primary"]
    delta, z = np.exp(-primary[0, 0]), primary[0, 2]
    assert delta == pytest.approx(0.5, abs=0.05) and z > 0.2
    assert np.exp(-primary[1:, 0]).max() < 0.1  # then only the narrow prong's own splittings


def test_row_selection_concatenation_and_graph_batch():
    jets, constituents = make_jets(random_jets(6, seed=4))
    rep = compute_representations(jets, constituents, ["lund_graph"])["lund_graph"]
    parts = [select_rows(rep, np.arange(2)), select_rows(rep, np.array([False, False, True, True, True, True]))]
    whole = concat_representations(parts)
    for k in rep:
        np.testing.assert_array_equal(whole[k], rep[k])
    batch = graph_batch(rep, np.array([4, 1]))
    n4, n1 = np.diff(rep["nodes_offsets"])[[4, 1]]
    assert batch["x"].shape == (n4 + n1, 5) and batch["batch"].tolist() == [0] * n4 + [1] * n1
    assert batch["edge_index"].shape == (2, n4 + n1 - 2) and batch["edge_index"][:, n4 - 1:].min() >= n4
    np.testing.assert_array_equal(batch["x"][:n4], rep["nodes"][rep["nodes_offsets"][4]:rep["nodes_offsets"][5]])


def test_unknown_representation_is_named():
    jets, constituents = make_jets(random_jets(2, seed=1))
    with pytest.raises(ValueError, match="representation 'image0'.*image<N>, constituents<N>, lund_graph"):
        compute_representations(jets, constituents, ["image0"])
