"""One run per output at a time: a lock beside each output, by ``flock`` or by a lock file with a heartbeat.

``flock`` (mode ``flock``): an exclusive ``flock`` on a lock file that holds the holder's pid and host while it
runs and is removed when it finishes. The kernel (or the NFS lock manager) drops the lock of a process that
dies, so a killed run never blocks the next one: that one takes the lock over and finds the dead holder's pid
and host still in the file.

Where ``flock`` fails (ENOLCK, EOPNOTSUPP, ENOSYS) or excludes only processes on one machine (AFS; FUSE
filesystems such as EOS), the lock is analysis.file_lock's directory at the same path, kept alive by a
heartbeat (mode ``file``). ``auto`` (the default) takes ``file`` on AFS and FUSE (an /afs/ or /eos/ path, or
the filesystem's statfs type) and where ``flock`` fails, ``flock`` elsewhere. Both kinds use the one path and
respect each other: a run in ``flock`` mode that finds a lock directory there takes the file lock, and a file
lock waits for a ``flock`` held on this machine. ``none`` runs unlocked.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import socket
import stat
import sys
import time
from collections.abc import Callable, Iterator

from analysis.file_lock import NO_FLOCK, Busy, file_lock

MODES = ("auto", "flock", "file", "none")
LOCKS_ENV = "SVJ_LOCKS"  # overrides law.cfg's [locks] mode
_FS_TYPES = {0x5346414F: "AFS", 0x65735546: "FUSE"}  # statfs f_type: flock there is local to one machine


class AlreadyRunning(RuntimeError):
    """Another process holds the lock (``wait=False``)."""


_HELD: set[str] = set()  # lock files this process holds: a nested lock of the same output is a no-op


def lock_path(output: str) -> str:
    """The lock file of an output file or folder: ``.<name>.lock`` beside it."""
    head, name = os.path.split(os.path.abspath(output.rstrip("/")))
    return os.path.join(head, f".{name}.lock")


def _holder(fd: int) -> dict:
    """The pid and host recorded in an open lock file ({} while its writer has not written them yet)."""
    try:
        return json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}


def describe(holder: dict) -> str:
    return f"pid {holder.get('pid', '?')}, host {holder.get('host', '?')}"


@dataclasses.dataclass(frozen=True)
class LockSettings:
    """How outputs are locked: ``mode`` (auto, flock, file, none); for the file lock the heartbeat period and
    how long a heartbeat may stand still before its holder counts as dead (seconds)."""
    mode: str = "auto"
    heartbeat: float = 10.0
    stale_after: float = 60.0


def lock_settings(mode: str | None = None, heartbeat: str | float | None = None,
                  stale_after: str | float | None = None, where: str = "locks") -> LockSettings:
    """The settings given (None: the default), ``$SVJ_LOCKS`` overriding ``mode``; a ValueError naming
    ``where``, the key, the value and what is allowed for a bad one."""
    env = os.environ.get(LOCKS_ENV, "").strip()
    mode, where_mode = (env, LOCKS_ENV) if env else (mode or LockSettings.mode, f"{where} mode")
    if mode not in MODES:
        raise ValueError(f"{where_mode} = {mode!r}: not a lock mode (allowed: {', '.join(MODES)})")
    out = {"mode": mode}
    for key, value in (("heartbeat", heartbeat), ("stale_after", stale_after)):
        if value is None or value == "":
            continue
        try:
            out[key] = float(value)
        except ValueError:
            out[key] = float("nan")
        if not out[key] > 0:
            raise ValueError(f"{where} {key} = {value!r}: not a positive number of seconds")
    got = LockSettings(**out)
    if got.stale_after < 3 * got.heartbeat:
        raise ValueError(f"{where} stale_after = {got.stale_after:g}: less than 3 heartbeats "
                         f"({3 * got.heartbeat:g} s), a live holder would look dead")
    return got


def shared_filesystem(folder: str) -> str | None:
    """'AFS', 'EOS' or 'FUSE' where ``folder`` is on a filesystem whose ``flock`` is local to one machine (by
    its /afs/ or /eos/ path, else its statfs type on Linux); None elsewhere."""
    real = os.path.realpath(folder) + "/"
    for prefix, name in (("/afs/", "AFS"), ("/eos/", "EOS")):
        if real.startswith(prefix):
            return name
    return _FS_TYPES.get(fs_type(real))


def fs_type(path: str) -> int | None:
    """The filesystem type (statfs ``f_type``, e.g. 0xEF53 for ext4) of ``path`` on Linux; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here: only a run that takes a lock needs it

    buf = ctypes.create_string_buffer(256)  # struct statfs (120 bytes on 64-bit), f_type first
    if ctypes.CDLL(None, use_errno=True).statfs(os.fsencode(path), buf) != 0:
        return None
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


@contextlib.contextmanager
def output_lock(output: str, wait: bool = True, on_wait: Callable[[dict], None] | None = None,
                settings: LockSettings | None = None) -> Iterator[dict]:
    """Hold the lock of ``output`` for the block; yield the record a dead holder left ({} if none).

    A held lock makes this wait (calling ``on_wait(holder)`` once) or, with ``wait=False``, raise
    AlreadyRunning naming the holder's pid and host. ``settings`` default to ``lock_settings()``.
    """
    path = lock_path(output)
    if path in _HELD:
        yield {}
        return
    settings = settings or lock_settings()
    if settings.mode == "none":
        yield {}
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    use_file = settings.mode == "file" or (settings.mode == "auto" and shared_filesystem(os.path.dirname(path)))
    fd = None if use_file else _flock(path, output, wait, on_wait, strict=settings.mode == "flock")
    _HELD.add(path)
    try:
        if fd is None:
            try:
                with file_lock(path, wait, on_wait, settings.heartbeat, settings.stale_after) as left:
                    yield left
            except Busy as e:
                raise AlreadyRunning(f"{output}: already running ({describe(e.args[0])}); lock {path}") from None
            return
        left = _holder(fd)  # a holder that finished removed the file: a record here is one of a dead holder
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                      "since": time.time()}).encode(), 0)
        try:
            yield left
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
            os.close(fd)
    finally:
        _HELD.discard(path)


def _flock(path: str, output: str, wait: bool, on_wait: Callable[[dict], None] | None, strict: bool) -> int | None:
    """An open lock file at ``path`` under our exclusive flock; None where the file lock is to be used instead: a
    lock directory is there (a run in file mode), or (unless ``strict``) the filesystem has no flock."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except IsADirectoryError:
            return None
        except PermissionError:  # a lock file another user's killed run left: locks without writing our record
            fd = os.open(path, os.O_RDONLY)
        try:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                os.close(fd)
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                if not holder:  # the holder has just locked it and is writing its record
                    time.sleep(0.1)
                    holder = _holder(fd)
                if not wait:
                    raise AlreadyRunning(f"{output}: already running ({describe(holder)}); lock {path}") from None
                if on_wait is not None:
                    on_wait(holder)
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as e:
            os.close(fd)
            if e.errno not in NO_FLOCK:
                raise
            if strict:
                with contextlib.suppress(OSError):  # the empty lock file we may have made (no flock to hold it)
                    if os.path.getsize(path) == 0:
                        os.unlink(path)
                raise OSError(e.errno, f"{path}: flock is not supported here ({e.strerror}); set the lock mode to "
                                       f"file or auto (law.cfg [locks] mode or ${LOCKS_ENV})") from None
            return None  # the file lock clears the lock file we may have made
        except BaseException:
            os.close(fd)
            raise
        # the previous holder may have removed the file after we opened it: lock the file now at the path
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)
