"""Provoked faults: a SIGKILL mid-task, two runs of one task at once, corrupt inputs, bad configs.

Everything runs on one small QCD chunk (config ``faults``: ``tiny`` cut down to 100 QCD events in
branch 0 and a 20-event signal that is never generated), so the module stays well under a minute.
Nothing here depends on timing: the killed run is held at a fixed point by a hook (see
``_HANG_DRIVER``) and the kill is sent only once its temporary output is on disk.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import luigi
import numpy as np
import pytest
import uproot
import yaml

from analysis.config import CONFIG_DIR
from analysis.io.nanoaod import InputError, read_events, write_tree

ROOT = Path(__file__).resolve().parent.parent
LAW = str(Path(sys.executable).with_name("law"))
N_EVENTS = 100  # events of branch 0 (qcd chunk 0) in the faults config

# The law CLI with os.replace patched: once the generated ROOT file is about to be moved into place
# the process stops for good, so the test can SIGKILL it at a point it controls (the temporary file
# exists from the first byte uproot writes until the kill; polling cannot miss it).
_HANG_DRIVER = """
import os, sys, time
_replace = os.replace
def _hang(src, dst, *a, **k):
    if ".tmp-" in str(src) and str(dst).endswith("chunk0.root"):
        while True:
            time.sleep(60)
    return _replace(src, dst, *a, **k)
os.replace = _hang
sys.argv = ["law"] + sys.argv[1:]
from law.cli import run
sys.exit(run())
"""


def _build(*tasks) -> bool:
    return luigi.build(list(tasks), local_scheduler=True, workers=1, log_level="WARNING")


def _arrays(path) -> dict:
    with uproot.open(str(path)) as f:
        return f["Events"].arrays(library="np")


def _same_arrays(a: dict, b: dict) -> bool:
    if set(a) != set(b):
        return False
    for k in a:
        x, y = a[k], b[k]
        if x.dtype == object:  # jagged branches: one numpy array per event
            if len(x) != len(y) or not all(np.array_equal(u, v) for u, v in zip(x, y)):
                return False
        elif not np.array_equal(x, y):
            return False
    return True


def _entries(path) -> int:
    with uproot.open(str(path)) as f:
        return f["Events"].num_entries


def _files(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []


@pytest.fixture(scope="module")
def cfg(tmp_path_factory) -> Path:
    """A config dir (copies of config/*.yaml) with ``faults.yaml``: tiny, but branch 0 is 100 QCD events."""
    d = tmp_path_factory.mktemp("config")
    for f in CONFIG_DIR.glob("*.yaml"):
        shutil.copy(f, d / f.name)
    data = yaml.safe_load((CONFIG_DIR / "tiny.yaml").read_text())
    data["samples"] = {"qcd": {"chunks": 1, "events_per_chunk": N_EVENTS},
                       "svj_s_m2000_r0.3": {"chunks": 1, "events_per_chunk": 20}}
    (d / "faults.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return d / "faults.yaml"


@pytest.fixture(scope="module")
def law_env(tmp_path_factory) -> dict:
    """Environment for ``law run`` subprocesses, with a private, freshly indexed LAW_HOME."""
    home = tmp_path_factory.mktemp("law_home")
    env = dict(os.environ, LAW_HOME=str(home), LAW_CONFIG_FILE=str(ROOT / "law.cfg"), PYTHONPATH=str(ROOT),
               OMP_NUM_THREADS="1")
    subprocess.run([LAW, "index", "--quiet"], env=env, cwd=ROOT, check=True, timeout=120)
    return env


@pytest.fixture(scope="module")
def reference(cfg, tmp_path_factory):
    """GenerateEvents + SkimEvents branch 0, run once in-process: the outputs other tests compare to."""
    from tasks.samples import GenerateEvents, SkimEvents

    data = tmp_path_factory.mktemp("ref_data")
    mp = pytest.MonkeyPatch()
    mp.setenv("DATA_PATH", str(data))
    gen = GenerateEvents(version="ref", config=str(cfg), branch=0)
    skim = SkimEvents(version="ref", config=str(cfg), branch=0)
    assert _build(skim)
    out = {"data": data, "gen": Path(gen.output()["events"].path), "meta": Path(gen.output()["meta"].path),
           "skim": Path(skim.output()["events"].path), "cutflow": Path(skim.output()["cutflow"].path)}
    mp.undo()
    assert _entries(out["gen"]) == N_EVENTS
    return out


# 1. SIGKILL mid-task ------------------------------------------------------------------------------

def test_sigkill_leaves_no_partial_output_and_rerun_completes(cfg, law_env, reference, tmp_path, monkeypatch):
    from tasks.samples import GenerateEvents

    data = tmp_path / "data"
    monkeypatch.setenv("DATA_PATH", str(data))
    driver = tmp_path / "law_hang.py"
    driver.write_text(_HANG_DRIVER)
    proc = subprocess.Popen([sys.executable, str(driver), "run", "GenerateEvents", "--version", "vk",
                             "--config", str(cfg), "--branch", "0", "--workers", "1"],
                            env=dict(law_env, DATA_PATH=str(data)), cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(data.rglob("*.tmp-*")):
            assert proc.poll() is None, f"law run exited ({proc.returncode}) before writing its output"
            assert time.monotonic() < deadline, "no temporary output appeared"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    task = GenerateEvents(version="vk", config=str(cfg), branch=0)
    outs = task.output()
    # every output target is absent or complete; with the kill before os.replace, all are absent
    for name, target in outs.items():
        assert not os.path.exists(target.path), f"{name}: {target.path} written by the killed run"
    assert list(data.rglob("*.tmp-*"))  # the killed run's leftover; must not count as output
    assert not task.complete()

    assert _build(task)
    assert task.complete()
    assert not list(data.rglob("*.tmp-*"))  # the rerun removed what the killed run left
    assert _entries(outs["events"].path) == N_EVENTS
    assert json.loads(Path(outs["meta"].path).read_text())["n_events"] == N_EVENTS
    assert _same_arrays(_arrays(outs["events"].path), _arrays(reference["gen"]))


# 2. Reproducibility -------------------------------------------------------------------------------

def test_generate_and_skim_reproducible(cfg, reference, tmp_path, monkeypatch):
    from tasks.samples import GenerateEvents, SkimEvents

    monkeypatch.setenv("DATA_PATH", str(tmp_path / "data"))
    gen = GenerateEvents(version="ref", config=str(cfg), branch=0)
    skim = SkimEvents(version="ref", config=str(cfg), branch=0)
    assert not skim.complete()  # a fresh DATA_PATH, so this really runs again
    assert _build(skim)
    gen_path, skim_path = Path(gen.output()["events"].path), Path(skim.output()["events"].path)
    assert gen_path != reference["gen"] and gen_path.exists()
    # the writer fixes ROOT's header clock and derives the UUID from the content: identical bytes
    assert gen_path.read_bytes() == reference["gen"].read_bytes()
    assert skim_path.read_bytes() == reference["skim"].read_bytes()
    assert _same_arrays(_arrays(gen_path), _arrays(reference["gen"]))
    assert _same_arrays(_arrays(skim_path), _arrays(reference["skim"]))
    assert 0 < _entries(skim_path) < N_EVENTS
    assert Path(skim.output()["cutflow"].path).read_bytes() == reference["cutflow"].read_bytes()
    assert Path(gen.output()["meta"].path).read_bytes() == reference["meta"].read_bytes()


# 3. Two runs of one task at once ------------------------------------------------------------------

@pytest.mark.parametrize("locks", ["auto", "file"])  # file: the lock file of AFS/EOS (tests/test_locks.py)
def test_concurrent_runs_same_output(cfg, law_env, reference, tmp_path, locks):
    data = tmp_path / "data"
    env = dict(law_env, DATA_PATH=str(data), SVJ_LOCKS=locks)
    cmd = [LAW, "run", "GenerateEvents", "--version", "vc", "--config", str(cfg), "--branch", "0", "--workers", "1"]
    procs = [subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]
    (root,) = [p for p in _files(data) if p.name == "chunk0.root"]
    assert _entries(root) == N_EVENTS
    assert _same_arrays(_arrays(root), _arrays(reference["gen"]))
    assert json.loads(root.with_suffix(".json").read_text())["n_events"] == N_EVENTS
    assert not list(data.rglob("*.tmp-*"))  # both runs finished, so neither left a temporary file
    assert not list(data.rglob(".*.lock*"))  # nor a lock


# 4. Bad inputs through the chain ------------------------------------------------------------------

@pytest.fixture
def skim_on_copy(cfg, reference, tmp_path, monkeypatch):
    """A SkimEvents branch whose GenerateEvents input is a copy of the reference, free to damage."""
    from tasks.samples import SkimEvents

    data = tmp_path / "data"
    shutil.copytree(reference["data"] / "GenerateEvents", data / "GenerateEvents")
    monkeypatch.setenv("DATA_PATH", str(data))
    task = SkimEvents(version="ref", config=str(cfg), branch=0)
    path = Path(task.input()["events"].path)
    assert path.exists() and not task.complete()
    return task, path


def _assert_fails_cleanly(task, *words):
    with pytest.raises(InputError) as err:
        task.run()
    for w in words:
        assert w in str(err.value), (w, str(err.value))
    for target in task.output().values():  # a failed skim writes nothing
        assert not os.path.exists(target.path)
    assert not list(Path(os.environ["DATA_PATH"]).rglob("*.tmp-*"))


def test_skim_corrupt_input(skim_on_copy):
    task, path = skim_on_copy
    size = path.stat().st_size
    path.write_bytes(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes())
    _assert_fails_cleanly(task, str(path))


def test_skim_truncated_input(skim_on_copy):
    task, path = skim_on_copy
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2])
    _assert_fails_cleanly(task, str(path))


def _write_without_fatjets(path: Path, n: int = 5) -> None:
    path.unlink(missing_ok=True)
    write_tree(str(path), {"MET_pt": np.full(n, 50.0), "MET_phi": np.zeros(n), "genWeight": np.ones(n),
                           "event": np.arange(n, dtype=np.int64)})


def test_read_events_require_names_missing_collection(tmp_path):
    path = tmp_path / "nofatjet.root"
    _write_without_fatjets(path)
    assert len(read_events(str(path))) == 5  # reading everything there is still works
    with pytest.raises(InputError, match="FatJet") as err:
        read_events(str(path), require=["FatJet"])
    assert str(path) in str(err.value)


def test_skim_input_without_fatjets(skim_on_copy):
    task, path = skim_on_copy
    _write_without_fatjets(path)
    _assert_fails_cleanly(task, str(path), "FatJet")


def test_skim_failure_through_luigi(skim_on_copy):
    """The same failure through luigi.build: the build fails and leaves no output."""
    task, path = skim_on_copy
    path.write_bytes(b"not a ROOT file")
    assert not _build(task)
    assert not task.complete()


# 5. Config errors before running ------------------------------------------------------------------

def test_cli_unknown_config_key(cfg, law_env, tmp_path):
    bad_dir = shutil.copytree(cfg.parent, tmp_path / "config")  # leave the shared config dir alone
    bad = Path(bad_dir) / "bad_key.yaml"
    data = yaml.safe_load(cfg.read_text())
    data["colour_scheme"] = "blue"
    bad.write_text(yaml.safe_dump(data))
    data_path = tmp_path / "data"
    out = subprocess.run([LAW, "run", "PlotSignificance", "--version", "v", "--config", str(bad)],
                         env=dict(law_env, DATA_PATH=str(data_path)), cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    log = out.stdout + out.stderr
    assert out.returncode != 0, log[-3000:]
    assert "colour_scheme" in log and "bad_key.yaml" in log, log[-3000:]
    assert _files(data_path) == []  # refused before anything ran


def test_cli_print_status_writes_nothing(cfg, law_env, tmp_path):
    data_path = tmp_path / "data"
    out = subprocess.run([LAW, "run", "PlotSignificance", "--version", "v", "--config", str(cfg),
                          "--print-status", "0"],
                         env=dict(law_env, DATA_PATH=str(data_path)), cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert "PlotSignificance" in out.stdout
    assert _files(data_path) == []
