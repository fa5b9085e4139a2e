#!/usr/bin/env bash
# How often the study's network collapses to a constant output (accuracy 50%) with bf16
# autocast against fp32: `study2019` over SEEDS seeds each. BF16 ("true false" by default)
# picks the precisions: "true" alone after a change that leaves fp32's arithmetic as it was.
#   bash experiments/bf16_collapse.sh [DATA] [RUNS] [SEEDS] [BF16]
#   python experiments/bf16_collapse.py RUNS
set -euo pipefail
DATA=${1:-../shared/lfw-a}
RUNS=${2:-runs/collapse}
SEEDS=${3:-10}
BF16=${4:-true false}
for s in $(seq 0 $((SEEDS - 1))); do
  for bf16 in $BF16; do
    out="$RUNS/bf16-$bf16-seed$s"
    [ -f "$out/results.json" ] && continue
    siamese-faces train --data "$DATA" --preset study2019 --set train.seed="$s" \
      --set train.bf16="$bf16" --out "$out" $([ -f "$out/last.pt" ] && echo --resume) > /dev/null
  done
done
