#!/usr/bin/env bash
# The SST phrase budget screened at the CPU-scale search's size (mtbert.training.search SCALE: SST 1,500, Quora
# 3,000, STS 1,500 training rows, one epoch, dev and held-out test capped at 800 and 400 rows per task): the best
# recipe of tables B1 / B2 (beyond_best_lr5e-5) trained on the SST sentences, then on the phrases of the same rows'
# trees (mtbert.data.trees) with each budget. Selection is on dev only; test is recorded, not used.
#
#   bash scripts/screen_phrases.sh [POINT ...]      # default: every point below; stored points are skipped
#
# Each point trains in its own store (cache/screen_phrases/<point>/: checkpoints, so a killed point resumes) and
# its result JSON is copied to results/screen_phrases/<point>.json, its per-example outputs beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
SCALE=(--set 'n_train={"sst": 1500, "quora": 3000, "sts": 1500}' --set quora_per_epoch=3000 --set n_dev=800
       --set n_test=400 --set 'predictions=[]')
declare -A POINTS=(
  [sentences]=beyond_best_lr5e-5_1epoch
  [phrases_x1]=beyond_best_lr5e-5_phrases_x1_1epoch
  [phrases_x4]=beyond_best_lr5e-5_phrases_x4_1epoch
  [phrases]=beyond_best_lr5e-5_phrases_1epoch
)
ORDER=(sentences phrases_x4 phrases_x1 phrases)
mkdir -p results/screen_phrases
for point in "${@:-${ORDER[@]}}"; do
  [[ -n "${POINTS[$point]+x}" ]] || { echo "unknown point '$point'; points: ${ORDER[*]}" >&2; exit 2; }
  name=${POINTS[$point]}
  out=results/screen_phrases/$point.json
  if [[ -e $out ]]; then echo "$point: stored ($out)"; continue; fi
  store=cache/screen_phrases/$point
  $PY -m mtbert run "$name" --profile full --device cpu --no-progress --store-dir "$store" "${SCALE[@]}"
  mkdir -p "results/screen_phrases/$point"
  cp "$store/predictions/full/$name/"*-scores.csv "results/screen_phrases/$point/"
  $PY scripts/store_screen_point.py "$store/results/full/$name.json" "$out" "$point" "point=$point" "base=$name" \
      "scale=the CPU-scale search's (mtbert.training.search SCALE)"
done
