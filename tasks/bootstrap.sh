#!/usr/bin/env bash
# Sourced by law's job script on the batch node: the environment of setup.sh (env.sh), without installing anything.
# The {{...}} fields are filled in at submission (tasks/remote.py) with the submitting shell's project,
# DATA_PATH and law.cfg, so a job writes where a local run would. The project folder (with its .venv) must
# be visible on the node at the same path: AFS on lxplus, a shared disk or bind mount elsewhere.
_svj_bootstrap() {
    local base="{{svj_base}}"
    [ -x "${base}/.venv/bin/python" ] || { >&2 echo "bootstrap: no project venv at ${base}/.venv on $(hostname)"; return 1; }
    export SVJ_BASE="${base}"
    export DATA_PATH="{{svj_data_path}}"
    export LAW_CONFIG_FILE="{{svj_law_config}}"
    [ -n "${LAW_CONFIG_FILE}" ] || export LAW_CONFIG_FILE="${base}/law.cfg"
    [ -z "{{svj_locks}}" ] || export SVJ_LOCKS="{{svj_locks}}"  # the submitting shell's lock mode
    # law's home in the job's own folder (the project may be read-only from the node), with the
    # submitter's task index when there is one (setup.sh builds it)
    export LAW_HOME="${LAW_JOB_HOME:-${TMPDIR:-/tmp}}/.law"
    source "${base}/env.sh" || return 1
    export MPLCONFIGDIR="${LAW_HOME}/mpl"
    source "${base}/.venv/bin/activate" || return 1
    mkdir -p "${LAW_HOME}"
    cp "${base}/.law/index" "${LAW_HOME}/index" 2>/dev/null || law index --quiet
}
_svj_bootstrap
