#!/usr/bin/env bash
# SST trained alone (t1_sst_finetune: all 8,544 training sentences, full dev and held-out test), with one
# optimisation lever per point, a few epochs on the CPU: a cheap screen of what could move SST before a
# multi-epoch multitask run is spent on it. The reference is t1_sst_finetune itself (the paper's recipe, ten
# epochs on the GPU, results/full/t1_sst_finetune.json). Selection is on dev only; test is recorded, not used.
#
#   bash scripts/screen_sst_levers.sh [LEVER ...]      # default: every lever below; stored points are skipped
#
# Each point trains in its own store (cache/screen_sst/<lever>/: checkpoints, so a killed point resumes from its
# last finished epoch) and its result JSON is copied to results/screen_sst/<lever>.json.
# Then: python scripts/screen_sst_levers.py   (the table of the stored points, dev and test per epoch)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
EPOCHS=${EPOCHS:-3}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# the best multitask recipe's optimisation (BEST_RECIPE in core/experiments.py), at the multitask batch size
BEST="--set pooling=mean --set lr=3e-5 --set head_lr=1e-3 --set warmup=0.1 --set lr_schedule=linear --set batch_size=32"
declare -A LEVERS=(
  [best]="$BEST"
  [best_lr5e-5]="$BEST --set lr=5e-5"
  [best_lr2e-5]="$BEST --set lr=2e-5"
  [best_dropout0.1]="$BEST --set dropout=0.1"
  [best_cls]="$BEST --set pooling=cls"
  [best_batch16]="$BEST --set batch_size=16"
  [best_lrdecay0.8]="$BEST --set lr=5e-5 --set lr_decay=0.8"
  # the treebank's phrases (mtbert.data.trees), one epoch: every sentence + 4x as many other phrases; every phrase
  [best_lr5e-5_phrases_x4]="$BEST --set lr=5e-5 --set sst_train_units=phrases --set sst_phrase_budget=4 --set epochs=1"
  [best_lr5e-5_phrases]="$BEST --set lr=5e-5 --set sst_train_units=phrases --set epochs=1"
)
ORDER=(best best_lr5e-5 best_dropout0.1 best_cls best_batch16 best_lr2e-5 best_lrdecay0.8 best_lr5e-5_phrases_x4
       best_lr5e-5_phrases)
mkdir -p results/screen_sst
for lever in "${@:-${ORDER[@]}}"; do
  [[ -n "${LEVERS[$lever]+x}" ]] || { echo "unknown lever '$lever'; levers: ${ORDER[*]}" >&2; exit 2; }
  out=results/screen_sst/$lever.json
  if [[ -e $out ]]; then echo "$lever: stored ($out)"; continue; fi
  store=cache/screen_sst/$lever
  # shellcheck disable=SC2086  # the lever's --set flags are meant to split
  $PY -m mtbert run t1_sst_finetune --profile full --device cpu --no-progress --store-dir "$store" \
      --set epochs="$EPOCHS" ${LEVERS[$lever]}
  $PY scripts/store_screen_point.py "$store/results/full/t1_sst_finetune.json" "$out" "$lever" "lever=$lever" \
      "flags=${LEVERS[$lever]} --set epochs=$EPOCHS" base=t1_sst_finetune
done
