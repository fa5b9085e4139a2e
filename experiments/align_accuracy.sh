#!/usr/bin/env bash
# --align auto against none, on displaced DevTest (experiments/displaced.py) and on LFW-a's
# own DevTest, for each run given; then the mean and std over the runs.
# Usage: experiments/align_accuracy.sh RUN [RUN ...]   (runs/displaced must exist)
set -euo pipefail
data=${DATA:-../shared/lfw-a}
for run in "$@"; do
  for align in none auto; do
    [ -s "$run/displaced-$align.json" ] || siamese-faces evaluate "$run" --data runs/displaced \
      --align "$align" --skip-bad-images --json > "$run/displaced-$align.json"
    [ -s "$run/lfwa-$align.json" ] || siamese-faces evaluate "$run" --data "$data" \
      --pairs-test "$data/pairsDevTest.txt" --align "$align" --skip-bad-images --json \
      > "$run/lfwa-$align.json"
  done
done
python3 - "$@" <<'PY'
import json, statistics, sys
rows = {}
for run in sys.argv[1:]:
    for name in ("displaced-none", "displaced-auto", "lfwa-none", "lfwa-auto"):
        r = json.load(open(f"{run}/{name}.json"))["at_model_threshold"]
        dropped = json.load(open(f"{run}/{name}.json"))["dropped_pairs"]
        rows.setdefault(name, []).append({"run": run, "acc": r["acc"], "auc": r["auc"], "dropped_pairs": dropped})
out = {k: {"mean": statistics.mean(x["acc"] for x in v),
           "std": statistics.stdev(x["acc"] for x in v) if len(v) > 1 else 0.0,
           "runs": v} for k, v in rows.items()}
print(json.dumps(out, indent=1))
PY
