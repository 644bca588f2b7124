"""One run per output at a time: an exclusive ``flock`` on a lock file beside the output.

The lock file holds the holder's pid and host while it runs and is removed when it finishes. The kernel (or
the NFS lock manager) drops the lock of a process that dies, so a killed run never blocks the next one: that
one takes the lock over and finds the dead holder's pid and host still in the file.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator


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


@contextlib.contextmanager
def output_lock(output: str, wait: bool = True,
                on_wait: Callable[[dict], None] | None = None) -> Iterator[dict]:
    """Hold the lock of ``output`` for the block; yield the record a dead holder left ({} if none).

    A held lock makes this wait (calling ``on_wait(holder)`` once) or, with ``wait=False``, raise
    AlreadyRunning naming the holder's pid and host. Where the filesystem has no locks (ENOLCK, EOPNOTSUPP)
    the block runs unlocked.
    """
    path = lock_path(output)
    if path in _HELD:
        yield {}
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except PermissionError:  # a lock file another user's killed run left: locks without writing our record
            fd = os.open(path, os.O_RDONLY)
        try:
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
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            yield {}  # no locks on this filesystem
            return
        except BaseException:
            os.close(fd)
            raise
        # the previous holder may have removed the file after we opened it: lock the file now at the path
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    left = _holder(fd)  # a holder that finished removed the file: a record here is one of a dead holder
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode(), 0)
    _HELD.add(path)
    try:
        yield left
    finally:
        _HELD.discard(path)
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
