"""Jet-substructure features: ``compute_features(jets, constituents, names)`` and the names it knows."""

from .registry import available_features, compute_features

__all__ = ["available_features", "compute_features"]
