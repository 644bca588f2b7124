"""Jet-substructure features and non-flat representations (images, constituent lists, Lund graphs).

This package and ``names`` (every feature and representation name) load neither awkward nor numba, so the
config and the task graph stay light; the computations are ``registry.compute_features`` and
``representations.compute_representations``.
"""

from .names import available_features, available_representations

__all__ = ["available_features", "available_representations"]
