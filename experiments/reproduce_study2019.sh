#!/usr/bin/env bash
# The study's final configuration (preset study2019), 3 seeds, with the default fast path
# (channels_last + bf16 autocast) and with plain fp32 to check that bf16 keeps the accuracy.
#   bash experiments/reproduce_study2019.sh [DATA] [RUNS]   -> then: python experiments/summarize.py RUNS/*
set -euo pipefail
DATA=${1:-../shared/lfw-a}
RUNS=${2:-runs/study2019}
for seed in 0 1 2; do
  siamese-faces train --data "$DATA" --preset study2019 --set train.seed=$seed \
    --out "$RUNS/bf16-seed$seed"
  siamese-faces train --data "$DATA" --preset study2019 --set train.seed=$seed \
    --set train.bf16=false --out "$RUNS/fp32-seed$seed"
done
