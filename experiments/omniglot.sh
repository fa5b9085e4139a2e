#!/usr/bin/env bash
# Omniglot, Koch's benchmark (docs/omniglot.md): train the omniglot recipe on the two small
# background sets for each seed, then score Lake's 20 official 20-way one-shot runs.
# Usage: experiments/omniglot.sh [SEED ...]   (default: 0 1 2); extra settings via $SETS,
# e.g. SETS="--set train.epochs=20" experiments/omniglot.sh 0
set -euo pipefail
bg=$(experiments/omniglot_background.sh "${OMNIGLOT:-../shared/omniglot}" runs/omniglot/background)
tag=${TAG:-omniglot}
for seed in "${@:-0 1 2}"; do
  for s in $seed; do
    out=runs/omniglot/$tag-seed$s
    [ -f "$out/results.json" ] || siamese-faces train --data "$bg" --config recipes/omniglot.toml \
      --set train.seed="$s" ${SETS:-} --out "$out"
    siamese-faces oneshot "$out" --runs "${OMNIGLOT:-../shared/omniglot}/all_runs" --json \
      > "$out/lake-runs.json"
    python3 -c "import json,sys; r=json.load(open(sys.argv[1])); t=json.load(open(sys.argv[2])); print(sys.argv[3], 'seed', sys.argv[4], 'one-shot', r['acc'], 'train_seconds', t['train_seconds'])" \
      "$out/lake-runs.json" "$out/results.json" "$tag" "$s"
  done
done
