"""The file lock (analysis/file_lock.py) that replaces flock where it fails or is local to one machine (AFS, EOS):
contention, heartbeats, dead holders here and elsewhere, a takeover race, the switch from flock, the modes."""
import errno
import fcntl
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from analysis import file_lock
from analysis.locks import AlreadyRunning, LockSettings, fs_type, lock_path, lock_settings, output_lock, \
    shared_filesystem

fork = multiprocessing.get_context("fork")
FAST = LockSettings(mode="file", heartbeat=0.1, stale_after=0.5)


def _hold(out: str, settings: LockSettings, ready, release) -> None:
    with output_lock(out, settings=settings):
        ready.set()
        release.wait(30)


def _owner(out: str) -> Path:
    return Path(lock_path(out), file_lock.OWNER)


def _remote_lock(out: str) -> dict:
    """A file lock left by a run on another machine: its record, as that run wrote it."""
    rec = {"pid": 4242, "host": "b7g13p9999.cern.ch", "node": "elsewhere/1", "start": 1, "since": 0.0,
           "token": "f" * 32}
    os.makedirs(lock_path(out))
    _owner(out).write_text(json.dumps(rec))
    return rec


def test_holder_heartbeats(tmp_path):
    out = str(tmp_path / "model.pt")
    with output_lock(out, settings=FAST):
        assert json.loads(_owner(out).read_text())["pid"] == os.getpid()
        beat = _owner(out).stat().st_mtime_ns
        time.sleep(0.35)
        assert _owner(out).stat().st_mtime_ns > beat
    assert os.listdir(tmp_path) == []


def test_holder_taken_for_dead_warns_and_leaves_the_new_lock(tmp_path, caplog):
    """A holder whose lock another run took over (it looked dead: e.g. stopped longer than stale_after) says so
    and, when it ends, leaves the other run's lock in place."""
    out = str(tmp_path / "model.pt")
    with output_lock(out, settings=FAST):
        mine = json.loads(_owner(out).read_text())
        assert file_lock._take_over(lock_path(out), mine, _owner(out).stat())  # as another machine would
        assert file_lock._create(lock_path(out), other := file_lock.record() | {"host": "elsewhere"})
        time.sleep(0.35)
    assert "was taken over by another run" in caplog.text
    assert json.loads(_owner(out).read_text())["token"] == other["token"]


def test_stale_lock_of_another_host_is_taken_over_live_one_is_not(tmp_path):
    out = str(tmp_path / "dataset.h5")
    rec = _remote_lock(out)
    os.utime(_owner(out), (0, 0))
    beating = threading.Event()
    beating.set()

    def heartbeat():  # the other machine's run, alive: its record's mtime moves
        while beating.is_set():
            os.utime(_owner(out))
            time.sleep(0.1)

    beat = threading.Thread(target=heartbeat)
    beat.start()
    got = []
    waiter = threading.Thread(target=lambda: _take(out, got))
    waiter.start()
    time.sleep(1.0)  # twice stale_after
    assert not got  # a live holder elsewhere is waited for
    beating.clear()
    beat.join()
    stopped = time.monotonic()
    waiter.join(10)
    assert got and got[0][0] == rec  # its heartbeat stood still for stale_after: taken over
    assert 0.4 < got[0][1] - stopped < 3
    assert os.listdir(tmp_path) == []  # the tombstone removed with the lock


def _can_unshare() -> bool:
    try:
        return subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


HOLD = """import sys, time
from analysis.locks import LockSettings, output_lock
with output_lock(sys.argv[1], settings=LockSettings("file", heartbeat=0.1, stale_after=0.5)):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.mark.skipif(not _can_unshare(), reason="needs unshare --pid (root)")
def test_holder_in_another_pid_namespace_is_judged_by_its_heartbeat(tmp_path):
    """A real holder whose pid this process cannot check (another pid namespace, as a run on another machine):
    waited for while its heartbeat thread beats, taken over once it is killed and the heartbeat stands still."""
    out = str(tmp_path / "model.pt")
    root = Path(__file__).resolve().parent.parent
    holder = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-c", HOLD, out],
                              cwd=root, env=dict(os.environ, PYTHONPATH=str(root)), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        rec = json.loads(_owner(out).read_text())
        assert rec["node"] != file_lock.record()["node"]
        got = []
        waiter = threading.Thread(target=lambda: _take(out, got))
        waiter.start()
        time.sleep(1.0)  # twice stale_after
        assert not got
    finally:
        holder.kill()  # and with it (--kill-child) the holder inside
        holder.wait(10)
    killed = time.monotonic()
    waiter.join(10)
    assert got and got[0][0]["token"] == rec["token"]
    assert 0.4 < got[0][1] - killed < 3
    assert os.listdir(tmp_path) == []


def _take(out: str, got: list) -> None:
    with output_lock(out, settings=FAST) as left:
        got.append((left, time.monotonic()))


def _contend(out: str, barrier, results, release) -> None:
    take_over = file_lock._take_over

    def together(*args):  # every contender has judged the holder dead before any of them moves its lock
        barrier.wait(30)
        won = take_over(*args)
        results.put(("tried", os.getpid(), bool(won)))
        return won

    file_lock._take_over = together  # in this forked process only
    try:
        with output_lock(out, wait=False, settings=LockSettings(mode="file")) as left:
            results.put(("won", os.getpid(), left.get("pid")))
            release.wait(30)
    except AlreadyRunning as e:
        results.put(("busy", os.getpid(), str(e)))


def test_takeover_race_has_one_winner(tmp_path):
    """Twelve processes find a dead holder's lock (its pid gone, on this host) and, all having judged it dead,
    move it at once: one takes it over, the others find the winner running."""
    out = str(tmp_path / "race.h5")
    for _ in range(3):
        gone = subprocess.Popen(["true"])
        gone.wait()
        rec = file_lock.record() | {"pid": gone.pid, "start": None}
        os.makedirs(lock_path(out))
        _owner(out).write_text(json.dumps(rec))
        barrier, release, results = fork.Barrier(12), fork.Event(), fork.Queue()
        procs = [fork.Process(target=_contend, args=(out, barrier, results, release)) for _ in range(12)]
        for p in procs:
            p.start()
        got = [results.get(timeout=30) for _ in range(24)]
        release.set()
        for p in procs:
            p.join(30)
        assert sorted(g[2] for g in got if g[0] == "tried") == [False] * 11 + [True]
        winners = [g for g in got if g[0] == "won"]
        # the taker, unless a loser's retry found the lock free before the taker made it (no one then says
        # the dead run's pid)
        assert len(winners) == 1 and winners[0][2] in (gone.pid, None), got
        assert all(f"(pid {winners[0][1]}," in g[2] for g in got if g[0] == "busy"), got
        assert os.listdir(tmp_path) == []


def test_second_taker_of_one_dead_holder_cannot_move_the_new_lock(tmp_path):
    """The interleaving the race above may miss: B judged the holder dead, A took over and locked; B's takeover
    then fails and A's lock stays."""
    path = lock_path(str(tmp_path / "x"))
    os.makedirs(path)
    dead = {"pid": 1, "host": "elsewhere", "token": "d" * 32}
    Path(path, file_lock.OWNER).write_text(json.dumps(dead))
    st = os.stat(Path(path, file_lock.OWNER))
    tomb = file_lock._take_over(path, dead, st)  # A
    assert tomb and file_lock._create(path, a := file_lock.record())
    assert file_lock._take_over(path, dead, st) is None  # B, late
    assert json.loads(Path(path, file_lock.OWNER).read_text())["token"] == a["token"]


def test_many_runs_one_at_a_time_after_a_stale_remote_lock(tmp_path):
    """Six runs wait on a lock of a dead run elsewhere: one takes it over, and they run one after another."""
    out = str(tmp_path / "model.pt")
    rec = _remote_lock(out)
    log = tmp_path.parent / f"{tmp_path.name}.log"
    procs = [fork.Process(target=_log_holding, args=(out, str(log))) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0] * 6
    spans = sorted(json.loads(line) for line in log.read_text().splitlines())
    assert len(spans) == 6
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans  # never two at once
    # one took over the dead run's lock (another waiter may find it free and run before the taker does)
    assert sorted(s[2] or 0 for s in spans) == [0] * 5 + [rec["pid"]]
    assert os.listdir(tmp_path) == []


def _log_holding(out: str, log: str) -> None:
    with output_lock(out, settings=FAST) as left:
        t0 = time.time()
        time.sleep(0.1)
        with open(log, "a") as f:
            f.write(json.dumps([t0, time.time(), left.get("pid")]) + "\n")


def test_flock_failure_switches_to_the_file_lock(tmp_path, monkeypatch):
    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    out = str(tmp_path / "skim.root")
    ready, release = fork.Event(), fork.Event()
    holder = fork.Process(target=_hold, args=(out, LockSettings(), ready, release))  # auto
    holder.start()
    try:
        assert ready.wait(30)
        assert json.loads(_owner(out).read_text())["pid"] == holder.pid  # a lock directory, not unlocked
        with pytest.raises(AlreadyRunning, match=rf"already running \(pid {holder.pid},"):
            with output_lock(out, wait=False):
                pass
        with pytest.raises(OSError, match="flock is not supported here.*set the lock mode to file or auto"):
            with output_lock(str(tmp_path / "other.h5"), settings=LockSettings(mode="flock")):
                pass
    finally:
        release.set()
        holder.join(30)
    assert holder.exitcode == 0 and os.listdir(tmp_path) == []


def test_flock_and_file_runs_respect_each_other(tmp_path):
    out = str(tmp_path / "model.pt")
    ready, release = fork.Event(), fork.Event()
    holder = fork.Process(target=_hold, args=(out, LockSettings(mode="file"), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(AlreadyRunning, match=rf"\(pid {holder.pid},"):  # flock mode finds the lock directory
            with output_lock(out, wait=False, settings=LockSettings(mode="flock")):
                pass
    finally:
        release.set()
        holder.join(30)
    ready, release = fork.Event(), fork.Event()
    holder = fork.Process(target=_hold, args=(out, LockSettings(mode="flock"), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(AlreadyRunning, match=rf"\(pid {holder.pid},"):  # the file lock finds a held flock
            with output_lock(out, wait=False, settings=LockSettings(mode="file")):
                pass
    finally:
        release.set()
        holder.join(30)
    assert os.listdir(tmp_path) == []


def test_none_mode_and_settings(tmp_path, monkeypatch):
    out = str(tmp_path / "x.h5")
    with output_lock(out, settings=LockSettings(mode="file")):
        with output_lock(out + "2", settings=LockSettings(mode="none")):  # no lock of its own
            assert os.listdir(tmp_path) == [os.path.basename(lock_path(out))]
        monkeypatch.setenv("SVJ_LOCKS", "none")
        assert lock_settings(mode="file").mode == "none"
        with output_lock(str(tmp_path / "y.h5")):
            assert len(os.listdir(tmp_path)) == 1
    monkeypatch.setenv("SVJ_LOCKS", "nfs")
    with pytest.raises(ValueError, match=r"SVJ_LOCKS = 'nfs': not a lock mode \(allowed: auto, flock, file, none\)"):
        lock_settings()
    monkeypatch.delenv("SVJ_LOCKS")
    assert lock_settings("file", "5", "30") == LockSettings("file", 5.0, 30.0)
    with pytest.raises(ValueError, match="stale_after = 20: less than 3 heartbeats"):
        lock_settings(heartbeat=10, stale_after=20)
    with pytest.raises(ValueError, match="heartbeat = 'x': not a positive number"):
        lock_settings(heartbeat="x")


def test_afs_and_eos_detected(tmp_path):
    assert shared_filesystem("/afs/cern.ch/work/u/user/svj") == "AFS"
    assert shared_filesystem("/eos/user/u/user/svj/data") == "EOS"
    assert shared_filesystem(str(tmp_path)) is None
    want = subprocess.run(["stat", "-f", "-c", "%t", str(tmp_path)], capture_output=True, text=True, check=True)
    assert fs_type(str(tmp_path)) == int(want.stdout, 16)

