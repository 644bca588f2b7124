"""One entry point for every input format: ``iterate_input(path, format)`` -> (event record, notes) chunks.

Every reader returns the same NanoAOD-style record (``FatJet``, ``Jet``, ``PFCands`` with
``fatJetIdx``, ``MET``, ``Electron``, ``Muon``, ``Photon``, ``genWeight``, ``event``), so selections,
features and skims never ask where events came from. ``notes`` says what a reader had to tell
(Dark Machines: malformed lines skipped, process names); it goes into the skim's cut-flow record.
"""
from __future__ import annotations

from collections.abc import Iterator

import awkward as ak

from analysis.io.darkmachines import iter_darkmachines
from analysis.io.delphes import iterate_delphes
from analysis.io.files import FORMATS, OPTIONAL_COLLECTIONS
from analysis.io.nanoaod import InputError, iterate_nanoaod


def iterate_input(path: str, format: str = "nanoaod", collections: list[str] | None = None,
                  require: tuple[str, ...] | list[str] = (), on_bad_line: str = "fail",
                  step_size: int | None = None, puppi: bool = True,
                  optional: tuple[str, ...] | list[str] = OPTIONAL_COLLECTIONS, btag: dict | None = None,
                  need_btag: str | None = None) -> Iterator[tuple[ak.Array, dict]]:
    """Read ``path`` (a local file or, for ROOT formats, a ``root://`` URL) of the given format in chunks
    of at most ``step_size`` events (None: the whole file). The notes of a Dark Machines csv chunk cover
    the lines read up to its end, so the last chunk's are the file's.

    ``collections`` restricts what is read (record names); ``require`` must be present. Missing
    ``optional`` collections are left out rather than refused (default: leptons and photons).
    ``puppi``: PFNano candidates weighted by their PUPPI weight. ``btag``, ``need_btag``: how NanoAOD's jets
    get their 0/1 ``btag`` and why the study needs it (see ``iterate_nanoaod``; the other formats carry their
    own). Raises InputError naming the file.
    """
    if format not in FORMATS:
        raise ValueError(f"format: one of {', '.join(FORMATS)}, got {format!r}")
    if format in ("nanoaod", "pfnano"):
        chunks = _without_notes(iterate_nanoaod(path, collections, require, optional, step_size, puppi,
                                                pfnano=format == "pfnano", btag=btag, need_btag=need_btag))
    elif format == "delphes":
        wanted = None if collections is None else list(dict.fromkeys([*collections, *require]))
        chunks = _without_notes(iterate_delphes(path, wanted, optional, step_size=step_size))
    else:
        chunks = _csv_chunks(path, collections, require, on_bad_line, step_size)
    for events, notes in chunks:
        missing = [c for c in require if c not in events.fields]
        if missing:
            raise InputError(f"{path}: no {', '.join(missing)} in this {format} file "
                             f"(it has {', '.join(events.fields)})")
        yield events, notes
        del events  # not held while the next chunk is read


def _without_notes(chunks: Iterator[ak.Array]) -> Iterator[tuple[ak.Array, dict]]:
    for events in chunks:
        yield events, {}
        del events


def _csv_chunks(path: str, collections, require, on_bad_line: str, step_size: int | None):
    for events, notes in iter_darkmachines(path, step_size, on_bad_line):
        if collections is not None:
            events = events[[c for c in events.fields if c in collections or c in require]]
        yield events, notes
        del events


def read_input(path: str, format: str = "nanoaod", collections: list[str] | None = None,
               require: tuple[str, ...] | list[str] = (), on_bad_line: str = "fail",
               puppi: bool = True, btag: dict | None = None) -> tuple[ak.Array, dict]:
    """The whole file as one event record and the reader's notes (see :func:`iterate_input`)."""
    return next(iterate_input(path, format, collections, require, on_bad_line, None, puppi, btag=btag))
