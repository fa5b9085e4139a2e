#!/usr/bin/env bash
# LFW View 2 (10 folds) for the shipped recipes: `siamese-faces benchmark lfw` once a recipe,
# all at once, then the summaries and docs/lfw.md's table rows.
#
#   bash experiments/lfw_view2.sh DATA ROOT WORKERS [RECIPE...] [-- EXTRA --set ARGS]
#
# DATA: LFW-a (../shared/lfw-a), or the same images already cropped and resized to the
# recipes' 64x64 input (then pass `-- --set data.crop=`: the arrays are identical).
# Each recipe's folds share one Optuna storage under ROOT; killed and run again, it resumes.
set -uo pipefail
DATA=${1:?data folder}; ROOT=${2:?runs root}; WORKERS=${3:-2}; shift 3 || true
RECIPES=(); while [ $# -gt 0 ] && [ "$1" != "--" ]; do RECIPES+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#RECIPES[@]} -eq 0 ] && RECIPES=(default restricted unrestricted)
SF=${SIAMESE_FACES:-siamese-faces}
mkdir -p "$ROOT"
for r in "${RECIPES[@]}"; do
  $SF benchmark lfw --data "$DATA" --preset "$r" --workers "$WORKERS" --root "$ROOT" \
    --name "view2-$r" "$@" > "$ROOT/view2-$r.log" 2>&1 &
done
wait
for r in "${RECIPES[@]}"; do
  $SF benchmark lfw --data "$DATA" --preset "$r" --root "$ROOT" --name "view2-$r" \
    --summary-only "$@" 2>>"$ROOT/view2-$r.log"
done
