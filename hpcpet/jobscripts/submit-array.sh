#!/bin/bash
# submit-array.sh -- split an exploration into PARTS array tasks and merge them when all are done.
#
#   jobscripts/submit-array.sh EXPERIMENT.py OUT.h5 PARTS [sbatch options...]
#   e.g. jobscripts/submit-array.sh sweep.py sweep.h5 100 --time=02:00:00 --partition=short
#
# Submits (1) an array job of PARTS tasks; task K runs `python -m hpcpet run EXPERIMENT
# --part K/PARTS` into OUT.parts/part-K-of-PARTS.h5, and (2) a merge job with
# --dependency=afterok:<array job> that merges the parts into OUT and removes OUT.parts
# (set HPCPET_KEEP_PARTS=1 to keep it). Prints "array <id>" and "merge <id>".
# The sbatch options apply to both jobs. The jobs inherit this shell's environment, so
# activate the venv first (or set HPCPET_VENV). If some tasks hit the time limit, the merge job
# never starts (afterok); run this script again with the same arguments: finished parts are
# resumed (they have nothing left to do) and a new merge job is queued.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 EXPERIMENT.py OUT.h5 PARTS [sbatch options...]" >&2
  exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
EXPERIMENT=$(realpath "$1")
OUT=$(realpath -m "$2")
PARTS=$3
shift 3
case "$PARTS" in ''|*[!0-9]*) echo "PARTS must be a positive integer, got '$PARTS'" >&2; exit 2 ;; esac
if [ "$PARTS" -lt 1 ]; then echo "PARTS must be >= 1" >&2; exit 2; fi
if [ ! -f "$EXPERIMENT" ]; then echo "experiment file not found: $EXPERIMENT" >&2; exit 2; fi
if [ -e "$OUT" ]; then echo "$OUT exists; remove it or choose another OUT" >&2; exit 2; fi
PARTDIR="${OUT%.h5}.parts"
mkdir -p "$PARTDIR"

array_id=$(sbatch --parsable --array="1-$PARTS" --output="$PARTDIR/slurm-%A_%a.out" "$@" \
           "$HERE/run-part.sbatch" "$EXPERIMENT" "$PARTDIR" "$PARTS")
array_id=${array_id%%;*}  # --parsable prints "id[;cluster]"
merge_id=$(sbatch --parsable --dependency="afterok:$array_id" --kill-on-invalid-dep=yes \
           --output="${OUT%.h5}.merge-%j.out" "$@" "$HERE/merge.sbatch" "$OUT" "$PARTDIR" "$PARTS")
merge_id=${merge_id%%;*}
echo "array $array_id"
echo "merge $merge_id"
