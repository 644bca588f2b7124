"""What a run prints: a line when each task starts and ends (with its outputs), luigi's execution summary,
and, last, where the report went.

luigi's own INFO lines (one "Informed scheduler ..." per task and branch) would bury these, so the
``luigi-interface`` logger lets through its warnings and its execution summary only (``law.cfg`` sets
it to INFO for the summary).
"""
from __future__ import annotations

import atexit
import logging
import os
import time

import law
import luigi

PREFIX = "[svj]"
_started: dict[str, float] = {}
_reports: list[str] = []


class _SummaryOnly(logging.Filter):
    """Keep luigi-interface warnings and errors; print the execution summary once on stdout (luigi and law
    each attach a handler, which would print it twice); drop the per-task chatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        if "Luigi Execution Summary" in str(record.msg):
            print(record.getMessage().strip("\n"), flush=True)
        return False


logging.getLogger("luigi-interface").addFilter(_SummaryOnly())


class BranchLabel:
    """Mixin for workflows: a branch shows what it is (``branch_params``: sample and chunk, model) in
    ``--print-status``, in task representations and in the progress lines, beside its bare number."""

    def branch_params(self) -> dict:
        raise NotImplementedError

    def _repr_params(self, all_params: bool = False) -> dict:
        params = super()._repr_params(all_params=all_params)
        if self.is_branch():
            params.update(self.branch_params())
        return params

    def _repr_param(self, name: str, value, **kwargs) -> str:
        if self.is_branch() and name in self.branch_params():  # not parameters: law would print the class attribute
            kwargs["serialize"] = False
        return super()._repr_param(name, value, **kwargs)


def describe(task: law.Task) -> str:
    """The task's family and, for a branch, what it is (sample and chunk, model)."""
    if isinstance(task, BranchLabel) and task.is_branch():
        params = task.branch_params()
    elif "model" in task.get_param_names() and getattr(task, "model", ""):  # Infer, ExportModel
        params = {"model": task.model}
    else:
        return task.task_family
    return f"{task.task_family}(" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")"


def output_paths(task: law.Task) -> list[str]:
    """The paths of a task's outputs (a workflow's many branch outputs are left out: each branch says its own)."""
    if isinstance(task, law.BaseWorkflow) and not task.is_branch():
        return []
    return [t.path for t in law.util.flatten(task.output()) if hasattr(t, "path")]


def message(task: law.Task, text: str) -> None:
    """One line on stdout (and to the scheduler), prefixed with the project tag and the task."""
    task.publish_message(f"{PREFIX} {describe(task)}: {text}")


@law.Task.event_handler(luigi.Event.START)
def _on_start(task: law.Task) -> None:
    _started[task.task_id] = time.perf_counter()
    print(f"{PREFIX} start {describe(task)}", flush=True)


@law.Task.event_handler(luigi.Event.SUCCESS)
def _on_success(task: law.Task) -> None:
    seconds = time.perf_counter() - _started.pop(task.task_id, time.perf_counter())
    paths = output_paths(task)
    where = f" -> {paths[0]}" + (f" (+{len(paths) - 1} more)" if len(paths) > 1 else "") if paths else ""
    print(f"{PREFIX} done  {describe(task)} in {seconds:.1f} s{where}", flush=True)


@law.Task.event_handler(luigi.Event.FAILURE)
def _on_failure(task: law.Task, exception: BaseException) -> None:
    _started.pop(task.task_id, None)
    print(f"{PREFIX} FAILED {describe(task)}: {type(exception).__name__}: {exception}", flush=True)


def announce_report(index_html: str) -> None:
    """Print ``index_html`` as the last line of this process if it exists then (a task asks for its outputs in
    the scheduling process too, while it may run in a forked worker whose exit handlers never run)."""
    if index_html not in _reports:
        _reports.append(index_html)


@atexit.register
def _last_line() -> None:
    """After luigi's summary: where the report is."""
    for path in _reports:
        if os.path.exists(path):
            print(f"{PREFIX} report: {path}", flush=True)
