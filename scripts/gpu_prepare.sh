#!/usr/bin/env bash
# Here (CPU machine): pack what a GPU machine needs into .gpu/ (git-ignored, carried by the device tool):
# the default encoder in half precision (the fp32 file is 91 MB, over the 64 MiB transfer limit) and the data
# (the CSV files and the SST training trees).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .gpu && mkdir -p .gpu
.venv/bin/python - <<'PY'
import torch
from mtbert.model.checkpoint import load_encoder, save_encoder
m, d = load_encoder()
save_encoder(m, ".gpu/encoder-fp16", vocab_file=d / "vocab.txt", dtype=torch.float16)
print("wrote .gpu/encoder-fp16 from", d)
PY
tar -czf .gpu/data.tar.gz data/*.csv data/*.txt
du -sh .gpu/*
