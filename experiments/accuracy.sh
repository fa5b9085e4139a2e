#!/usr/bin/env bash
# Every number of docs/accuracy.md: the recipes over 3 seeds, one-lever ablations, one-shot.
#   bash experiments/accuracy.sh [DATA] [RUNS] [GROUP...]
#   python experiments/summarize.py RUNS/*
# Groups: default restricted unrestricted ablations unrestricted-ablations people-file
# restricted-pretrained restricted-64 (default: all but the last three). Two trainings run
# side by side, one thread each (on 2 cores that is faster in total than one at a time with two).
# Flip averaging at test time is ablated without training: experiments/ablate_inference.py (flip, wccn).
set -euo pipefail
DATA=${1:-../shared/lfw-a}
RUNS=${2:-runs/accuracy}
shift 2 || true
GROUPS_TO_RUN=${*:-default restricted unrestricted ablations unrestricted-ablations}

EARLIER="--set data.val_fraction=0.2 --set data.val_identity_pairs=0"

source "$(dirname "$0")/lib.sh"
train() {  # NAME CONFIG SEED [--set ...]
  train_run "$RUNS/$1-seed$3" "$2" "$3" "${@:4}"
}
pretrained_restricted() {  # SEED: the restricted recipe from its own instance pre-training
  # (train.objective=instance: the training pairs' images, no name and no label read)
  train instance-restricted recipes/restricted.toml "$1" --set train.objective=instance \
    --set train.epochs=20 --set train.patience=20 --set train.batch_size=128
  train restricted-pretrained recipes/restricted.toml "$1" \
    --set train.start_from="$RUNS/instance-restricted-seed$1"
}

# The restricted recipe as it shipped until 2026-12-07: 64-pixel faces for towers and
# histograms alike (4-pixel LBP cells, radii 1-3), the row docs/accuracy.md's "histograms on
# 128-pixel faces" section compares the shipped recipe (128-pixel faces halved) against.
# (The LBP divisor, 16, is the preset's: 4-pixel cells on a 64-pixel face.)
RESTRICTED_64="--set data.size=64 --set model.tower_size=0 --set model.descriptor_lbp_radii=1,2,3"

lane_a() {
  for g in $GROUPS_TO_RUN; do case $g in
    restricted-64)
      for s in 0 2; do train restricted-64 recipes/restricted.toml $s $RESTRICTED_64; done ;;
    default) for s in 0 2; do train default recipes/default.toml $s; done ;;
    restricted-pretrained) for s in 0 2; do pretrained_restricted $s; done ;;
    people-file)  # View 1's 4,038 training people instead of the pairs file's 2,132
      for s in 0 2; do
        train default-people-file recipes/default.toml $s --set data.train_people=people-file
      done ;;
    unrestricted) train unrestricted recipes/unrestricted.toml 1 ;;
    unrestricted-ablations)  # views and extra validation pairs, a fifth of the people validating
      for s in 0 1 2; do
        train abl-unr-vf02 recipes/unrestricted.toml $s --set data.val_fraction=0.2
      done ;;
    ablations)  # from the earlier default recipe (a fifth of the people validating, the
      # training file's validation pairs only: $EARLIER) without its whitening, as measured
      for s in 0 1 2; do
        train abl-no-crop recipes/default.toml $s --set data.crop= --set data.size=64 \
          --set model.wccn=0 $EARLIER
        train abl-pairs-not-cosface recipes/default.toml $s --set train.objective=pairs \
          --set train.same_fraction=0.5 --set train.pairs_per_epoch=4000 --set model.wccn=0 \
          $EARLIER
      done ;;
  esac; done
}
lane_b() {
  for g in $GROUPS_TO_RUN; do case $g in
    restricted) for s in 0 1 2; do train restricted recipes/restricted.toml $s; done ;;
    restricted-64) train restricted-64 recipes/restricted.toml 1 $RESTRICTED_64 ;;
    restricted-pretrained) pretrained_restricted 1 ;;
    default) train default recipes/default.toml 1 ;;
    people-file) train default-people-file recipes/default.toml 1 --set data.train_people=people-file ;;
    unrestricted) for s in 0 2; do train unrestricted recipes/unrestricted.toml $s; done ;;
    unrestricted-ablations)  # and without views or formed validation pairs (the earlier recipe)
      for s in 0 1 2; do
        train abl-unr-vf02-no-views recipes/unrestricted.toml $s --set model.views= $EARLIER
      done ;;
    ablations)  # the restricted recipe with one tower instead of three; no augmentation
      for s in 0 1 2; do
        train abl-default-vf02 recipes/default.toml $s $EARLIER
        train abl-no-augment recipes/default.toml $s --set train.augment=false --set model.wccn=0 \
          $EARLIER
        train abl-restricted-one-tower recipes/restricted.toml $s --set model.members=1
      done ;;
  esac; done
}
lane_a & a=$!
lane_b & b=$!
wait $a; wait $b
