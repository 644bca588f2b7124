"""Outputs under contention and on a full disk: per-output locks (analysis.locks) and atomic writes
(analysis.atomic) with one WriteError naming the path and the cause, whatever the writer."""
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from analysis.atomic import WriteError, atomic_paths, write_json
from analysis.io.nanoaod import write_tree
from analysis.locks import AlreadyRunning, LockSettings, lock_path, output_lock
from analysis.training import _save, _save_array

fork = multiprocessing.get_context("fork")


def _hold(output: str, ready, release, settings=None) -> None:
    with output_lock(output, settings=settings):
        ready.set()
        release.wait(30)


def _die_holding(output: str, ready, settings=None) -> None:
    with output_lock(output, settings=settings):
        ready.set()
        os.kill(os.getpid(), signal.SIGKILL)


def _record(output: str) -> dict:
    """The holder's record in the lock (a file under flock, a directory under the file lock)."""
    path = Path(lock_path(output))
    return json.loads((path / "owner.json" if path.is_dir() else path).read_text())


# auto: flock on this local disk; file: the lock of AFS/EOS and filesystems without flock (tests/test_locks.py)
MODES = pytest.mark.parametrize("settings", [None, LockSettings("file", heartbeat=0.2, stale_after=1)],
                                ids=["auto", "file"])


@MODES
def test_second_run_is_told_who_runs_and_waits(tmp_path, settings):
    out = str(tmp_path / "model.pt")
    ready, release = fork.Event(), fork.Event()
    holder = fork.Process(target=_hold, args=(out, ready, release, settings))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(AlreadyRunning, match=rf"already running \(pid {holder.pid}, host {socket.gethostname()}\)"):
            with output_lock(out, wait=False, settings=settings):
                pass
        seen = []
        timer = threading.Timer(0.5, release.set)
        timer.start()
        t0 = time.monotonic()
        with output_lock(out, on_wait=seen.append, settings=settings) as left:  # waits until the holder lets go
            assert time.monotonic() - t0 > 0.3
            assert left == {}  # the holder finished normally
            assert _record(out)["pid"] == os.getpid()
        timer.join()
        assert seen and seen[0]["pid"] == holder.pid
    finally:
        release.set()
        holder.join(30)
    assert holder.exitcode == 0
    assert os.listdir(tmp_path) == []  # the lock removed by the last holder


@MODES
def test_lock_of_a_killed_run_is_taken_over(tmp_path, settings):
    out = str(tmp_path / "events.root")
    ready = fork.Event()
    dead = fork.Process(target=_die_holding, args=(out, ready, settings))
    dead.start()
    dead.join(30)
    assert ready.is_set() and dead.exitcode == -signal.SIGKILL
    t0 = time.monotonic()
    # at once: the kernel dropped the dead process's flock; the file lock finds its pid gone
    with output_lock(out, wait=False, settings=settings) as left:
        assert left["pid"] == dead.pid and left["host"] == socket.gethostname()
    assert time.monotonic() - t0 < 5
    assert os.listdir(tmp_path) == []


def test_folder_output_replaced_whole(tmp_path):
    out = tmp_path / "report"
    for version in ("old", "new"):
        with atomic_paths(str(out)) as (tmp,):
            os.makedirs(tmp)
            Path(tmp, f"{version}.txt").write_text(version)
    assert sorted(os.listdir(out)) == ["new.txt"]
    with pytest.raises(ZeroDivisionError):  # a failed rewrite keeps the old folder and leaves nothing else
        with atomic_paths(str(out)) as (tmp,):
            os.makedirs(tmp)
            Path(tmp, "half.txt").write_text("x")
            1 / 0
    assert sorted(os.listdir(tmp_path)) == ["report"] and sorted(os.listdir(out)) == ["new.txt"]


def test_other_failures_surface_unchanged(tmp_path):
    """A missing input read inside the block is the reader's error, not a WriteError."""
    with pytest.raises(FileNotFoundError) as err:
        with atomic_paths(str(tmp_path / "out.h5")) as (tmp,):
            open(tmp_path / "missing.root", "rb")
    assert not isinstance(err.value, WriteError)
    assert os.listdir(tmp_path) == []


# -- a full disk: a 256 kB tmpfs ------------------------------------------------------------------

def _write_root(path):
    with atomic_paths(path) as (tmp,):
        write_tree(tmp, {"x": np.random.default_rng(0).random(100_000), "event": np.arange(100_000)})


def _write_h5(path):
    with atomic_paths(path) as (tmp,):
        with h5py.File(tmp, "w") as f:
            f.create_dataset("x", data=np.random.default_rng(0).random(100_000))


WRITERS = {
    "events.root": _write_root,
    "dataset.h5": _write_h5,
    "checkpoint.pt": lambda p: _save({"w": torch.rand(100_000)}, p),
    "epoch_000.npy": lambda p: _save_array(np.random.default_rng(0).random(100_000), p),
    "history.json": lambda p: write_json(p, {"loss": np.random.default_rng(0).random(100_000).tolist()}),
    "folder": lambda p: _write_folder(p),
    "nested.json": lambda p: _write_nested(p),
}


def _write_nested(path):
    """Two outputs in one block, the second written by write_json (itself atomic) into its temporary name."""
    with atomic_paths(path + ".root", path) as (_, tmp):
        write_json(tmp, {"loss": np.random.default_rng(0).random(100_000).tolist()})


def _write_folder(path):
    with atomic_paths(path) as (tmp,):
        os.makedirs(tmp)
        Path(tmp, "figure.png").write_bytes(os.urandom(1_000_000))


@pytest.fixture
def full_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("a small tmpfs needs root (mount)")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


@pytest.mark.parametrize("name", WRITERS)
def test_full_disk_names_the_output_and_leaves_nothing(full_disk, name):
    path = str(full_disk / "out" / name)
    with pytest.raises(WriteError) as err:
        WRITERS[name](path)
    assert str(err.value) == f"cannot write {path}: no space left on device"
    assert os.listdir(full_disk / "out") == []  # no temporary file, no partial output
