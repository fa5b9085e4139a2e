#!/usr/bin/env bash
# The main job (`siamese-faces run`, the README's first command after its install) for each
# seed, one after another, each under /usr/bin/time -v: issue 16's "`default` >= 90% with
# <= 5 minutes of training on both cores, nothing else running" is measured this way, so run
# it on a quiet machine. Then
#   python experiments/summarize.py ROOT/main-seed*         (DevTest per seed, mean ± std, train s)
#   grep -H "Elapsed\|Maximum resident" ROOT/main-seed*.time.txt     (wall time, peak memory)
# Usage: bash experiments/main_job_timed.sh DATA ROOT SEED... [-- OPTION...]
# (a finished seed is skipped; options after -- go to every run, e.g. --set train.compile=true)
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: bash experiments/main_job_timed.sh DATA ROOT SEED... [-- OPTION...]" >&2
  exit 2
fi
DATA=$1 ROOT=$2
shift 2
SEEDS=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do SEEDS+=("$1"); shift; done
[ $# -gt 0 ] && shift  # the --
mkdir -p "$ROOT"
for seed in "${SEEDS[@]}"; do
  out=$ROOT/main-seed$seed
  [ -f "$out/results.json" ] && continue
  # time's report beside the run folder, which `run` makes itself
  /usr/bin/time -v -o "$out.time.txt" siamese-faces run --data "$DATA" \
    --set train.seed="$seed" --out "$out" --report "$out-report" "$@"
done
