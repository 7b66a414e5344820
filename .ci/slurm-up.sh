#!/usr/bin/env bash
# slurm-up.sh -- bring up a real single-node SLURM cluster (slurmctld + slurmd + munged)
# on one Debian/Ubuntu machine without systemd, cgroups or docker. Idempotent: re-running
# while the cluster is up only re-checks it.
#
# Tested: Debian 12 (bookworm), slurm-wlm 22.05.8-4+deb12u3, munge 0.5.15-2+deb12u1,
#         root, 2 cores, gVisor sandbox (PID 1 is not systemd).
#
# Env knobs (all optional):
#   SLURM_CI_DIR          where config/state/logs/pids go           (default /tmp/slurm-ci)
#   SLURM_CI_CPUS         CPUs advertised for the node              (default max(nproc, 4))
#                         > nproc is allowed (SlurmdParameters=config_overrides) to let
#                         more single-CPU jobs/array tasks run at once on a small CI box.
#   SLURM_CI_MIN_JOB_AGE  MinJobAge seconds (default 4). <=4 keeps `sbatch --wait` polling
#                         every 2 s (it backs off 2s->8s->32s when MinJobAge/2 > 2); finished
#                         jobs then disappear from squeue/scontrol ~5-10 s after they end.
#                         Use 300 (SLURM default) if your harness inspects finished jobs.
#   SLURM_CI_PMIX         1 = also install libpmix2 so `srun --mpi=pmix` works (default 1)
#   SLURM_CI_LINK_ETC     1 = symlink /etc/slurm/slurm.conf -> our config if absent, so
#                         sbatch/squeue work without SLURM_CONF (default 1)
#   SLURM_CI_TIMEOUT      seconds to wait for the node to become idle (default 60)
# hpcpet: copied from /work/shared/reference/slurm/ (README there has the recipe and timings);
# .ci/run calls .ci/slurm-up.sh before `make test`; tests/test_slurm.py uses the cluster.
set -euo pipefail

DIR=${SLURM_CI_DIR:-/tmp/slurm-ci}
CPUS=${SLURM_CI_CPUS:-$(( $(nproc) > 4 ? $(nproc) : 4 ))}   # hpcpet: at least 4, so an array and a 2-task MPI job fit
MIN_JOB_AGE=${SLURM_CI_MIN_JOB_AGE:-4}
WANT_PMIX=${SLURM_CI_PMIX:-1}
LINK_ETC=${SLURM_CI_LINK_ETC:-1}
TIMEOUT=${SLURM_CI_TIMEOUT:-60}
NODE=$(hostname -s 2>/dev/null || uname -n | cut -d. -f1)   # slurmd -N pins it; no DNS needed
CONF=$DIR/slurm.conf
export SLURM_CONF=$CONF

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
log() { printf '[slurm-ci %s] %s\n' "$(date +%T)" "$*"; }
t_start=$(date +%s.%N)
elapsed() { awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
# running and not a zombie (PID 1 in containers/sandboxes may reap orphans late or never)
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null && [ "$(sed -E 's/.*\) (.).*/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
pidof_file() { [ -s "$1" ] && cat "$1" || true; }

# ---------------------------------------------------------------- 1. install if missing
pkgs=()
for b in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge; do
  command -v "${b%%:*}" >/dev/null 2>&1 || pkgs+=("${b##*:}")
done
if [ "$WANT_PMIX" = 1 ] && ! ls /usr/lib/*/libpmix.so.2 >/dev/null 2>&1; then pkgs+=(libpmix2); fi
if [ ${#pkgs[@]} -gt 0 ]; then
  log "installing: ${pkgs[*]}"
  # Keep package postinst scripts from starting slurmd/slurmctld/munge services (with systemd
  # they would start against a missing /etc/slurm/slurm.conf and fail): temporary policy-rc.d.
  tmp_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d; tmp_policy=1
  fi
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  if [ "$tmp_policy" = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
  log "installed ($(elapsed)s)"
fi
if [ "$WANT_PMIX" = 1 ]; then
  # Debian's mpi_pmix plugin dlopen()s <pmix2>/lib/libpmix.so (unversioned, normally shipped by
  # libpmix-dev, which drags in autoconf etc.). A symlink to the runtime lib is enough.
  for so2 in /usr/lib/*/pmix2/lib/libpmix.so.2; do
    [ -e "$so2" ] && [ ! -e "${so2%.2}" ] && $SUDO ln -s libpmix.so.2 "${so2%.2}"
  done
fi
log "versions: $(dpkg-query -W -f='${Package}=${Version} ' slurmctld slurmd slurm-client munge 2>/dev/null)"

$SUDO mkdir -p "$DIR"/{state,spool,log,run}

# ---------------------------------------------------------------- 2. munge
if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "munged already answering; reusing it"
else
  # No systemd => nobody creates /run/munge (tmpfiles.d). Key from the package postinst
  # must be owned by munge and not group/world readable, or munged refuses to start.
  $SUDO mkdir -p /run/munge /etc/munge /var/log/munge /var/lib/munge
  if [ ! -s /etc/munge/munge.key ]; then
    $SUDO sh -c 'umask 077; dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none'
  fi
  $SUDO chown munge:munge /run/munge /etc/munge /etc/munge/munge.key /var/log/munge /var/lib/munge
  $SUDO chmod 0755 /run/munge; $SUDO chmod 0700 /etc/munge /var/log/munge; $SUDO chmod 0600 /etc/munge/munge.key
  if command -v runuser >/dev/null; then $SUDO runuser -u munge -- /usr/sbin/munged
  else $SUDO su -s /bin/sh munge -c /usr/sbin/munged; fi
  for _ in $(seq 1 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n </dev/null | unmunge >/dev/null || { log "munged failed; see /var/log/munge/munged.log"; exit 1; }
  $SUDO cp /run/munge/munged.pid "$DIR/run/munged.pid.ours"   # stop script only kills what we started
  log "munged started (pid $(cat "$DIR/run/munged.pid.ours"))"
fi

# ---------------------------------------------------------------- 3. config
MEM_MB=$(awk '/^MemTotal:/{printf "%d", $2/1024*0.9}' /proc/meminfo)
overrides=""
if [ "$CPUS" -gt "$(nproc)" ]; then overrides="SlurmdParameters=config_overrides"; fi
new_conf=$(cat <<EOF
# generated by slurm-up.sh -- single node, no cgroups, no accounting
ClusterName=ci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
MinJobAge=$MIN_JOB_AGE
PropagateResourceLimits=NONE
MailProg=/bin/true
$overrides
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
)

# mpi.conf (read from the slurm.conf directory): the Open MPI PyPI wheel's bundled PMIx has no
# munge security plugin, so Slurm's default PMIX_SECURITY_MODE=munge,native makes every rank print
# "Sorry! ... help-pmix-mca-base.txt" noise under `srun --mpi=pmix`. native alone is fine.
new_mpi_conf="PMIxEnv=PMIX_SECURITY_MODE=native"

ctld_pid=$(pidof_file "$DIR/run/slurmctld.pid"); slurmd_pid=$(pidof_file "$DIR/run/slurmd.pid")
if alive "$ctld_pid" && alive "$slurmd_pid" && [ -f "$CONF" ] && [ "$new_conf" = "$(cat "$CONF")" ] \
   && [ "$new_mpi_conf" = "$(cat "$DIR/mpi.conf" 2>/dev/null)" ]; then
  log "slurmctld ($ctld_pid) and slurmd ($slurmd_pid) already running with this config"
else
  # not running, or config changed (CPU count etc. need a daemon restart): (re)start fresh
  for p in "$slurmd_pid" "$ctld_pid"; do
    if alive "$p"; then $SUDO kill "$p"; for _ in $(seq 1 50); do alive "$p" || break; sleep 0.1; done; fi
  done
  $SUDO rm -rf "$DIR/state"/* "$DIR/spool"/*          # fresh cluster, job ids restart at 1
  printf '%s\n' "$new_conf" | $SUDO tee "$CONF" >/dev/null
  printf '%s\n' "$new_mpi_conf" | $SUDO tee "$DIR/mpi.conf" >/dev/null
  if [ "$LINK_ETC" = 1 ] && [ ! -e /etc/slurm/slurm.conf ]; then
    $SUDO mkdir -p /etc/slurm && $SUDO ln -s "$CONF" /etc/slurm/slurm.conf
  fi
  # both daemonize; -N pins the node name so hostname/DNS quirks cannot confuse slurmd
  $SUDO slurmctld -f "$CONF"
  $SUDO slurmd -f "$CONF" -N "$NODE"
  log "daemons started ($(elapsed)s)"
fi

# ---------------------------------------------------------------- 4. wait for idle node
state=""
for _ in $(seq 1 $((TIMEOUT * 5))); do
  state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
  case "$state" in
    idle|mixed|allocated|completing) break ;;
    down*|drain*) $SUDO env SLURM_CONF="$CONF" scontrol update nodename="$NODE" state=resume 2>/dev/null || true ;;
  esac
  sleep 0.2
done
case "$state" in
  idle|mixed|allocated|completing) ;;
  *) log "node $NODE not usable (state '$state'); logs in $DIR/log"; tail -n 20 "$DIR"/log/*.log >&2 || true; exit 1 ;;
esac

log "cluster up in $(elapsed)s: node $NODE state=$state cpus=$CPUS"
sinfo
cat <<EOF

  export SLURM_CONF=$CONF      # not needed if /etc/slurm/slurm.conf points to it
  sbatch --wait job.sh          # exit status = job's exit status (max over array tasks)
  logs:  $DIR/log/slurmctld.log  $DIR/log/slurmd.log
  stop:  $(cd "$(dirname "$0")" && pwd)/slurm-down.sh   (SLURM_CI_DIR=$DIR; add --purge to delete $DIR)
EOF
