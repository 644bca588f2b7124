"""Which implementation runs where a compiled (numba) path has a plain one beside it.

``SVJ_PLAIN=1`` in the environment selects the plain implementations, read at each call, so a physicist can run
and debug the readable code (or compare it with the compiled one) without changing a config:

- clustering and soft drop: analysis/kinematics/clustering.py (compiled) / clustering_plain.py (FastJet's
  Python interface and fastjet-contrib);
- the MLP autoencoder's energy and input gradient: analysis/models/mlp_kernels.py (compiled) / torch ops in
  analysis/models/ae.py;
- the optimal assignment of the exact Wasserstein distance: analysis/models/assignment.py (compiled) / scipy's
  ``linear_sum_assignment`` beside it;
- the Dark Machines csv reader: vector token search and number conversion / the byte-by-byte reference reader
  for every line (both in analysis/io/darkmachines.py).

Each pair is tested to agree (tests/test_accelerated.py and the equality tests of each module).
"""
from __future__ import annotations

import os

PLAIN_ENV = "SVJ_PLAIN"


def plain() -> bool:
    """Whether SVJ_PLAIN asks for the plain implementations (any value but '', '0', 'false', 'no')."""
    return os.environ.get(PLAIN_ENV, "").strip().lower() not in ("", "0", "false", "no")
