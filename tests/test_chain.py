"""The whole law chain on the tiny config: real Pythia events -> skim -> features -> AE/NAE/WNAE -> report.

One module-scoped run feeds several checks: cut flows add up, split sizes match the h5, features are
finite, the AE separates the signal it never saw, a second run does no work, and an edited model
section reruns only training and what follows.
"""
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import luigi
import numpy as np
import pytest
import yaml

from analysis.config import CONFIG_DIR

ROOT = Path(__file__).resolve().parent.parent
VERSION = "test"


def _mtimes(base: Path) -> dict[str, int]:
    return {str(p.relative_to(base)): p.stat().st_mtime_ns for p in base.rglob("*") if p.is_file()}


def _build(task) -> bool:
    return luigi.build([task], local_scheduler=True, workers=1, log_level="WARNING")


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Run PlotSignificance on a copy of the tiny config in a fresh DATA_PATH."""
    base = tmp_path_factory.mktemp("chain")
    cfg_dir = base / "config"
    cfg_dir.mkdir()
    for f in CONFIG_DIR.glob("*.yaml"):
        shutil.copy(f, cfg_dir / f.name)
    mp = pytest.MonkeyPatch()
    mp.setenv("DATA_PATH", str(base / "data"))
    from tasks.plotting import PlotSignificance

    task = PlotSignificance(version=VERSION, config=str(cfg_dir / "tiny.yaml"))
    assert _build(task)
    yield {"base": base, "data": base / "data", "cfg_dir": cfg_dir, "task": task}
    mp.undo()


def test_cutflows_add_up(chain):
    flows = sorted((chain["data"] / "SkimEvents").rglob("*_cutflow.json"))
    assert len(flows) == 4  # qcd x2, ttbar, signal
    for path in flows:
        info = json.loads(path.read_text())
        rows = info["cutflow"]
        assert rows[0]["cut"] == "all" and rows[0]["events"] == info["n_generated"]
        counts = [r["events"] for r in rows]
        assert all(a >= b for a, b in zip(counts, counts[1:]))
        assert 0 < counts[-1] <= counts[0]
        # the skimmed file holds exactly the events that passed the last cut
        import uproot
        with uproot.open(str(path).replace("_cutflow.json", ".root")) as f:
            assert f["Events"].num_entries == counts[-1]


def test_dataset_split_and_finite(chain):
    (path,) = (chain["data"] / "FeatureDataset").rglob("dataset.h5")
    summary = json.loads(path.with_name("summary.json").read_text())
    with h5py.File(path) as f:
        n = len(f["label"])
        assert f["features"].shape == (n, len(f["features"].attrs["names"]))
        assert np.isfinite(f["features"][()]).all()
        split = f["split"][()]
        assert sum(s["jets"] for s in summary.values()) == n
        for i, name in enumerate(("train", "val", "test")):
            assert (split == i).sum() == sum(s[f"jets_{name}"] for s in summary.values())
        frac = np.bincount(split, minlength=3) / n
        assert np.allclose(frac, [0.7, 0.15, 0.15], atol=0.08)
        # all jets of one event share the split
        ev = f["event"][()].astype(np.int64) * 64 + f["sample_id"][()]
        for key in np.unique(ev)[:200]:
            assert len(set(split[ev == key])) == 1
        assert set(np.unique(f["label"][()])) == {0, 1}


def test_report_and_auc(chain):
    report = Path(chain["task"].output().path)
    summary = json.loads((report / "summary.json").read_text())
    models = summary["summary"]
    assert set(models) == {"ae", "nae", "wnae", "graph_wnae"}
    for m in models.values():
        assert set(m) == {"svj_s_m2000_r0.3"}
    # the AE never saw the signal, yet separates it
    assert models["ae"]["svj_s_m2000_r0.3"]["auc"] > 0.6
    pngs = list(report.glob("*.png"))
    assert len(pngs) >= 4 and all(p.stat().st_size > 5000 for p in pngs)
    assert all(p.with_suffix(".pdf").read_bytes().startswith(b"%PDF") for p in pngs)
    assert (report / "summary.md").read_text().count("|") > 10
    sculpt = summary["mass_sculpting"]
    assert set(sculpt) == {"ae", "nae", "wnae", "graph_wnae"} and set(sculpt["ae"]) == {"event_mt", "event_mjj", "jet_mass"}
    assert all(0 <= c["jsd"] <= 1 for m in sculpt.values() for v in m.values() for c in v.values())
    assert models["ae"]["svj_s_m2000_r0.3"]["max_s_over_sqrt_b_lumi"] > 0
    for name in ("sb_injected_svj_s_m2000_r0.3", "sb_lumi_svj_s_m2000_r0.3", "sculpting_jet_mass_wnae",
                 "reconstruction_ae", "negatives_wnae", "negatives_nae", "architecture_ae"):
        assert (report / f"{name}.png").stat().st_size > 5000 and (report / f"{name}.pdf").exists()
    by_epoch = sorted(p.name for p in report.glob("negatives_wnae_epoch*.png"))
    assert 2 <= len(by_epoch) <= 3  # first, selected and last epochs (some may coincide)
    graph_epochs = sorted(p.name for p in report.glob("negatives_graph_wnae_epoch*.png"))
    assert 2 <= len(graph_epochs) <= 3  # a graph model's negatives, per Lund feature against the data nodes
    assert not (report / "reconstruction_graph_wnae.png").exists()  # the per-feature view is for flat inputs
    page = (report / "index.html").read_text()
    assert all(f'src="{p.name}"' in page for p in pngs)
    # sections in reading order, the summary table in the page, physics labels instead of config keys
    titles = re.findall(r"<h2>(.*?)</h2>", page)
    assert titles[:3] == ["Summary", "Samples", "ROC curves and significance improvement"]
    assert titles[-1] == "Training diagnostics"
    assert page.count("<table>") >= 5 and "s-channel Z&#x27;, m = 2000 GeV, r_inv = 0.3" in page
    assert "AUC (events, max)" in page
    for m in models.values():  # event-level AUCs beside the jet-level ones
        assert 0 <= m["svj_s_m2000_r0.3"]["event_max"]["auc"] <= 1
    stats = summary["statistics"]["background"]
    assert stats["test"]["n_eff_events"] > 10 and stats["train"]["jets"] > stats["test"]["jets"]
    # sculpting in mjj and MT counts events (one entry each), so it keeps fewer entries than the per-jet mass
    assert sculpt["ae"]["event_mjj"]["0.5"]["n_eff"] < sculpt["ae"]["jet_mass"]["0.5"]["n_eff"]
    # the validation W against the monitor AUC over the epochs: every model with a W (not the AE), the numbers
    # those of its training's history, a figure each and a row each in the summary table
    from analysis.history import w_auc_correlation

    w_auc = summary["w_auc_correlation"]
    assert set(w_auc["models"]) == {"nae", "wnae", "graph_wnae"}
    assert w_auc["monitor"] == ("test split, s-channel Z', m = 2000 GeV, r_inv = 0.3 against all backgrounds, "
                                "cross-section weighted")
    for m, c in w_auc["models"].items():
        history = json.loads(Path(chain["task"].input()["train"][m]["history"].path).read_text())
        assert c == w_auc_correlation(history) and c["n_epochs"] == len(history["val_wasserstein"])
        assert c["spearman"] is None or -1 <= c["spearman"] <= 1
        assert (report / f"w_vs_auc_{m}.png").stat().st_size > 5000
        rho = "n/a" if c["spearman"] is None else f"{c['spearman']:+.2f}"
        assert f"<td>{rho} ({c['n_epochs']} epochs)</td>" in page
    assert "Validation W against the AUC over the epochs" in titles and "<th>Spearman ρ(W, AUC)</th>" in page


def test_report_renders_in_chromium(chain, tmp_path):
    from tests.browser import chromium, render

    if chromium() is None:
        pytest.skip("no chromium on this machine (.ci/run installs Debian's chromium)")
    result = render(Path(chain["task"].output().path) / "index.html", tmp_path)
    assert result["broken"] == [] and result["images"] >= 20 and result["tables"] >= 5


def test_results_api(chain, monkeypatch):
    """The README's results example: outputs by config and version, scores joined to their events."""
    monkeypatch.setenv("DATA_PATH", str(chain["data"]))
    from tasks.results import Study

    study = Study(str(chain["cfg_dir"] / "tiny.yaml"), VERSION)
    assert Path(study.paths()["report"]).exists()
    jets = study.scores("wnae")
    events = study.scores("wnae", level="event")
    assert set(jets["split"]) == {"train", "val", "test"} and set(jets["label"]) == {"background", "signal"}
    assert set(jets["sample"]) == {"qcd", "ttbar", "svj_s_m2000_r0.3"}
    # an event's max score is the max over its jets
    test = jets[jets["split"] == "test"]
    by_event = test.groupby(["sample", "event"])["score"].max()
    ev = events[events["split"] == "test"].set_index(["sample", "event"])["score_max"]
    assert np.allclose(by_event.sort_index().to_numpy(), ev.sort_index().to_numpy(), rtol=1e-6)
    assert (events["n_jets"] >= 1).all() and len(events) < len(jets)
    with h5py.File(study.paths()["scores"]["wnae"]) as f:
        assert f.attrs["task"] == "Infer" and json.loads(f.attrs["split_codes"])["2"] == "test"


def test_second_run_does_nothing(chain):
    before = _mtimes(chain["data"])
    task = chain["task"]
    assert task.complete()
    assert _build(task)
    assert _mtimes(chain["data"]) == before


def test_model_edit_reruns_only_downstream(chain):
    cfg_path = chain["cfg_dir"] / "tiny_edit.yaml"
    data = yaml.safe_load((chain["cfg_dir"] / "tiny.yaml").read_text())
    data["models"]["wnae"]["epochs"] = 3
    cfg_path.write_text(yaml.safe_dump(data))
    before = _mtimes(chain["data"])
    from tasks.plotting import PlotSignificance

    assert _build(PlotSignificance(version=VERSION, config=str(cfg_path)))
    after = _mtimes(chain["data"])
    for name, t in before.items():  # nothing that existed was rewritten
        assert after.get(name) == t, name
    new = {Path(n).parts[0] for n in set(after) - set(before)}
    assert new == {"TrainWNAE", "Infer", "PlotSignificance"}


def test_signal_added_keeps_trainings(chain):
    """A study with one more signal sample: every training is complete (reused as is), the report is not."""
    from tasks.plotting import PlotSignificance
    from tasks.training import TRAIN_TASKS

    data = yaml.safe_load((chain["cfg_dir"] / "tiny.yaml").read_text())
    data["samples"]["svj_s_m3000_r0.3"] = {"chunks": 1, "events_per_chunk": 100}
    path = chain["cfg_dir"] / "tiny_more_signal.yaml"
    path.write_text(yaml.safe_dump(data))
    report = PlotSignificance(version=VERSION, config=str(path))
    trainings = [t for t in report.upstream() if type(t) in TRAIN_TASKS.values()]
    assert len(trainings) == 4 and all(t.complete() for t in trainings)
    assert not report.complete()


def test_train_v2_on_dataset_v1(chain, tmp_path, monkeypatch):
    """`versions: {FeatureDataset: <v1>}` and --version v2, in a DATA_PATH holding only the v1 dataset: the AE
    trains under v2 on it, nothing before the dataset runs (no events, skims or tables appear), and config.json
    beside the model names the dataset's version. The v2 report reads the v1 dataset and its v1 skims (cut
    flows), both complete."""
    from tasks.plotting import PlotSignificance
    from tasks.training import TRAIN_TASKS

    data = yaml.safe_load((chain["cfg_dir"] / "tiny.yaml").read_text())
    data["versions"] = {"FeatureDataset": VERSION}
    path = chain["cfg_dir"] / "tiny_v2.yaml"
    path.write_text(yaml.safe_dump(data))
    shutil.copytree(chain["data"] / "FeatureDataset", tmp_path / "FeatureDataset")
    monkeypatch.setenv("DATA_PATH", str(tmp_path))
    task = TRAIN_TASKS["ae"](version="v2", config=str(path), branch=0)
    assert _build(task)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FeatureDataset", "TrainAE"]
    (folder,) = (tmp_path / "TrainAE").glob("*/*")
    assert folder.relative_to(tmp_path / "TrainAE").as_posix() == f"v2/ae__{task.config_hash()}"
    identity = json.loads((folder / "config.json").read_text())
    assert identity["upstream"]["FeatureDataset"].startswith(f"{VERSION}/")
    assert identity["config"]["model"]["kind"] == "ae" and identity["version"] == "v2"
    # the same seeds and rows: the same weights as the v1 training
    ref = chain["data"] / "TrainAE" / VERSION / folder.name / "best.pt"
    assert (folder / "best.pt").read_bytes() == ref.read_bytes()
    monkeypatch.setenv("DATA_PATH", str(chain["data"]))
    reqs = PlotSignificance(version="v2", config=str(path)).requires()
    assert reqs["dataset"].complete() and reqs["skims"].complete() and reqs["skims"].stage_version() == VERSION


def test_config_json_beside_every_output(chain):
    folders = {p.parent for p in chain["data"].rglob("*") if p.is_file() and p.name != "config.json"
               and "jobs" not in p.parts}
    folders = {f for f in folders if f.relative_to(chain["data"]).parts[1] == VERSION and len(
        f.relative_to(chain["data"]).parts) == 3}
    assert len(folders) > 10
    for f in folders:
        identity = json.loads((f / "config.json").read_text())
        assert f.name.endswith(identity["hash"]) and identity["task"] == f.parts[-3]


def test_law_cli_print_status(chain):
    env = dict(os.environ, DATA_PATH=str(chain["data"]), LAW_HOME=str(chain["base"] / ".law"),
               LAW_CONFIG_FILE=str(ROOT / "law.cfg"), PYTHONPATH=str(ROOT))
    law = str(Path(sys.executable).with_name("law"))
    subprocess.run([law, "index", "--quiet"], env=env, cwd=ROOT, check=True)
    out = subprocess.run([law, "run", "PlotSignificance", "--version", VERSION, "--config",
                          str(chain["cfg_dir"] / "tiny.yaml"), "--print-status", "1"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "PlotSignificance" in out.stdout and "existent" in out.stdout


def _digests(data: Path) -> dict[str, str]:
    """md5 of every output file (training histories without their wall-clock epoch times)."""
    import hashlib

    out = {}
    for p in sorted(q for q in data.rglob("*") if q.is_file()):
        blob = p.read_bytes()
        if p.name == "history.json":
            blob = json.dumps({k: v for k, v in json.loads(blob).items() if k != "time_s"}, sort_keys=True).encode()
        out[str(p.relative_to(data))] = hashlib.md5(blob).hexdigest()
    return out


def test_rerun_elsewhere_gives_identical_outputs(chain, tmp_path):
    """The README's command in a new process and a fresh DATA_PATH (two luigi workers, as law.cfg sets):
    byte-identical events (ROOT), dataset, trained weights and scores for the same config, version and seeds."""
    import torch

    # float sums depend on the thread count: the second run uses as many threads as this process did
    env = dict(os.environ, DATA_PATH=str(tmp_path / "data"), LAW_HOME=str(tmp_path / ".law"),
               LAW_CONFIG_FILE=str(ROOT / "law.cfg"), PYTHONPATH=str(ROOT),
               OMP_NUM_THREADS=str(torch.get_num_threads()))
    law = str(Path(sys.executable).with_name("law"))
    subprocess.run([law, "index", "--quiet"], env=env, cwd=ROOT, check=True)
    out = subprocess.run([law, "run", "PlotSignificance", "--version", VERSION, "--config",
                          str(chain["cfg_dir"] / "tiny.yaml")], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # progress: a start and a done line per task, an epoch line per training epoch, luigi's summary once,
    # the FastJet banner at most once although two worker processes cluster, and the report's path last
    log = out.stdout
    assert "[svj] start SkimEvents(sample=qcd, chunk=1)" in log and "[svj] done  FeatureDataset in" in log
    assert "[svj] TrainWNAE(model=wnae): epoch 8/8 [wnae] loss" in log
    assert log.count("Luigi Execution Summary") == 2 and log.count("FastJet release") <= 1
    assert log.strip().splitlines()[-1].startswith("[svj] report: ") and log.strip().endswith("index.html")
    first = _digests(chain["data"])
    second = _digests(tmp_path / "data")
    common = [k for k in second if not k.startswith("PlotSignificance")]
    assert sum(k.endswith((".pt", ".h5", ".root")) for k in common) >= 17
    for k in common:
        assert second[k] == first[k], k


# -- kills and concurrent runs of the trainings --------------------------------------------------------

SOAK_KILLS = 4  # training workers SIGKILLed at random; the whole test stays under ~30 s on two cores
SOAK_MAX_S = 120  # the soak fails if it cannot find that many running workers in this time
SOAK_TASKS = ("TrainAE", "TrainNAE")  # a plain and a sampler model (its negatives.h5 too)


def _workers(parents: set[int]) -> list[int]:
    """The processes whose parent is one of ``parents`` (luigi's forked worker of each running task)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) in parents:
            found.append(int(stat.parent.name))
    return found


def _fork_trainings(data: Path, cfg: str) -> int:
    """A forked run of the soak's trainings (two luigi workers, so each training runs in its own forked
    worker process, as with law.cfg); exits 0 when all are complete."""
    pid = os.fork()
    if pid:
        return pid
    code = 2
    try:
        import tasks.training as tt

        os.environ["DATA_PATH"] = str(data)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        tasks = [getattr(tt, name)(version=VERSION, config=cfg, branch=0) for name in SOAK_TASKS]
        code = 0 if luigi.build(tasks, local_scheduler=True, workers=2, log_level="ERROR") else 1
    finally:
        os._exit(code)


def test_killed_trainings_are_reported_and_resume_to_the_same_outputs(chain, tmp_path):
    """A SIGKILLed training worker is reported by name and cause; an orphaned worker (its run's main process
    killed) keeps the lock and the next run waits for it; then three concurrent runs of the trainings with
    workers SIGKILLed at random, and a clean run: outputs equal to the undisturbed chain's, no work folder,
    held lock or temporary file left."""
    import random
    import signal
    import time

    data, cfg = tmp_path / "data", str(chain["cfg_dir"] / "tiny.yaml")
    shutil.copytree(chain["data"] / "FeatureDataset", data / "FeatureDataset")
    env = dict(os.environ, DATA_PATH=str(data), PYTHONPATH=str(ROOT), LAW_CONFIG_FILE=str(ROOT / "law.cfg"),
               LAW_HOME=str(tmp_path / ".law"))
    law = str(Path(sys.executable).with_name("law"))
    proc = subprocess.Popen([law, "run", "tasks.training.TrainNAE", "--version", VERSION, "--config", cfg,
                             "--branch", "0", "--workers", "2"], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not list(data.glob("TrainNAE/*/nae__*/work/checkpoint.pt")):  # the worker is training
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0][-3000:]
        time.sleep(0.02)
    workers = _workers({proc.pid})  # the training's forked worker (and whatever else the run forked then)
    assert workers
    for worker in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGKILL)
    log = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0
    assert "TrainNAE(" in log and "was killed by signal 9 (SIGKILL" in log, log[-3000:]

    # an orphan: a run's main process killed while its workers train on (adopted by init); the next run waits
    orphaned = _fork_trainings(data, cfg)
    while not list(data.glob("TrainAE/*/ae__*/work/checkpoint.pt")):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    workers = set(_workers({orphaned}))
    os.kill(orphaned, signal.SIGKILL)
    os.waitpid(orphaned, 0)
    (lock,) = data.glob("TrainAE/*/ae__*/.*.lock")
    assert json.loads(lock.read_text())["pid"] in workers  # the orphan still holds the training's lock
    follower = _fork_trainings(data, cfg)
    assert os.waitstatus_to_exitcode(os.waitpid(follower, 0)[1]) == 0  # waited for the orphans, then complete
    for task in SOAK_TASKS:
        _assert_same_as_chain(chain, data, task)
        shutil.rmtree(next((data / task).glob(f"{VERSION}/*")))  # the soak below trains both again

    rng, runners, kills = random.Random(1), set(), 0
    end = time.monotonic() + SOAK_MAX_S
    while kills < SOAK_KILLS:  # a kill count, not a time window: how many a window gets depends on the load
        assert time.monotonic() < end, f"only {kills} training workers found and killed in {SOAK_MAX_S} s"
        runners -= {pid for pid in runners if os.waitpid(pid, os.WNOHANG)[0]}
        if all(list(data.glob(f"{task}/{VERSION}/*/model.pt")) for task in SOAK_TASKS):
            for pid in runners:  # finished before enough kills: let the runners end, then train again
                os.waitpid(pid, 0)
            runners = set()
            for task in SOAK_TASKS:
                shutil.rmtree(next((data / task).glob(f"{VERSION}/*")))
        while len(runners) < 3:
            runners.add(_fork_trainings(data, cfg))
        time.sleep(rng.uniform(0.1, 0.5))
        if workers := _workers(runners):
            with contextlib.suppress(ProcessLookupError):
                os.kill(rng.choice(workers), signal.SIGKILL)
                kills += 1
    for pid in runners:
        os.waitpid(pid, 0)
    print(f"soak: {kills} training workers SIGKILLed")
    clean = _fork_trainings(data, cfg)
    assert os.waitstatus_to_exitcode(os.waitpid(clean, 0)[1]) == 0

    for task in SOAK_TASKS:
        _assert_same_as_chain(chain, data, task)


def _assert_same_as_chain(chain: dict, data: Path, task: str) -> None:
    """``task``'s outputs under ``data`` equal the undisturbed chain's; no work folder, held lock or temporary file."""
    got, ref = _digests(data / task), _digests(chain["data"] / task)
    assert got == ref and len(ref) == 5, task  # the four outputs and config.json
    leftovers = [p for p in (data / task).rglob("*") if p.name == "work" or ".tmp-" in p.name
                 or (".lock" in p.name and _held(p))]
    assert not leftovers, leftovers


def _held(lock: Path) -> bool:
    """Whether a process holds ``lock``. A worker killed between committing its outputs and removing its lock
    file leaves the file behind; no later run touches a complete output, and an unheld lock blocks nothing."""
    import fcntl

    with open(lock) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False
