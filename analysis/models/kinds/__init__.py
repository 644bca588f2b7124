"""The model kinds, one module each (``KIND``), listed in analysis/models/registry.py."""
