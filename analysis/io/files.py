"""Input formats and file lists named in a config (no heavy imports: the config loader uses this).

A sample given by ``files:`` names local paths, shell globs, or ``root://`` URLs (which uproot opens
through XRootD). Globs are expanded and sorted, so the same config always gives the same file order
and therefore the same branch numbers.
"""
from __future__ import annotations

import glob
import os

FORMATS = ("nanoaod", "pfnano", "delphes", "darkmachines")
GENERATED_FORMATS = ("nanoaod", "darkmachines")  # generated events are written as NanoAOD, and exported to csv
REMOTE_PREFIXES = ("root://", "http://", "https://")
# lepton and photon collections: a file without them (e.g. generated before they existed) reads as
# having none, and a selection counts zero such objects (a lepton veto passes)
OPTIONAL_COLLECTIONS = ("Electron", "Muon", "Photon")


def expand_files(patterns: str | list[str]) -> list[str]:
    """Local paths and globs -> sorted existing files; URLs are kept as given.

    Raises FileNotFoundError naming the pattern that matched nothing.
    """
    out: list[str] = []
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        if pattern.startswith(REMOTE_PREFIXES):
            out.append(pattern)
            continue
        path = os.path.expanduser(os.path.expandvars(pattern))
        matches = sorted(glob.glob(path)) if glob.has_magic(path) else [path] if os.path.exists(path) else []
        if not matches:
            raise FileNotFoundError(f"'{pattern}' matches no file")
        out.extend(os.path.abspath(m) for m in matches)
    return out
