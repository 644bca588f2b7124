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


def constituents_missing(files: list[str], fmt: str) -> str | None:
    """Why a sample's files cannot give jet constituents (None: they can, or a remote file was not looked at).

    PFNano and Delphes always carry them (the readers refuse a file without); the Dark Machines csv never
    does; CMS NanoAOD only with a PF candidate table and a link to the AK8 jets (NanoAOD v15's
    ``PFCand`` + ``FatJetPFCand``, or ``PFCands_fatJetIdx`` as in the tool's own files). Only the first
    local file is opened (its branch list, not its events).
    """
    if fmt == "darkmachines":
        return "the Dark Machines csv has no jet constituents"
    first = first_local_branches(files) if fmt == "nanoaod" else None
    if first is None:
        return None
    path, names = first
    cands = any(n.startswith(("PFCands_", "PFCand_")) for n in names)
    linked = "PFCands_fatJetIdx" in names or any(n.startswith(("FatJetPFCands_", "FatJetPFCand_")) for n in names)
    if cands and linked:
        return None
    return f"{path} has no PF candidates linked to its FatJets (plain NanoAOD)"


def first_local_branches(files: list[str]) -> tuple[str, set[str]] | None:
    """The first local file of a ROOT sample and its ``Events`` branch names (not its events), for the config
    checks; None where there is no local file or it is unreadable (the skim then says so, or skips it)."""
    local = [f for f in files if not f.startswith(REMOTE_PREFIXES)]
    if not local:
        return None
    import uproot  # the config loader stays light for configs that never get here

    try:
        with uproot.open(local[0]) as f:
            return local[0], set(f["Events"].keys())
    except Exception:
        return None
