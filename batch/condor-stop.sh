#!/usr/bin/env bash
# Stop the pool of condor-start.sh; unmount the chroot unless Slurm still runs in it. The chroot stays cached.
source "$(dirname "${BASH_SOURCE[0]}")/chroot.sh"
set +e
if pgrep -x condor_master >/dev/null; then
  in_chroot condor_off -fast -master >/dev/null 2>&1
  for _ in $(seq 30); do pgrep -x 'condor_.*' >/dev/null || break; sleep 1; done
fi
pgrep -x 'slurm(ctld|d)' >/dev/null || chroot_down
say "condor: stopped"
exit 0
