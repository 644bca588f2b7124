# The project's environment, sourced by setup.sh (a shell) and tasks/bootstrap.sh (a batch job), which set
# SVJ_BASE (the project folder), LAW_HOME and LAW_CONFIG_FILE first. DATA_PATH keeps a value set before.
export DATA_PATH="${DATA_PATH:-${SVJ_BASE}/data}"
export PYTHONPATH="${SVJ_BASE}${PYTHONPATH:+:${PYTHONPATH}}"
# one thread per process: law runs branches in parallel workers instead
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export MPLBACKEND=Agg
