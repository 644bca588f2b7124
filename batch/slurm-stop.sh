#!/usr/bin/env bash
# Stop the Slurm of slurm-start.sh; unmount the chroot unless the condor pool still runs in it.
# Only pids that are still the pool's daemons are killed; fails, naming them, when mounts stay behind.
source "$(dirname "${BASH_SOURCE[0]}")/chroot.sh"
set +e
pids=()
for d in slurmd:/run/slurmd.pid slurmctld:/run/slurmctld.pid munged:/run/munge/munged.pid; do
  p=$(cat "$R${d#*:}" 2>/dev/null)
  is_pool_proc "$p" "${d%%:*}" && kill "$p" && pids+=("$p")
done
for _ in $(seq 20); do alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done; [ $alive = 0 ] && break; sleep 0.5; done
if [ -z "$(pool_pids condor_master)" ]; then chroot_down || exit 1; fi
say "slurm: stopped"
