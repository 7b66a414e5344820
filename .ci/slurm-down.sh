#!/usr/bin/env bash
# slurm-down.sh -- stop what slurm-up.sh started (by PID file only). Safe to re-run.
#   --purge   also delete $SLURM_CI_DIR (config, state, logs)
# hpcpet: copied from /work/shared/reference/slurm/ (README there has the recipe and timings);
# .ci/run calls .ci/slurm-up.sh before `make test`; tests/test_slurm.py uses the cluster.
set -uo pipefail
DIR=${SLURM_CI_DIR:-/tmp/slurm-ci}
CONF=$DIR/slurm.conf
export SLURM_CONF=$CONF
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
log() { printf '[slurm-ci-down %s] %s\n' "$(date +%T)" "$*"; }
# running and not a zombie (PID 1 in containers/sandboxes may reap orphans late or never)
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null && [ "$(sed -E 's/.*\) (.).*/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
pidof_file() { [ -s "$1" ] && cat "$1" || true; }

stop_pid() {  # name pid
  local name=$1 pid=$2
  alive "$pid" || return 0
  $SUDO kill "$pid" 2>/dev/null
  for _ in $(seq 1 50); do alive "$pid" || { log "$name ($pid) stopped"; return 0; }; sleep 0.2; done
  log "$name ($pid) ignored SIGTERM; sending SIGKILL"; $SUDO kill -9 "$pid" 2>/dev/null || true
}

ctld=$(pidof_file "$DIR/run/slurmctld.pid"); slurmd=$(pidof_file "$DIR/run/slurmd.pid")
if alive "$ctld"; then
  # cancel leftover jobs so no slurmstepd/job processes outlive the daemons
  ids=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
  if [ -n "${ids// /}" ]; then
    log "cancelling jobs: $ids"; $SUDO env SLURM_CONF="$CONF" scancel $ids 2>/dev/null || true
    for _ in $(seq 1 50); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done
  fi
fi
stop_pid slurmd "$slurmd"
stop_pid slurmctld "$ctld"
mpid=$(pidof_file "$DIR/run/munged.pid.ours")
if [ -n "$mpid" ] && [ "$(cat /run/munge/munged.pid 2>/dev/null)" = "$mpid" ]; then
  stop_pid munged "$mpid"
fi
$SUDO rm -f "$DIR/run/munged.pid.ours"
if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$CONF" ]; then
  $SUDO rm -f /etc/slurm/slurm.conf
fi
if [ "${1:-}" = "--purge" ]; then $SUDO rm -rf "$DIR"; log "removed $DIR"; fi
log "done"
