"""A lock that works across machines where ``flock`` does not: a directory with its holder's record, taken
by an atomic rename and kept alive by a heartbeat.

EOS (FUSE) may refuse ``flock`` and AFS's ``flock`` excludes only processes on one client machine, so runs on two
lxplus nodes or HTCondor jobs would otherwise write one output at once. Here the lock is the directory ``path``
holding ``owner.json`` (host, pid, start time, a random token):

- taking it: a private directory holding the record is renamed to ``path``. A rename onto a non-empty
  directory fails on every POSIX filesystem (local, NFS, AFS, EOS), so of any number of contenders exactly one
  wins, and the lock never exists without its record;
- holding it: a thread touches ``owner.json`` every ``heartbeat`` seconds (after checking the record is still
  its own);
- a dead holder: on this machine (same host name, boot and pid namespace) one whose pid is gone or now belongs
  to another process (start time), found at once; elsewhere one whose heartbeat (``owner.json``'s mtime) has
  not moved for ``stale_after`` seconds as watched from here, so clocks need not agree;
- taking a dead holder's lock over: ``path`` is renamed to ``path.stale-<its token>``. Two takers that judged
  the same holder dead race for that one name: the second rename fails (the first one's tombstone is there,
  not empty) and it waits again, so it can never move the lock the first taker then took. The tombstone is
  removed when the taker lets go. Left open (as for any lease): a taker stopped between its look and its
  rename for longer than the next holder's whole run.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import socket
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator

# flock errors that mean "this filesystem has no flock" (not "someone holds it")
NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)

OWNER = "owner.json"
log = logging.getLogger(__name__)


class Busy(Exception):
    """The lock is held by a live holder (``wait=False``); ``args[0]`` is its record."""


def _read_text(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _node() -> str:
    """This machine's boot and pid namespace: a pid means one process only within both."""
    try:
        ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        ns = 0
    return f"{_read_text('/proc/sys/kernel/random/boot_id')}/{ns}"


def _start_time(pid: int) -> int | None:
    """A process's start time (clock ticks after boot, /proc/<pid>/stat field 22): tells a reused pid."""
    text = _read_text(f"/proc/{pid}/stat")
    try:
        return int(text.rpartition(")")[2].split()[19])
    except (IndexError, ValueError):
        return None


def record() -> dict:
    """This process's record as a lock holder."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "node": _node(), "start": _start_time(os.getpid()),
            "since": time.time(), "token": uuid.uuid4().hex}


def _alive(holder: dict) -> bool:
    """Whether the holder, a process on this machine, is running."""
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    except (KeyError, TypeError, ValueError):
        return False
    start = holder.get("start")
    return start is None or _start_time(int(holder["pid"])) in (None, start)


def _look(path: str) -> tuple[os.stat_result | None, bool, dict]:
    """The lock at ``path``: the stat of its record (of the lock itself where it has none readable), whether it
    is a lock directory (else a flock run's lock file) and the record; (None, False, {}) where there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None, False, {}
    if not stat.S_ISDIR(st.st_mode):
        return st, False, {}
    try:
        with open(os.path.join(path, OWNER), "rb") as f:
            return os.fstat(f.fileno()), True, json.loads(f.read() or b"{}")
    except (OSError, ValueError):
        return st, True, {}


def _create(path: str, me: dict) -> bool:
    """Take the free lock: our record in a private directory, renamed to ``path``; False if another was first."""
    tmp = f"{path}.new-{me['token']}"
    os.mkdir(tmp)
    try:
        with open(os.path.join(tmp, OWNER), "w") as f:
            json.dump(me | {"since": time.time()}, f)
        try:
            os.rename(tmp, path)
            return True
        except OSError as e:
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                return False
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after a successful rename


def _take_over(path: str, holder: dict, st: os.stat_result) -> str | None:
    """Move a dead holder's lock aside to its tombstone; the tombstone, or None if another taker was first
    (or the holder let go meanwhile)."""
    ident = holder.get("token") or f"ino{st.st_ino}"
    tomb = f"{path}.stale-{ident}"
    try:
        os.rename(path, tomb)
    except OSError:
        return None
    moved_st, _, moved = _look(tomb)
    if (moved.get("token") or f"ino{moved_st.st_ino if moved_st else 0}") == ident:
        return tomb
    with contextlib.suppress(OSError):  # a live lock moved (its taker's tombstone was already removed): put it back
        os.rename(tomb, path)
    return None


def _clear_flock_file(path: str) -> tuple[bool, dict]:
    """A regular file at ``path`` is a ``flock`` run's lock file. If no process here holds its flock (or the
    filesystem has none), it is left over: remove it. (removed, the record in it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, IsADirectoryError):
        return True, {}
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):  # a lock directory meanwhile: look again
            return True, {}
        try:
            held = json.loads(os.pread(fd, 4096, 0) or b"{}")
        except (OSError, ValueError):
            held = {}
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False, held
        except OSError as e:
            if e.errno not in NO_FLOCK:
                raise
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):  # never removes a lock directory
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                os.unlink(path)  # other errors (a folder we may not write) surface: no lock can be made there
        return True, held
    finally:
        os.close(fd)


class _Heartbeat(threading.Thread):
    """Touches the holder's record every ``period`` seconds while it is still the holder's."""

    def __init__(self, path: str, token: str, period: float):
        super().__init__(name=f"heartbeat {path}", daemon=True)
        self.owner, self.token, self.period = os.path.join(path, OWNER), token, period
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.period):
            try:
                with open(self.owner, "rb") as f:
                    mine = json.loads(f.read() or b"{}").get("token") == self.token
            except FileNotFoundError:
                mine = False
            except (OSError, ValueError):
                continue  # a slow or briefly unreachable filesystem: try again at the next beat
            if not mine:
                log.warning("lock %s was taken over by another run: this run is no longer alone", self.owner)
                return
            with contextlib.suppress(OSError):
                os.utime(self.owner)


@contextlib.contextmanager
def file_lock(path: str, wait: bool = True, on_wait: Callable[[dict], None] | None = None,
              heartbeat: float = 10.0, stale_after: float = 60.0) -> Iterator[dict]:
    """Hold the lock directory ``path`` for the block; yield the record of a dead holder taken over ({} if none).

    A live holder makes this wait (polling, calling ``on_wait(holder)`` once) or, with ``wait=False``, raise
    Busy with its record.
    """
    me = record()
    here = (me["host"], me["node"])
    watched, since = None, 0.0  # a remote holder's (token, mtime, inode) and when we first saw it unchanged
    left: dict = {}
    tombs: list[str] = []
    told, failed = False, 0
    poll = min(2.0, heartbeat / 2)
    try:
        while True:
            st, is_dir, holder = _look(path)
            if st is None:
                if _create(path, me):
                    break
                continue
            if not is_dir:  # a flock run's lock file
                removed, holder = _clear_flock_file(path)
                if removed:
                    left = holder or left
                    continue
                dead = False
            elif (holder.get("host"), holder.get("node")) == here:
                dead = not _alive(holder)
            else:
                if (holder.get("token"), st.st_mtime_ns, st.st_ino) != watched:
                    watched, since = (holder.get("token"), st.st_mtime_ns, st.st_ino), time.monotonic()
                dead = time.monotonic() - since > stale_after
            if dead:
                tomb = _take_over(path, holder, st)
                if tomb:
                    left = holder
                    tombs.append(tomb)
                    continue
                failed += 1  # another taker was first: look again (it may not have taken the lock yet)
                if failed <= 5:
                    time.sleep(0.02)
                    continue
            if not wait:
                raise Busy(holder)
            if on_wait is not None and not told:
                on_wait(holder)
                told = True
            time.sleep(poll)
        beat = _Heartbeat(path, me["token"], heartbeat)
        beat.start()
        try:
            yield left
        finally:
            beat.halt.set()
            beat.join()
            if _look(path)[2].get("token") == me["token"]:
                done = f"{path}.done-{me['token']}"
                with contextlib.suppress(OSError):
                    os.rename(path, done)  # gone from ``path`` in one step, then removed
                    shutil.rmtree(done)
    finally:
        for tomb in tombs:  # kept until now: a second taker of the same dead holder fails on it
            shutil.rmtree(tomb, ignore_errors=True)
