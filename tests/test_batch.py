"""``--workflow htcondor`` and ``--workflow slurm`` on real schedulers, against a local run with the same seeds.

A personal HTCondor pool and a single-node Slurm run in a cached Debian trixie chroot (batch/*.sh); law runs
here, on the host, and reaches them through batch/bin (condor_submit, sbatch, ... entering the chroot).
Each scheduler generates events and trains a WNAE: the outputs must equal those of a local run, and one job,
killed on purpose while it runs, must be resubmitted by law (``--retries``) and the workflow complete.
Needs root (chroot, mounts); skipped with the reason otherwise, or when a pool cannot start.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import h5py
import law
import numpy as np
import pytest
import torch
import uproot
import yaml
from law.job.dashboard import NoJobDashboard
from luigi.cmdline_parser import CmdlineParser

from analysis.config import CONFIG_DIR

ROOT = Path(__file__).resolve().parent.parent
BATCH = ROOT / "batch"
VERSION = "batch"
JOB_UID = 2000  # the pools' submitter (batch/chroot.sh)
CONFIG = {
    "description": "Two one-chunk samples and a two-epoch WNAE, for the batch tests.",
    "generation": {"events_per_chunk": 150, "seed": 11},
    "samples": {"qcd": {"chunks": 1}, "svj_s_m2000_r0.3": {"chunks": 1}},
    "selection": "ak8_dijet", "features": "hlf_basic",
    "dataset": {"split": [0.7, 0.15, 0.15], "seed": 3, "scaler": "standard", "jets_per_event": 2},
    "models": {"wnae": {"epochs": 2, "batch_size": 64}},
    "training": {"seed": 5, "device": "cpu"},
}


def _start(kind: str):
    """Start a pool with batch/<kind>-start.sh; stop it at the end only if this session started it."""
    if os.geteuid() != 0:
        pytest.skip(f"batch tests need root: the local {kind} pool runs in a chroot (batch/{kind}-start.sh)")
    t0 = time.time()
    try:
        out = subprocess.run(["bash", str(BATCH / f"{kind}-start.sh")], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        pytest.skip(f"the local {kind} pool did not start within 15 min (batch/{kind}-start.sh)")
    if out.returncode != 0:
        tail = (out.stdout + out.stderr).strip().splitlines()[-3:]
        pytest.skip(f"the local {kind} pool could not start (batch/{kind}-start.sh): {' | '.join(tail)}")
    print(f"{kind} pool started in {time.time() - t0:.0f} s")
    return f"{kind}: start" in out.stdout  # the daemons were not running before


@pytest.fixture(scope="session", params=[("condor", "htcondor"), ("slurm", "slurm")], ids=lambda p: p[1])
def workflow(request):
    """A running local pool (started once, stopped at the end if this session started it); its --workflow."""
    kind, name = request.param
    started = _start(kind)
    yield name
    if started:
        out = subprocess.run(["bash", str(BATCH / f"{kind}-stop.sh")], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr  # e.g. mounts left below the chroot


@pytest.fixture(scope="module")
def setup():
    """The config, a law index and the local reference run (GenerateEvents .. TrainWNAE)."""
    # not under pytest's tmp folder: that one is private to root, and the jobs run as the pools' user
    base = Path(tempfile.mkdtemp(prefix="svj-batch-", dir="/tmp"))
    base.chmod(0o755)  # mkdtemp's 0700 would close DATA_PATH (below it) to the jobs' user
    cfg_dir = base / "config"
    cfg_dir.mkdir()
    for f in CONFIG_DIR.glob("*.yaml"):
        shutil.copy(f, cfg_dir / f.name)
    (cfg_dir / "batch.yaml").write_text(yaml.safe_dump(CONFIG))
    env = dict(os.environ, LAW_HOME=str(base / ".law"), LAW_CONFIG_FILE=str(ROOT / "law.cfg"),
               PYTHONPATH=str(ROOT), PATH=f"{BATCH / 'bin'}:{Path(sys.executable).parent}:{os.environ['PATH']}")
    subprocess.run(["law", "index", "--quiet"], env=env, cwd=ROOT, check=True)
    ctx = {"base": base, "config": str(cfg_dir / "batch.yaml"), "env": env}
    out = _law(ctx, "local", "TrainWNAE")
    assert out.returncode == 0, out.stdout[-3000:]
    yield ctx
    shutil.rmtree(base, ignore_errors=True)


def _law(ctx: dict, where: str, task: str, *args: str, on_running=None) -> subprocess.CompletedProcess:
    """``law run <task>`` with DATA_PATH=<base>/<where>; ``on_running(proc)`` runs beside it in a thread."""
    data = ctx["base"] / where
    cmd = ["law", "run", task, "--version", VERSION, "--config", ctx["config"], *args]
    data.mkdir(exist_ok=True)
    proc = subprocess.Popen(cmd, env=dict(ctx["env"], DATA_PATH=str(data)), cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    watcher = threading.Thread(target=on_running, args=(proc,)) if on_running else None
    if watcher:
        watcher.start()
    t0 = time.time()
    stdout, _ = proc.communicate(timeout=600)
    if watcher:
        watcher.join()
    print(f"{where}: law run {task} {' '.join(args[:2])} took {time.time() - t0:.0f} s")
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout)


def _remote(ctx: dict, workflow: str, task: str, on_running=None) -> subprocess.CompletedProcess:
    out = _law(ctx, workflow, task, "--workflow", workflow, "--retries", "1", "--poll-interval", "2s",
               on_running=on_running)
    assert out.returncode == 0, out.stdout[-4000:]
    return out


def _job_task_pids(task: str) -> list[int]:
    """Processes of the pools' user that run ``task`` itself (not law's dependency printout)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or proc.stat().st_uid != JOB_UID:
                continue
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        # law run tasks.samples.GenerateEvents ... --branch=0 (law's job script also runs it with --print-deps)
        if (b"run" in argv and any(a.endswith(b"." + task.encode()) for a in argv)
                and any(a.startswith(b"--branch=") for a in argv)
                and not any(a.startswith(b"--print-deps") for a in argv)):
            pids.append(int(proc.name))
    return pids


def _kill_first_job(task: str, killed: list):
    """SIGKILL the first running job of ``task`` (law must see the job fail and resubmit it)."""
    def watch(proc):
        while proc.poll() is None and not killed:
            for pid in _job_task_pids(task):
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    break
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
    return watch


def _files(data: Path, task: str) -> dict[str, Path]:
    return {str(p.relative_to(data / task)): p for p in (data / task).rglob("*") if p.is_file()}


def _assert_events_equal(ctx: dict, where: str):
    ref, got = _files(ctx["base"] / "local", "GenerateEvents"), _files(ctx["base"] / where, "GenerateEvents")
    assert sorted(got) == sorted(ref) and len(ref) == 6  # same paths: 2 samples x (events, meta, config.json)
    for name, path in ref.items():
        if name.endswith(".json"):
            assert json.loads(got[name].read_text()) == json.loads(path.read_text()), name
            continue
        with uproot.open(path) as a, uproot.open(got[name]) as b:
            ta, tb = a["Events"], b["Events"]
            assert ta.keys() == tb.keys() and ta.num_entries == tb.num_entries == CONFIG["generation"]["events_per_chunk"]
            for key in ta.keys():
                x, y = ta[key].array(library="ak"), tb[key].array(library="ak")
                assert x.tolist() == y.tolist(), f"{name}: {key}"


def _assert_training_equal(ctx: dict, where: str):
    ref, got = _files(ctx["base"] / "local", "TrainWNAE"), _files(ctx["base"] / where, "TrainWNAE")
    assert sorted(got) == sorted(ref) and any("/wnae__" in n and n.endswith("/best.pt") for n in ref)
    for name, path in ref.items():
        if name.endswith("history.json"):  # all but the timings
            a, b = json.loads(path.read_text()), json.loads(got[name].read_text())
            drop = {k for k in a if k.endswith("_s")}
            assert {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}
            assert len(a["loss"]) == CONFIG["models"]["wnae"]["epochs"]
        elif name.endswith(".pt"):
            a, b = (torch.load(p, map_location="cpu", weights_only=True)["state_dict"] for p in (path, got[name]))
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
        elif name.endswith(".h5"):
            with h5py.File(path) as a, h5py.File(got[name]) as b:
                assert sorted(a) == sorted(b) and len(a) > 0
                for key in a:
                    np.testing.assert_array_equal(a[key][()], b[key][()])


def _assert_resubmitted(out: subprocess.CompletedProcess, killed: list, workflow: str):
    assert killed, "no running job was found to kill"
    assert "status: retry" in out.stdout, out.stdout[-4000:]
    assert out.stdout.count(f"submitted 1 {workflow} job(s)") >= 1  # the resubmission of the killed job


def _run_scheduler(ctx: dict, workflow: str):
    killed: list[int] = []
    out = _remote(ctx, workflow, "GenerateEvents", on_running=_kill_first_job("GenerateEvents", killed))
    _assert_resubmitted(out, killed, workflow)
    _assert_events_equal(ctx, workflow)
    # skim and dataset run here (the workflow's requirements), the training in a job
    _remote(ctx, workflow, "TrainWNAE")
    _assert_training_equal(ctx, workflow)
    logs = list((ctx["base"] / workflow / "jobs" / workflow / "TrainWNAE").rglob("stdall_*.txt"))
    assert logs and "task exit code: 0" in logs[0].read_text()  # the job's log came back
    # the jobs wrote through the pool user's ACL: nothing was opened to every user on the way
    world = [p for p in (ctx["base"] / workflow).rglob("*") if not p.is_symlink() and p.stat().st_mode & 0o002]
    assert not world, world[:5]


@pytest.mark.batch
def test_scheduler_equals_local_and_resubmits(workflow, setup):
    _run_scheduler(setup, workflow)


def _job_file(task: str, workflow: str, cfg_path: str) -> str:
    """The submit file law writes for branch 0 of ``task`` (no scheduler needed)."""
    import tasks.samples  # noqa: F401  (registers the task classes for the parser)
    import tasks.training  # noqa: F401
    with CmdlineParser.global_instance([task, "--version", VERSION, "--config", cfg_path,
                                        "--workflow", workflow]) as cp:
        proxy = cp.get_task_obj().workflow_proxy
        proxy.job_file_factory, proxy.dashboard = proxy.create_job_file_factory(), NoJobDashboard()
        return Path(proxy.create_job_file(1, [0])["job"]).read_text()


def test_job_files_carry_resources(tmp_path, monkeypatch):
    """law.cfg's [resources] reach the submit files: per-class overrides, GPUs, lxplus' +JobFlavour."""
    monkeypatch.setenv("DATA_PATH", str(tmp_path))
    for f in CONFIG_DIR.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    cfg_path = tmp_path / "batch.yaml"
    cfg_path.write_text(yaml.safe_dump(CONFIG))
    cfg = law.config.Config.instance()
    extra = {"TrainModel_gpus": "1", "TrainModel_htcondor_flavour": "longlunch"}
    try:
        for opt, value in extra.items():
            cfg.set("resources", opt, value)
        gen = _job_file("GenerateEvents", "htcondor", str(cfg_path))
        train = _job_file("TrainWNAE", "htcondor", str(cfg_path))
        slurm = _job_file("TrainWNAE", "slurm", str(cfg_path))
    finally:
        for opt in extra:
            cfg.remove_option("resources", opt)
    assert "request_memory = 2000" in gen and "request_gpus" not in gen and "+MaxRuntime = 7200" in gen
    assert "request_memory = 4000" in train and "request_gpus = 1" in train
    assert '+JobFlavour = "longlunch"' in train and "+MaxRuntime" not in train
    assert f"initialdir = {tmp_path}/jobs/htcondor/TrainWNAE/{VERSION}/" in train
    assert all(f"#SBATCH --{line}" in slurm for line in ("mem=4000M", "gres=gpu:1", "cpus-per-task=1", "time=02:00:00"))


# -- the pool scripts on a shared host (root; no pool needed) ------------------------------------------

def _chroot_sh(root: Path, script: str) -> subprocess.CompletedProcess:
    """``script`` after sourcing batch/chroot.sh with SVJ_BATCH_ROOT given with a trailing slash."""
    return subprocess.run(["bash", "-c", f'source "{BATCH}/chroot.sh"; {script}'], capture_output=True, text=True,
                          env=dict(os.environ, SVJ_BATCH_ROOT=f"{root}/"), timeout=60)


def _mounts_below(root: Path) -> list[str]:
    return [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
            if line.split()[1] == str(root) or line.split()[1].startswith(f"{root}/")]


@pytest.fixture
def fake_root(tmp_path):
    """A stand-in chroot with two nested mounts (as the pool's binds); unmounted again whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("mounts need root")
    root = (tmp_path / "trixie").resolve()
    (root / "tmp").mkdir(parents=True)
    for where in (root / "tmp", root / "tmp"):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], check=True)
    (root / "tmp" / "proj").mkdir()
    subprocess.run(["mount", "--bind", str(tmp_path), str(root / "tmp" / "proj")], check=True)
    yield root
    for m in sorted(_mounts_below(root), reverse=True):
        subprocess.run(["umount", "-l", m])


def test_stop_unmounts_by_real_path(fake_root):
    assert len(_mounts_below(fake_root)) == 3
    out = _chroot_sh(fake_root, "chroot_down")
    assert out.returncode == 0, out.stderr
    assert _mounts_below(fake_root) == []


def test_stop_that_leaves_a_mount_names_it_and_fails(fake_root):
    out = _chroot_sh(fake_root, "umount() { return 1; }; chroot_down")  # a mount that will not go
    assert out.returncode == 1
    assert "still mounted below" in out.stderr and f"{fake_root}/tmp/proj" in out.stderr


def test_a_namesake_on_the_host_is_not_the_pools(tmp_path):
    """A process called slurmd outside the chroot is neither found as the pool's nor killed for a stale pid file."""
    if os.geteuid() != 0:
        pytest.skip("the pool scripts need root")
    fake = tmp_path / "slurmd"
    shutil.copy("/bin/sleep", fake)
    proc = subprocess.Popen([str(fake), "60"])
    try:
        time.sleep(0.2)
        assert str(proc.pid) in subprocess.run(["pgrep", "-x", "slurmd"], capture_output=True, text=True).stdout
        out = _chroot_sh(tmp_path / "trixie", f"pool_pids slurmd; is_pool_proc {proc.pid} slurmd && echo KILL; true")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == ""
    finally:
        proc.kill()
        proc.wait()
