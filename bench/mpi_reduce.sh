#!/usr/bin/env bash
# The reduction's cost against parameter count and rank count: descent_mpi_bench under
# mpirun at 1, 2, ..., MAX_RANKS ranks (default 4), each rank on THREADS threads (default 1).
# Needs a DESCENT_MPI=ON build (the release preset). Ranks beyond the cores share them
# (--oversubscribe), which inflates every figure: compare rank counts the cores can hold.
#
#   bench/mpi_reduce.sh [MAX_RANKS] [STEPS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$root/build/release/bench/descent_mpi_bench"
max="${1:-4}"
steps="${2:-50}"
for value in "$max" "$steps" "${THREADS:-1}"; do
  if ! [[ "$value" =~ ^[1-9][0-9]{0,5}$ ]]; then
    echo "bench/mpi_reduce.sh: \"$value\" is not a whole number from 1 (MAX_RANKS, STEPS and THREADS)" >&2
    exit 2
  fi
done
if [ ! -x "$bench" ]; then
  echo "bench/mpi_reduce.sh: $bench is missing: build the release preset (DESCENT_MPI=ON)" >&2
  exit 2
fi
for np in $(seq 1 "$max"); do
  mpirun --oversubscribe --allow-run-as-root -np "$np" "$bench" --steps "$steps" --threads "${THREADS:-1}" |
    { [ "$np" -eq 1 ] && cat || tail -n +2; }
done
