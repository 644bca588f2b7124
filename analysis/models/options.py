"""The named choices of a model config, as plain data: the model kinds validate configs with these without
importing torch (the modules that implement each choice import them from here)."""
from __future__ import annotations

ACTIVATION_NAMES = ("relu", "leaky_relu", "elu", "silu", "gelu", "tanh", "softplus")  # analysis/models/ae.py
ADVERSARY_INPUTS = ("energy", "reco")  # analysis/models/adversary.py
WASSERSTEIN_METHODS = ("sinkhorn", "exact")  # analysis/models/distances.py
INITS = ("pcd", "cd", "omi")  # analysis/models/sampler.py
FRESH = ("uniform", "gaussian")
BOUND_MODES = ("clamp", "reject")
# the omi latent chain: as the input chain's options (the reference's z_bound, z_clip_grad, z_reject_boundary, z_mh)
LATENT_DEFAULTS = {"n_steps": 10, "step_size": None, "noise": 1.0, "temperature": 1.0, "bounds": None,
                   "bound_mode": "clamp", "clip_grad": None, "mh": False}
GRAPH_REPRESENTATIONS = ("lund_graph",)  # analysis/models/graphs.py
