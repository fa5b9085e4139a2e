#!/usr/bin/env bash
# The study's final configuration (preset study2019), 3 seeds each, in three groups:
#   bf16    the default fast path (channels_last + bf16 autocast), person-disjoint split
#   fp32    the same with bf16 off, to check that bf16 keeps the accuracy
#   letters the fast path with the study's own letter split (188 people on both sides)
#   bash experiments/reproduce_study2019.sh [DATA] [RUNS] [GROUPS...]
#   python experiments/summarize.py RUNS/*
set -euo pipefail
DATA=${1:-../shared/lfw-a}
RUNS=${2:-runs/study2019}
shift 2 || true
GROUPS_TO_RUN=${*:-bf16 fp32 letters}
declare -A EXTRA=([bf16]="" [fp32]="--set train.bf16=false" [letters]="--set data.split=letters")
for seed in 0 1 2; do
  for group in $GROUPS_TO_RUN; do
    [ -f "$RUNS/$group-seed$seed/results.json" ] && continue
    # shellcheck disable=SC2086
    siamese-faces train --data "$DATA" --preset study2019 --set train.seed=$seed \
      ${EXTRA[$group]} --out "$RUNS/$group-seed$seed"
  done
done
