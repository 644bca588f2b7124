"""Jet-substructure features: ``compute_features(jets, constituents, names)`` and the names it knows;
non-flat representations (images, constituent lists, Lund graphs): ``compute_representations``."""

from .registry import available_features, compute_features
from .representations import available_representations, compute_representations

__all__ = ["available_features", "available_representations", "compute_features", "compute_representations"]
