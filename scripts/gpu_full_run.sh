#!/usr/bin/env bash
# There (GPU machine, via the device tool, with `.gpu` carried): restore the encoder to fp32, run every
# experiment of the full profile (3 seeds for the submissions), benchmark, and pack everything into $OUT.
# Rehearse here with: OUT=/tmp/out PROFILE=smoke bash scripts/gpu_full_run.sh
# RUN_ARGS picks what to run (default: everything; stored results are skipped, so a re-run only does what is
# missing), e.g. RUN_ARGS="submission2 --seeds 1 2" JOBS=2; table B with its ensemble:
# RUN_ARGS="--table B --seeds 11711 1 2 --seeds-all" ENSEMBLE="beyond_best beyond_best_cross".
# Several argument sets separated by '|' run side by side, each with its own local cluster of JOBS workers, e.g.
# RUN_ARGS="t1_sst_finetune_phrases --seeds 11711 1 2 --seeds-all | beyond_best_lr5e-5_phrases_1epoch".
# Python packages the GPU image lacks (dask, distributed, ...) travel as wheels in .whl/ (carried), installed
# into /tmp/site first.
# Back here: bash scripts/gpu_unpack.sh ARCHIVE.
set -uo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-full}; JOBS=${JOBS:-14}; RUN_BUDGET=${RUN_BUDGET:-400}; BENCH_BUDGET=${BENCH_BUDGET:-0}
PY=${PY:-python3}; RUN_ARGS=${RUN_ARGS:---all --seeds 11711 1 2}
export PYTHONPATH=$PWD/lib PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
if compgen -G ".whl/*.whl" > /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=$PWD/lib:/tmp/site
fi
export MTBERT_ENCODER_DIR=$PWD/.gpu/all-MiniLM-L6-v2-fp32-from-fp16
mkdir -p "$OUT" data
tar -xzf .gpu/data.tar.gz
$PY - <<'PY'
import json, os, shutil, torch
from safetensors.torch import load_file, save_file
src, dst = ".gpu/encoder-fp16", os.environ["MTBERT_ENCODER_DIR"]
os.makedirs(dst, exist_ok=True)
sd = {k: v.float() for k, v in load_file(f"{src}/model.safetensors").items()}
save_file(sd, f"{dst}/model.safetensors")
for f in ("config.json", "vocab.txt", "tokenizer_config.json"):
    shutil.copy(f"{src}/{f}", dst)
json.dump({"note": "all-MiniLM-L6-v2 carried in float16 (91 MB fp32 exceeds the 64 MiB transfer), restored to float32"},
          open(f"{dst}/TRANSFER.json", "w"))
print("restored fp32 encoder;", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1 || true
start=$(date +%s)
IFS='|' read -ra SETS <<< "$RUN_ARGS"
i=0
for set in "${SETS[@]}"; do
  i=$((i + 1))
  # shellcheck disable=SC2086  # each set is a list of arguments
  (timeout "$RUN_BUDGET" $PY -m mtbert run $set --profile "$PROFILE" --jobs "$JOBS" > "$OUT/run$i.log" 2>&1;
   echo "set $i ($set): exit $? after $(( $(date +%s) - start ))s" >> "$OUT/run$i.log") &
done
wait
cat "$OUT"/run[0-9]*.log > "$OUT/run.log"; rm -f "$OUT"/run[0-9]*.log
echo "runs: $(( $(date +%s) - start ))s" | tee -a "$OUT/run.log"
$PY -m mtbert status --profile "$PROFILE" | tee -a "$OUT/run.log"
# Runs cut off by the time budget: keep their per-epoch history (from the resume checkpoints) as partial results.
$PY -c "import sys; from mtbert.settings import Settings; from mtbert.training.checkpoints import save_partials; print(*save_partials(Settings.resolve(profile=sys.argv[1])), sep='\n')" \
  "$PROFILE" 2>&1 | sed 's/^/partial: /' | tee -a "$OUT/run.log"
# Seed ensembles of rows trained here (their checkpoints stay on this machine), e.g. ENSEMBLE="beyond_best":
# leaderboard files of the averaged seeds and CFIMDB from the SST head, into predictions/<profile>/<row>__ensemble/.
for n in ${ENSEMBLE:-}; do
  $PY -m mtbert predict "$n" --profile "$PROFILE" --seeds ${ENSEMBLE_SEEDS:-11711 1 2} --ensemble 2>&1 | tee -a "$OUT/run.log"
done
if [ "$BENCH_BUDGET" -gt 0 ] && [ -f bench/bench.py ]; then
  timeout "$BENCH_BUDGET" $PY bench/bench.py --device cuda --encoder "$MTBERT_ENCODER_DIR" --out "$OUT" 2>&1 | tail -60 > "$OUT/bench.log" || true
fi
tar -czf "$OUT/results.tar.gz" results/"$PROFILE" predictions/"$PROFILE" 2>/dev/null
ls -la "$OUT"
