"""One entry point for every input format: ``read_input(path, format)`` -> (event record, notes).

Every reader returns the same NanoAOD-style record (``FatJet``, ``Jet``, ``PFCands`` with
``fatJetIdx``, ``MET``, ``Electron``, ``Muon``, ``Photon``, ``genWeight``, ``event``), so selections,
features and skims never ask where events came from. ``notes`` says what a reader had to tell
(Dark Machines: malformed lines skipped, process names); it goes into the skim's cut-flow record.
"""
from __future__ import annotations

import awkward as ak

from analysis.io.darkmachines import read_darkmachines
from analysis.io.delphes import read_delphes
from analysis.io.files import FORMATS, OPTIONAL_COLLECTIONS
from analysis.io.nanoaod import InputError, read_events, read_pfnano


def read_input(path: str, format: str = "nanoaod", collections: list[str] | None = None,
               require: tuple[str, ...] | list[str] = (), on_bad_line: str = "fail") -> tuple[ak.Array, dict]:
    """Read ``path`` (a local file or, for ROOT formats, a ``root://`` URL) of the given format.

    ``collections`` restricts what is read (record names); ``require`` must be present. Missing
    optional collections are left out rather than refused. Raises InputError naming the file.
    """
    notes: dict = {}
    if format in ("nanoaod", "pfnano"):
        reader = read_events if format == "nanoaod" else read_pfnano
        events = reader(path, collections, require, optional=OPTIONAL_COLLECTIONS)
    elif format == "delphes":
        wanted = None if collections is None else list(dict.fromkeys([*collections, *require]))
        events = read_delphes(path, wanted, optional=OPTIONAL_COLLECTIONS)
    elif format == "darkmachines":
        events, notes = read_darkmachines(path, on_bad_line)
        if collections is not None:
            events = events[[c for c in events.fields if c in collections or c in require]]
    else:
        raise ValueError(f"format: one of {', '.join(FORMATS)}, got {format!r}")
    missing = [c for c in require if c not in events.fields]
    if missing:
        raise InputError(f"{path}: no {', '.join(missing)} in this {format} file (it has {', '.join(events.fields)})")
    return events, notes
