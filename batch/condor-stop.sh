#!/usr/bin/env bash
# Stop the pool of condor-start.sh; unmount the chroot unless Slurm still runs in it. The chroot stays cached.
# Fails, naming them, when mounts stay behind.
source "$(dirname "${BASH_SOURCE[0]}")/chroot.sh"
set +e
if [ -n "$(pool_pids condor_master)" ]; then
  in_chroot condor_off -fast -master >/dev/null 2>&1
  for _ in $(seq 30); do [ -z "$(pool_pids 'condor_.*')" ] && break; sleep 1; done
fi
[ -z "$(pool_pids 'condor_.*')" ] || { echo "condor: still running in $R: $(pool_pids 'condor_.*' | xargs)" >&2; exit 1; }
if [ -z "$(pool_pids 'slurm(ctld|d)')" ]; then chroot_down || exit 1; fi
say "condor: stopped"
