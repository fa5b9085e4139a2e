#!/usr/bin/env bash
# Distillation (issue 16): the `unrestricted` recipe's three-tower net teaches one
# `default`-sized tower; students and the plain recipe over 3 seeds, two trainings side by
# side, one thread each. Every number of docs/accuracy.md's distillation section:
#   bash experiments/distill.sh [DATA] [RUNS] [WEIGHT] [EPOCHS] [SEEDS] [PEOPLE]
# e.g. `... runs/distill 1 40`, `... 1 30`, `... 3 40 "0 1"`, `... 1 40 "0 1 2" people-file`
# (the rows of the doc). PEOPLE: data.train_people of the students and their untaught twins.
#   python experiments/summarize.py RUNS/*
# The teacher is trained once (data.split_seed is the same for every seed, so its training
# people are every student's; train.teacher refuses one that is not).
set -euo pipefail
DATA=${1:-../shared/lfw-a}
RUNS=${2:-runs/distill}
WEIGHT=${3:-1}
EPOCHS=${4:-40}
read -r -a SEEDS <<< "${5:-0 1 2}"
PEOPLE=${6:-pairs}
TAG=$([ "$PEOPLE" = people-file ] && echo -pf || true)

source "$(dirname "$0")/lib.sh"
student() {  # SEED
  local name=student-w$WEIGHT-e$EPOCHS$TAG-seed$1
  train_run "$RUNS/$name" recipes/default.toml "$1" --set train.teacher="$RUNS/teacher-unr-seed0" \
    --set train.distill="$WEIGHT" --set train.epochs="$EPOCHS" --set train.patience="$EPOCHS" \
    --set data.train_people="$PEOPLE"
}

# The teacher on one core, the plain recipe's seeds on the other; then the students.
train_run "$RUNS/teacher-unr-seed0" recipes/unrestricted.toml 0 &
teacher=$!
for s in "${SEEDS[@]}"; do
  train_run "$RUNS/base$TAG-seed$s" recipes/default.toml "$s" --set data.train_people="$PEOPLE"
done
wait $teacher
lane() {  # every other seed from the $1-th: two students at a time
  local i
  for ((i = $1; i < ${#SEEDS[@]}; i += 2)); do student "${SEEDS[$i]}"; done
}
lane 0 & a=$!
lane 1
wait $a
