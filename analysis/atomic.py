"""Atomic outputs: every file or folder the project writes goes through ``atomic_paths``.

A writer fills a temporary name beside the output (same filesystem), and only a block that succeeds
moves it into place with ``os.replace``: a run killed at any point leaves no output or a complete one,
and a failed write leaves no temporary file behind. A failed write (disk full, quota, read-only or
foreign folder) is one ``WriteError`` naming the output and the cause, whatever the writer (uproot,
h5py, torch, numpy, json) raised.
"""
from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

TMP_TAG = ".tmp-"  # <output>.tmp-<pid>-<random>: a temporary file or folder of atomic_paths
# always a write failure, whichever call raised it
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}


class WriteError(OSError):
    """An output could not be written; the message names the output and the cause."""

    def __str__(self) -> str:
        return self.strerror


def _errno_in_chain(exc: BaseException | None) -> OSError | None:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _disk_full(path: str) -> bool:
    try:
        return os.statvfs(os.path.dirname(os.path.abspath(path))).f_bavail == 0
    except OSError:
        return False


def _write_failure(exc: BaseException, paths: dict[str, str]) -> WriteError | None:
    """``exc`` as a WriteError naming the output (``paths``: temporary or final path -> final path), or None
    when ``exc`` is no write failure (e.g. a bad input read inside the block: it surfaces unchanged)."""
    if isinstance(exc, WriteError):  # from a writer nested in the block: name the output, not our temporary
        message = exc.strerror
        for tmp, path in paths.items():
            message = message.replace(tmp, path)
        return None if message == exc.strerror else WriteError(exc.errno, message)
    err = _errno_in_chain(exc)
    filename = str(err.filename) if err is not None and err.filename else None
    ours = filename in paths
    if err is not None and (err.errno in _WRITE_ERRNOS or ours):
        code = err.errno
    elif err is None and isinstance(exc, (OSError, RuntimeError)) and any(_disk_full(p) for p in paths):
        code = errno.ENOSPC  # e.g. numpy's "N requested and M written"
    else:
        return None
    names = [paths[filename]] if ours else sorted(set(paths.values()))
    cause = os.strerror(code)
    return WriteError(code, f"cannot write {', '.join(names)}: {cause[0].lower()}{cause[1:]}")


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        with contextlib.suppress(OSError):
            os.remove(path)


def _commit(tmp: str, path: str, tag: str) -> None:
    """Move ``tmp`` to ``path``. A folder replacing a folder: the old one is renamed aside, the new one moved
    in, then the old one deleted (back in place if the move fails), so a kill never leaves a mix of both."""
    if not (os.path.isdir(tmp) and os.path.isdir(path)):
        os.replace(tmp, path)
        return
    old = f"{path}.old{tag}"
    os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(old, path)
        raise
    _remove(old)


@contextlib.contextmanager
def atomic_paths(*paths: str) -> Iterator[list[str]]:
    """Yield temporary paths beside ``paths``; move them all into place only if the block succeeds.

    Several outputs are committed together at the end: every file is complete before the first is moved, so
    the only mixed state is a kill between the renames (some outputs there, some missing: the task is
    incomplete and its rerun writes them all again). Any failure removes the temporary files; a write
    failure is raised as a WriteError naming the output and the cause.
    """
    tag = f"{TMP_TAG}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmps = [p + tag for p in paths]
    named = dict(zip(tmps, paths)) | {p: p for p in paths}
    for p in paths:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
        except OSError as e:
            raise WriteError(e.errno, f"cannot write {p}: {e.strerror[0].lower()}{e.strerror[1:]} "
                                      f"({e.filename})") from e
    try:
        yield tmps
        for tmp, p in zip(tmps, paths):
            _commit(tmp, p, tag)
    except BaseException as e:
        failure = _write_failure(e, named)
        if failure is not None:
            raise failure from e
        raise
    finally:
        for tmp in tmps:
            _remove(tmp)


def remove_stale(path: str) -> list[str]:
    """Remove the temporary files and set-aside folders of ``path`` that killed runs left (call only while
    holding the output's lock: then no live run is writing them); returns what was removed."""
    stale = sorted(glob.glob(glob.escape(path) + TMP_TAG + "*") + glob.glob(glob.escape(path) + ".old" + TMP_TAG + "*"))
    for p in stale:
        _remove(p)
    return stale


def write_json(path: str, obj) -> None:
    """``obj`` as indented, key-sorted JSON at ``path`` (atomically)."""
    with atomic_paths(path) as (tmp,):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True, default=str)


def write_bytes(path: str, data: bytes | memoryview) -> None:
    """``data`` at ``path`` (atomically)."""
    with atomic_paths(path) as (tmp,):
        Path(tmp).write_bytes(data)


def read_json(path: str):
    with open(path) as f:
        return json.load(f)
