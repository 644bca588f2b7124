#!/usr/bin/env bash
# Start a single-node Slurm (munge, slurmctld, slurmd; no slurmdbd) in the cached trixie chroot, as root.
# law.cfg sets `slurm_cmd_squeue: squeue --states=all` since without slurmdbd only squeue sees finished jobs
# (for MinJobAge seconds). Then `export PATH=$PWD/batch/bin:$PATH` and `law run <Task> --workflow slurm`;
# stop with batch/slurm-stop.sh.
source "$(dirname "${BASH_SOURCE[0]}")/chroot.sh"
chroot_up
host=$(hostname -s); cpus=$(nproc); mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
cat > "$R/etc/slurm/slurm.conf" <<CONF
ClusterName=svj
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# no cgroups in a chroot: plain process tracking, no task containment, no accounting
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
# finished jobs stay visible to squeue --states=all for 10 minutes
MinJobAge=600
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=batch Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
echo "CgroupPlugin=disabled" > "$R/etc/slurm/cgroup.conf"
in_chroot bash -c 'install -d -o munge -g munge -m 755 /run/munge && install -d -o munge -g munge -m 700 /etc/munge /var/log/munge /var/lib/munge
  [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; }
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  install -d /var/spool/slurmctld /var/spool/slurmd /var/log/slurm'
running() { is_pool_proc "$(cat "$R$1" 2>/dev/null)" "$2"; }
running /run/munge/munged.pid munged || { say "slurm: start munged"; in_chroot runuser -u munge -- /usr/sbin/munged; }
running /run/slurmctld.pid slurmctld || { say "slurm: start slurmctld"; in_chroot /usr/sbin/slurmctld; }
running /run/slurmd.pid slurmd || { say "slurm: start slurmd"; in_chroot /usr/sbin/slurmd; }
for _ in $(seq 60); do in_chroot sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix)' && break; sleep 1; done
in_chroot sinfo -h -o %t | grep -qE '^(idle|mix)' || { echo "slurm: node not idle after 60 s:" >&2; in_chroot sinfo >&2; tail -5 "$R/var/log/slurm/slurmd.log" >&2; exit 1; }
say "slurm: ready ($(in_chroot sinfo -h -o '%D node, %c cpus'))"
