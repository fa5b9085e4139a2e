#!/usr/bin/env bash
# The two small Omniglot background sets as one tree of symbolic links (Greek and Latin,
# identical in both, once), for `--data`: nothing is copied and nothing is written into
# the data folder. Usage: experiments/omniglot_background.sh [OMNIGLOT] [OUT]
set -euo pipefail
src=$(realpath "${1:-../shared/omniglot}")
out=${2:-runs/omniglot/background}
mkdir -p "$out"
for set in "$src"/images_background_small1 "$src"/images_background_small2; do
  for alphabet in "$set"/*/; do
    name=$(basename "$alphabet")
    [ -e "$out/$name" ] || ln -s "${alphabet%/}" "$out/$name"
  done
done
echo "$out"
