#!/usr/bin/env bash
# Set up the project in this shell: `source setup.sh`.
# Creates .venv from the pinned requirements (once), exports the law/luigi environment and indexes the tasks.
_svj_setup() {
    local here
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    export SVJ_BASE="${here}"
    export LAW_HOME="${here}/.law"
    export LAW_CONFIG_FILE="${here}/law.cfg"
    source "${here}/env.sh"

    local py="${SVJ_PYTHON:-python3.11}"
    local stamp="${here}/.venv/.requirements.sha256"
    local want
    want="$(sha256sum "${here}/requirements.txt" | cut -d' ' -f1)"
    if [ ! -x "${here}/.venv/bin/python" ] || [ "$(cat "${stamp}" 2>/dev/null)" != "${want}" ]; then
        echo "setup.sh: installing the pinned environment into ${here}/.venv (a few minutes, once)"
        "${py}" -m venv "${here}/.venv" || return 1
        "${here}/.venv/bin/python" -m pip install -q --upgrade pip >/dev/null || return 1
        "${here}/.venv/bin/python" -m pip install -q -r "${here}/requirements.txt" || return 1
        echo "${want}" > "${stamp}"
    fi
    source "${here}/.venv/bin/activate"
    mkdir -p "${LAW_HOME}" "${DATA_PATH}"
    law index --quiet || return 1
}
_svj_setup || echo "setup.sh: set-up FAILED (see the messages above)" >&2
unset -f _svj_setup
