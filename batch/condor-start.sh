#!/usr/bin/env bash
# Start a personal HTCondor pool (minicondor) in the cached trixie chroot (batch/chroot.sh), as root.
# First start: debootstrap + apt (a few minutes); later starts: a few seconds until a slot is Unclaimed.
# Then `export PATH=$PWD/batch/bin:$PATH` (or keep law.cfg's htcondor_cmd_* entries) and run
# `law run <Task> --workflow htcondor`; stop with batch/condor-stop.sh.
source "$(dirname "${BASH_SOURCE[0]}")/chroot.sh"
chroot_up
# short negotiation cycles, no cgroups (not writable in a chroot)
cat > "$R/etc/condor/config.d/99-svj.conf" <<CONF
NEGOTIATOR_INTERVAL = 2
NEGOTIATOR_CYCLE_DELAY = 1
SCHEDD_INTERVAL = 2
STARTER_UPDATE_INTERVAL = 2
SHADOW_QUEUE_UPDATE_INTERVAL = 2
BASE_CGROUP =
CGROUP_MEMORY_LIMIT_POLICY = none
# jobs see the host folders bound into the chroot (e.g. a DATA_PATH under /tmp), not a private /tmp
MOUNT_UNDER_SCRATCH =
CONF
if [ -z "$(pool_pids condor_master)" ]; then say "condor: start"; in_chroot condor_master; fi
for _ in $(seq 90); do in_chroot condor_status -af State 2>/dev/null | grep -q Unclaimed && break; sleep 1; done
in_chroot condor_status -af Name State | grep -q Unclaimed || { echo "condor: no Unclaimed slot after 90 s" >&2; exit 1; }
say "condor: ready ($(in_chroot condor_status -af Name | wc -l) slots)"
