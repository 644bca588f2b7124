"""Non-flat jet representations by name: jet images, constituent lists, Lund planes and graphs.

``compute_representations(jets, constituents, names)`` returns, per name, a dict of numpy arrays whose
rows are the jets, in one of two forms that h5 stores as they are:
  fixed:  an array with first dimension n_jets (an image, a padded constituent list and its mask);
  ragged: ``<field>`` (rows of all jets concatenated) with ``<field>_offsets`` (n_jets + 1): jet k owns
          rows offsets[k]:offsets[k + 1] (graph nodes, edges with jet-local indices, Lund declusterings).
``select_rows`` and ``concat_representations`` keep both forms aligned with the flat feature rows;
``graph_batch`` turns jets of a graph representation into one disconnected graph for a batched GNN.

Names:
  image<N>         (n_jets, N, N) float32 "QCD or What?" images (arXiv:1808.08979), see ``jet_images``
  constituents<N>  (n_jets, N, 6) float32 + mask (n_jets, N): the N hardest constituents, ``CONSTITUENT_FEATURES``
  lund_graph       the full C/A declustering tree: nodes (LUND_FEATURES) + edges (parent, child)
  lund_primary     the primary Lund declusterings (the harder branch from the root)
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from analysis.kinematics.vectors import cartesian

from . import substructure as sub
from .lund import LUND_FEATURES, lund_trees
from .names import REPRESENTATION_PATTERNS as _PATTERNS, check_representation_name

# "QCD or What?": 40 x 40 pixels of 0.029 in eta and 0.035 in phi
PIXEL_ETA, PIXEL_PHI = 0.029, 0.035
CONSTITUENT_FEATURES = ("pt_fraction", "d_eta", "d_phi", "energy", "charge", "pid_class")
# pid_class: 1 charged hadron, 2 neutral hadron, 3 photon, 4 electron, 5 muon (0 is padding)
PID_CLASSES = {"charged_hadron": 1, "neutral_hadron": 2, "photon": 3, "electron": 4, "muon": 5}


def jet_images(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, counts: np.ndarray, n_pixels: int = 40,
               pixel: tuple[float, float] = (PIXEL_ETA, PIXEL_PHI)) -> np.ndarray:
    """Preprocessed pT images (n_jets, n_pixels, n_pixels) float32, each summing to 1.

    As in "QCD or What?" (arXiv:1808.08979): the pT-weighted centroid moves to the origin, the principal
    axis of the pT-weighted (eta, phi) spread is rotated to vertical, the image is flipped so that the
    harder half lies at positive x (columns, ~eta) and positive y (rows, ~phi), and pT is summed into
    pixels of ``pixel`` = (d_eta, d_phi); the pixel [n/2, n/2] has its lower-left corner at the origin.
    Constituents falling outside the image are dropped before normalising; a jet with none inside stays 0.
    All jets at once: per-jet moments are bincounts, the pixels one bincount over every constituent.
    """
    if n_pixels < 1:
        raise ValueError(f"n_pixels: must be >= 1, got {n_pixels}")
    n_jets = len(counts)
    jet_index = np.repeat(np.arange(n_jets), counts)

    def per_jet(values: np.ndarray) -> np.ndarray:
        return sub.per_jet_sum(values, jet_index, n_jets)

    total = per_jet(pt)
    # azimuth relative to each jet's first constituent: the centroid then never straddles phi = +-pi
    reference = np.zeros(n_jets)
    first = (np.cumsum(counts) - counts)[counts > 0]
    reference[counts > 0] = phi[first]
    dphi = sub.delta_phi(phi, reference[jet_index])
    x0 = eta - (sub.safe_ratio(per_jet(pt * eta), total, 0.0))[jet_index]
    y0 = dphi - (sub.safe_ratio(per_jet(pt * dphi), total, 0.0))[jet_index]
    s_xx, s_yy, s_xy = per_jet(pt * x0 * x0), per_jet(pt * y0 * y0), per_jet(pt * x0 * y0)
    # the major axis makes the angle alpha with the x axis; rotate by pi/2 - alpha to make it vertical
    turn = 0.5 * np.pi - 0.5 * np.arctan2(2.0 * s_xy, s_xx - s_yy)
    cos, sin = np.cos(turn)[jet_index], np.sin(turn)[jet_index]
    x, y = x0 * cos - y0 * sin, x0 * sin + y0 * cos
    flip_x = np.where(per_jet(np.where(x > 0, pt, 0.0)) < per_jet(np.where(x < 0, pt, 0.0)), -1.0, 1.0)
    flip_y = np.where(per_jet(np.where(y > 0, pt, 0.0)) < per_jet(np.where(y < 0, pt, 0.0)), -1.0, 1.0)
    col = np.floor(x * flip_x[jet_index] / pixel[0] + n_pixels / 2).astype(np.int64)
    row = np.floor(y * flip_y[jet_index] / pixel[1] + n_pixels / 2).astype(np.int64)
    inside = (col >= 0) & (col < n_pixels) & (row >= 0) & (row < n_pixels)
    flat = (jet_index * n_pixels + row) * n_pixels + col
    images = np.bincount(flat[inside], weights=pt[inside], minlength=n_jets * n_pixels * n_pixels)
    images = images.reshape(n_jets, n_pixels, n_pixels)
    norm = images.sum(axis=(1, 2), keepdims=True)
    return sub.safe_ratio(images, norm, 0.0).astype(np.float32)


def pid_class(charge: np.ndarray, pdg_id: np.ndarray) -> np.ndarray:
    """PID_CLASSES code of each constituent from its charge and PDG id."""
    abs_id = np.abs(pdg_id)
    return np.select([abs_id == 11, abs_id == 13, abs_id == 22, charge != 0],
                     [PID_CLASSES["electron"], PID_CLASSES["muon"], PID_CLASSES["photon"],
                      PID_CLASSES["charged_hadron"]], PID_CLASSES["neutral_hadron"]).astype(np.float64)


def constituent_lists(fields: dict[str, np.ndarray], counts: np.ndarray, jet_pt: np.ndarray, jet_eta: np.ndarray,
                      jet_phi: np.ndarray, n_max: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_max`` hardest constituents per jet as (n_jets, n_max, 6) float32 CONSTITUENT_FEATURES + mask.

    pt_fraction = pT / jet pT, d_eta and d_phi (wrapped) relative to the jet axis, energy in GeV,
    charge, pid_class (PID_CLASSES). Padding rows are 0 with mask False.
    """
    pt, eta, phi, mass = (fields[k] for k in ("pt", "eta", "phi", "mass"))
    jet_index = np.repeat(np.arange(len(counts)), counts)
    columns = [sub.safe_ratio(pt, jet_pt[jet_index], 0.0), eta - jet_eta[jet_index],
               sub.delta_phi(phi, jet_phi[jet_index]), np.hypot(pt * np.cosh(eta), mass),
               fields["charge"], pid_class(fields["charge"], fields["pdgId"])]
    padded, mask = sub.pad_hardest(pt, columns, counts, n_max)
    return np.stack(padded, axis=-1).astype(np.float32), mask


def _flat(constituents: ak.Array, field: str) -> np.ndarray:
    if field not in constituents.fields:
        raise ValueError(f"constituents: missing field '{field}' needed by the representations")
    return np.asarray(ak.to_numpy(ak.flatten(constituents[field], axis=1)), dtype=np.float64)


def compute_representations(jets: ak.Array, constituents: ak.Array, names: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Each named representation of every jet (see the module docstring for the names and layouts).

    jets: records with pt, eta, phi; constituents: [jet][constituent] records with pt, eta, phi, mass
    (and charge, pdgId for constituents<N>).
    """
    for name in names:
        check_representation_name(name)
    if len(jets) != len(constituents):
        raise ValueError(f"constituents: {len(constituents)} entries but {len(jets)} jets")
    counts = ak.to_numpy(ak.num(constituents, axis=1)).astype(np.int64)
    fields = {f: _flat(constituents, f) for f in ("pt", "eta", "phi", "mass")}
    out: dict[str, dict[str, np.ndarray]] = {}
    lund = None
    for name in names:
        if match := _PATTERNS["image"].match(name):
            out[name] = {"image": jet_images(fields["pt"], fields["eta"], fields["phi"], counts, int(match.group(1)))}
        elif match := _PATTERNS["constituents"].match(name):
            fields.update({f: _flat(constituents, f) for f in ("charge", "pdgId")})
            jet = {k: np.asarray(ak.to_numpy(jets[k]), dtype=np.float64) for k in ("pt", "eta", "phi")}
            values, mask = constituent_lists(fields, counts, jet["pt"], jet["eta"], jet["phi"], int(match.group(1)))
            out[name] = {"features": values, "mask": mask}
        else:
            if lund is None:
                pt, eta, phi, mass = (fields[k] for k in ("pt", "eta", "phi", "mass"))
                lund = lund_trees(*cartesian(pt, eta, phi, mass), counts)
            out[name] = ({k: lund[k] for k in ("nodes", "nodes_offsets", "edges", "edges_offsets")}
                         if name == "lund_graph" else {k: lund[k] for k in ("primary", "primary_offsets")})
    return out


def representation_attrs(name: str) -> dict[str, list[str]]:
    """Column names stored with a representation (h5 attributes), so a file explains itself."""
    if _PATTERNS["constituents"].match(name):
        return {"features": list(CONSTITUENT_FEATURES)}
    if name == "lund_graph":
        return {"nodes": list(LUND_FEATURES), "edges": ["parent", "child"]}
    if name == "lund_primary":
        return {"primary": list(LUND_FEATURES)}
    return {"image": ["row: phi after rotation", "column: eta after rotation"]}


def _ragged_fields(rep: dict[str, np.ndarray]) -> list[str]:
    return [k for k in rep if f"{k}_offsets" in rep]


def select_rows(rep: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The representation of the jets ``rows`` (bool mask or indices), in that order, offsets rebuilt."""
    ragged = _ragged_fields(rep)
    offset_keys = {f"{k}_offsets" for k in ragged}
    out = {k: v[rows] for k, v in rep.items() if k not in ragged and k not in offset_keys}
    for k in ragged:
        offsets = rep[f"{k}_offsets"]
        index = np.arange(len(offsets) - 1)[rows]
        lengths = offsets[index + 1] - offsets[index]
        starts = np.repeat(offsets[index] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        out[k] = rep[k][np.arange(lengths.sum()) + starts]
        out[f"{k}_offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return out


def concat_representations(reps: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Jets of several representation dicts one after another (offsets shifted)."""
    ragged = _ragged_fields(reps[0])
    out = {}
    for k in reps[0]:
        if k.endswith("_offsets") and k[: -len("_offsets")] in ragged:
            shifts = np.cumsum([0] + [r[k][-1] for r in reps[:-1]])
            out[k] = np.concatenate([[0]] + [r[k][1:] + s for r, s in zip(reps, shifts)]).astype(np.int64)
        else:
            out[k] = np.concatenate([r[k] for r in reps])
    return out


def graph_batch(rep: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """Jets ``rows`` of a graph representation as one disconnected graph, for a batched GNN.

    Returns x (n_nodes, n_features), edge_index (2, n_edges) into x, and batch (n_nodes,) = position
    of each node's jet in ``rows`` (the torch_geometric convention).
    """
    part = select_rows(rep, rows)
    node_offsets, edge_offsets = part["nodes_offsets"], part["edges_offsets"]
    n_graphs = len(node_offsets) - 1
    edge_graph = np.repeat(np.arange(n_graphs), np.diff(edge_offsets))
    edge_index = (part["edges"].astype(np.int64) + node_offsets[:-1][edge_graph][:, None]).T
    return {"x": part["nodes"], "edge_index": edge_index,
            "batch": np.repeat(np.arange(n_graphs), np.diff(node_offsets))}
