"""One remote-workflow mixin: ``--workflow local|htcondor|slurm`` for every branch workflow.

As in columnflow, a workflow class lists ``RemoteWorkflow`` next to ``law.LocalWorkflow``; law picks the
proxy from ``--workflow``. Jobs source ``tasks/bootstrap.sh`` (the environment of ``setup.sh``, no install),
run the branch with ``law run`` and write its outputs straight to the shared ``DATA_PATH``; the submission
record and the transferred logs live under ``$DATA_PATH/jobs/<flavour>/<Task>/<version>/<hash>`` (law.cfg
``[job] svj_jobs_dir``).
Resources come from law.cfg's ``[resources]`` section (see ``resource``); law's ``--retries``,
``--parallel-jobs`` and ``--poll-interval`` work as usual.
"""
from __future__ import annotations

import math
import os

import law
import luigi

from analysis.config import data_path

law.contrib.load("htcondor", "slurm")

BOOTSTRAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.sh")


class RemoteWorkflow(law.htcondor.HTCondorWorkflow, law.slurm.SlurmWorkflow):
    """Job submission for the project's tasks; mix in after ``Task`` and ``law.LocalWorkflow``."""

    # the job's combined stdout/stderr comes back beside the job files (law's default is off)
    transfer_logs = luigi.BoolParameter(default=True, significant=False,
                                        description="transfer job logs to the jobs folder; default: True")

    exclude_index = True

    # -- resources -------------------------------------------------------------------------------

    def resource(self, key: str, default: str = "") -> str:
        """``[resources]`` option ``key``, overridden per task class: ``<Class>_<key>`` for the task's
        class or any base (``TrainModel_gpus`` covers all trainings, ``TrainWNAE_gpus`` only one)."""
        cfg = law.config.Config.instance()
        for cls in type(self).__mro__:
            opt = f"{cls.__name__}_{key}"
            if cfg.has_option("resources", opt):
                return cfg.get_expanded("resources", opt)
        return cfg.get_expanded("resources", key, default=default) if cfg.has_section("resources") else default

    def job_resources(self) -> dict:
        """Memory (MB), CPUs, GPUs and wall time (hours) for one job."""
        walltime = float(self.resource("walltime", "2"))  # per job; law's --walltime bounds the whole polling
        return {"memory": int(self.resource("memory", "2000")), "cpus": int(self.resource("cpus", "1")),
                "gpus": int(self.resource("gpus", "0")), "walltime": walltime}

    # -- shared locations ------------------------------------------------------------------------

    def jobs_dir(self, flavour: str) -> law.LocalDirectoryTarget:
        """Submission record and logs of this workflow (one folder per config hash), under law.cfg's
        ``[job] svj_jobs_dir`` (default ``$DATA_PATH/jobs``; on lxplus an AFS folder: no condor logs on EOS)."""
        cfg = law.config.Config.instance()
        base = cfg.get_expanded("job", "svj_jobs_dir", default="") or str(data_path() / "jobs")
        return law.LocalDirectoryTarget(os.path.join(base, flavour, *self.store_parts().values()))

    def bootstrap(self) -> law.JobInputFile:
        """tasks/bootstrap.sh, rendered with the submitting shell's project, venv and DATA_PATH."""
        return law.JobInputFile(BOOTSTRAP, share=True, render_job=True)

    def bootstrap_variables(self) -> dict:
        return {"svj_base": os.environ.get("SVJ_BASE", os.path.dirname(os.path.dirname(BOOTSTRAP))),
                "svj_data_path": str(data_path()),
                "svj_law_config": os.environ.get("LAW_CONFIG_FILE", ""),
                "svj_locks": os.environ.get("SVJ_LOCKS", "")}

    # -- htcondor --------------------------------------------------------------------------------

    def htcondor_output_directory(self):
        return self.jobs_dir("htcondor")

    def htcondor_bootstrap_file(self):
        return self.bootstrap()

    def htcondor_job_config(self, config, job_num, branches):
        res = self.job_resources()
        config.render_variables.update(self.bootstrap_variables())
        config.custom_content.append(("request_memory", res["memory"]))
        config.custom_content.append(("request_cpus", res["cpus"]))
        if res["gpus"]:
            config.custom_content.append(("request_gpus", res["gpus"]))
        flavour = self.resource("htcondor_flavour")
        if flavour:  # CERN's lxplus: the queue by expected duration (espresso, microcentury, longlunch, ...)
            config.custom_content.append(("+JobFlavour", f'"{flavour}"'))
        elif res["walltime"] and not math.isinf(res["walltime"]):
            config.custom_content.append(("+MaxRuntime", int(res["walltime"] * 3600)))
        for line in filter(None, self.resource("htcondor_extra").split(";")):  # e.g. an accounting group
            key, _, value = line.partition("=")
            config.custom_content.append((key.strip(), value.strip()))
        return config

    # -- slurm -----------------------------------------------------------------------------------

    def slurm_output_directory(self):
        return self.jobs_dir("slurm")

    def slurm_bootstrap_file(self):
        return self.bootstrap()

    def slurm_job_config(self, config, job_num, branches):
        res = self.job_resources()
        config.render_variables.update(self.bootstrap_variables())
        config.custom_content.append(("mem", f"{res['memory']}M"))
        config.custom_content.append(("cpus-per-task", res["cpus"]))
        if res["gpus"]:
            config.custom_content.append(("gres", f"gpu:{res['gpus']}"))
        if res["walltime"] and not math.isinf(res["walltime"]):
            minutes = max(1, int(math.ceil(res["walltime"] * 60)))
            config.custom_content.append(("time", f"{minutes // 60:02d}:{minutes % 60:02d}:00"))
        return config

