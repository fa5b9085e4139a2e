# Sourced by the experiment scripts: one training, resumable, then its 20-way one-shot score.
#   train_run OUT CONFIG SEED [--set ...]   (reads DATA)
# A finished run (results.json) is skipped and an interrupted one (last.pt) resumed, so a
# script killed part-way is simply run again. One thread: the scripts run two side by side.
train_run() {
  local out=$1 config=$2 seed=$3; shift 3
  [ -f "$out/results.json" ] && return 0
  siamese-faces train --data "$DATA" --config "$config" --set train.seed="$seed" \
    --set train.threads=1 "$@" --out "$out" $([ -f "$out/last.pt" ] && echo --resume)
  siamese-faces oneshot "$out" --ways 20 --trials 1000 --seed 0 --json > /dev/null
}
