# Sourced by the batch/ scripts: a cached Debian trixie chroot that hosts a personal HTCondor pool and a
# single-node Slurm (bookworm has no HTCondor package, and trixie's binaries need trixie's glibc).
# Built on shared/batch/condor-pool.sh. Run as root.
#   SVJ_BATCH_ROOT  where the chroot lives (default /var/tmp/svj-batch/trixie: kept, so a second start is fast)
#   SVJ_BATCH_BIND  extra host folders to bind at the same path inside (space separated; e.g. a DATA_PATH
#                   outside the project). The project, its venv's interpreter and /tmp are always bound.
# Jobs run as the unprivileged user "tester" (uid 2000); batch/bin/in-pool gives it access to DATA_PATH by ACL.
# Everything about a pool lives under its root: processes are the pool's when their root is $R, and the stop
# scripts fail, naming them, when mounts stay behind. Delete the cached chroot only after a stop that
# succeeded: while mounted it shows the project and /tmp.
set -euo pipefail
R=$(realpath -m "${SVJ_BATCH_ROOT:-/var/tmp/svj-batch/trixie}")  # /proc/mounts and /proc/PID/root hold real paths
JOB_UID=2000
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJ="$(dirname "$HERE")"
say() { echo "[$(date +%T)] $*"; }
in_chroot() { chroot "$R" env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
[ "$(id -u)" = 0 ] || { echo "$0: run as root (chroot, mounts)" >&2; exit 1; }

# the Debian mirror this machine's apt already uses (never a hard-coded host)
apt_mirror() {
  local files=() m
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*; do [ -f "$f" ] && files+=("$f"); done
  m=$({ grep -hoE '(URIs:|deb) +https?://[^ ]+/debian/?( |$)' "${files[@]}" 2>/dev/null || true; } \
      | grep -v security | head -n1 | awk '{print $2}')
  [ -n "$m" ] || { echo "no Debian mirror found in the apt sources (${files[*]:-none})" >&2; return 1; }
  echo "$m"
}

# the host interpreter the project's venv points at (a venv is only links to it)
venv_home() { sed -n 's/^home *= *//p' "$PROJ/.venv/pyvenv.cfg" | xargs dirname; }

bind_same() {  # bind host folder $1 at the same path inside the chroot
  local d; d="$(readlink -f "$1")"
  [ -d "$d" ] || return 0
  mkdir -p "$R$d"
  mountpoint -q "$R$d" || mount --bind "$d" "$R$d"
}

chroot_up() {  # debootstrap once, install the packages once, then mounts (every start)
  command -v debootstrap >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q debootstrap >/dev/null; }
  if [ ! -e "$R/.svj-ready" ]; then
    local mirror; mirror=$(apt_mirror)
    if [ ! -x "$R/usr/bin/apt-get" ]; then say "debootstrap trixie ($mirror)"; debootstrap --variant=minbase trixie "$R" "$mirror" >/dev/null; fi
  fi
  mountpoint -q "$R" || mount --bind "$R" "$R"  # the root must be a mount point, else the starter's unshare fails
  mountpoint -q "$R/proc" || mount -t proc proc "$R/proc"
  mountpoint -q "$R/sys" || mount -t sysfs sysfs "$R/sys"
  mountpoint -q "$R/dev" || { mount --rbind /dev "$R/dev"; mount --make-rslave "$R/dev"; }
  cp /etc/resolv.conf /etc/hosts "$R/etc/"
  if [ ! -e "$R/.svj-ready" ]; then
    mkdir -p "$R/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$R/usr/local/share/ca-certificates/" 2>/dev/null || true  # a proxy's CA
    printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"; chmod +x "$R/usr/sbin/policy-rc.d"
    say "apt in the chroot: minicondor, slurm, munge"
    in_chroot bash -c 'apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends minicondor slurmctld slurmd slurm-client munge ca-certificates procps acl >/dev/null && update-ca-certificates >/dev/null && apt-get clean'
    # postinst cannot run systemd-tmpfiles in a chroot: condor's runtime folders; the unprivileged submitter
    in_chroot bash -c 'install -d -o condor -g condor -m 775 /run/condor /run/lock/condor && install -d -o condor -g condor /var/lib/condor/execute /var/spool/condor && chown condor:condor /var/lib/condor /var/log/condor && (id tester >/dev/null 2>&1 || useradd -m -u 2000 -s /bin/bash tester)'
    touch "$R/.svj-ready"
  fi
  # setfacl for batch/bin/in-pool (a chroot cached before it was in the package list)
  [ -x "$R/usr/bin/setfacl" ] || { say "apt in the chroot: acl"; in_chroot bash -c 'apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends acl >/dev/null && apt-get clean'; }
  # the project, the interpreter its venv links to, /tmp (test data) and SVJ_BATCH_BIND at the same paths
  local d
  case "$(venv_home)" in
    /usr|/usr/*|/bin|/bin/*|"") echo "the venv's Python ($(venv_home)) is the system's: it cannot be bound into the chroot over trixie's /usr; build .venv from a Python outside /usr (pyenv, conda, uv)" >&2; return 1;;
  esac
  for d in "$PROJ" "$(venv_home)" /tmp ${SVJ_BATCH_BIND:-}; do bind_same "$d"; done
  # parents of bound folders (e.g. /root) must be passable for the job user
  d="$(venv_home)"; while [ "$d" != / ]; do chmod o+x "$R$d" 2>/dev/null || true; d="$(dirname "$d")"; done
}

mounts_below() {  # mount points at or below the chroot, deepest first
  awk -v r="$R" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/mounts | sort -r
}

pool_pids() {  # pids of the processes named like $1 (pgrep -x) that run in this chroot, not elsewhere on the host
  local p
  for p in $(pgrep -x "$1"); do [ "$(readlink "/proc/$p/root" 2>/dev/null)" = "$R" ] && echo "$p"; done
  return 0
}

is_pool_proc() {  # pid $1 is a process named $2 in this chroot (a pid file may name a recycled pid)
  [ -n "$1" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] && [ "$(readlink "/proc/$1/root" 2>/dev/null)" = "$R" ]
}

chroot_down() {  # unmount everything below the chroot, deepest first; fail naming what stays mounted
  local m left
  for m in $(mounts_below); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  left=$(mounts_below)
  [ -z "$left" ] && return 0
  echo "still mounted below $R (do not delete it until these are unmounted):" >&2
  echo "$left" >&2
  return 1
}
