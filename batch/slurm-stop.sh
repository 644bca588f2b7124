#!/usr/bin/env bash
# Stop the Slurm of slurm-start.sh; unmount the chroot unless the condor pool still runs in it.
source "$(dirname "${BASH_SOURCE[0]}")/chroot.sh"
set +e
pids=()
for f in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do  # the daemons slurm-start.sh started
  p=$(cat "$R$f" 2>/dev/null) && [ -n "$p" ] && kill "$p" 2>/dev/null && pids+=("$p")
done
for _ in $(seq 20); do alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done; [ $alive = 0 ] && break; sleep 0.5; done
pgrep -x condor_master >/dev/null || chroot_down
say "slurm: stopped"
exit 0
